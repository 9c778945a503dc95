// fsync of a folder, and the error a failed fsync becomes: shared by the Maildir writer, the
// spool and the maildrop. Owns no batching (sync_group.hpp) and no writing of files.
#pragma once

#include "core/error.hpp"

#include <functional>
#include <string>

namespace vpsmail {

/// fsync(2) or a replacement for it (tests inject failures): 0, or -1 with errno set.
using FsyncFunction = std::function<int(int fd)>;

/// Opens the folder, fsyncs it through `fsync` and closes it. Returns 0, or the errno of
/// whichever step failed (EIO when `fsync` failed without setting errno). Any thread.
int fsync_directory(const std::string& path, const FsyncFunction& fsync);

/// Error(no_space) for ENOSPC/EDQUOT and Error(temporary) for every other errno: data that did
/// not reach the disk may on a retry. Message "cannot write <path> to disk: <strerror>",
/// detail "fsync: errno <n>".
Error sync_error(const std::string& path, int err);

}  // namespace vpsmail
