#include "mailstore/index_pool.hpp"

#include "core/error.hpp"
#include "mailstore/sqlite_index.hpp"

#include <mutex>
#include <sys/stat.h>
#include <unordered_map>
#include <vector>

namespace vpsmail::mailstore {
namespace {

// Enough for the accounts that receive mail at once; each idle index holds one SQLite
// connection (descriptors for the file, its -wal and -shm, and a few pages of cache).
constexpr std::size_t max_idle = 512;

struct Idle {
    std::unique_ptr<MailboxIndex> index;
    std::uint64_t device = 0;
    std::uint64_t inode = 0;
};

struct Pool {
    std::mutex mutex;
    std::unordered_multimap<std::string, Idle> idle;
};

Pool& pool() {
    static Pool* p = new Pool;  // never destroyed: leases may return during static destruction
    return *p;
}

bool file_id(const std::string& maildir, std::uint64_t& device, std::uint64_t& inode) {
    struct stat st {};
    if (::stat((maildir + "/" + index_file_name).c_str(), &st) != 0) return false;
    device = static_cast<std::uint64_t>(st.st_dev);
    inode = static_cast<std::uint64_t>(st.st_ino);
    return true;
}

}  // namespace

IndexLease::~IndexLease() {
    if (!index_) return;
    std::unique_ptr<MailboxIndex> dropped;
    try {
        Pool& p = pool();
        std::lock_guard lock(p.mutex);
        if (p.idle.size() >= max_idle) p.idle.erase(p.idle.begin());  // an arbitrary one goes
        p.idle.emplace(maildir_, Idle{std::move(index_), device_, inode_});
    } catch (...) {  // std::bad_alloc: the index is closed instead of pooled
    }
}

IndexLease borrow_index(const std::string& maildir) {
    std::uint64_t device = 0, inode = 0;
    const bool exists = file_id(maildir, device, inode);
    std::vector<std::unique_ptr<MailboxIndex>> stale;  // closed outside the lock
    {
        Pool& p = pool();
        std::lock_guard lock(p.mutex);
        auto [first, last] = p.idle.equal_range(maildir);
        for (auto it = first; it != last;) {
            if (exists && it->second.device == device && it->second.inode == inode) {
                IndexLease lease(maildir, std::move(it->second.index), device, inode);
                p.idle.erase(it);
                return lease;
            }
            stale.push_back(std::move(it->second.index));
            it = p.idle.erase(it);
        }
    }
    auto index = open_sqlite_index(maildir);
    file_id(maildir, device, inode);
    return IndexLease(maildir, std::move(index), device, inode);
}

std::optional<AccountUsage> find_pooled_usage(const std::string& maildir) {
    std::uint64_t device = 0, inode = 0;
    if (!file_id(maildir, device, inode)) return std::nullopt;
    std::unique_ptr<MailboxIndex> index;
    Pool& p = pool();
    {
        std::lock_guard lock(p.mutex);
        auto [first, last] = p.idle.equal_range(maildir);
        for (auto it = first; it != last; ++it)
            if (it->second.device == device && it->second.inode == inode) {
                index = std::move(it->second.index);
                p.idle.erase(it);
                break;
            }
    }
    if (!index) return find_index_usage(maildir);
    IndexLease lease(maildir, std::move(index), device, inode);  // back to the pool at the end
    try {
        return lease->usage();
    } catch (const Error&) {
        return find_index_usage(maildir);
    }
}

}  // namespace vpsmail::mailstore
