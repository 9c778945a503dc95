// The routing index: every domain, catch-all, account, forward, alias and virtusertable entry of
// the store, held in memory for the server, which resolves every RCPT. It answers the same
// RoutingSource questions as Store, from hash tables instead of SQLite, and stays current on
// its own: each view first compares the store's write generation (generation.hpp, one atomic
// load) and, when another process wrote, re-reads only the objects that the store's change log
// names (migration 2), or everything when it fell more than the log's length behind.
// A change committed by the CLI is therefore seen by the very next view, with no signal.
#pragma once

#include "store/store.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>

namespace vpsmail::store {

class Generation;

class RoutingIndex {
public:
    /// How long the index trusts the generation counter alone. Writers that do not bump it
    /// (the sqlite3 shell, a process killed between COMMIT and the bump) are seen at most this
    /// late: after it, a view asks SQLite (one read transaction) whether the log moved.
    static constexpr std::chrono::milliseconds default_poll{1000};

    /// Opens the store at `path` (it must exist and have the latest schema: the server opens it
    /// read-write once first) and loads it. `poll`: see default_poll; zero asks SQLite at
    /// every view. Throws vpsmail::Error like Store::open.
    static std::unique_ptr<RoutingIndex> open(const std::string& path,
                                              std::chrono::milliseconds poll = default_poll);
    ~RoutingIndex();
    RoutingIndex(const RoutingIndex&) = delete;
    RoutingIndex& operator=(const RoutingIndex&) = delete;

    struct Data;

    /// A consistent, current snapshot of the index, answering RoutingSource questions. Holds a
    /// shared lock: any number of views on any threads at once; an update waits until they
    /// end. Take one per resolution and drop it right after, and never a second one on a
    /// thread that holds one: catching up would wait for that thread's own lock.
    class View final : public RoutingSource {
    public:
        View(View&&) noexcept = default;
        bool is_local_domain(std::string_view domain) override;
        std::optional<std::string> first_domain() override;
        std::optional<std::pair<std::size_t, std::string>> find_first_vuser(const std::vector<std::string>& keys) override;
        std::optional<Alias> find_alias(std::string_view name) override;
        std::optional<Account> find_account(std::string_view local, std::string_view domain) override;
        std::optional<std::string> find_catchall(std::string_view domain) override;

    private:
        friend class RoutingIndex;
        View(std::shared_lock<std::shared_mutex> lock, const Data& data) noexcept
            : lock_(std::move(lock)), data_(&data) {}
        const std::string& lower(std::string_view text);
        std::shared_lock<std::shared_mutex> lock_;
        const Data* data_;
        std::string scratch_;  ///< lower-cased lookup keys, reused
    };

    /// Brings the index up to date when the store changed, then returns a view.
    /// Throws vpsmail::Error(temporary, ...) when the store cannot be read; the index keeps
    /// its last state then, and the next view tries again.
    View view();

    struct Stats {
        std::size_t domains = 0, accounts = 0, aliases = 0, vusers = 0;
        std::uint64_t loads = 0;    ///< full loads, the first included
        std::uint64_t updates = 0;  ///< catch-ups from the change log
    };
    Stats stats();

private:
    RoutingIndex(std::unique_ptr<Store> store, std::chrono::milliseconds poll);
    bool maybe_stale() const noexcept;
    void refresh();
    void load_all();

    std::unique_ptr<Store> store_;  ///< read-only connection, used under refresh_mutex_
    std::unique_ptr<Generation> generation_;
    const std::chrono::milliseconds poll_;

    std::mutex refresh_mutex_;  ///< one catch-up at a time
    std::shared_mutex data_mutex_;
    std::unique_ptr<Data> data_;
    std::int64_t last_seq_ = 0;  ///< the change log entry the data includes; under refresh_mutex_
    std::atomic<std::uint64_t> seen_generation_{0};
    std::atomic<std::int64_t> next_poll_ns_{0};  ///< steady_clock
    std::atomic<std::uint64_t> loads_{0}, updates_{0};
};

}  // namespace vpsmail::store
