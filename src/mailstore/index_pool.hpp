// A process-wide pool of open mailbox indexes (sqlite_index.hpp), so that a delivery does not
// pay for opening SQLite each time (bench/index_bench --reopen). Owns the idle connections only;
// what they do is index.hpp's. Thread-safe.
#pragma once

#include "mailstore/index.hpp"

#include <memory>
#include <optional>
#include <string>

namespace vpsmail::mailstore {

/// One index borrowed from the pool for one thread; goes back to it when destroyed. Move-only.
class IndexLease {
public:
    IndexLease() = default;
    IndexLease(std::string maildir, std::unique_ptr<MailboxIndex> index, std::uint64_t device, std::uint64_t inode) noexcept
        : maildir_(std::move(maildir)), index_(std::move(index)), device_(device), inode_(inode) {}
    ~IndexLease();
    IndexLease(IndexLease&&) noexcept = default;
    IndexLease& operator=(IndexLease&&) noexcept = default;
    IndexLease(const IndexLease&) = delete;
    IndexLease& operator=(const IndexLease&) = delete;

    MailboxIndex* get() const noexcept { return index_.get(); }
    MailboxIndex* operator->() const noexcept { return index_.get(); }

private:
    std::string maildir_;
    std::unique_ptr<MailboxIndex> index_;
    std::uint64_t device_ = 0;  // the index file when it was opened: a file replaced since
    std::uint64_t inode_ = 0;   // (deleted for a rebuild) is not reused
};

/// An idle index of that Maildir from the pool when one is there and its file is still the one
/// it opened (one stat), else open_sqlite_index(maildir) (I/O; off network threads). Throws
/// like open_sqlite_index. Any thread.
IndexLease borrow_index(const std::string& maildir);

/// The account's totals through an idle pooled index (one query), else find_index_usage
/// (opens the file without making or scanning anything); nullopt when the Maildir has no index.
/// Fit for a network thread. Never throws but std::bad_alloc. Any thread.
std::optional<AccountUsage> find_pooled_usage(const std::string& maildir);

}  // namespace vpsmail::mailstore
