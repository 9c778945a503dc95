#include "server/smtp_service.hpp"

#include "auth/password.hpp"
#include "auth/throttle.hpp"
#include "core/address.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "server/body_file.hpp"
#include "server/delivery.hpp"
#include "server/login.hpp"
#include "server/peer.hpp"
#include "server/server.hpp"
#include "server/session_driver.hpp"
#include "store/store.hpp"

#include <fmt/format.h>

#include <arpa/inet.h>
#include <sys/statvfs.h>

namespace vpsmail::server {
namespace {

using smtp::Reply;
using smtp::ReplyId;
using smtp::Verdict;

Reply reply_of(const route::Failure& f) { return Reply{f.code, f.status, f.text}; }

// The first permanent failure, else the first one (a recipient that only fails temporarily
// gets a 4xx and the client tries again).
Reply refusal_of(const route::Resolution& r) {
    for (const auto& f : r.failures)
        if (!f.temporary()) return reply_of(f);
    if (!r.failures.empty()) return reply_of(r.failures.front());
    return smtp::reply(ReplyId::recipient_unknown);
}

// "192.0.2.0/24" contains `address`? Both IPv4 or both IPv6.
bool in_network(const std::string& network, const std::string& address) {
    std::string base = network;
    int bits = -1;
    if (auto slash = network.find('/'); slash != std::string::npos) {
        base = network.substr(0, slash);
        bits = std::stoi(network.substr(slash + 1));
    }
    unsigned char a[16], n[16];
    int family = base.find(':') == std::string::npos ? AF_INET : AF_INET6;
    const int size = family == AF_INET ? 4 : 16;
    if (::inet_pton(family, base.c_str(), n) != 1 || ::inet_pton(family, address.c_str(), a) != 1) return false;
    if (bits < 0) bits = size * 8;
    for (int i = 0; i < size && bits > 0; ++i, bits -= 8) {
        const unsigned char mask = bits >= 8 ? 0xff : static_cast<unsigned char>(0xff << (8 - bits));
        if ((a[i] & mask) != (n[i] & mask)) return false;
    }
    return true;
}

class SmtpPorts final : public smtp::Ports {
public:
    SmtpPorts(Server& server, const Peer& peer) : server_(server), peer_(peer) {}

    Verdict check_recipient(const smtp::RecipientQuery& q) override {
        const route::Options options = server_.route_options();
        const Address& rcpt = q.recipient;
        bool local = rcpt.bare();  // <Postmaster> (RFC 5321 4.1.1.3) is always ours
        if (!local) local = server_.index().view().is_local_domain(rcpt.domain);
        if (!local) {
            // docs/architecture.md section 10: never an open relay; a route never makes one.
            if (!q.relay_allowed || q.source_route) return Verdict::refuse(smtp::reply(ReplyId::relay_denied));
            return Verdict::accept();
        }
        route::Resolution r = route::resolve(server_.index(), rcpt.str(), options);
        if (r.targets.empty()) return Verdict::refuse(refusal_of(r));
        // RFC 3463 X.2.2: when every mailbox it reaches is full, say so now.
        bool all_full = true;
        for (const auto& t : r.targets) {
            if (t.kind != route::TargetKind::mailbox) {
                all_full = false;
                break;
            }
            if (!over_quota(server_, t.value, 0)) {
                all_full = false;
                break;
            }
        }
        if (all_full) return Verdict::refuse(Reply{452, "4.2.2", "mailbox full"});
        return Verdict::accept();
    }

    // Send-as: an authenticated user may use as its sender only what is its own, never an
    // address that merely reaches its mailbox among others (a list it is on, a catch-all's
    // whole domain). vpsmail-user(1), `sendas`, states the rule.
    Verdict check_sender(const std::string& user, const smtp::MailFrom& mail) override {
        const Address login = canonical_login(user);
        // RFC 3461 DSNs come from MTAs (our queue runner among them) to port 25 without AUTH,
        // where <> stays allowed; a user's submission never needs it.
        if (!mail.sender) {
            Reply r = smtp::reply(ReplyId::sender_not_owned);
            r.text = fmt::format("{} may not send with the null sender <>, which is for delivery reports from mail servers",
                                 login.str());
            return Verdict::refuse(std::move(r));
        }
        Address sender = *mail.sender;
        sender.local = lower_ascii(sender.local);
        if (sends_as(login, sender)) return Verdict::accept();
        Reply r = smtp::reply(ReplyId::sender_not_owned);
        r.text = fmt::format("{} may not send as <{}>", login.str(), mail.sender->str());
        return Verdict::refuse(std::move(r));
    }

    // The login as the account it names (it authenticated, so it parses).
    static Address canonical_login(const std::string& user) {
        try {
            Address a = parse_address(user);
            a.local = lower_ascii(a.local);
            return a;
        } catch (const Error&) {
            return Address{lower_ascii(user), {}, false};
        }
    }

