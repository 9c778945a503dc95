// SMTP on the three listeners: the smtp::Session of each connection, wrapped as a Conversation
// for net/, with the Ports it asks (recipients through the routing index, senders, trusted
// networks) and the Actions it hands out turned into Jobs for net/'s worker pool: password
// checks mapped to server/login, durable delivery mapped to server/delivery. Policies follow
// the Peer's origin (server/peer.hpp). Logs one line per connection and transaction.
#pragma once

#include "server/conversation.hpp"
#include "server/delivery.hpp"
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

/// Runs one Deliver action through server::deliver (server/delivery.hpp), its envelope and
/// text mapped to a DeliveryRequest and each outcome back to a Verdict, in order. A spilled
/// text in a sink that is no BodyFile refuses every recipient 451 4.3.0. Any thread; never
/// throws.
smtp::DeliveryResult deliver_message(Server& server, const smtp::Deliver& action, const Peer& peer,
                                     OnTemporaryFailure temporary = OnTemporaryFailure::refuse);

/// server::bounce_refused with SMTP types (the maildrop pickup's refusals): each recipient
/// bounced with its reply, so the queue runner sends the sender a failure DSN (none for the
/// null sender). Throws Error as Spool::add does.
void bounce_refused(Server& server, const smtp::Envelope& envelope, std::string_view message,
                    const std::vector<std::pair<smtp::Recipient, smtp::Reply>>& refused, const Peer& peer);

/// Runs one VerifyPassword action through server::verify_login (server/login.hpp): ok, bad
/// credentials, or temporary_failure for a throttled login and an unreadable store. Any thread.
smtp::PasswordResult verify_login(Server& server, const smtp::VerifyPassword& action, const Peer& peer);

}  // namespace vpsmail::server
