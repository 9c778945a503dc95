#include "mailstore/io.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <unistd.h>

namespace vpsmail::mailstore::detail {

Error io_error(std::string_view what, const std::string& path, std::string_view call, int err) {
    return Error(errno_kind(err), fmt::format("cannot {} {}: {}", what, path, std::strerror(err)), fmt::format("{}: errno {}", call, err));
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
