// The queue runner of `vpsmail serve`: the spool's messages in memory, which recipients are due
// (queue/scheduler), which destination each goes to (a domain's MX hosts or the smart host),
// how many connections each destination may have, local delivery of queued local recipients,
// the DSNs (queue/dsn) for bounces, delays and NOTIFY=SUCCESS, and the admin requests of the
// control socket. It implements queue::Dispatcher for net/, which owns the sockets; no Asio here.
#pragma once

#include "queue/dsn.hpp"
#include "queue/scheduler.hpp"
#include "queue/spool.hpp"
#include "queue/transport.hpp"

#include <chrono>
#include <cstddef>
#include <functional>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace vpsmail::server {

class Server;

class QueueRunner final : public queue::Dispatcher {
public:
    /// Loads the spool: quarantines damaged entries (logged), removes stale tmp/ files, and
    /// holds every good message in memory. Throws Error when the spool cannot be read.
    explicit QueueRunner(Server& server);
    ~QueueRunner() override;

    // queue::Dispatcher (any thread; take, report and ready touch the disk)
    std::vector<queue::Destination> ready(std::chrono::system_clock::time_point now) override;
    std::optional<queue::OutboundMessage> take(const queue::Destination& destination) override;
    void report(const queue::OutboundMessage& message, const queue::MessageOutcome& outcome) override;
    void closed(const queue::Destination& destination) override;
    std::chrono::system_clock::time_point next_wakeup() override;

    /// A message this process just spooled (Spool::add returned `id`): queued at once.
    void added(const std::string& id, queue::Envelope envelope, std::uint64_t size);

    /// One control-socket request ("flush [ID...]", "retry ID...", "hold ID...",
    /// "release ID...", "delete ID...", "bounce ID [REASON]", "nudge"); returns the reply:
    /// "ok\n", or "error KIND message\n" with KIND an ErrorKind name. "flush" makes every
    /// recipient due now (the admin's `queue flush`); "nudge" (sendmail's) only looks for new
    /// messages and the maildrop now, and tries what is due anyway. Any thread.
    std::string control(std::string_view request);

    /// Called (any thread) whenever something became due earlier than next_wakeup() said:
    /// net/ connects its timer here.
    void set_wakeup(std::function<void()> wake);

    /// Called about once a second from ready() (the maildrop pickup).
    void set_tick(std::function<void()> tick);

private:
    struct Entry;
    using EntryPtr = std::shared_ptr<Entry>;

    queue::Destination destination_of(const std::string& address) const;
    bool is_local(const queue::SpoolRecipient& recipient) const;
    void refresh(std::chrono::system_clock::time_point now);
    void settle(const EntryPtr& entry);
    void deliver_locally(const EntryPtr& entry, const std::vector<std::size_t>& due);
    void warn(const EntryPtr& entry, const std::vector<std::size_t>& recipients);
    void send_dsn(const EntryPtr& entry, queue::DsnKind kind, std::vector<std::size_t> recipients);
    void quarantine(const EntryPtr& entry, const std::string& reason);
    void rescan();
    void adopt(queue::SpooledMessage message);
    void wake();
    std::string control_one(const std::string& verb, const std::string& id, const std::string& reason);

    Server& server_;
    queue::Policy policy_;
    std::size_t max_per_destination_;
    std::optional<queue::Destination> relay_;  // [relay] host: every recipient goes there

    std::mutex mutex_;  // guards everything below
    std::map<std::string, EntryPtr> entries_;
    std::map<std::string, std::deque<std::string>> due_;  // destination key -> ids, oldest first
    std::map<std::string, queue::Destination> destinations_;
    std::map<std::string, std::size_t> active_;  // destination key -> connections open
    std::chrono::system_clock::time_point next_{};
    std::chrono::system_clock::time_point last_tick_{};
    std::function<void()> wake_;
    std::function<void()> tick_;
};

}  // namespace vpsmail::server
