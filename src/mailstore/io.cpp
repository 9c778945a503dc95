#include "mailstore/io.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace vpsmail::mailstore::detail {

Error io_error(std::string_view what, const std::string& path, std::string_view call, int err) {
    return Error(errno_kind(err), fmt::format("cannot {} {}: {}", what, path, std::strerror(err)), fmt::format("{}: errno {}", call, err));
}

Error sync_error(const std::string& path, int err) {
    // DESIGN.md 9: a message is acknowledged only once on disk; one that is not may be retried.
    const ErrorKind kind = errno_kind(err) == ErrorKind::no_space ? ErrorKind::no_space : ErrorKind::temporary;
    return Error(kind, fmt::format("cannot write {} to disk: {}", path, std::strerror(err)),
                 fmt::format("fsync: errno {}", err));
}

FileDescriptor& FileDescriptor::operator=(FileDescriptor&& other) noexcept {
    if (this != &other) {
        reset(other.fd_);
        other.fd_ = -1;
    }
    return *this;
}

void FileDescriptor::reset(int fd) noexcept {
    // close(2) on Linux releases the descriptor even when it reports EINTR: never retry it.
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
}

int fsync_directory(const std::string& path, const FsyncFunction& fsync) {
    FileDescriptor dir(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir) return errno;
    if (fsync(dir.get()) != 0) return errno != 0 ? errno : EIO;
    return 0;
}

int write_all(int fd, std::string_view bytes) noexcept {
    while (!bytes.empty()) {
        ssize_t n = ::write(fd, bytes.data(), bytes.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return 0;
}

}  // namespace vpsmail::mailstore::detail
