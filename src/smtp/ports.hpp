// What the SMTP server session asks of the server around it (docs/architecture.md section 4): cheap
// synchronous questions through Ports, slow effects as an Action the driver runs off the
// network thread and answers with an ActionResult. Plain data and one interface: no SQL,
// Maildir, DNS or sockets here; src/server implements Ports over route, auth and mailstore.
#pragma once

#include "core/address.hpp"
#include "sasl/exchange.hpp"
#include "smtp/codes.hpp"
#include "smtp/command.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace vpsmail::smtp {

/// A port's answer to a check: accepted, or the reply that refuses.
struct Verdict {
    std::optional<Reply> refusal;  ///< absent: accepted

    static Verdict accept() { return {}; }
    static Verdict refuse(Reply reply) { return Verdict{std::move(reply)}; }
    bool accepted() const noexcept { return !refusal.has_value(); }
};

/// One accepted recipient with its DSN parameters (RFC 3461 4.1, 4.2).
struct Recipient {
    Address address;  ///< the mailbox; a source route was dropped
    std::optional<Notify> notify;
    std::optional<OriginalRecipient> orcpt;
};

/// The envelope of one mail transaction, as far as it got.
struct Envelope {
    std::optional<Address> return_path;  ///< absent: the null reverse-path <>
    std::vector<Recipient> recipients;   ///< accepted so far, in RCPT order
    Body body = Body::unspecified;
    bool smtputf8 = false;
    Ret ret = Ret::unspecified;
    std::string envid;                   ///< RFC 3461 4.4, decoded; empty when absent
    std::string id;                      ///< "<session id>.<n>": Received id and queue id
};

/// What the session knows when it asks about a recipient.
struct RecipientQuery {
    const Envelope& envelope;
    const std::string* authenticated_user;  ///< null when not authenticated
    const Address& recipient;               ///< bare "Postmaster" for <Postmaster>
    bool source_route;                      ///< RFC 5321 C: a route was given and dropped
    bool relay_allowed;                     ///< authenticated, or may_relay() said so
};

/// Where the text of a message goes once it outgrows the session's memory_limit (docs/architecture.md
/// section 9: memory per session is bounded whatever the message size). The session appends
/// to it; the server, which made it, reads it back when it delivers. Whatever holds it (an
/// open file) is released when the last owner lets go: the session on RSET, a refusal or its
/// end, the Deliver action once it has run.
class BodySink {
public:
    virtual ~BodySink() = default;
    /// Appends `bytes`. Throws vpsmail::Error (no_space, temporary) naming what failed.
    virtual void write(std::string_view bytes) = 0;
};

/// The synchronous questions. Called on the session's thread; each must be cheap (in-memory
/// indexes, no disk or network waits). A port may throw vpsmail::Error: the session answers
/// with reply_for(error) (a temporary error gives 451 4.3.0, an unexpected one 421 and close).
class Ports {
public:
    virtual ~Ports() = default;

    /// RCPT: may this recipient get mail in this transaction? Refuse an unknown local
    /// recipient (550 5.1.1, no backscatter), a remote one without relay_allowed (550 5.7.1),
    /// and whatever a source route would make a relay (docs/architecture.md section 10).
    virtual Verdict check_recipient(const RecipientQuery& query) = 0;

    /// MAIL from an authenticated user: may `user` use `mail.sender` (absent: <>)?
    /// Not asked for unauthenticated sessions.
    virtual Verdict check_sender(const std::string& user, const MailFrom& mail) = 0;

    /// May the peer at `peer_address` relay without authentication (trusted networks)?
    virtual bool may_relay(const std::string& peer_address) = 0;

    /// The time for the Received header (RFC 5322 3.3 date).
    virtual std::chrono::system_clock::time_point now() = 0;

    /// MAIL with SIZE=`size` (RFC 1870 6.1): is there room to store such a message now?
    /// Refuse with 452 4.3.1 (RFC 3463 X.3.1) when the file systems it would go to are too
    /// full. Asked only when the client declared a size within the limit. The default
    /// implementation accepts.
    virtual Verdict check_space(std::uint64_t /*size*/) { return Verdict::accept(); }

    /// The message text passed the session's memory_limit: where it goes from now on (all of
    /// it, the session's Received header first). nullptr, the default, keeps it in memory.
    /// May do file I/O, once per big message. Throws vpsmail::Error as BodySink::write does:
    /// the session reads the text to its end and refuses it with reply_for(error).
    virtual std::shared_ptr<BodySink> spill_body() { return nullptr; }
};

/// Slow effect: verify a password (crypt(3), throttling).
struct VerifyPassword {
    sasl::Mechanism mechanism = sasl::Mechanism::plain;
    std::string username;
    std::string password;
};

enum class PasswordResult { ok, bad, temporary_failure };

/// Slow effect: deliver or queue one message, durably, before answering (docs/architecture.md section 9).
/// `message` starts with the session's own Received header (RFC 5321 4.4).
struct Deliver {
    Envelope envelope;
    std::string message;             ///< empty when `spilled` holds the text
    /// Set when the text outgrew the session's memory_limit: all of it is in there.
    std::shared_ptr<BodySink> spilled;
    std::string authenticated_user;  ///< empty when not authenticated
    /// The text holds octets >= 0x80 that MAIL did not declare (no BODY=8BITMIME, BINARYMIME
    /// or SMTPUTF8); envelope.body says 8BITMIME all the same, as the text is.
    bool undeclared_8bit = false;
};

/// One Verdict per envelope recipient, in order. RFC 5321 6.1: when at least one is accepted
/// the session answers 250, so the implementation owns the failed ones from then on and must
/// send their delivery status notifications (RFC 3464) itself.
struct DeliveryResult {
    std::vector<Verdict> recipients;
};

using Action = std::variant<VerifyPassword, Deliver>;
using ActionResult = std::variant<PasswordResult, DeliveryResult>;

}  // namespace vpsmail::smtp
