// Maildir++ folders of accounts: where they are and their creation and removal.
// Delivery into them (tmp -> new with fsync) is delivery.hpp's; this file only names and
// makes the folders.
#pragma once

#include <string>

namespace vpsmail::mailstore {

/// <mail_root>/<domain>/<local>. Throws Error(bad_data) when the domain or local part
/// cannot be a path component (core/safe_name).
std::string maildir_path(const std::string& mail_root, const std::string& domain, const std::string& local);

/// Makes the Maildir with cur/, new/ and tmp/ (and missing parents, such as the domain's
/// folder), mode 0700, where they are missing: a Maildir is made by its first delivery. Cheap
/// when they exist (three mkdir calls that find them), and every folder it creates is made
/// durable by an fsync of its parent (docs/architecture.md section 9), so a message committed into a new Maildir
/// survives a crash with it. Returns true when it created anything. Throws
/// Error(permission/temporary) naming the path. Any thread.
bool ensure_maildir(const std::string& path);

/// Removes the Maildir and everything in it. Returns false when it did not exist.
/// Throws Error(permission/temporary) naming the path.
bool remove_maildir(const std::string& path);

}  // namespace vpsmail::mailstore
