// The mailbox index in SQLite: one file per account, "<maildir>/vpsmail.index" (WAL,
// synchronous=NORMAL, busy timeout), rebuilt from the file names when lost or corrupt
// (docs/architecture.md section 9). Owns the SQL and the renames it makes; the interface and
// its contract are index.hpp's, the name format message_name.hpp's.
#pragma once

#include "mailstore/index.hpp"

#include <memory>
#include <optional>
#include <string>

namespace vpsmail::mailstore {

/// The index file's name in the Maildir root.
inline constexpr const char* index_file_name = "vpsmail.index";

/// Opens the account's index at "<maildir>/vpsmail.index", making the Maildir when it is
/// missing (an empty mailbox) and the index when it is missing; a missing, unreadable or
/// corrupt file (moved aside as "vpsmail.index.corrupt") is rebuilt from the folders found in
/// the Maildir (scan: run it off network threads). Throws Error(temporary/permission) naming
/// the file or folder. The object is for one thread at a time.
std::unique_ptr<MailboxIndex> open_sqlite_index(const std::string& maildir);

/// The account's totals read from an existing index file, or nullopt when there is none or it
/// cannot be read (the caller then falls back to a scan). Opens no Maildir and scans nothing:
/// one short read, fit for a network thread. Never throws for a missing or unreadable index;
/// std::bad_alloc only.
std::optional<AccountUsage> find_index_usage(const std::string& maildir);

}  // namespace vpsmail::mailstore
