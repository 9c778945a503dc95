#include "core/sync_group.hpp"

#include "core/error.hpp"

#include <optional>
#include <unistd.h>
#include <utility>
#include <vector>

namespace vpsmail {

struct SyncGroup::Batch {
    bool done = false;
    int error = 0;  // errno of the fsync that covered the batch, 0 when it succeeded
};

SyncGroup::SyncGroup(FsyncFunction fsync) : fsync_(fsync ? std::move(fsync) : FsyncFunction(::fsync)) {}

void SyncGroup::sync(std::span<const std::string> folders) {
    std::unique_lock lock(mutex_);
    // Join every folder's pending batch first: a batch not yet started will see our entries,
    // whoever ends up leading it, and a delivery into several folders waits for them in parallel.
    std::vector<std::pair<Folder*, std::shared_ptr<Batch>>> joined;
    joined.reserve(folders.size());
    for (const std::string& path : folders) {
        Folder& folder = folders_[path];
        ++folder.users;
        if (!folder.pending) folder.pending = std::make_shared<Batch>();
        joined.emplace_back(&folder, folder.pending);
        ++counters_.requests;
    }

    std::optional<Error> failure;
    for (std::size_t i = 0; i < joined.size(); ++i) {
        auto& [folder, batch] = joined[i];
        while (!batch->done) {
            if (folder->syncing) {
                // The fsync in progress may have started before our entry was made: wait for it
                // to end, then ours is the pending batch again.
                folder->synced.wait(lock);
                continue;
            }
            // Idle and ours not done, so ours is the pending batch: lead it.
            std::shared_ptr<Batch> taken = std::move(folder->pending);
            folder->syncing = true;
            ++counters_.fsyncs;
            lock.unlock();
            int err = fsync_directory(folders[i], fsync_);
            lock.lock();
            taken->error = err;
            taken->done = true;
            folder->syncing = false;
            folder->synced.notify_all();
        }
        if (batch->error != 0 && !failure) failure = sync_error(folders[i], batch->error);
    }

    for (std::size_t i = 0; i < joined.size(); ++i)
        if (--joined[i].first->users == 0) folders_.erase(folders[i]);
    lock.unlock();
    if (failure) throw *failure;
}

SyncGroup::Counters SyncGroup::counters() const {
    std::lock_guard lock(mutex_);
    return counters_;
}

}  // namespace vpsmail
