// Durable delivery of one message into one or more Maildirs (docs/architecture.md sections 2 and 9): the one way
// SMTP, sendmail, import and IMAP APPEND store a message. Owns its message's files in tmp/ and
// new/ until commit() returns; cur/, flags, the index, size limits and quota checks are not its.
#pragma once

#include "core/sync_group.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace vpsmail::mailstore {

/// The system calls a Delivery makes that tests replace to force a path: EXDEV from link for
/// the copy fallback, ENOSPC or EIO part-way through a commit. Empty members mean the real call.
struct DeliveryHooks {
    /// link(2): 0, or -1 with errno set.
    std::function<int(const char* from, const char* to)> link;
    /// fsync(2) of the message file and its copies, and of the new/ folders when no SyncGroup
    /// is given: 0, or -1 with errno set.
    std::function<int(int fd)> fsync;
};

/// Where a committed message is: maildir + "/new/" + name.
struct DeliveredFile {
    std::string maildir;  ///< as given to Delivery::add
    std::string name;     ///< "<unique name>,S=<size>"

    std::string path() const { return maildir + "/new/" + name; }
};

/// One message on its way into one or more Maildirs: add() the recipients' Maildirs, write()
/// the bytes in as many pieces as they come, then commit() or abort(). The bytes go once into
/// the first Maildir's tmp/; commit() fsyncs them, hard-links them into every new/ (a copy
/// where a link cannot cross file systems) and fsyncs those folders before it returns.
/// Readers of new/ and cur/ never see a partial file: an entry appears there only by link(2)
/// of a complete, fsync'd file. Destroying an uncommitted Delivery aborts it.
///
/// One thread at a time per Delivery; different Deliveries may run on any threads at once.
class Delivery {
public:
    /// `sync` (optional, must outlive the Delivery) batches the new/ folder fsyncs with
    /// concurrent deliveries; without it commit() fsyncs each folder itself.
    explicit Delivery(SyncGroup* sync = nullptr, DeliveryHooks hooks = {});
    ~Delivery();
    Delivery(Delivery&& other) noexcept;
    /// Aborts the message this Delivery held, then takes `other`'s.
    Delivery& operator=(Delivery&& other) noexcept;
    Delivery(const Delivery&) = delete;
    Delivery& operator=(const Delivery&) = delete;

    /// Adds a recipient Maildir, creating it (cur/, new/, tmp/ and missing parents, 0700,
    /// durably) when missing. The first one added holds the message file in its tmp/ from now
    /// on, so add it before the first write(); the others may come any time before commit().
    /// Returns false, changing nothing, when this Maildir (by device and inode) is a recipient
    /// already: a mailbox gets a message once. Throws Error(permission) when new/ or tmp/
    /// cannot be written, Error(no_space) for ENOSPC/EDQUOT, Error(temporary) for other file
    /// system failures, naming the path; the Delivery is then unchanged. Error(internal) after
    /// commit() or abort().
    bool add(const std::string& maildir);

    /// Appends bytes to the message (buffered; written to tmp/ in 64 KiB pieces). Throws
    /// Error(no_space) (ENOSPC, EDQUOT) or Error(temporary) (EIO) naming the file, after
    /// aborting the delivery; Error(internal) before the first add() or after commit()/abort().
    void write(std::string_view bytes);

    /// Makes the message durable and visible in every recipient's new/, in add() order, and
    /// returns where. Blocks for the fsyncs: run it off network threads (docs/architecture.md section 4). On any
    /// failure nothing of the message stays in new/ or tmp/ and it throws: Error(no_space) for
    /// ENOSPC/EDQUOT, Error(temporary) when the bytes or a folder could not be fsync'd or for
    /// EIO/..., and
    /// Error(permission) for EACCES/EPERM/EROFS, naming the path; Error(internal) without a
    /// recipient or after commit()/abort(). The Delivery is finished either way.
    std::vector<DeliveredFile> commit();

    /// Removes the message's file from tmp/; no-op after commit() or abort(). Never throws.
    void abort() noexcept;

    /// Bytes written so far.
    std::uint64_t size() const noexcept { return size_; }

private:
    struct Recipient {
        std::string maildir;
        std::uint64_t device = 0;  // st_dev and st_ino of the Maildir, to refuse duplicates
        std::uint64_t inode = 0;
    };
    enum class State { open, committed, finished };

    void require_open(std::string_view action) const;
    void open_file(const std::string& maildir);
    void flush();
    std::string place(const std::string& maildir);
    std::string copy_into(const std::string& maildir);
    void discard() noexcept;

    SyncGroup* sync_;
    DeliveryHooks hooks_;
    std::vector<Recipient> recipients_;
    std::string base_;                  // the unique name of the file in tmp/
    std::string tmp_path_;              // recipients_[0].maildir + "/tmp/" + base_
    int fd_ = -1;                       // tmp_path_, open for reading and writing
    std::string buffer_;                // bytes written but not yet in the file
    std::uint64_t size_ = 0;
    std::vector<std::string> copies_;   // copies in other Maildirs' tmp/ (EXDEV, EMLINK)
    std::vector<std::string> visible_;  // new/ entries made by a commit() still running
    State state_ = State::open;
};

}  // namespace vpsmail::mailstore
