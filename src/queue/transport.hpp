// The seam between the queue runner (server/, no sockets) and the outbound transport (net/:
// DNS, connections, TLS, the SMTP client session). Plain data plus one interface: net/ asks
// the Dispatcher which destinations have due mail, opens connections to them, takes messages
// one at a time over each connection, and reports what the remote side said per recipient.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace vpsmail::queue {

/// Where a connection goes: the MX hosts of a domain, or the configured smart host.
struct Destination {
    std::string key;     ///< unique: "mx:example.org" or "relay:smtp.example.net:587"
    std::string domain;  ///< MX delivery: the recipients' domain (A-label); empty for a relay
    std::string relay_host;       ///< relay: host name or IP literal; empty for MX delivery
    std::uint16_t relay_port = 0;  ///< relay: its port
    bool operator==(const Destination&) const = default;
};

struct OutboundRecipient {
    std::string address;  ///< the mailbox the RCPT names
    std::string notify;   ///< DSN NOTIFY as stored ("FAILURE,DELAY"); empty: not given
    std::string orcpt;    ///< DSN ORCPT as stored ("rfc822;a@b"); empty: not given
};

/// One message to send over a connection: one transaction, these recipients.
struct OutboundMessage {
    std::string id;           ///< spool id
    std::string return_path;  ///< empty: the null sender <>
    std::vector<OutboundRecipient> recipients;
    std::string body;         ///< "7BIT", "8BITMIME" or "BINARYMIME"
    bool smtputf8 = false;
    std::string envid;        ///< DSN ENVID; empty: not given
    std::string ret;          ///< DSN RET: "FULL", "HDRS" or empty
    std::string content;      ///< the message (CRLF lines, not dot-stuffed)
};

/// What became of one recipient in one attempt.
struct RecipientOutcome {
    enum class Kind { delivered, deferred, bounced };
    Kind kind = Kind::deferred;
    int code = 0;            ///< the remote reply code, or ours (e.g. 451 for a timeout)
    std::string status;      ///< enhanced status code "4.4.1"
    std::string text;        ///< the remote reply text, or why we gave up ("connection refused")
    std::string remote_mta;  ///< the host that answered ("mx.example.org [192.0.2.1]"); empty: none
    bool remote_reply = false;  ///< code/text came from the remote server (DSN Diagnostic-Code)
    /// Delivered to a server that offers DSN (RFC 3461) and was given NOTIFY/ORCPT: it reports
    /// from now on. Otherwise a NOTIFY=SUCCESS gets a "relayed" DSN from us (RFC 3461 4.1).
    bool dsn_passed_on = false;
};

/// Per recipient of an OutboundMessage, in the same order.
struct MessageOutcome {
    std::vector<RecipientOutcome> recipients;
};

/// What net/ asks of the queue runner. Every function may be called from any thread (the
/// implementation locks); take() and report() may touch the disk, so net/ calls them off its
/// network threads.
class Dispatcher {
public:
    virtual ~Dispatcher() = default;

    /// Destinations that have due mail and a free connection slot ([queue]
    /// max_per_destination), each with its slot now reserved: net/ opens one connection per
    /// entry and calls closed() when it ends.
    virtual std::vector<Destination> ready(std::chrono::system_clock::time_point now) = 0;

    /// The next message for a connection to `destination`, with only the recipients of that
    /// destination which are due; nullopt when none is left (net/ then sends QUIT).
    virtual std::optional<OutboundMessage> take(const Destination& destination) = 0;

    /// The result of sending a message that take() returned (or of failing to: the same
    /// outcome for every recipient when no connection could be made). Each taken message is
    /// reported exactly once.
    virtual void report(const OutboundMessage& message, const MessageOutcome& outcome) = 0;

    /// A connection slot reserved by ready() is free again.
    virtual void closed(const Destination& destination) = 0;

    /// When ready() may next return something, if nothing else happens before.
    virtual std::chrono::system_clock::time_point next_wakeup() = 0;
};

}  // namespace vpsmail::queue
