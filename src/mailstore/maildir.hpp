// Maildir++ folders of accounts: where they are and their creation and removal.
// Delivery into them (tmp -> new with fsync) is delivery.hpp's; this file only names and
// makes the folders.
#pragma once

#include <string>

namespace vpsmail::mailstore {

/// <mail_root>/<domain>/<local>. Throws Error(bad_data) when the domain or local part
/// cannot be a path component (core/safe_name).
std::string maildir_path(const std::string& mail_root, const std::string& domain, const std::string& local);

/// Creates the Maildir with cur/, new/ and tmp/ (and missing parents), mode 0700.
/// Returns false when it existed already. Throws Error(permission/temporary) naming the path.
bool create_maildir(const std::string& path);

/// As create_maildir, for delivery: cheap when cur/, new/ and tmp/ exist (three mkdir calls
/// that find them), and every folder it creates is made durable by an fsync of its parent
/// (DESIGN.md 9), so a message committed into a new Maildir survives a crash with it.
/// Returns true when it created anything. Throws Error(permission/temporary) naming the path.
/// Any thread.
bool ensure_maildir(const std::string& path);

/// Removes the Maildir and everything in it. Returns false when it did not exist.
/// Throws Error(permission/temporary) naming the path.
bool remove_maildir(const std::string& path);

}  // namespace vpsmail::mailstore

namespace vpsmail::mailstore {

/// When running as root and the mail root (the Maildir's grandparent) belongs to another user
/// (`vpsmail serve` gives it to [server] user): gives that user the Maildir (itself, cur/, new/,
/// tmp/) and its domain folder where root owns them, so that the server can deliver into a
/// Maildir that `user add` made as root. No user database lookup: the owner of the mail root
/// says who. Returns false when a chown failed (the caller warns); true otherwise, also when
/// there was nothing to do.
bool give_maildir_to_mail_root_owner(const std::string& maildir);

}  // namespace vpsmail::mailstore
