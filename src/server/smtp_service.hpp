// SMTP on the three listeners: the smtp::Session of each connection, wrapped as a Conversation
// for net/, with the Ports it asks (recipients through the routing index, senders, trusted
// networks) and the Actions it hands out (password checks, durable delivery into Maildirs and
// the spool) turned into Jobs for net/'s worker pool. Logs one line per connection,
// transaction and delivery.
#pragma once

#include "server/conversation.hpp"
#include "smtp/session.hpp"

#include <memory>
#include <utility>
#include <vector>
#include <string>

namespace vpsmail::server {

class Server;

class SmtpService final : public Service {
public:
    SmtpService(Server& server, smtp::Mode mode);
    std::unique_ptr<Conversation> open(const Peer& peer) override;
    std::string refuse(const Peer& peer, std::string_view why) override;

private:
    Server& server_;
    smtp::Mode mode_;
};

/// What deliver_message does with a recipient whose local delivery failed temporarily.
enum class OnTemporaryFailure {
    refuse,  ///< answer 4xx: the caller retries (the queue runner, the maildrop pickup)
    queue,   ///< spool it for the queue runner and accept (sendmail: nobody would retry)
    /// SMTP DATA (one reply for all recipients, RFC 5321 6.1): refuse when no recipient is
    /// accepted, so that the client retries; beside an accepted one, spool it for the queue
    /// runner, and spool a permanently refused one as bounced (the runner sends the DSN).
    /// When that spool entry cannot be written, every recipient is refused (the client sends
    /// again: a second copy for some beats a lost one).
    queue_beside_accepted,
};

/// Runs one Deliver action: each recipient resolved again through the routing index, local
/// mailboxes written by one mailstore::Delivery (Return-Path added, quota checked; a Maildir
/// that cannot be used fails its own mailboxes only), remote targets spooled. One Verdict per
/// envelope recipient. Recipients accepted although part of
/// their expansion failed, and NOTIFY=SUCCESS ones delivered here, are spooled in a report
/// entry from which the queue runner sends their DSNs (RFC 3461, RFC 5321 6.1). Any thread;
/// never throws.
smtp::DeliveryResult deliver_message(Server& server, const smtp::Deliver& action, const Peer& peer,
                                     OnTemporaryFailure temporary = OnTemporaryFailure::refuse);

/// Spools a report entry for recipients refused after their message was accepted (the
/// maildrop's pickup): each bounced with its reply, so the queue runner sends the sender a
/// failure DSN (none for the null sender). Throws Error as Spool::add does.
void bounce_refused(Server& server, const smtp::Envelope& envelope, std::string_view message,
                    const std::vector<std::pair<smtp::Recipient, smtp::Reply>>& refused, const Peer& peer);

/// Runs one VerifyPassword action against the store, with login throttling. Any thread.
smtp::PasswordResult verify_login(Server& server, const smtp::VerifyPassword& action, const Peer& peer);

}  // namespace vpsmail::server
