// Internal to mailstore: the errno -> ErrorKind table for file system calls, an owned file
// descriptor and write_all. Not part of the module's interface (no other module includes it);
// the public contracts are in maildir.hpp, delivery.hpp, quota.hpp. Folder fsyncs are core's
// (core/fsync.hpp, core/sync_group.hpp).
#pragma once

#include "core/error.hpp"

#include <string>
#include <string_view>

namespace vpsmail::mailstore::detail {

/// Error(permission) for EACCES/EPERM/EROFS, Error(no_space) for ENOSPC/EDQUOT,
/// Error(temporary) for anything else (EIO, EMFILE, ...): core's errno_kind(). Message "cannot <what> <path>: <strerror>", detail
/// "<call>: errno <n>".
Error io_error(std::string_view what, const std::string& path, std::string_view call, int err);

/// Owns one file descriptor; closes it when destroyed. Move-only.
class FileDescriptor {
public:
    FileDescriptor() noexcept = default;
    explicit FileDescriptor(int fd) noexcept : fd_(fd) {}
    ~FileDescriptor() { reset(); }
    FileDescriptor(FileDescriptor&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
    FileDescriptor& operator=(FileDescriptor&& other) noexcept;
    FileDescriptor(const FileDescriptor&) = delete;
    FileDescriptor& operator=(const FileDescriptor&) = delete;

    int get() const noexcept { return fd_; }
    explicit operator bool() const noexcept { return fd_ >= 0; }
    /// Closes the descriptor held, if any, and holds `fd` instead.
    void reset(int fd = -1) noexcept;

private:
    int fd_ = -1;
};

/// write(2) until all of `bytes` is written, retrying EINTR. Returns 0 or the errno.
int write_all(int fd, std::string_view bytes) noexcept;

}  // namespace vpsmail::mailstore::detail
