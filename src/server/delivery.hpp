// Local delivery, the one path for every protocol and entry point (docs/architecture.md section
// 3): each recipient resolved through the routing index, its mailboxes written by one
// mailstore::Delivery, its programs and files run, its remote targets spooled, and what must
// happen later (retries, DSNs) spooled for the queue runner. Speaks no protocol: SMTP, sendmail,
// the maildrop pickup and the queue runner map their own types to these. No sockets, no Asio.
#pragma once

#include "core/address.hpp"
#include "route/resolution.hpp"
#include "server/conversation.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vpsmail::server {

class BodyFile;
class Server;

/// RFC 3461 NOTIFY of one recipient: NEVER alone, or any of SUCCESS, FAILURE, DELAY.
struct DsnNotify {
    bool never = false;
    bool success = false;
    bool failure = false;
    bool delay = false;
};

/// One recipient to deliver, with its DSN parameters.
struct DeliveryRecipient {
    Address address;                   ///< as the client gave it (`\bob@d` from the queue runner)
    std::optional<DsnNotify> notify;   ///< absent: not given
    std::string orcpt;                 ///< RFC 3461 ORCPT "addr-type;address", decoded; empty: none
    /// The queue runner only, from serve's own spool entries (the `part` field): the one program
    /// or file of `address`'s expansion still to do. It is run as it was the first time, and
    /// `address` is not resolved again (its other parts already have the message).
    std::optional<route::Target> part;
};

/// One message to deliver.
struct DeliveryRequest {
    std::string id;           ///< the message's id in the logs (the session's, or the queue id)
    std::string return_path;  ///< the envelope sender; empty: the null sender <>
    std::vector<DeliveryRecipient> recipients;
    std::string body = "7BIT";  ///< 7BIT, 8BITMIME or BINARYMIME, as the spool writes it
    bool smtputf8 = false;
    std::string envid;  ///< RFC 3461 ENVID, decoded; empty: none
    std::string ret;    ///< RFC 3461 RET: FULL, HDRS or empty
    /// The text (starting with its Received header): `text`, or all of `spilled` when set.
    std::string_view text;
    std::shared_ptr<BodyFile> spilled;
    bool undeclared_8bit = false;  ///< octets >= 0x80 that the envelope did not declare (logs)
    Peer peer;                     ///< who hands it over: its origin, its address, its session id
};

/// What happened to one recipient: accepted (delivered, spooled, or retried by the queue runner),
/// or refused, temporarily (4xx: the caller may try again) or permanently (5xx), with the reply
/// code, the RFC 3463 enhanced status and a text fit for a client.
struct DeliveryOutcome {
    enum class Kind { accepted, temporary, permanent } kind = Kind::temporary;
    int code = 451;
    std::string status = "4.3.0";
    std::string text;
    bool accepted() const noexcept { return kind == Kind::accepted; }
    bool temporary() const noexcept { return kind == Kind::temporary; }
    static DeliveryOutcome accept() { return DeliveryOutcome{Kind::accepted, 250, "2.0.0", "ok"}; }
    /// A refusal with an SMTP-style reply: 4xx temporary, anything else permanent.
    static DeliveryOutcome refuse(int code, std::string status, std::string text) {
        return DeliveryOutcome{code >= 400 && code < 500 ? Kind::temporary : Kind::permanent, code, std::move(status),
                               std::move(text)};
    }
};

/// What deliver() does with a recipient whose local delivery failed temporarily.
enum class OnTemporaryFailure {
    refuse,  ///< a temporary outcome: the caller retries (the queue runner, the maildrop pickup)
    queue,   ///< spool it for the queue runner and accept (sendmail: nobody would retry)
    /// SMTP DATA (one reply for all recipients, RFC 5321 6.1): refuse when no recipient is
    /// accepted, so that the client retries; beside an accepted one, spool it for the queue
    /// runner, and spool a permanently refused one as bounced (the runner sends the DSN).
    /// When that spool entry cannot be written, every recipient is refused (the client sends
    /// again: a second copy for some beats a lost one).
    queue_beside_accepted,
};

/// Delivers one message: each recipient resolved again through the routing index, local
/// mailboxes written by one mailstore::Delivery (Return-Path added, quota checked; a Maildir
/// that cannot be used fails its own mailboxes only), programs and files run once each (programs
/// as [delivery] program_user), remote targets spooled. Returns one outcome per recipient, in
/// order. Parts of an accepted recipient's expansion that missed the message are the server's
/// from then on (docs/architecture.md section 9): a mailbox is retried alone as `\mailbox` or
/// bounced when full, a program or file that failed for now is retried alone (its `part`), and
/// permanent failures get a DSN; NOTIFY=SUCCESS recipients delivered here get theirs. Any
/// thread; never throws (but std::bad_alloc).
std::vector<DeliveryOutcome> deliver(Server& server, const DeliveryRequest& request,
                                     OnTemporaryFailure temporary = OnTemporaryFailure::refuse);

/// Spools a report entry for recipients refused after their message was accepted (the
/// maildrop's pickup): each bounced with its outcome, so the queue runner sends the sender a
/// failure DSN (none for the null sender). `request.text` is the message. Throws Error as
/// Spool::add does.
void bounce_refused(Server& server, const DeliveryRequest& request,
                    const std::vector<std::pair<DeliveryRecipient, DeliveryOutcome>>& refused);

/// The account that `mailbox` ("local@domain") names has a quota, and `adding` more bytes would
/// pass it. Reads the account's index totals (a Maildir scan only before its first indexed
/// delivery). Any thread; throws Error as the routing index does.
bool over_quota(Server& server, const std::string& mailbox, std::uint64_t adding);

/// "program:|cmd" or "file:/path": a program or file part as the spool's `part` field holds it.
std::string format_part(const route::Target& part);

/// The program or file part of format_part(). Throws Error(bad_data) for anything else (a
/// mailbox or remote kind, an empty value), naming the text.
route::Target parse_part(std::string_view text);

}  // namespace vpsmail::server
