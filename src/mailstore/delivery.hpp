// Durable delivery of one message into one or more Maildirs (docs/architecture.md sections 2 and 9): the one way
// SMTP, sendmail, import and IMAP APPEND store a message. Owns its message's files in tmp/ and
// new/ (or cur/) until commit() returns, and adds each to its index when given one (index.hpp);
// size limits and quota checks are not its.
#pragma once

#include "core/sync_group.hpp"
#include "mailstore/index.hpp"

#include <cstdint>
#include <functional>
#include <optional>
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

/// How a recipient's copy is indexed (Delivery::add with an index): the mailbox it goes into,
/// and for IMAP APPEND its flags, keywords and internal date (then into cur/).
struct IndexedDelivery {
    MailboxIndex* index = nullptr;       ///< the account's index; must outlive commit()
    std::string mailbox = "INBOX";       ///< the wire name (MailboxRef::name)
    bool into_cur = false;               ///< cur/ with ":2,<flags>" (APPEND), else new/
    std::uint32_t flags = 0;             ///< MessageFlag bits, with into_cur
    std::vector<std::string> keywords;
    std::int64_t internal_date = 0;      ///< seconds since the epoch; 0: now. Sets the file's
                                         ///< mtime (shared by every recipient's link)
};

/// Where a committed message is: maildir + "/" + folder + "/" + name.
struct DeliveredFile {
    std::string maildir;  ///< as given to Delivery::add
    std::string name;     ///< "<unique name>,S=<size>"; indexed: ",W=<crlf size>,VU=<uid>" too
    std::uint32_t uid = 0;        ///< its UID in the index, 0 when not indexed
    std::string folder = "new";   ///< "new", or "cur" (IndexedDelivery::into_cur)

    std::string path() const { return maildir + "/" + folder + "/" + name; }
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

    /// add(maildir), and commit() then links this copy under `indexed.index`'s write
    /// transaction with the UID it assigns in the name (docs/architecture.md section 9), so
    /// the index is updated by the same commit. `maildir` is the mailbox's folder. Throws as
    /// add(maildir); Error(internal) without an index.
    bool add(const std::string& maildir, IndexedDelivery indexed);

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

    /// Bytes written so far, counting every bare LF as CRLF (RFC822.SIZE).
    std::uint64_t crlf_size() const noexcept { return size_ + bare_lf_; }

private:
    struct Recipient {
        std::string maildir;
        std::uint64_t device = 0;  // st_dev and st_ino of the Maildir, to refuse duplicates
        std::uint64_t inode = 0;
        std::optional<IndexedDelivery> indexed;
    };
    enum class State { open, committed, finished };

    void require_open(std::string_view action) const;
    void open_file(const std::string& maildir);
    void flush();
    DeliveredFile place(const Recipient& recipient);
    std::string link_into(const std::string& maildir, const std::string& folder,
                          const std::function<std::string(const std::string& base)>& name);
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
    std::uint64_t bare_lf_ = 0;         // LFs not after a CR, for crlf_size()
    char last_ = '\0';                  // the last byte written
    std::vector<std::string> copies_;   // copies in other Maildirs' tmp/ (EXDEV, EMLINK)
    std::vector<std::string> visible_;  // new/ entries made by a commit() still running
    struct IndexedCopy {
        MailboxIndex* index;
        MailboxRef mailbox;
        std::uint32_t uid;
    };
    std::vector<IndexedCopy> indexed_;  // rows committed by a commit() still running
    State state_ = State::open;
};

}  // namespace vpsmail::mailstore
