#include "core/fsync.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace vpsmail {

int fsync_directory(const std::string& path, const FsyncFunction& fsync) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return errno;
    // close(2) on Linux releases the descriptor even when it reports EINTR: never retry it.
    struct Closer {
        int fd;
        ~Closer() { ::close(fd); }
    } closer{fd};
    if (fsync(fd) != 0) return errno != 0 ? errno : EIO;
    return 0;
}

Error sync_error(const std::string& path, int err) {
    // docs/architecture.md section 9: a message is acknowledged only once on disk; one that is not may be retried.
    const ErrorKind kind = errno_kind(err) == ErrorKind::no_space ? ErrorKind::no_space : ErrorKind::temporary;
    return Error(kind, fmt::format("cannot write {} to disk: {}", path, std::strerror(err)), fmt::format("fsync: errno {}", err));
}

}  // namespace vpsmail