    // `sender` (local part lower case) is the account's own: its address, a +detail form of it,
    // an exact virtusertable key or an alias whose single target leads to this mailbox alone,
    // or an entry of its `vpsmail user sendas` list.
    bool sends_as(const Address& login, const Address& sender) {
        if (login.bare() || sender.bare() || sender.quoted) return false;
        if (sender.domain == login.domain) {
            if (sender.local == login.local) return true;
            const route::Options options = server_.route_options();
            if (options.plus_detail) {
                const DetailSplit split = split_detail(sender.local, options.detail_delimiter);
                if (split.has_delimiter && split.user == login.local) return true;
            }
        }
        if (single_target_entry(login, sender)) return true;
        return server_.thread_store().may_send_as(login.local, login.domain, sender.str());
    }

    // The first routing stage that matches `sender` is its own exact vuser key or an alias of
    // its local part with one target, and the address resolves to this account's mailbox and
    // nothing else.
    bool single_target_entry(const Address& login, const Address& sender) {
        if (!server_.index().view().is_local_domain(sender.domain)) return false;
        route::Options options = server_.route_options();
        options.trace = true;  // the steps say which entry matched
        const route::Resolution r = route::resolve(server_.index(), sender.str(), options);
        if (!r.failures.empty() || r.targets.size() != 1) return false;
        const route::Target& t = r.targets.front();
        if (t.kind != route::TargetKind::mailbox || lower_ascii(t.value) != login.str()) return false;
        for (const route::Step& step : r.steps) {
            if (!step.matched) continue;
            if (step.depth != 0) return false;
            if (step.stage == "vuser") return step.key == sender.str();
            if (step.stage == "alias") {
                if (step.key != sender.local) return false;
                const auto alias = server_.index().view().find_alias(step.key);
                return alias && alias->targets.size() == 1;
            }
            return false;  // the account itself (another one's forward), a catch-all, postmaster
        }
        return false;
    }

    bool may_relay(const std::string& peer_address) override {
        // `vpsmail sendmail -bs`: a local submission is trusted like Postfix's pickup.
        if (relays_without_auth(peer_.origin)) return true;
        for (const auto& network : server_.config()->smtp.trusted_networks)
            if (in_network(network, peer_address)) return true;
        return false;
    }

    std::chrono::system_clock::time_point now() override { return std::chrono::system_clock::now(); }

    // The recipients are not known yet: the message may go to the Maildirs or the spool, so
    // both file systems need room for it, and half as much again for the messages arriving
    // meanwhile. A path that cannot be asked about refuses nothing.
    Verdict check_space(std::uint64_t size) override {
        const auto config = server_.config();
        for (const std::string* path : {&config->paths.mail_root, &config->paths.spool_dir}) {
            struct statvfs fs {};
            if (::statvfs(path->c_str(), &fs) != 0) continue;
            const std::uint64_t free = static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize;
            if (free < size || free - size < size / 2) {
                log::line("no_space", {{"session", peer_.id}, {"path", *path}, {"size", std::to_string(size)},
                                       {"free", std::to_string(free)}});
                return Verdict::refuse(smtp::reply(ReplyId::insufficient_storage));
            }
        }
        return Verdict::accept();
    }

    // docs/architecture.md section 9: a big message waits in the spool's tmp/, on the file system of
    // the spool it may be linked into (and removed from there after a crash).
    std::shared_ptr<smtp::BodySink> spill_body() override { return std::make_shared<BodyFile>(server_.spool().dir() + "/tmp"); }

private:
    Server& server_;
    const Peer& peer_;
};

// The SMTP adapter over SessionDriver (docs/architecture.md section 4): which timeout applies,
// when a transaction is open, how each Action runs, and the improper pipelining log line.
class SmtpConversation final : public SessionDriver<smtp::Session> {
public:
    SmtpConversation(Server& server, smtp::Mode mode, const Peer& peer)
        : SessionDriver(peer, session_), server_(server), config_(server.config()), ports_(server, this->peer()),
          session_(session_config(mode), ports_) {}

    std::chrono::seconds idle_timeout() const override {
        const auto s = session_.state();
        const bool in_data = s == smtp::Session::State::data || s == smtp::Session::State::chunk;
        return in_data ? config_->limits.data_timeout : config_->limits.command_timeout;
    }
    bool busy() const override {
        using S = smtp::Session::State;
        const auto s = session_.state();
        return s == S::mail || s == S::rcpt || s == S::data || s == S::bdat || s == S::chunk;
    }

private:
    smtp::ActionResult run(const smtp::Action& action) override {
        if (auto* login = std::get_if<smtp::VerifyPassword>(&action)) return verify_login(server_, *login, peer());
        return deliver_message(server_, std::get<smtp::Deliver>(action), peer(), OnTemporaryFailure::queue_beside_accepted);
    }

    void after_input() override {
        if (auto v = session_.take_pipelining_violation())
            log::line("improper_pipelining", {{"session", peer().id}, {"after", v->after}, {"pipelining", v->negotiated ? "yes" : "no"}});
    }

