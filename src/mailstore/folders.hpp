// The mailbox folders of one account's Maildir++: list, create, delete, rename and the
// subscriptions file, as Dovecot's Maildir++ layout keeps them. Owns the folder directories
// as wholes (any file in one, an index or a UIDVALIDITY file too, goes with it); names are
// mailbox_name.hpp's, and the messages, UIDs and flags inside a folder are not this file's.
#pragma once

#include "mailstore/mailbox_name.hpp"

#include <string>
#include <vector>

namespace vpsmail::mailstore {

/// RFC 6154 special-use of the standard top-level names: Sent, Drafts, Trash, Junk, Archive.
enum class SpecialUse { none, sent, drafts, trash, junk, archive };

/// The special use of `name` (exact, case-sensitive top-level names), or none. Pure.
SpecialUse special_use_of(const MailboxName& name) noexcept;

/// One name in a listing.
struct FolderEntry {
    MailboxName name;
    bool selectable = true;     ///< false: \Noselect, only the parent of folders that exist
    bool has_children = false;  ///< \HasChildren, else \HasNoChildren (RFC 3348)
    SpecialUse special_use = SpecialUse::none;  ///< none when not selectable
    bool subscribed = false;
};

/// The IMAP attributes of an entry, in this order: "\Noselect" when not selectable,
/// "\HasChildren" or "\HasNoChildren", then the special use ("\Sent", ...). Pure.
std::vector<std::string> folder_attributes(const FolderEntry& entry);

/// The folders of the Maildir at `maildir` (the account's, mailstore::maildir_path). A missing
/// Maildir is an empty one: it lists as INBOX alone, and only create, rename and subscribe
/// make it. Not thread-safe per object; the calls of two objects (or processes) on one
/// Maildir do not corrupt it, but their subscription changes may overwrite one another.
class Folders {
public:
    explicit Folders(std::string maildir) : maildir_(std::move(maildir)) {}

    /// INBOX first, then every folder and every implicit parent ("A" of "A/B" when ".A" is
    /// not there: not selectable), sorted by canonical name. Directories in the Maildir root
    /// that are no folder (no leading '.', bad encodings, symbolic links, files) are skipped.
    /// Throws Error(permission/temporary) naming the Maildir when it cannot be read.
    std::vector<FolderEntry> list() const;

    /// True when the folder exists (INBOX always does). Throws as list().
    bool exists(const MailboxName& name) const;

    /// Makes the folder: cur/, new/, tmp/ and the empty `maildirfolder` marker, mode 0700,
    /// built under the Maildir's tmp/ and renamed into place so that it appears whole,
    /// then the Maildir root fsync'd (docs/architecture.md section 9). Parents are left
    /// implicit, as Dovecot does ("A/B" makes ".A.B" only). Makes a missing Maildir.
    /// Throws Error(exists) for INBOX or a folder that is there, Error(permission/temporary/
    /// no_space) naming the path.
    void create(const MailboxName& name);

    /// Deletes the folder with everything in it; its children stay (in Maildir++ each is a
    /// folder of its own), so a deleted parent of others lists as not selectable (RFC 3501
    /// 6.3.4, as Dovecot does). The folder leaves the listing at once (renamed into tmp/,
    /// the root fsync'd), then its files are removed. Subscriptions are kept (RFC 3501
    /// 6.3.4). Throws Error(bad_data) for INBOX, Error(not_found) for a folder that is not
    /// there (an implicit parent too), Error(permission/temporary) naming the path.
    void remove(const MailboxName& name);

    /// Renames the folder and every folder below it ("A" -> "B" moves "A/x" to "B/x"), each
    /// with everything in it, its UIDVALIDITY file included, then fsyncs the root; their
    /// subscriptions follow them. The old name may be an implicit parent (its children move).
    /// Renaming INBOX (RFC 3501 6.3.5) creates `to` and moves the message files of INBOX's
    /// cur/ and new/ into it, leaving INBOX empty; its children stay where they are. Each
    /// folder is renamed on its own: a crash in between leaves some of them renamed, none lost.
    /// Throws Error(not_found) when `from` is not there, Error(exists) when `to` (or where a
    /// child would go) is there or is INBOX, Error(bad_data) for a rename into itself or
    /// when a child's new name would be over the limits, Error(permission/temporary)
    /// naming the path. Nothing is moved when it throws before the first rename.
    void rename(const MailboxName& from, const MailboxName& to);

    /// Adds `name` to the subscriptions (the folder need not exist, RFC 3501 6.3.6). Returns
    /// false when it was subscribed already. The `subscriptions` file in the Maildir root has
    /// one name per line in its folder form without the leading '.' (modified UTF-7, '.'
    /// between levels), as Dovecot's Maildir++ keeps it; lines it does not understand are
    /// kept. Written as tmp/ file + fsync + rename + root fsync. Makes a missing Maildir.
    /// Throws Error(permission/temporary/no_space) naming the path.
    bool subscribe(const MailboxName& name);
    /// Removes `name` from the subscriptions. Returns false when it was not subscribed (the
    /// file is then left alone). Throws as subscribe().
    bool unsubscribe(const MailboxName& name);
    /// The subscribed names in the file's order, existing or not. Throws
    /// Error(permission/temporary) naming the file when it cannot be read.
    std::vector<MailboxName> list_subscribed() const;

    const std::string& maildir() const noexcept { return maildir_; }

private:
    void rename_inbox(const MailboxName& to);
    void write_subscriptions(const std::vector<std::string>& lines);
    std::string maildir_;
};

}  // namespace vpsmail::mailstore
