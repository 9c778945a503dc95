// The client side of the running server's control socket (<state_dir>/control: a unix stream
// socket, mode 0600, one command line and one reply line). The server side belongs to serve.
#include "commands.hpp"

#include <cerrno>
#include <cstring>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

namespace vpsmail::cli {

bool request_flush(const std::string& state_dir) {
    const std::string path = state_dir + "/control";
    sockaddr_un address{};
    if (path.size() >= sizeof address.sun_path) return false;
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    // A server that hangs must not hang the submitting program: one second for each step.
    timeval second{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &second, sizeof second);
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &second, sizeof second);
    bool ok = false;
    // ENOENT and ECONNREFUSED: no server runs; the queue runner finds the mail when it starts.
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0 &&
        ::send(fd, "flush\n", 6, MSG_NOSIGNAL) == 6) {
        std::string reply;
        char c = 0;
        while (reply.size() < 512 && ::read(fd, &c, 1) == 1 && c != '\n') reply += c;
        ok = reply == "ok";
    }
    ::close(fd);
    return ok;
}

}  // namespace vpsmail::cli
