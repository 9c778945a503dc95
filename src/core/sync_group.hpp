// Group commit of folder fsyncs (docs/architecture.md section 9): writers that commit into the same folders at
// the same moment (Maildir deliveries, spool writes) share one fsync of each folder instead of
// queueing for one each. Owns the batching only; the file fsyncs, the renames or links and the
// choice of folders are the callers'.
#pragma once

#include "core/fsync.hpp"

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>

namespace vpsmail {

/// Shared by every writer of a process (or of a worker pool) that should batch its folder
/// fsyncs. Leader/follower: the first caller to find a folder idle fsyncs it on behalf of every
/// caller that arrived before that fsync started; callers arriving meanwhile wait for it to end
/// and then elect the next leader among themselves, whose one fsync covers them all.
class SyncGroup {
public:
    /// Figures for benchmarks and tests.
    struct Counters {
        std::uint64_t requests = 0;  ///< folders asked for, summed over sync() calls
        std::uint64_t fsyncs = 0;    ///< folder fsyncs made
    };

    /// `fsync` empty means ::fsync; tests give one that fails on purpose.
    explicit SyncGroup(FsyncFunction fsync = {});
    SyncGroup(const SyncGroup&) = delete;
    SyncGroup& operator=(const SyncGroup&) = delete;

    /// Returns once each folder in `folders` has been fsync'd by an fsync that started after
    /// this call began, so every entry the caller made in them before calling is on disk.
    /// Blocks; any thread, any number of threads at once. Throws sync_error() (fsync.hpp):
    /// Error(temporary), or Error(no_space) for ENOSPC/EDQUOT, naming the folder when it could
    /// not be opened or that fsync failed (every caller the fsync covered gets the error),
    /// after waiting for all of `folders`.
    void sync(std::span<const std::string> folders);

    Counters counters() const;

private:
    struct Batch;
    struct Folder {
        std::shared_ptr<Batch> pending;  ///< callers waiting for an fsync not yet started
        bool syncing = false;            ///< a leader is in fsync for this folder now
        std::size_t users = 0;           ///< sync() calls holding this entry; erased at 0
        std::condition_variable synced;  ///< the fsync in progress ended
    };

    FsyncFunction fsync_;
    mutable std::mutex mutex_;
    std::unordered_map<std::string, Folder> folders_;  // guarded by mutex_; nodes are stable
    Counters counters_;                                // guarded by mutex_
};

}  // namespace vpsmail
