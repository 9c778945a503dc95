// The per-account mailbox index, as an interface (docs/architecture.md section 9): per mailbox
// UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ and counts; per message UID, file, flags, keywords,
// INTERNALDATE, sizes, MODSEQ and a cache of parsed fields; the message operations over it.
// Owns no SQL (sqlite_index.hpp implements it) and no MIME parsing (callers fill the cache).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vpsmail::mailstore {

/// Which mailbox: its wire name (UTF-8, '/' separated, already validated; "INBOX" for the
/// Maildir root) and its folder (the Maildir root, or "<maildir>/.Name").
struct MailboxRef {
    std::string name;
    std::string path;
};

/// One message as the index knows it.
struct MessageRecord {
    std::uint32_t uid = 0;
    std::string file;                   ///< "new/<name>" or "cur/<name>", relative to the folder
    std::uint32_t flags = 0;            ///< MessageFlag bits (message_name.hpp)
    std::vector<std::string> keywords;  ///< other keywords, as given
    std::int64_t internal_date = 0;     ///< seconds since the epoch (the file's mtime)
    std::uint64_t size = 0;             ///< bytes in the file
    std::uint64_t crlf_size = 0;        ///< RFC822.SIZE: bytes with every line end CRLF
    std::uint64_t modseq = 0;           ///< RFC 7162 MODSEQ of its last change
};

/// A mailbox's numbers, from the index alone.
struct MailboxStatus {
    std::uint32_t uidvalidity = 0;
    std::uint32_t uidnext = 1;
    std::uint64_t highest_modseq = 0;
    std::uint64_t messages = 0;
    std::uint64_t unseen = 0;
    std::uint64_t bytes = 0;
};

/// What a sync found changed behind the index's back.
struct SyncResult {
    std::uint64_t added = 0;      ///< files that got a row (new UID or adopted)
    std::uint64_t renumbered = 0; ///< of those, files renamed to carry a new UID
    std::uint64_t expunged = 0;   ///< rows whose file vanished
    std::uint64_t changed = 0;    ///< rows whose flags or place changed (e.g. mutt renamed it)
};

/// The account's totals over every mailbox the index knows (the quota check).
struct AccountUsage {
    std::uint64_t messages = 0;
    std::uint64_t bytes = 0;
};

/// How set_flags combines the given flags with the message's (IMAP STORE FLAGS, +FLAGS, -FLAGS).
enum class FlagChange { replace, add, remove };

/// What add_message inserts. `link(uid)` puts the complete, fsync'd file into the folder with
/// that UID in its name and returns its "new/<name>" or "cur/<name>".
struct NewMessage {
    std::uint32_t flags = 0;
    std::vector<std::string> keywords;
    std::int64_t internal_date = 0;
    std::uint64_t size = 0;
    std::uint64_t crlf_size = 0;
    std::function<std::string(std::uint32_t uid)> link;
};

/// One account's index. One object per thread (not thread-safe); several objects, in this
/// process or others, may use the same account at once: each call is one transaction, and a
/// writer waits for another. Every call throws Error(temporary) when the index is busy past its
/// timeout or cannot be read or written, naming the file; message file operations throw
/// Error(permission/no_space/temporary) naming the path. Calls that "scan" read the folder
/// (new/ and cur/) and may rename files: run them off network threads (docs/architecture.md section 4).
class MailboxIndex {
public:
    virtual ~MailboxIndex() = default;

    /// Brings the mailbox's rows in line with its folder (scan): new files get rows (adopting
    /// the UID in their name when it is free and >= UIDNEXT, else a new one and a rename), rows
    /// of vanished files are expunged (MODSEQ bumps), renamed files' flags are read. A folder
    /// not yet known gets its UIDVALIDITY (kept in "<folder>/vpsmail-uidvalidity") and rows for
    /// what it holds. A missing folder is an empty mailbox. Skips the scan when new/ and cur/
    /// are unchanged since a scan that saw them settled.
    virtual SyncResult sync(const MailboxRef& mailbox) = 0;

    /// The mailbox's numbers; syncs (scan) a mailbox the index does not know yet.
    virtual MailboxStatus status(const MailboxRef& mailbox) = 0;

