#include "server/body_file.hpp"

#include "core/error.hpp"
#include "mailstore/unique_name.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace vpsmail::server {
namespace {

constexpr std::size_t piece_size = 64 * 1024;
// make_unique_name cannot repeat but for a clock gone back and a reused pid at once.
constexpr int name_attempts = 4;

// The client hears 452 for a full disk and 451 for the rest: a spill file that cannot be
// written is never the message's fault.
Error file_error(std::string_view what, const std::string& path, int err) {
    const ErrorKind kind = errno_kind(err) == ErrorKind::no_space ? ErrorKind::no_space : ErrorKind::temporary;
    return Error(kind, fmt::format("cannot {} {}: {}", what, path, std::strerror(err)), errno_text(path, err));
}

}  // namespace

BodyFile::BodyFile(const std::string& folder) {
    for (int attempt = 0; attempt < name_attempts && fd_ < 0; ++attempt) {
        std::string path = folder + "/body." + mailstore::make_unique_name();
        fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd_ >= 0) path_ = std::move(path);
        else if (errno != EEXIST) throw file_error("create a message file in", folder, errno);
    }
    if (fd_ < 0) throw Error(ErrorKind::temporary, fmt::format("cannot find an unused file name in {}", folder));
    buffer_.reserve(piece_size);
}

BodyFile::~BodyFile() {
    ::close(fd_);
    ::unlink(path_.c_str());
}

void BodyFile::write(std::string_view bytes) {
    if (buffer_.size() + bytes.size() > piece_size) flush();
    if (bytes.size() >= piece_size) {
        for (std::size_t done = 0; done < bytes.size();) {
            ssize_t n = ::write(fd_, bytes.data() + done, bytes.size() - done);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) throw file_error("write", path_, errno);
            done += static_cast<std::size_t>(n);
        }
    } else {
        buffer_.append(bytes);
    }
    size_ += bytes.size();
}

void BodyFile::flush() {
    for (std::size_t done = 0; done < buffer_.size();) {
        ssize_t n = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw file_error("write", path_, errno);
        done += static_cast<std::size_t>(n);
    }
    buffer_.clear();
}

void BodyFile::read(const std::function<void(std::string_view)>& piece) {
    flush();
    std::string chunk(piece_size, '\0');
    std::uint64_t offset = 0;
    while (offset < size_) {
        ssize_t n = ::pread(fd_, chunk.data(), chunk.size(), static_cast<off_t>(offset));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw file_error("read", path_, errno);
        if (n == 0) throw Error(ErrorKind::temporary, fmt::format("message file {} ended before {} bytes", path_, size_));
        piece(std::string_view(chunk.data(), static_cast<std::size_t>(n)));
        offset += static_cast<std::uint64_t>(n);
    }
}

std::string BodyFile::text() {
    std::string out;
    out.reserve(static_cast<std::size_t>(size_));
    read([&](std::string_view piece) { out.append(piece); });
    return out;
}

void BodyFile::sync() {
    flush();
    if (::fsync(fd_) != 0) throw file_error("write", path_, errno);
}

}  // namespace vpsmail::server
