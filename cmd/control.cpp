#include "control.hpp"

#include "core/error.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace vpsmail::cli {
namespace {

struct Fd {
    int fd = -1;
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
};

bool wait_for(int fd, short events, int timeout_ms) {
    pollfd p{fd, events, 0};
    for (;;) {
        int n = ::poll(&p, 1, timeout_ms);
        if (n > 0) return true;
        if (n == 0) return false;
        if (errno != EINTR) return false;
    }
}

}  // namespace

std::string control_socket_path(const Config& config) { return config.paths.state_dir + "/control"; }

std::optional<std::string> ask_server(const Config& config, std::string_view request, int timeout_ms) {
    const std::string path = control_socket_path(config);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (path.size() >= sizeof address.sun_path) return std::nullopt;  // the server could not have bound it either
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    Fd s;
    s.fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s.fd < 0) throw Error(ErrorKind::temporary, "cannot make a socket", std::strerror(errno));
    if (::connect(s.fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
        const int err = errno;
        if (err == ENOENT || err == ECONNREFUSED) return std::nullopt;
        if (err == EACCES || err == EPERM)
            throw Error(ErrorKind::permission, fmt::format("cannot reach the server's control socket {} (run as root or the server's user)", path));
        throw Error(ErrorKind::temporary, fmt::format("cannot reach the server's control socket {}", path), std::strerror(err));
    }
    std::string line = std::string(request) + "\n";
    for (std::size_t done = 0; done < line.size();) {
        ssize_t n = ::send(s.fd, line.data() + done, line.size() - done, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw Error(ErrorKind::temporary, fmt::format("the server closed its control socket {}", path), std::strerror(errno));
        done += static_cast<std::size_t>(n);
    }
    std::string reply;
    char buffer[4096];
    for (;;) {
        if (!wait_for(s.fd, POLLIN, timeout_ms))
            throw Error(ErrorKind::temporary, fmt::format("the server did not answer on {} within {} s", path, timeout_ms / 1000));
        ssize_t n = ::recv(s.fd, buffer, sizeof buffer, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw Error(ErrorKind::temporary, fmt::format("reading from the control socket {}", path), std::strerror(errno));
        if (n == 0) break;
        reply.append(buffer, static_cast<std::size_t>(n));
    }
    return reply;
}

namespace {

bool request(const Config& config, std::string_view what) noexcept {
    try {
        auto reply = ask_server(config, what, 1000);
        return reply && reply->starts_with("ok");
    } catch (...) {
        return false;  // a submitting program must not fail because the server is slow
    }
}

}  // namespace

bool request_flush(const Config& config) noexcept { return request(config, "flush"); }

bool request_nudge(const Config& config) noexcept { return request(config, "nudge"); }

}  // namespace vpsmail::cli