    /// Every message, by ascending UID, as of the last sync or change (no scan).
    virtual std::vector<MessageRecord> list(const MailboxRef& mailbox) = 0;

    /// The message with that UID, or nullopt (no scan).
    virtual std::optional<MessageRecord> find(const MailboxRef& mailbox, std::uint32_t uid) = 0;

    /// Up to `length` bytes of the message from `offset` (fewer at its end, none past it), for
    /// BODY[]<start.len> and POP3 TOP. When the file moved behind the index's back, syncs (scan)
    /// and tries once more. Throws Error(no_such_user) naming the UID when there is no such message.
    virtual std::string read(const MailboxRef& mailbox, std::uint32_t uid, std::uint64_t offset, std::uint64_t length) = 0;

    /// Changes the message's flags and keywords as `change` says, renames its file into cur/
    /// with the new ":2," letters, bumps its MODSEQ and the mailbox's HIGHESTMODSEQ when anything
    /// changed; returns the record after. Throws Error(no_such_user) naming the UID when absent.
    virtual MessageRecord set_flags(const MailboxRef& mailbox, std::uint32_t uid, FlagChange change,
                                    std::uint32_t flags, const std::vector<std::string>& keywords) = 0;

    /// Copies the message into `target` (hard link where possible, else a fsync'd copy) with
    /// its flags, keywords and internal date, the target's folder fsync'd; returns its UID
    /// there. Throws Error(no_such_user) naming the UID when absent.
    virtual std::uint32_t copy(const MailboxRef& source, std::uint32_t uid, const MailboxRef& target) = 0;

    /// copy(), then expunge the source message; returns the UID in `target`.
    virtual std::uint32_t move(const MailboxRef& source, std::uint32_t uid, const MailboxRef& target) = 0;

    /// Removes the files and rows of those UIDs (absent ones are skipped), bumping MODSEQ;
    /// returns the UIDs removed, ascending.
    virtual std::vector<std::uint32_t> expunge(const MailboxRef& mailbox, const std::vector<std::uint32_t>& uids) = 0;

    /// expunge() of every message with \Deleted (IMAP EXPUNGE, POP3 QUIT).
    virtual std::vector<std::uint32_t> expunge_deleted(const MailboxRef& mailbox) = 0;

    /// expunge() of every message whose internal date is before `before` (seconds since the
    /// epoch), for `vpsmail mailbox expunge`.
    virtual std::vector<std::uint32_t> expunge_before(const MailboxRef& mailbox, std::int64_t before) = 0;

    /// Inserts a message whose file `message.link` puts into the folder, under the index's
    /// write transaction: reads UIDNEXT, calls link(uid), inserts the row, bumps UIDNEXT and
    /// HIGHESTMODSEQ, commits; returns the UID. When link throws nothing changes and it rethrows.
    /// Syncs (scan) a mailbox the index does not know yet. Used by Delivery::commit.
    virtual std::uint32_t add_message(const MailboxRef& mailbox, const NewMessage& message) = 0;

    /// The account's totals over every mailbox known (no scan): one read, fit for the RCPT
    /// quota check.
    virtual AccountUsage usage() = 0;

    /// Forgets every row and rebuilds from the files (scan of every folder given and of the
    /// Maildir++ folders found in the root), keeping each folder's UIDVALIDITY and the UIDs in
    /// the names. `mailboxes` names the folders the caller knows (with their wire names).
    virtual void rebuild(const std::vector<MailboxRef>& mailboxes) = 0;

    /// Forgets the mailbox's rows (after its folder was deleted or renamed: a renamed folder
    /// keeps its UIDVALIDITY file and is found again by the next call naming its new path).
    virtual void forget(const MailboxRef& mailbox) = 0;

    /// The cached bytes of a parsed field ("envelope", "bodystructure") of a message, or nullopt.
    virtual std::optional<std::string> cache_get(const MailboxRef& mailbox, std::uint32_t uid, std::string_view field) = 0;

    /// Stores them (replacing); ignored when the message is gone.
    virtual void cache_put(const MailboxRef& mailbox, std::uint32_t uid, std::string_view field, std::string_view bytes) = 0;
};

}  // namespace vpsmail::mailstore