    smtp::SessionConfig session_config(smtp::Mode mode) const {
        const Peer& p = peer();
        smtp::SessionConfig c;
        c.hostname = config_->server.hostname;
        c.mode = mode;
        c.tls_available = offers_tls(p.origin);  // sendmail -bs speaks on a pipe
        c.tls_active = p.tls;
        c.peer_loopback = p.loopback;
        c.enforce_pipelining = enforces_pipelining(p.origin);  // sendmail -bs: a local script
        c.peer_address = p.address;
        c.max_message_size = config_->limits.max_message_size;
        c.max_recipients = static_cast<std::size_t>(config_->limits.max_recipients);
        c.strict_8bitmime = config_->smtp.strict_8bitmime;
        c.session_id = p.id;
        return c;
    }

    Server& server_;
    std::shared_ptr<const Config> config_;  // the one this connection started with
    SmtpPorts ports_;
    smtp::Session session_;
};

}  // namespace

SmtpService::SmtpService(Server& server, smtp::Mode mode) : server_(server), mode_(mode) {}

std::unique_ptr<Conversation> SmtpService::open(const Peer& peer) {
    return std::make_unique<SmtpConversation>(server_, mode_, peer);
}

std::string SmtpService::refuse(const Peer& peer, std::string_view why) {
    log::line("refused", {{"session", peer.id}, {"listener", peer.listener}, {"client", peer.address}, {"reason", why}});
    // RFC 5321 3.1: a server that cannot serve now answers 421 instead of the greeting.
    return fmt::format("421 4.7.0 {} {}, try again later\r\n", server_.config()->server.hostname, why);
}

namespace {

DsnNotify notify_of(const smtp::Notify& n) { return DsnNotify{n.never, n.success, n.failure, n.delay}; }

DeliveryRecipient recipient_of(const smtp::Recipient& r) {
    DeliveryRecipient out;
    out.address = r.address;
    if (r.notify) out.notify = notify_of(*r.notify);
    if (r.orcpt) out.orcpt = r.orcpt->type + ";" + r.orcpt->address;
    return out;
}

// The envelope without its text.
DeliveryRequest request_of(const smtp::Envelope& envelope, const Peer& peer) {
    DeliveryRequest request;
    request.id = envelope.id;
    request.return_path = envelope.return_path ? envelope.return_path->str() : std::string();
    for (const auto& r : envelope.recipients) request.recipients.push_back(recipient_of(r));
    request.body = envelope.body == smtp::Body::eight_bit_mime ? "8BITMIME"
                   : envelope.body == smtp::Body::binary_mime ? "BINARYMIME"
                                                              : "7BIT";
    request.smtputf8 = envelope.smtputf8;
    request.envid = envelope.envid;
    request.ret = envelope.ret == smtp::Ret::full ? "FULL" : envelope.ret == smtp::Ret::headers ? "HDRS" : "";
    request.peer = peer;
    return request;
}

smtp::Verdict verdict_of(const DeliveryOutcome& o) {
    if (o.accepted()) return smtp::Verdict::accept();
    return smtp::Verdict::refuse(smtp::Reply{o.code, o.status, o.text});
}

}  // namespace

smtp::DeliveryResult deliver_message(Server& server, const smtp::Deliver& action, const Peer& peer, OnTemporaryFailure temporary) {
    smtp::DeliveryResult result;
    DeliveryRequest request = request_of(action.envelope, peer);
    request.text = action.message;
    request.undeclared_8bit = action.undeclared_8bit;
    if (action.spilled) {
        request.spilled = std::dynamic_pointer_cast<BodyFile>(action.spilled);
        if (!request.spilled) {  // a sink this server did not make (a bug): nothing can be read
            log::line("delivery_failed", {{"session", peer.id}, {"id", action.envelope.id}, {"error", "the message text is in a sink of another kind"}});
            result.recipients.assign(action.envelope.recipients.size(), smtp::Verdict::refuse(smtp::reply(smtp::ReplyId::temporary_failure)));
            return result;
        }
    }
    for (const DeliveryOutcome& o : deliver(server, request, temporary)) result.recipients.push_back(verdict_of(o));
    return result;
}

void bounce_refused(Server& server, const smtp::Envelope& envelope, std::string_view message,
                    const std::vector<std::pair<smtp::Recipient, smtp::Reply>>& refused, const Peer& peer) {
    DeliveryRequest request = request_of(envelope, peer);
    request.text = message;
    std::vector<std::pair<DeliveryRecipient, DeliveryOutcome>> list;
    for (const auto& [rcpt, reply] : refused) list.emplace_back(recipient_of(rcpt), DeliveryOutcome::refuse(reply.code, reply.status, reply.text));
    bounce_refused(server, request, list);
}

smtp::PasswordResult verify_login(Server& server, const smtp::VerifyPassword& action, const Peer& peer) {
    LoginRequest request{action.username, action.password, sasl::mechanism_name(action.mechanism), peer};
    switch (verify_login(server, request).result) {
    case LoginOutcome::Result::ok: return smtp::PasswordResult::ok;
    case LoginOutcome::Result::bad_credentials: return smtp::PasswordResult::bad;
    case LoginOutcome::Result::throttled:  // RFC 4954 6: 454 4.7.0, try later
    case LoginOutcome::Result::temporary: return smtp::PasswordResult::temporary_failure;
    }
    return smtp::PasswordResult::temporary_failure;
}

}  // namespace vpsmail::server
