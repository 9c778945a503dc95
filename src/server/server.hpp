// The composition root of `vpsmail serve`, without Asio (docs/architecture.md sections 1-3): the running
// configuration, the routing index, login throttling, the outbound spool and the group commit
// that every session shares, and the SMTP services that net/ runs on its listeners. Sessions
// reach the store, the resolver, auth and the Maildirs only through what is built here.
#pragma once

#include "auth/throttle.hpp"
#include "core/config.hpp"
#include "core/sync_group.hpp"
#include "queue/spool.hpp"
#include "route/resolver.hpp"
#include "server/conversation.hpp"
#include "store/index.hpp"

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace vpsmail::store {
class Store;
}

namespace vpsmail::server {

class QueueRunner;

class Server {
public:
    /// Opens the routing index of the store at `db_path` (which must exist at the latest
    /// schema) and the spool. Throws vpsmail::Error.
    Server(Config config, std::string db_path);
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    /// SIGHUP: the new configuration applies to connections opened from now on. What was
    /// bound or opened at the start stays (listeners, paths, store, TLS file names, [server]
    /// user): returns the keys whose new values were set aside for the next start.
    /// Thread-safe.
    std::vector<std::string> reload(Config config);
    /// The configuration in force. Thread-safe.
    std::shared_ptr<const Config> config() const;
    route::Options route_options() const;

    store::RoutingIndex& index() noexcept { return *index_; }
    auth::Throttle& throttle() noexcept { return throttle_; }
    queue::Spool& spool() noexcept { return spool_; }
    SyncGroup& sync_group() noexcept { return sync_; }
    /// The calling thread's own connection to the store (a Store is one thread's), read-only.
    store::Store& thread_store();
    /// The store's path, for the rare writes (a rehash at login) that open their own connection.
    const std::string& db_path() const noexcept { return db_path_; }

    /// The service of a listener kind (core/config's listener_kinds()): "smtp" (MX),
    /// "submission", "submissions". The Server keeps them. Throws Error(internal) for a name
    /// that is none.
    Service& service(std::string_view listener);
    /// The SMTP service of `listener`; "sendmail" (or any other name) gets port 25's.
    Service& smtp_service(const std::string& listener);

    /// Loads the spool into a queue runner (serve does; sendmail and tests need not). Call
    /// once, before any session delivers. Throws vpsmail::Error.
    QueueRunner& start_queue();
    /// The queue runner, or null when start_queue() was not called.
    QueueRunner* queue_runner() noexcept { return runner_.get(); }

    /// Spools `message` for `envelope` durably and, when the queue runs, queues it at once.
    /// Returns the queue id. Throws Error(temporary) as Spool::add does. Thread-safe.
    std::string enqueue(const queue::Envelope& envelope, std::string_view message);
    /// As enqueue(), with the message in a file of `size` bytes in the spool's tmp/
    /// (Spool::add_file).
    std::string enqueue_file(const queue::Envelope& envelope, const std::string& path, std::uint64_t size);

private:
    std::string db_path_;
    mutable std::mutex mutex_;
    std::shared_ptr<const Config> config_;
    std::unique_ptr<store::RoutingIndex> index_;
    auth::Throttle throttle_;
    queue::Spool spool_;
    SyncGroup sync_;
    std::map<std::string, std::unique_ptr<Service>, std::less<>> services_;  // by listener kind
    std::unique_ptr<QueueRunner> runner_;
};

}  // namespace vpsmail::server
