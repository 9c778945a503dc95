#include "server/queue_runner.hpp"

#include "core/address.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "server/server.hpp"
#include "server/delivery.hpp"
#include "server/peer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <sstream>

namespace vpsmail::server {

using Clock = std::chrono::system_clock;
using queue::RecipientOutcome;
using queue::RecipientState;

// RFC 5321 4.5.3.1.8: a server must take at least 100 recipients per transaction.
constexpr std::size_t max_recipients_per_transaction = 100;
// One connection more for every this many messages waiting for a destination.
constexpr std::size_t messages_per_connection = 4;

struct QueueRunner::Entry {
    queue::SpooledMessage message;
    std::mutex write;                 // one writer of env/<id> at a time, and DSNs sent once
    std::set<std::size_t> in_flight;  // recipients net/ took and has not reported yet
    std::set<std::string> queued;     // destination keys whose due_ list holds this id
    bool local_busy = false;          // deliver_locally() runs
    bool doomed = false;              // deleted while in flight: removed at the report
    bool gone = false;                // no longer in the spool
    std::string bounce_reason;        // bounced while in flight: applied at the report
};

namespace {

std::string domain_of(const std::string& address) {
    auto at = address.rfind('@');
    if (at == std::string::npos) return {};
    std::string d = address.substr(at + 1);
    std::transform(d.begin(), d.end(), d.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return d;
}

bool all_final(const queue::Envelope& e) {
    return std::all_of(e.recipients.begin(), e.recipients.end(), [](const auto& r) { return queue::is_final(r.state); });
}

std::vector<std::string> words_of(std::string_view text) {
    std::istringstream in{std::string(text)};
    std::vector<std::string> out;
    for (std::string w; in >> w;) out.push_back(w);
    return out;
}

}  // namespace

QueueRunner::QueueRunner(Server& server) : server_(server) {
    const auto config = server_.config();
    policy_.retry_min = config->queue.retry_min;
    policy_.retry_max = config->queue.retry_max;
    policy_.max_age = config->queue.max_age;
    policy_.warn_after = config->queue.warn_after;
    max_per_destination_ = static_cast<std::size_t>(config->queue.max_per_destination);
    if (!config->relay.host.empty()) {
        // Like the relay's credentials, fixed at start: SIGHUP does not move the queue elsewhere.
        HostPort hp = parse_host_port(config->relay.host, 25);
        relay_ = queue::Destination{"relay:" + hp.str(), "", hp.host, hp.port};
    }

    const queue::Spool& spool = server_.spool();
    const std::size_t stale = spool.remove_stale_tmp();
    queue::ScanResult found = spool.scan();
    for (const auto& d : found.damaged) {
        try {
            spool.quarantine(d.id, d.reason);
        } catch (const Error& e) {
            log::line("spool_quarantine_failed", {{"queue_id", d.id}, {"error", e.what()}, {"detail", e.detail()}});
        }
    }
    for (auto& m : found.messages) adopt(std::move(m));
    log::line("queue_loaded", {{"messages", std::to_string(entries_.size())}, {"damaged", std::to_string(found.damaged.size())},
                               {"stale_tmp", std::to_string(stale)}});
}

QueueRunner::~QueueRunner() = default;

void QueueRunner::adopt(queue::SpooledMessage message) {
    auto entry = std::make_shared<Entry>();
    const std::string id = message.id;
    entry->message = std::move(message);
    entries_.emplace(id, std::move(entry));
    next_ = Clock::time_point{};  // look at it at the next ready()
}

void QueueRunner::set_wakeup(std::function<void()> wake) {
    std::lock_guard lock(mutex_);
    wake_ = std::move(wake);
}

void QueueRunner::set_tick(std::function<void()> tick) {
    std::lock_guard lock(mutex_);
    tick_ = std::move(tick);
}

void QueueRunner::wake() {
    std::function<void()> w;
    {
        std::lock_guard lock(mutex_);
        w = wake_;
    }
    if (w) w();
}

queue::Destination QueueRunner::destination_of(const std::string& address) const {
    if (relay_) return *relay_;
    queue::Destination d;
    d.domain = domain_of(address);
    d.key = "mx:" + d.domain;
    return d;
}

bool QueueRunner::is_local(const queue::SpoolRecipient& r) const {
    if (r.local) return true;
    const std::string domain = domain_of(r.address);
    return domain.empty() || server_.index().view().is_local_domain(domain);
}

void QueueRunner::added(const std::string& id, queue::Envelope envelope, std::uint64_t size) {
    queue::SpooledMessage m;
    m.id = id;
    envelope.size = size;
    m.envelope = std::move(envelope);
    m.size = size;
    {
        std::lock_guard lock(mutex_);
        if (!entries_.count(id)) adopt(std::move(m));
    }
    wake();
}

// Looks at every message: queues due remote recipients on their destination's list, and does
// what is due without a connection (local delivery, expiry, delay warnings, DSNs and removal
// of finished messages) outside the lock.
void QueueRunner::refresh(Clock::time_point now) {
    struct Work {
        EntryPtr entry;
        std::vector<std::size_t> local, expired, warn;
        bool settle = false;
    };
    std::vector<Work> work;
    {
        std::lock_guard lock(mutex_);
        std::optional<Clock::time_point> next;
        for (auto& [id, entry] : entries_) {
            if (entry->gone || entry->local_busy) continue;
            queue::SpooledMessage& m = entry->message;
            Work w{entry, {}, {}, {}, false};
            if (entry->in_flight.empty() && all_final(m.envelope)) {
                w.settle = true;
                work.push_back(std::move(w));
                continue;
            }
            queue::Plan p = queue::plan(m, now, policy_);
            if (p.next && (!next || *p.next < *next)) next = p.next;
            for (std::size_t i : p.due) {
                if (entry->in_flight.count(i)) continue;
                const auto& r = m.envelope.recipients[i];
                if (is_local(r)) {
                    w.local.push_back(i);
                    continue;
                }
                queue::Destination d = destination_of(r.address);
                if (entry->queued.insert(d.key).second) {
                    due_[d.key].push_back(id);
                    destinations_.emplace(d.key, d);
                }
            }
            for (std::size_t i : p.expired)
                if (!entry->in_flight.count(i)) w.expired.push_back(i);
            for (std::size_t i : p.warn)
                if (!entry->in_flight.count(i)) w.warn.push_back(i);
            if (!w.local.empty() || !w.expired.empty() || !w.warn.empty()) {
                if (!w.local.empty()) entry->local_busy = true;
                work.push_back(std::move(w));
            }
        }
        next_ = next ? *next : now + std::chrono::hours(1);
    }
    for (Work& w : work) {
        if (!w.expired.empty()) {
            std::lock_guard write(w.entry->write);
            {
                std::lock_guard lock(mutex_);
                queue::expire(w.entry->message, w.expired, now);
            }
            settle(w.entry);
        }
        if (!w.warn.empty()) warn(w.entry, w.warn);
        if (!w.local.empty()) deliver_locally(w.entry, w.local);
        if (w.settle) {
            std::lock_guard write(w.entry->write);
            settle(w.entry);
        }
    }
}

std::vector<queue::Destination> QueueRunner::ready(Clock::time_point now) {
    std::function<void()> tick;
    {
        std::lock_guard lock(mutex_);
        if (tick_ && now - last_tick_ >= std::chrono::seconds(1)) {
            last_tick_ = now;
            tick = tick_;
        }
    }
    if (tick) tick();
    refresh(now);
    std::vector<queue::Destination> out;
    std::lock_guard lock(mutex_);
    for (auto it = due_.begin(); it != due_.end();) {
        if (it->second.empty()) {
            if (active_[it->first] == 0) {
                active_.erase(it->first);
                destinations_.erase(it->first);
            }
            it = due_.erase(it);
            continue;
        }
        std::size_t& active = active_[it->first];
        const std::size_t wanted = std::min(max_per_destination_, (it->second.size() + messages_per_connection - 1) / messages_per_connection);
        for (; active < wanted; ++active) out.push_back(destinations_.at(it->first));
        ++it;
    }
    return out;
}

std::optional<queue::OutboundMessage> QueueRunner::take(const queue::Destination& destination) {
    const auto now = Clock::now();
    const std::int64_t unix_now = queue::to_unix(now);
    for (;;) {
        EntryPtr entry;
        queue::OutboundMessage out;
        std::vector<std::size_t> taken;
        {
            std::lock_guard lock(mutex_);
            auto list = due_.find(destination.key);
            if (list == due_.end() || list->second.empty()) return std::nullopt;
            const std::string id = list->second.front();
            list->second.pop_front();
            auto found = entries_.find(id);
            if (found == entries_.end()) continue;
            entry = found->second;
            entry->queued.erase(destination.key);
            if (entry->gone || entry->doomed) continue;
            const queue::Envelope& e = entry->message.envelope;
            if (e.held) continue;
            for (std::size_t i = 0; i < e.recipients.size(); ++i) {
                const auto& r = e.recipients[i];
                if (queue::is_final(r.state) || entry->in_flight.count(i) || r.next_attempt > unix_now || is_local(r)) continue;
                if (destination_of(r.address).key != destination.key) continue;
                if (taken.size() == max_recipients_per_transaction) {
                    // The rest go in another transaction, over this or another connection.
                    if (entry->queued.insert(destination.key).second) list->second.push_back(id);
                    break;
                }
                taken.push_back(i);
                out.recipients.push_back(queue::OutboundRecipient{r.address, r.notify, r.orcpt});
            }
            if (taken.empty()) continue;
            entry->in_flight.insert(taken.begin(), taken.end());
            out.id = id;
            out.return_path = e.return_path;
            out.body = e.body;
            out.smtputf8 = e.smtputf8;
            out.envid = e.envid;
            out.ret = e.ret;
        }
        try {
            out.content = server_.spool().read_content(entry->message);
            return out;
        } catch (const Error& e) {
            {
                std::lock_guard lock(mutex_);
                for (std::size_t i : taken) entry->in_flight.erase(i);
            }
            if (e.kind() == ErrorKind::bad_data) quarantine(entry, e.what());
            else log::line("queue_read_failed", {{"queue_id", out.id}, {"error", e.what()}, {"detail", e.detail()}});
        }
    }
}

void QueueRunner::report(const queue::OutboundMessage& message, const queue::MessageOutcome& outcome) {
    EntryPtr entry;
    {
        std::lock_guard lock(mutex_);
        auto found = entries_.find(message.id);
        if (found == entries_.end()) return;
        entry = found->second;
    }
    const auto now = Clock::now();
    std::lock_guard write(entry->write);
    bool soonest_changed = false;
    {
        std::lock_guard lock(mutex_);
        auto& recipients = entry->message.envelope.recipients;
        for (std::size_t k = 0; k < message.recipients.size() && k < outcome.recipients.size(); ++k) {
            // The recipient this report is about: the in-flight one with that address.
            std::size_t index = recipients.size();
            for (std::size_t i : entry->in_flight)
                if (recipients[i].address == message.recipients[k].address) {
                    index = i;
                    break;
                }
            if (index == recipients.size()) continue;
            entry->in_flight.erase(index);
            queue::record(entry->message, index, outcome.recipients[k], now, policy_);
            const auto& r = recipients[index];
            if (r.state == RecipientState::deferred) {
                const auto at = queue::from_unix(r.next_attempt);
                if (at < next_) {
                    next_ = at;
                    soonest_changed = true;
                }
            }
        }
        if (!entry->bounce_reason.empty() && entry->in_flight.empty()) {
            queue::bounce(entry->message.envelope, entry->bounce_reason, queue::to_unix(now));
            entry->bounce_reason.clear();
        }
    }
    settle(entry);
    if (soonest_changed) wake();
}

void QueueRunner::closed(const queue::Destination& destination) {
    bool more = false;
    {
        std::lock_guard lock(mutex_);
        auto a = active_.find(destination.key);
        if (a != active_.end() && a->second > 0) --a->second;
        auto d = due_.find(destination.key);
        more = d != due_.end() && !d->second.empty();
    }
    if (more) wake();
}

Clock::time_point QueueRunner::next_wakeup() {
    std::lock_guard lock(mutex_);
    for (const auto& [key, list] : due_) {
        auto a = active_.find(key);
        if (!list.empty() && (a == active_.end() || a->second < max_per_destination_)) return Clock::now();
    }
    auto next = next_;
    if (tick_) next = std::min(next, last_tick_ + std::chrono::seconds(1));
    return next;
}

// With entry->write held: the DSNs that are due (failures, successes), then the envelope
// written back, or the message removed once every recipient is final and nothing is in flight.
void QueueRunner::settle(const EntryPtr& entry) {
    bool doomed = false, finished = false;
    {
        std::lock_guard lock(mutex_);
        if (entry->gone) return;
        doomed = entry->doomed && entry->in_flight.empty();
        finished = entry->in_flight.empty() && all_final(entry->message.envelope);
    }
    if (!doomed) {
        send_dsn(entry, queue::DsnKind::failure, {});
        send_dsn(entry, queue::DsnKind::success, {});
    }
    queue::SpooledMessage snapshot;
    {
        std::lock_guard lock(mutex_);
        if (entry->gone) return;
        snapshot = entry->message;
    }
    try {
        if (doomed || finished) {
            server_.spool().remove(snapshot.id);
            log::line(doomed ? "queue_deleted" : "queue_done", {{"queue_id", snapshot.id}});
            std::lock_guard lock(mutex_);
            entry->gone = true;
            entries_.erase(snapshot.id);
        } else {
            server_.spool().update(snapshot);
        }
    } catch (const Error& e) {
        if (e.kind() == ErrorKind::not_found) {  // removed behind our back (queue delete offline?)
            std::lock_guard lock(mutex_);
            entry->gone = true;
            entries_.erase(snapshot.id);
            return;
        }
        log::line("queue_write_failed", {{"queue_id", snapshot.id}, {"error", e.what()}, {"detail", e.detail()}});
    }
}

// With entry->write held (or called by settle, which has it): one DSN of `kind` for the
// recipients that need it (all of dsn_recipients() when `recipients` is empty), spooled like
// any message (local senders get it through the same local delivery), then marked sent.
void QueueRunner::send_dsn(const EntryPtr& entry, queue::DsnKind kind, std::vector<std::size_t> recipients) {
    const auto config = server_.config();
    queue::SpooledMessage snapshot;
    {
        std::lock_guard lock(mutex_);
        snapshot = entry->message;
    }
    const bool warnings = policy_.warn_after.count() > 0;
    if (recipients.empty()) recipients = queue::dsn_recipients(snapshot.envelope, kind, warnings);
    if (recipients.empty()) return;
    const std::int64_t now = queue::to_unix(Clock::now());
    std::string original;
    try {
        original = server_.spool().read_content(snapshot);
    } catch (const Error& e) {
        log::line("dsn_original_missing", {{"queue_id", snapshot.id}, {"error", e.what()}});
    }
    std::optional<std::int64_t> until;
    if (kind == queue::DsnKind::delay) until = snapshot.envelope.created + policy_.max_age.count();
    queue::DsnReport report = queue::make_dsn_report(snapshot, kind, recipients, config->server.hostname, now,
                                                     queue::make_dsn_message_id(config->server.hostname, now), until);
    const std::string text = queue::format_dsn(report, original);
    queue::Envelope envelope = queue::dsn_envelope(snapshot.envelope, text, now);
    try {
        const std::string id = server_.spool().add(envelope, text);
        log::line("dsn", {{"queue_id", snapshot.id}, {"dsn_id", id}, {"kind", kind == queue::DsnKind::failure ? "failure"
                                                                            : kind == queue::DsnKind::delay ? "delay"
                                                                                                           : "success"},
                          {"to", snapshot.envelope.return_path}, {"recipients", std::to_string(recipients.size())}});
        {
            std::lock_guard lock(mutex_);
            queue::mark_dsn_sent(entry->message.envelope, kind, recipients);
            if (!entries_.count(id)) {
                queue::SpooledMessage m;
                m.id = id;
                envelope.size = text.size();
                m.envelope = std::move(envelope);
                m.size = text.size();
                adopt(std::move(m));
            }
        }
        wake();
    } catch (const Error& e) {
        // Not marked sent: the next settle() tries again.
        log::line("dsn_failed", {{"queue_id", snapshot.id}, {"error", e.what()}, {"detail", e.detail()}});
    }
}

void QueueRunner::warn(const EntryPtr& entry, const std::vector<std::size_t>& recipients) {
    std::lock_guard write(entry->write);
    send_dsn(entry, queue::DsnKind::delay, recipients);
    queue::SpooledMessage snapshot;
    {
        std::lock_guard lock(mutex_);
        if (entry->gone) return;
        snapshot = entry->message;
    }
    try {
        server_.spool().update(snapshot);
    } catch (const Error& e) {
        log::line("queue_write_failed", {{"queue_id", snapshot.id}, {"error", e.what()}, {"detail", e.detail()}});
    }
}

// Queued recipients of local domains (a DSN to a local sender, sendmail's mail for a full
// mailbox): delivered by the same code as SMTP, its verdict recorded like a remote reply.
void QueueRunner::deliver_locally(const EntryPtr& entry, const std::vector<std::size_t>& due) {
    std::lock_guard write(entry->write);
    queue::SpooledMessage snapshot;
    {
        std::lock_guard lock(mutex_);
        snapshot = entry->message;
    }
    DeliveryRequest request;
    std::vector<std::size_t> sent;
    try {
        if (!snapshot.envelope.return_path.empty()) request.return_path = parse_address(snapshot.envelope.return_path).str();
    } catch (const Error&) {
        // A sender we cannot parse again: deliver as from <> rather than never.
    }
    for (std::size_t i : due) {
        try {
            const queue::SpoolRecipient& spooled = snapshot.envelope.recipients[i];
            DeliveryRecipient r;
            r.address = parse_recipient(spooled.address, Backslash::allow);  // RCPT <\bob@d>, retried
            // docs/architecture.md section 9: a program or file part of an accepted recipient,
            // run alone. Only serve's own spool entries have one (the maildrop has no such field).
            if (!spooled.part.empty()) r.part = parse_part(spooled.part);
            request.recipients.push_back(std::move(r));
            sent.push_back(i);
        } catch (const Error& e) {
            std::lock_guard lock(mutex_);
            RecipientOutcome o{RecipientOutcome::Kind::bounced, 553, "5.1.3", e.what(), "", false, false};
            queue::record(entry->message, i, o, Clock::now(), policy_);
        }
    }
    request.body = snapshot.envelope.body == "8BITMIME" || snapshot.envelope.body == "BINARYMIME" ? snapshot.envelope.body : "7BIT";
    request.smtputf8 = snapshot.envelope.smtputf8;
    request.id = snapshot.id;
    if (!sent.empty()) {
        std::string text;
        try {
            text = server_.spool().read_content(snapshot);
        } catch (const Error& e) {
            {
                std::lock_guard lock(mutex_);
                entry->local_busy = false;
            }
            if (e.kind() == ErrorKind::bad_data) quarantine(entry, e.what());
            return;
        }
        request.text = text;
        request.peer = queue_peer("queue");
        const std::vector<DeliveryOutcome> result = deliver(server_, request);
        const auto now = Clock::now();
        std::lock_guard lock(mutex_);
        for (std::size_t k = 0; k < sent.size() && k < result.size(); ++k) {
            const DeliveryOutcome& v = result[k];
            RecipientOutcome o;
            if (v.accepted()) {
                o.kind = RecipientOutcome::Kind::delivered;
                o.code = 250;
                o.status = "2.0.0";
                o.text = "delivered";
                entry->message.envelope.recipients[sent[k]].local = true;  // the DSN says "delivered"
            } else {
                o.kind = v.temporary() ? RecipientOutcome::Kind::deferred : RecipientOutcome::Kind::bounced;
                o.code = v.code;
                o.status = v.status;
                o.text = v.text;
            }
            queue::record(entry->message, sent[k], o, now, policy_);
        }
    }
    {
        std::lock_guard lock(mutex_);
        entry->local_busy = false;
    }
    settle(entry);
}

void QueueRunner::quarantine(const EntryPtr& entry, const std::string& reason) {
    std::string id;
    {
        std::lock_guard lock(mutex_);
        id = entry->message.id;
        entry->gone = true;
        entries_.erase(id);
    }
    try {
        server_.spool().quarantine(id, reason);
    } catch (const Error& e) {
        log::line("spool_quarantine_failed", {{"queue_id", id}, {"error", e.what()}, {"detail", e.detail()}});
    }
}

// Messages another process spooled (sendmail, or the CLI while we ran): picked up on flush.
void QueueRunner::rescan() {
    queue::ScanResult found = server_.spool().scan();
    std::vector<std::string> damaged;
    {
        std::lock_guard lock(mutex_);
        for (auto& m : found.messages)
            if (!entries_.count(m.id)) adopt(std::move(m));
        for (const auto& d : found.damaged)
            if (!entries_.count(d.id)) damaged.push_back(d.id + "\n" + d.reason);
    }
    for (const auto& d : damaged) {
        auto cut = d.find('\n');
        try {
            server_.spool().quarantine(d.substr(0, cut), d.substr(cut + 1));
        } catch (const Error& e) {
            log::line("spool_quarantine_failed", {{"queue_id", d.substr(0, cut)}, {"error", e.what()}});
        }
    }
}

std::string QueueRunner::control(std::string_view request) {
    std::vector<std::string> words = words_of(request);
    auto error = [](const Error& e) { return fmt::format("error {} {}\n", kind_name(e.kind()), e.what()); };
    if (words.empty()) return "error usage empty request\n";
    const std::string verb = words[0];
    try {
        if (verb == "nudge" && words.size() == 1) {
            // sendmail spooled or dropped mail: look now, but a deferred message keeps its
            // backoff (a try that is not due is not made, and so not counted).
            rescan();
            {
                std::lock_guard lock(mutex_);
                next_ = Clock::time_point{};
                last_tick_ = Clock::time_point{};  // and the maildrop pickup at the next ready()
            }
            wake();
            return "ok\n";
        }
        if (verb == "flush" && words.size() == 1) {
            rescan();
            {
                std::lock_guard lock(mutex_);
                for (auto& [id, entry] : entries_)
                    for (auto& r : entry->message.envelope.recipients)
                        if (!queue::is_final(r.state)) r.next_attempt = 0;
                next_ = Clock::time_point{};
            }
            wake();
            return "ok\n";
        }
        if (verb == "bounce") {
            if (words.size() < 2) return "error usage bounce needs a queue id\n";
            std::string reason;
            for (std::size_t i = 2; i < words.size(); ++i) reason += (reason.empty() ? "" : " ") + words[i];
            if (reason.empty()) reason = "bounced by the administrator";
            control_one(verb, words[1], reason);
            wake();
            return "ok\n";
        }
        if (verb != "flush" && verb != "retry" && verb != "hold" && verb != "release" && verb != "delete")
            return fmt::format("error usage unknown request '{}'\n", verb);
        if (words.size() < 2) return fmt::format("error usage {} needs a queue id\n", verb);
        for (std::size_t i = 1; i < words.size(); ++i) queue::check_queue_id(words[i]);
        bool unknown = false;
        {
            std::lock_guard lock(mutex_);
            for (std::size_t i = 1; i < words.size(); ++i) unknown |= !entries_.count(words[i]);
        }
        if (unknown) rescan();  // a message spooled by another process since we last looked
        for (std::size_t i = 1; i < words.size(); ++i) control_one(verb, words[i], {});
        wake();
        return "ok\n";
    } catch (const Error& e) {
        return error(e);
    }
}

std::string QueueRunner::control_one(const std::string& verb, const std::string& id, const std::string& reason) {
    queue::check_queue_id(id);
    EntryPtr entry;
    {
        std::lock_guard lock(mutex_);
        auto found = entries_.find(id);
        if (found == entries_.end() || found->second->gone)
            throw Error(ErrorKind::not_found, fmt::format("no message {} in the queue", id));
        entry = found->second;
    }
    std::lock_guard write(entry->write);
    {
        std::lock_guard lock(mutex_);
        queue::Envelope& e = entry->message.envelope;
        if (verb == "flush") {
            for (auto& r : e.recipients)
                if (!queue::is_final(r.state)) r.next_attempt = 0;
            next_ = Clock::time_point{};
            return {};  // in memory only, like postqueue -f: the backoff resumes after this try
        }
        if (verb == "retry") queue::retry(e);
        else if (verb == "hold") queue::hold(e);
        else if (verb == "release") queue::release(e);
        else if (verb == "delete") entry->doomed = true;
        else if (verb == "bounce") {
            if (entry->in_flight.empty()) queue::bounce(e, reason, queue::to_unix(Clock::now()));
            else entry->bounce_reason = reason;
        }
        if (verb == "retry" || verb == "release") next_ = Clock::time_point{};
    }
    log::line("queue_" + verb, {{"queue_id", id}});
    settle(entry);
    return {};
}

}  // namespace vpsmail::server
