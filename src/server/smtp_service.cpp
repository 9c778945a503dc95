#include "server/smtp_service.hpp"

#include "auth/password.hpp"
#include "auth/throttle.hpp"
#include "core/address.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "mailstore/delivery.hpp"
#include "mailstore/external.hpp"
#include "mailstore/maildir.hpp"
#include "mailstore/quota.hpp"
#include "mailstore/index_pool.hpp"
#include "mailstore/sqlite_index.hpp"
#include "server/body_file.hpp"
#include "server/server.hpp"
#include "store/store.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <arpa/inet.h>
#include <map>
#include <set>
#include <sys/statvfs.h>

namespace vpsmail::server {
namespace {

using smtp::Reply;
using smtp::ReplyId;
using smtp::Verdict;

// A dummy yescrypt hash: an unknown user costs as much time as a wrong password.
constexpr const char* dummy_hash = "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$GmcwIgvdUC9qLWcKCi6gklUa1dM3ziD43YxYNURLKy0";

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

// "local@domain" of a mailbox target.
std::pair<std::string, std::string> split_mailbox(const std::string& value) {
    auto at = value.rfind('@');
    return {value.substr(0, at), value.substr(at + 1)};
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
            if (!over_quota(t.value, 0)) {
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
        if (peer_.listener == "sendmail") return true;
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

    // The account's quota is reached (with `adding` more bytes)?
    bool over_quota(const std::string& mailbox, std::uint64_t adding) {
        auto [local, domain] = split_mailbox(mailbox);
        auto account = server_.index().view().find_account(local, domain);
        if (!account || account->quota == 0) return false;
        const std::string maildir = mailstore::maildir_path(server_.config()->paths.mail_root, domain, local);
        // One read of the account's index (docs/architecture.md section 9); a scan only before its first delivery.
        const auto usage = mailstore::find_pooled_usage(maildir);
        return (usage ? usage->bytes : mailstore::maildir_usage(maildir)) + adding > account->quota;
    }

private:
    Server& server_;
    const Peer& peer_;
};

class SmtpConversation final : public Conversation {
public:
    SmtpConversation(Server& server, smtp::Mode mode, const Peer& peer)
        : server_(server), config_(server.config()), peer_(peer), ports_(server, peer_),
          session_(session_config(mode), ports_) {
        log::line("connect", {{"session", peer_.id}, {"listener", peer_.listener}, {"client", peer_.address}});
    }

    void start() override { session_.start(); }
    void receive(std::string_view bytes) override {
        session_.receive(std::span<const char>(bytes.data(), bytes.size()));
        log_violation();
    }
    std::string take_output() override { return session_.take_output(); }
    bool wants_starttls() const override { return session_.wants_starttls(); }
    void tls_started(std::string_view version, std::string_view cipher) override {
        log::line("tls", {{"session", peer_.id}, {"version", version}, {"cipher", cipher}});
        session_.tls_started();
    }
    bool wants_close() const override { return session_.wants_close(); }
    std::chrono::seconds idle_timeout() const override {
        const auto s = session_.state();
        const bool in_data = s == smtp::Session::State::data || s == smtp::Session::State::chunk;
        return in_data ? config_->limits.data_timeout : config_->limits.command_timeout;
    }
    void timeout() override { session_.timeout(); }
    void shutdown() override { session_.shutdown(); }
    bool busy() const override {
        using S = smtp::Session::State;
        const auto s = session_.state();
        return s == S::mail || s == S::rcpt || s == S::data || s == S::bdat || s == S::chunk;
    }
    void closed(std::string_view reason) override {
        log::line("disconnect", {{"session", peer_.id}, {"reason", reason}});
    }

    std::optional<Job> take_job() override {
        auto action = session_.take_action();
        if (!action) return std::nullopt;
        return Job([this, action = std::move(*action)]() -> std::function<void()> {
            smtp::ActionResult result;
            if (auto* login = std::get_if<smtp::VerifyPassword>(&action)) result = verify_login(server_, *login, peer_);
            else result = deliver_message(server_, std::get<smtp::Deliver>(action), peer_, OnTemporaryFailure::queue_beside_accepted);
            return [this, result = std::move(result)]() mutable {
                session_.complete(std::move(result));
                log_violation();
            };
        });
    }

private:
    void log_violation() {
        if (auto v = session_.take_pipelining_violation())
            log::line("improper_pipelining", {{"session", peer_.id}, {"after", v->after}, {"pipelining", v->negotiated ? "yes" : "no"}});
    }

    smtp::SessionConfig session_config(smtp::Mode mode) const {
        smtp::SessionConfig c;
        c.hostname = config_->server.hostname;
        c.mode = mode;
        c.tls_available = peer_.listener != "sendmail";  // sendmail -bs speaks on a pipe
        c.tls_active = peer_.tls;
        c.peer_loopback = peer_.loopback;
        c.enforce_pipelining = peer_.listener != "sendmail";  // sendmail -bs: a local script
        c.peer_address = peer_.address;
        c.max_message_size = config_->limits.max_message_size;
        c.max_recipients = static_cast<std::size_t>(config_->limits.max_recipients);
        c.strict_8bitmime = config_->smtp.strict_8bitmime;
        c.session_id = peer_.id;
        return c;
    }

    Server& server_;
    std::shared_ptr<const Config> config_;  // the one this connection started with
    Peer peer_;
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

// A legacy hash ($1$, DES, which only reads 8 characters of a password) that just verified is
// replaced by a yescrypt hash of the same password, unless the account's hash changed
// meanwhile. The login succeeds whatever happens here: the next one tries again.
void upgrade_hash(Server& server, const Address& login, const std::string& old_hash, std::string_view password,
                  const Peer& peer) {
    try {
        // The thread's connection is read-only; this happens once per legacy account.
        const std::string new_hash = auth::hash_password(password);
        const bool done = store::Store::open(server.db_path())->upgrade_password_hash(login.local, login.domain, old_hash, new_hash);
        log::line("rehash", {{"session", peer.id}, {"user", login.str()}, {"result", done ? "yescrypt" : "changed meanwhile"}});
    } catch (const Error& e) {
        log::line("rehash", {{"session", peer.id}, {"user", login.str()}, {"result", "error"}, {"error", e.what()},
                             {"detail", e.detail()}});
    }
}

}  // namespace

smtp::PasswordResult verify_login(Server& server, const smtp::VerifyPassword& action, const Peer& peer) {
    // [auth] max_failures counts per client network and per canonical account; while either is
    // locked out the password is not even checked, and the client hears 454 4.7.0 (try later).
    auth::Throttle& throttle = server.throttle();
    const std::string client = auth::client_key(peer.address);
    const std::string account = auth::account_key(action.username);
    if (!throttle.allowed(client) || !throttle.allowed(account)) {
        log::line("auth", {{"session", peer.id}, {"user", action.username}, {"result", "locked out"}});
        return smtp::PasswordResult::temporary_failure;
    }
    std::string hash = dummy_hash;
    bool usable = false;
    std::optional<Address> login;
    try {
        Address parsed = parse_address(action.username);
        if (!parsed.bare()) {
            parsed.local = lower_ascii(parsed.local);
            if (auto user = server.thread_store().find_user(parsed.local, parsed.domain)) {
                usable = user->enabled;
                hash = user->password_hash;
                login = std::move(parsed);
            }
        }
    } catch (const Error& e) {
        if (is_temporary(e.kind()) || e.kind() == ErrorKind::config || e.kind() == ErrorKind::permission) {
            log::line("auth", {{"session", peer.id}, {"user", action.username}, {"result", "error"}, {"error", e.what()}});
            return smtp::PasswordResult::temporary_failure;
        }
        // Not an address: a wrong login like any other.
    }
    const bool match = auth::verify_password(action.password, hash);
    if (match && usable) {
        throttle.succeeded(client);
        throttle.succeeded(account);
        log::line("auth", {{"session", peer.id}, {"user", action.username}, {"result", "ok"}});
        if (auth::hash_needs_upgrade(hash)) upgrade_hash(server, *login, hash, action.password, peer);
        return smtp::PasswordResult::ok;
    }
    const bool locked = throttle.failed(account) | throttle.failed(client);
    log::line("auth", {{"session", peer.id}, {"user", action.username}, {"result", locked ? "failed, locked out" : "failed"}});
    return smtp::PasswordResult::bad;
}

namespace {

std::string notify_text(const std::optional<smtp::Notify>& n) {
    if (!n) return {};
    std::string out;
    auto add = [&](bool on, const char* word) {
        if (on) out += (out.empty() ? "" : ",") + std::string(word);
    };
    add(n->never, "NEVER");
    add(n->success, "SUCCESS");
    add(n->failure, "FAILURE");
    add(n->delay, "DELAY");
    return out;
}

queue::Envelope spool_envelope(const smtp::Envelope& envelope, const std::string& return_path, const Peer& peer) {
    queue::Envelope spooled;
    spooled.return_path = return_path;
    spooled.body = envelope.body == smtp::Body::eight_bit_mime ? "8BITMIME"
                   : envelope.body == smtp::Body::binary_mime ? "BINARYMIME"
                                                              : "7BIT";
    spooled.smtputf8 = envelope.smtputf8;
    spooled.envid = envelope.envid;
    spooled.ret = envelope.ret == smtp::Ret::full ? "FULL" : envelope.ret == smtp::Ret::headers ? "HDRS" : "";
    spooled.received_from = peer.address;
    spooled.created = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    return spooled;
}

queue::SpoolRecipient spool_recipient(const smtp::Recipient& r, std::string address) {
    queue::SpoolRecipient out;
    out.address = std::move(address);
    out.notify = notify_text(r.notify);
    if (r.orcpt) out.orcpt = r.orcpt->type + ";" + r.orcpt->address;
    return out;
}

std::string reply_text(const Reply& reply) { return fmt::format("{} {} {}", reply.code, reply.status, reply.text); }

// A recipient of a report entry whose failure DSN the queue runner sends.
queue::SpoolRecipient bounced_recipient(const smtp::Recipient& rcpt, const Reply& reply) {
    queue::SpoolRecipient r = spool_recipient(rcpt, rcpt.address.str());
    r.state = queue::RecipientState::bounced;
    r.local = true;
    r.code = reply.code;
    r.status = reply.status;
    r.last_error = reply_text(reply);
    return r;
}

// A local recipient of a report entry that the queue runner delivers later.
queue::SpoolRecipient retry_recipient(const smtp::Recipient& rcpt, const Reply& reply) {
    queue::SpoolRecipient r = spool_recipient(rcpt, rcpt.address.str());
    r.local = true;
    r.last_error = reply_text(reply);
    return r;
}

// One mailbox of an accepted recipient's expansion that did not get the message: bounced
// (`reply` permanent: a full mailbox) or retried by the queue runner as that mailbox alone,
// `\bob@d` (docs/routing.md rule 8), so the parts already delivered get no second copy. The DSN
// names the mailbox, and the address the client gave as its original recipient (RFC 3461 4.2).
queue::SpoolRecipient mailbox_part(const smtp::Recipient& rcpt, const std::string& mailbox, const Reply& reply) {
    queue::SpoolRecipient r = spool_recipient(rcpt, reply.temporary() ? "\\" + mailbox : mailbox);
    if (!rcpt.orcpt) r.orcpt = "rfc822;" + rcpt.address.str();
    r.local = true;
    r.last_error = reply_text(reply);
    if (!reply.temporary()) {
        r.state = queue::RecipientState::bounced;
        r.code = reply.code;
        r.status = reply.status;
    }
    return r;
}

}  // namespace

void bounce_refused(Server& server, const smtp::Envelope& envelope, std::string_view message,
                    const std::vector<std::pair<smtp::Recipient, Reply>>& refused, const Peer& peer) {
    const std::string return_path = envelope.return_path ? envelope.return_path->str() : std::string();
    if (return_path.empty() || refused.empty()) return;  // RFC 5321 4.5.5: no report about a report
    queue::Envelope report = spool_envelope(envelope, return_path, peer);
    for (const auto& [rcpt, reply] : refused) report.recipients.push_back(bounced_recipient(rcpt, reply));
    const std::string id = server.enqueue(report, message);
    log::line("queued", {{"session", peer.id}, {"id", envelope.id}, {"queue_id", id}, {"from", return_path}, {"reason", "dsn"}});
}

namespace {

// The text of a Deliver action: in memory, or in the BodyFile the session spilled it to.
class Text {
public:
    explicit Text(const smtp::Deliver& action) noexcept
        : memory_(action.message), file_(dynamic_cast<BodyFile*>(action.spilled.get())), usable_(!action.spilled || file_ != nullptr) {}
    /// False for a sink this server did not make (a bug): nothing can be read.
    bool usable() const noexcept { return usable_; }
    std::uint64_t size() const noexcept { return file_ != nullptr ? file_->size() : memory_.size(); }
    void write_to(mailstore::Delivery& delivery) const {
        if (file_ == nullptr) delivery.write(memory_);
        else file_->read([&](std::string_view piece) { delivery.write(piece); });
    }
    void append_to(std::string& out) const {
        if (file_ == nullptr) out.append(memory_);
        else file_->read([&](std::string_view piece) { out.append(piece); });
    }
    // A file is linked into the spool, not copied (Spool::add_file).
    std::string enqueue(Server& server, const queue::Envelope& envelope) const {
        if (file_ == nullptr) return server.enqueue(envelope, memory_);
        file_->flush();
        return server.enqueue_file(envelope, file_->path(), file_->size());
    }

private:
    std::string_view memory_;
    BodyFile* file_;
    bool usable_;
};

}  // namespace

smtp::DeliveryResult deliver_message(Server& server, const smtp::Deliver& action, const Peer& peer, OnTemporaryFailure temporary) {
    const auto config = server.config();
    const route::Options options = server.route_options();
    const smtp::Envelope& envelope = action.envelope;
    const std::string return_path = envelope.return_path ? envelope.return_path->str() : std::string();
    const std::size_t count = envelope.recipients.size();
    const std::string_view undeclared_8bit = action.undeclared_8bit ? "yes" : "no";
    // What a recipient whose Maildir or spool write failed hears: 452 4.3.1 for a full disk.
    Reply write_failure = smtp::reply(ReplyId::temporary_failure);
    const Text text(action);

    smtp::DeliveryResult result;
    result.recipients.assign(count, Verdict::refuse(smtp::reply(ReplyId::temporary_failure)));
    if (!text.usable()) {
        log::line("delivery_failed", {{"session", peer.id}, {"id", envelope.id}, {"error", "the message text is in a sink of another kind"}});
        return result;
    }
    std::vector<std::vector<std::string>> mailboxes(count);  // per recipient: its mailbox targets
    std::vector<std::vector<std::string>> remotes(count);
    std::vector<std::vector<route::Target>> externals(count);  // programs and files ([delivery] allows them)
    std::vector<std::optional<Reply>> failure(count);        // the reason when nothing delivers

    for (std::size_t i = 0; i < count; ++i) {
        const Address& rcpt = envelope.recipients[i].address;
        bool local = rcpt.bare() || server.index().view().is_local_domain(rcpt.domain);
        if (!local) {
            remotes[i].push_back(rcpt.str());
            continue;
        }
        route::Resolution r = route::resolve(server.index(), rcpt.str(), options);
        if (!r.failures.empty()) failure[i] = refusal_of(r);
        for (const auto& t : r.targets) {
            if (t.kind == route::TargetKind::mailbox) mailboxes[i].push_back(t.value);
            else if (t.kind == route::TargetKind::remote) remotes[i].push_back(t.value);
            else externals[i].push_back(t);
        }
    }

    // Local mailboxes: one file, linked into each Maildir; a mailbox gets the message once.
    const std::string header = fmt::format("Return-Path: <{}>\r\n", return_path);
    const std::uint64_t size = header.size() + text.size();
    SmtpPorts quota_check(server, peer);
    std::map<std::string, bool> stored;  // mailbox -> delivered
    std::set<std::string> full;
    std::map<std::string, Reply> unwritable;  // mailbox -> why its Maildir could not be added
    {
        std::vector<mailstore::IndexLease> indexes;  // outlive the Delivery's commit
        mailstore::Delivery delivery(&server.sync_group());
        std::vector<std::string> added;
        for (std::size_t i = 0; i < count; ++i)
            for (const auto& mailbox : mailboxes[i]) {
                if (stored.count(mailbox) || full.count(mailbox)) continue;
                if (quota_check.over_quota(mailbox, size)) {
                    full.insert(mailbox);
                    continue;
                }
                stored[mailbox] = false;
            }
        // One Maildir that cannot be used fails its own mailbox, not the others: add() leaves
        // the Delivery as it was when it throws.
        for (auto& [mailbox, done] : stored) {
            auto [local, domain] = split_mailbox(mailbox);
            try {
                const std::string maildir = mailstore::maildir_path(config->paths.mail_root, domain, local);
                // docs/architecture.md section 9: the index is updated by the delivery's own commit.
                mailstore::IndexedDelivery indexed;
                indexed.index = indexes.emplace_back(mailstore::borrow_index(maildir)).get();
                delivery.add(maildir, std::move(indexed));
                added.push_back(mailbox);
            } catch (const Error& e) {
                unwritable.emplace(mailbox, e.kind() == ErrorKind::no_space ? smtp::reply_for(e) : smtp::reply(ReplyId::temporary_failure));
                log::line("delivery_failed", {{"session", peer.id}, {"id", envelope.id}, {"mailbox", mailbox}, {"kind", kind_name(e.kind())},
                                              {"error", e.what()}, {"detail", e.detail()}});
            }
        }
        try {
            if (!added.empty()) {
                delivery.write(header);
                text.write_to(delivery);
                auto files = delivery.commit();
                for (std::size_t k = 0; k < files.size() && k < added.size(); ++k) {
                    stored[added[k]] = true;
                    log::line("delivered", {{"session", peer.id}, {"id", envelope.id}, {"from", return_path},
                                            {"mailbox", added[k]}, {"file", files[k].name}, {"undeclared_8bit", undeclared_8bit}});
                }
            }
        } catch (const Error& e) {
            if (e.kind() == ErrorKind::no_space) write_failure = smtp::reply_for(e);
            log::line("delivery_failed", {{"session", peer.id}, {"id", envelope.id}, {"kind", kind_name(e.kind())},
                                          {"error", e.what()}, {"detail", e.detail()}});
        }
    }

    // Programs and files, each once per message. Programs run as [delivery] program_user
    // (through the launcher serve started as root, or forked as it when still root); files are
    // written as the server's user.
    std::map<std::string, mailstore::ExternalResult> external_results;
    // They take the message whole: a spilled text is read back once, for all of them.
    std::string message;
    std::optional<mailstore::ExternalResult> unreadable;
    if (std::any_of(externals.begin(), externals.end(), [](const auto& e) { return !e.empty(); })) {
        try {
            message = header;
            text.append_to(message);
        } catch (const Error& e) {
            unreadable = mailstore::ExternalResult{mailstore::ExternalResult::Kind::temporary, 451, "4.3.0", e.what()};
        }
    }
    for (std::size_t i = 0; i < count; ++i)
        for (const auto& t : externals[i]) {
            const std::string key = std::string(route::target_kind_name(t.kind)) + ":" + t.value;
            if (external_results.count(key)) continue;
            if (unreadable) {
                external_results.emplace(key, *unreadable);
                continue;
            }
            mailstore::ExternalResult r;
            if (t.kind == route::TargetKind::program) {
                mailstore::ProgramOptions o;
                o.sender = return_path;
                o.recipient = envelope.recipients[i].address.str();
                o.run_as = config->delivery.program_user;
                std::string command = t.value.starts_with("|") ? t.value.substr(1) : t.value;
                r = mailstore::run_program(command, message, o);
            } else {
                r = mailstore::append_to_file(t.value, message, return_path);
            }
            log::line(r.ok() ? "delivered" : "delivery_failed",
                      {{"session", peer.id}, {"id", envelope.id}, {"from", return_path},
                       {t.kind == route::TargetKind::program ? "program" : "file", t.value},
                       {"result", r.ok() ? "ok" : fmt::format("{} {} {}", r.code, r.status, r.text)}});
            external_results.emplace(key, std::move(r));
        }

    // Remote targets: one spool entry for all of them.
    std::vector<std::size_t> remote_owner;
    queue::Envelope spooled = spool_envelope(envelope, return_path, peer);
    for (std::size_t i = 0; i < count; ++i)
        for (const auto& address : remotes[i]) {
            spooled.recipients.push_back(spool_recipient(envelope.recipients[i], address));
            remote_owner.push_back(i);
        }
    std::vector<bool> remote_ok(count, false);
    if (!spooled.recipients.empty()) {
        try {
            std::string id = text.enqueue(server, spooled);
            for (std::size_t owner : remote_owner) remote_ok[owner] = true;
            for (const auto& r : spooled.recipients)
                log::line("queued", {{"session", peer.id}, {"id", envelope.id}, {"queue_id", id}, {"from", return_path},
                                     {"to", r.address}, {"undeclared_8bit", undeclared_8bit}});
        } catch (const Error& e) {
            if (e.kind() == ErrorKind::no_space) write_failure = smtp::reply_for(e);
            log::line("queue_failed", {{"session", peer.id}, {"id", envelope.id}, {"kind", kind_name(e.kind())},
                                       {"error", e.what()}, {"detail", e.detail()}});
        }
    }

    // What the queue runner must still do: DSNs for recipients accepted although part of their
    // expansion failed, or delivered here with NOTIFY=SUCCESS; for sendmail, local recipients
    // whose delivery failed for now; and, beside an accepted recipient after SMTP DATA, every
    // refused one.
    queue::Envelope report = spool_envelope(envelope, return_path, peer);
    std::vector<std::size_t> retried;  // accepted only because the report entry retries them
    std::set<std::string> parts;       // mailboxes that missed the message, reported once
    std::vector<std::size_t> with_parts;  // accepted recipients with such a mailbox
    for (std::size_t i = 0; i < count; ++i) {
        bool any = remote_ok[i];
        bool any_local = false;
        bool any_full = false;
        std::optional<Reply> unwritable_reply;
        std::optional<Reply> external_failure;
        for (const auto& t : externals[i]) {
            const auto& r = external_results.at(std::string(route::target_kind_name(t.kind)) + ":" + t.value);
            if (r.ok()) any = any_local = true;
            else if (!external_failure || (external_failure->temporary() && r.kind == mailstore::ExternalResult::Kind::permanent))
                external_failure = Reply{r.code, r.status, r.text};
        }
        for (const auto& mailbox : mailboxes[i]) {
            if (auto it = stored.find(mailbox); it != stored.end() && it->second) any = any_local = true;
            if (full.count(mailbox)) any_full = true;
            if (auto it = unwritable.find(mailbox); it != unwritable.end() && !unwritable_reply) unwritable_reply = it->second;
        }
        const std::optional<Reply> part_failure = failure[i] ? failure[i] : external_failure;
        const smtp::Recipient& rcpt = envelope.recipients[i];
        if (any) {
            // RFC 5321 6.1, docs/architecture.md section 9: the recipient is accepted, so a mailbox of its
            // expansion that missed the message is ours: bounced when full, else retried.
            for (const auto& mailbox : mailboxes[i]) {
                if (auto it = stored.find(mailbox); (it != stored.end() && it->second) || !parts.insert(mailbox).second) continue;
                Reply why = full.count(mailbox)                       ? Reply{552, "5.2.2", "mailbox full"}
                            : unwritable.count(mailbox)               ? unwritable.at(mailbox)
                                                                      : write_failure;
                log::line("not_delivered", {{"session", peer.id}, {"id", envelope.id}, {"rcpt", rcpt.address.str()}, {"mailbox", mailbox},
                                            {"reply", reply_text(why)},
                                            {"then", why.temporary() ? "retry" : return_path.empty() ? "dropped, no DSN to <>" : "dsn"}});
                if (why.temporary() || !return_path.empty()) {
                    report.recipients.push_back(mailbox_part(rcpt, mailbox, why));
                    with_parts.push_back(i);
                }
            }
        }
        if (any && part_failure) {
            log::line("not_delivered", {{"session", peer.id}, {"id", envelope.id}, {"rcpt", rcpt.address.str()},
                                        {"reply", reply_text(*part_failure)}});
            if (!part_failure->temporary()) report.recipients.push_back(bounced_recipient(rcpt, *part_failure));
        }
        if (any_local && rcpt.notify && rcpt.notify->success) {
            queue::SpoolRecipient r = spool_recipient(rcpt, rcpt.address.str());
            r.state = queue::RecipientState::delivered;
            r.local = true;
            r.code = 250;
            r.status = "2.0.0";
            report.recipients.push_back(std::move(r));
        }
        if (any) result.recipients[i] = Verdict::accept();
        else if (any_full && mailboxes[i].size() == 1 && remotes[i].empty()) result.recipients[i] = Verdict::refuse(Reply{552, "5.2.2", "mailbox full"});
        else if (mailboxes[i].empty() && remotes[i].empty() && external_failure)
            result.recipients[i] = Verdict::refuse(*external_failure);
        else if (mailboxes[i].empty() && remotes[i].empty() && failure[i]) result.recipients[i] = Verdict::refuse(*failure[i]);
        else if (unwritable_reply && remotes[i].empty()) result.recipients[i] = Verdict::refuse(*unwritable_reply);
        else result.recipients[i] = Verdict::refuse(write_failure);  // a write or spool error; the client retries
        if (temporary == OnTemporaryFailure::queue && !result.recipients[i].accepted() && result.recipients[i].refusal->temporary()) {
            report.recipients.push_back(retry_recipient(rcpt, *result.recipients[i].refusal));
            result.recipients[i] = Verdict::accept();  // once the report entry is durable, below
            retried.push_back(i);
        }
    }
    // RFC 5321 6.1, docs/architecture.md section 9: the client hears 250 when one recipient is accepted,
    // so from here on each refused one is ours: retried by the queue runner when its failure is
    // temporary, else bounced with a DSN (none to the null sender, RFC 5321 4.5.5).
    std::vector<std::size_t> owned;
    const bool accepted = std::any_of(result.recipients.begin(), result.recipients.end(), [](const Verdict& v) { return v.accepted(); });
    if (temporary == OnTemporaryFailure::queue_beside_accepted && accepted) {
        for (std::size_t i = 0; i < count; ++i) {
            if (result.recipients[i].accepted()) continue;
            const Reply& refusal = *result.recipients[i].refusal;
            const smtp::Recipient& rcpt = envelope.recipients[i];
            const bool retry = refusal.temporary();
            log::line("not_delivered", {{"session", peer.id}, {"id", envelope.id}, {"rcpt", rcpt.address.str()},
                                        {"reply", reply_text(refusal)},
                                        {"then", retry ? "retry" : return_path.empty() ? "dropped, no DSN to <>" : "dsn"}});
            if (retry) report.recipients.push_back(retry_recipient(rcpt, refusal));
            else if (!return_path.empty()) report.recipients.push_back(bounced_recipient(rcpt, refusal));
            owned.push_back(i);
        }
    }
    const bool retries = std::any_of(report.recipients.begin(), report.recipients.end(), [](const auto& r) {
        return r.state == queue::RecipientState::pending;
    });
    if (!report.recipients.empty() && (!return_path.empty() || retries)) {
        try {
            std::string id = text.enqueue(server, report);
            log::line("queued", {{"session", peer.id}, {"id", envelope.id}, {"queue_id", id}, {"from", return_path},
                                 {"reason", "dsn or retry"}});
        } catch (const Error& e) {
            log::line("queue_failed", {{"session", peer.id}, {"id", envelope.id}, {"error", e.what()}, {"detail", e.detail()}});
            // Only the retries depend on this entry: those recipients are not accepted after all.
            for (std::size_t i : retried) result.recipients[i] = Verdict::refuse(smtp::reply_for(e));
            // The refused recipients beside an accepted one would be lost after a 250: the
            // client hears 4xx and sends again, a second copy for the others (RFC 5321 6.1:
            // the message must not be lost).
            if (!owned.empty() || (temporary == OnTemporaryFailure::queue_beside_accepted && !with_parts.empty()))
                for (auto& v : result.recipients) v = Verdict::refuse(smtp::reply_for(e));
            // The queue runner and the pickup try such a recipient again, whole.
            for (std::size_t i : with_parts) result.recipients[i] = Verdict::refuse(smtp::reply_for(e));
        }
    }
    return result;
}

}  // namespace vpsmail::server
