#include "mailstore/external.hpp"

#include "core/error.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace vpsmail::mailstore {
namespace {

using Clock = std::chrono::steady_clock;

ExternalResult temporary(std::string text) {
    return ExternalResult{ExternalResult::Kind::temporary, 451, "4.3.0", std::move(text)};
}

ExternalResult permanent(int code, const char* status, std::string text) {
    return ExternalResult{ExternalResult::Kind::permanent, code, status, std::move(text)};
}

// The first line of what the program printed, made safe for an SMTP reply.
std::string first_line(const std::string& output) {
    std::string line = output.substr(0, output.find('\n'));
    for (char& c : line)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
    if (line.size() > 200) line.resize(200);
    return line;
}

// Who a program runs as when we are root.
struct Identity {
    uid_t uid = 0;
    gid_t gid = 0;
};

void close_descriptors_from(int first) {
    if (::close_range(static_cast<unsigned>(first), ~0U, 0) == 0) return;
    for (int fd = first; fd < 65536; ++fd) ::close(fd);  // a kernel without close_range (< 5.9)
}

// In the forked child: stdin and stdout/stderr from the pipes, nothing else open, not root.
[[noreturn]] void exec_child(const std::string& command, int in, int out, const ProgramOptions& o,
                             const Identity* identity) {
    ::setpgid(0, 0);
    ::dup2(in, STDIN_FILENO);
    ::dup2(out, STDOUT_FILENO);
    ::dup2(out, STDERR_FILENO);
    close_descriptors_from(3);  // the store, the spool, TLS keys, sockets: none for the program
    if (::geteuid() == 0) {
        // Never run an alias's command as root.
        Identity as;
        if (identity != nullptr) {
            as = *identity;
        } else {
            const struct passwd* pw = ::getpwnam(o.run_as.empty() ? "nobody" : o.run_as.c_str());
            if (pw == nullptr) ::_exit(75);
            as = Identity{pw->pw_uid, pw->pw_gid};
        }
        if (as.uid == 0 || ::setgroups(0, nullptr) != 0 || ::setgid(as.gid) != 0 || ::setuid(as.uid) != 0) ::_exit(75);
    }
    const std::string sender = "SENDER=" + o.sender;
    const std::string recipient = "RECIPIENT=" + o.recipient;
    const char* env[] = {"PATH=/usr/local/bin:/usr/bin:/bin", "SHELL=/bin/sh", "HOME=/", sender.c_str(), recipient.c_str(), nullptr};
    const char* argv[] = {"/bin/sh", "-c", command.c_str(), nullptr};
    if (::chdir("/") != 0) ::_exit(75);
    ::execve("/bin/sh", const_cast<char* const*>(argv), const_cast<char* const*>(env));
    ::_exit(75);
}

// --- the launcher -------------------------------------------------------------------------
// One request is one SOCK_SEQPACKET message, "sender\0recipient\0command", carrying three
// descriptors: the program's stdin (read end), its stdout (write end) and a socket of its own
// for this request. On that socket the launcher answers with the wait status (an int) when
// the program has ended; any byte (or the close) from our side kills its process group first.

constexpr std::size_t max_request = 64 * 1024;
constexpr int request_fds = 3;

std::atomic<int> launcher_channel{-1};
pid_t launcher_pid = -1;

// In a child of the launcher: runs one program as `as`, answers its wait status, exits.
[[noreturn]] void launch_one(const std::string& request, int in, int out, int reply, const Identity& as) {
    ::signal(SIGCHLD, SIG_DFL);  // the launcher ignores it; we wait for our program
    ProgramOptions o;
    const std::size_t a = request.find('\0');
    const std::size_t b = a == std::string::npos ? a : request.find('\0', a + 1);
    int status = 75 << 8;  // EX_TEMPFAIL: a malformed request or a failed fork
    if (b != std::string::npos) {
        o.sender = request.substr(0, a);
        o.recipient = request.substr(a + 1, b - a - 1);
        const std::string command = request.substr(b + 1);
        const pid_t pid = ::fork();
        if (pid == 0) {
            ::close(reply);
            exec_child(command, in, out, o, &as);
        }
        ::close(in);
        ::close(out);
        if (pid > 0) {
            ::setpgid(pid, pid);  // also here: a kill may come before the child's own setpgid
            const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
            if (pidfd >= 0) {
                pollfd fds[2] = {{pidfd, POLLIN, 0}, {reply, POLLIN, 0}};
                while (::poll(fds, 2, -1) < 0 && errno == EINTR) {
                }
                if ((fds[0].revents & POLLIN) == 0) {  // the server gave up on it: the timeout
                    ::kill(-pid, SIGKILL);
                    ::kill(pid, SIGKILL);
                }
            }
            while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
            }
        }
    }
    (void)!::send(reply, &status, sizeof status, MSG_NOSIGNAL);
    ::_exit(0);
}

[[noreturn]] void launcher_main(int channel, const Identity& as) {
    // Nothing of the server's but the channel: no store, no spool lock, no log pipe.
    const int null = ::open("/dev/null", O_RDWR);
    if (null >= 0)
        for (int fd : {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO}) ::dup2(null, fd);
    if (channel != 3) {
        ::dup2(channel, 3);
        channel = 3;
    }
    close_descriptors_from(4);
    ::signal(SIGCHLD, SIG_IGN);  // our children (one per program) are reaped by the kernel
    for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGPIPE}) ::signal(sig, SIG_IGN);  // we end with the channel
    std::string request(max_request, '\0');
    while (true) {
        iovec iov{request.data(), request.size()};
        alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * request_fds)];
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        const ssize_t n = ::recvmsg(channel, &msg, MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) ::_exit(0);  // the server has gone
        int fds[request_fds];
        int count = 0;
        for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
            const std::size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (std::size_t i = 0; i < k; ++i) {
                int fd;
                std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
                if (count < request_fds) fds[count++] = fd;
                else ::close(fd);
            }
        }
        if (count == request_fds && (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) == 0) {
            const pid_t child = ::fork();
            if (child == 0) {
                ::close(channel);
                launch_one(request.substr(0, static_cast<std::size_t>(n)), fds[0], fds[1], fds[2], as);
            }
            if (child < 0) {
                const int status = 75 << 8;
                (void)!::send(fds[2], &status, sizeof status, MSG_NOSIGNAL);
            }
        }
        for (int i = 0; i < count; ++i) ::close(fds[i]);
    }
}

// Hands the program to the launcher. Returns the request's own socket, or -1 (errno set).
int launch(int channel, const std::string& command, int in, int out, const ProgramOptions& o) {
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) return -1;
    std::string request = o.sender;
    request += '\0';
    request += o.recipient;
    request += '\0';
    request += command;
    iovec iov{request.data(), request.size()};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * request_fds)] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * request_fds);
    const int fds[request_fds] = {in, out, pair[1]};
    std::memcpy(CMSG_DATA(c), fds, sizeof fds);
    ssize_t sent;
    do sent = ::sendmsg(channel, &msg, MSG_NOSIGNAL);
    while (sent < 0 && errno == EINTR);
    const int saved = errno;
    ::close(pair[1]);
    if (sent < 0) {
        ::close(pair[0]);
        errno = saved;
        return -1;
    }
    return pair[0];
}

// The launched program's wait status, once it has ended; at `deadline` it is killed first.
int wait_launched(int reply, Clock::time_point deadline, bool& timed_out) {
    int status = 75 << 8;
    while (true) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (timed_out || left <= 0) {
            timed_out = true;
            (void)!::send(reply, "k", 1, MSG_NOSIGNAL);
            pollfd p{reply, POLLIN, 0};
            while (::poll(&p, 1, -1) < 0 && errno == EINTR) {
            }
        } else {
            pollfd p{reply, POLLIN, 0};
            const int ready = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 1000)));
            if (ready < 0 && errno != EINTR) break;
            if (ready <= 0) continue;
        }
        const ssize_t n = ::recv(reply, &status, sizeof status, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n != static_cast<ssize_t>(sizeof status)) status = 75 << 8;  // the launcher went away
        break;
    }
    ::close(reply);
    return status;
}

// A program forked here: its wait status once it has ended; at `deadline` it is killed first.
int wait_direct(pid_t pid, Clock::time_point deadline, bool& timed_out) {
    int status = 0;
    if (timed_out) ::kill(-pid, SIGKILL);
    // After the pipes closed the program is ending; a program that closed them early and
    // lingers is given the rest of the timeout.
    while (true) {
        pid_t r = ::waitpid(pid, &status, WNOHANG);
        if (r == pid || (r < 0 && errno != EINTR)) break;
        if (Clock::now() >= deadline) {
            timed_out = true;
            ::kill(-pid, SIGKILL);
            ::waitpid(pid, &status, 0);
            break;
        }
        ::poll(nullptr, 0, 10);
    }
    return status;
}

}  // namespace

void start_program_launcher(const std::string& user) {
    errno = 0;
    const struct passwd* pw = ::getpwnam(user.c_str());
    if (pw == nullptr)
        throw Error(ErrorKind::config, fmt::format("[delivery] program_user '{}' does not exist (create it with "
                                                   "'useradd --system --no-create-home --shell /usr/sbin/nologin {}', "
                                                   "or set [delivery] program_user)", user, user));
    if (pw->pw_uid == 0)
        throw Error(ErrorKind::config, fmt::format("[delivery] program_user '{}' is root: programs never run as root", user));
    const Identity as{pw->pw_uid, pw->pw_gid};
    stop_program_launcher();
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0)
        throw Error(ErrorKind::temporary, "cannot start the program launcher", errno_text("socketpair", errno));
    const pid_t pid = ::fork();
    if (pid < 0) {
        const int saved = errno;
        ::close(pair[0]);
        ::close(pair[1]);
        throw Error(ErrorKind::temporary, "cannot start the program launcher", errno_text("fork", saved));
    }
    if (pid == 0) {
        ::close(pair[0]);
        launcher_main(pair[1], as);
    }
    ::close(pair[1]);
    launcher_pid = pid;
    launcher_channel.store(pair[0]);
}

void stop_program_launcher() noexcept {
    const int channel = launcher_channel.exchange(-1);
    if (channel < 0) return;
    ::close(channel);
    while (::waitpid(launcher_pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    launcher_pid = -1;
}

ExternalResult run_program(const std::string& command, std::string_view message, const ProgramOptions& options) {
    int in[2], out[2];
    if (::pipe2(in, O_CLOEXEC) != 0) return temporary("cannot start the program: " + std::string(std::strerror(errno)));
    if (::pipe2(out, O_CLOEXEC) != 0) {
        ::close(in[0]);
        ::close(in[1]);
        return temporary("cannot start the program: " + std::string(std::strerror(errno)));
    }
    const int channel = launcher_channel.load();
    pid_t pid = -1;
    int reply = -1;
    if (channel >= 0) {
        reply = launch(channel, command, in[0], out[1], options);
        if (reply < 0) {
            const int saved = errno;
            for (int fd : {in[0], in[1], out[0], out[1]}) ::close(fd);
            return temporary("cannot hand the program to the program launcher: " + std::string(std::strerror(saved)));
        }
    } else {
        pid = ::fork();
        if (pid < 0) {
            const int saved = errno;
            for (int fd : {in[0], in[1], out[0], out[1]}) ::close(fd);
            return temporary("cannot start the program: " + std::string(std::strerror(saved)));
        }
        if (pid == 0) exec_child(command, in[0], out[1], options, nullptr);
    }
    ::close(in[0]);
    ::close(out[1]);
    // A program that exits without reading all of stdin must give us EPIPE, not SIGPIPE: block
    // it in this thread while we write, and take any that came before unblocking it again.
    sigset_t pipe_signal, previous;
    sigemptyset(&pipe_signal);
    sigaddset(&pipe_signal, SIGPIPE);
    ::pthread_sigmask(SIG_BLOCK, &pipe_signal, &previous);
    const bool pipe_was_blocked = sigismember(&previous, SIGPIPE) == 1;
    ::fcntl(in[1], F_SETFL, O_NONBLOCK);
    ::fcntl(out[0], F_SETFL, O_NONBLOCK);

    const auto deadline = Clock::now() + options.timeout;
    std::size_t written = 0;
    std::string output;
    bool input_open = true, output_open = true, timed_out = false;
    if (message.empty()) {
        ::close(in[1]);
        input_open = false;
    }
    while (input_open || output_open) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0) {
            timed_out = true;
            break;
        }
        pollfd fds[2];
        int n = 0;
        if (input_open) fds[n++] = {in[1], POLLOUT, 0};
        if (output_open) fds[n++] = {out[0], POLLIN, 0};
        if (::poll(fds, static_cast<nfds_t>(n), static_cast<int>(std::min<long long>(left, 1000))) < 0 && errno != EINTR) break;
        for (int i = 0; i < n; ++i) {
            if (fds[i].fd == in[1] && (fds[i].revents & (POLLOUT | POLLERR | POLLHUP))) {
                ssize_t w = ::write(in[1], message.data() + written, message.size() - written);
                if (w > 0) written += static_cast<std::size_t>(w);
                // A program that stops reading (EPIPE) has had what it wanted.
                if ((w < 0 && errno != EAGAIN && errno != EINTR) || written == message.size()) {
                    ::close(in[1]);
                    input_open = false;
                }
            } else if (fds[i].fd == out[0] && (fds[i].revents & (POLLIN | POLLERR | POLLHUP))) {
                char buffer[4096];
                ssize_t r = ::read(out[0], buffer, sizeof buffer);
                if (r > 0 && output.size() < 4096) output.append(buffer, static_cast<std::size_t>(r));
                if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
                    ::close(out[0]);
                    output_open = false;
                }
            }
        }
    }
    if (input_open) ::close(in[1]);
    if (output_open) ::close(out[0]);
    if (!pipe_was_blocked) {
        const timespec zero{0, 0};
        while (::sigtimedwait(&pipe_signal, nullptr, &zero) == SIGPIPE) {
        }
        ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    }
    const int status = reply >= 0 ? wait_launched(reply, deadline, timed_out) : wait_direct(pid, deadline, timed_out);
    if (timed_out) return temporary(fmt::format("the program did not finish within {} s", options.timeout.count()));
    if (WIFSIGNALED(status)) return temporary(fmt::format("the program was killed by signal {}", WTERMSIG(status)));
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 75;
    if (code == 0) return ExternalResult{};
    const std::string said = first_line(output);
    const std::string text = fmt::format("the program exited with {}{}{}", code, said.empty() ? "" : ": ", said);
    if (code == 75) return temporary(text);  // sysexits EX_TEMPFAIL
    return permanent(554, "5.3.0", text);
}

ExternalResult append_to_file(const std::string& path, std::string_view message, const std::string& sender) {
    auto fail = [&](int err) {
        const std::string text = fmt::format("cannot write to {}: {}", path, std::strerror(err));
        if (err == EACCES || err == EPERM || err == EROFS || err == EISDIR || err == ELOOP) return permanent(550, "5.7.1", text);
        if (err == ENOSPC || err == EDQUOT) return ExternalResult{ExternalResult::Kind::temporary, 452, "4.3.1", text};
        return temporary(text);
    };
    int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600);
    if (fd < 0) return fail(errno);
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        return permanent(550, "5.7.1", fmt::format("cannot write to {}: not a regular file", path));
    }
    ::fcntl(fd, F_SETFL, O_APPEND);  // blocking writes from here on
    // Another writer (a mail reader, a second delivery) holds the lock: wait a bounded time.
    struct flock lock {};
    lock.l_type = F_WRLCK;
    lock.l_whence = SEEK_SET;
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    while (::fcntl(fd, F_SETLK, &lock) != 0) {
        if ((errno != EACCES && errno != EAGAIN) || Clock::now() >= deadline) {
            ::close(fd);
            return temporary(fmt::format("{} stays locked by another program", path));
        }
        ::poll(nullptr, 0, 50);
    }
    // mboxrd: "From " lines, and lines that are ">*From ", get one more '>'.
    std::string text;
    std::time_t now = std::time(nullptr);
    char date[64];
    std::tm tm {};
    ::gmtime_r(&now, &tm);
    std::strftime(date, sizeof date, "%a %b %e %H:%M:%S %Y", &tm);
    text.reserve(message.size() + 128);
    text += fmt::format("From {} {}\n", sender.empty() ? "MAILER-DAEMON" : sender, date);
    std::size_t start = 0;
    while (start < message.size()) {
        std::size_t end = message.find('\n', start);
        std::string_view line = message.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        std::size_t arrows = line.find_first_not_of('>');
        if (arrows != std::string_view::npos && line.substr(arrows).starts_with("From ")) text += '>';
        text += line;
        text += '\n';
        if (end == std::string_view::npos) break;
        start = end + 1;
    }
    text += '\n';
    const off_t before = ::lseek(fd, 0, SEEK_END);
    std::size_t done = 0;
    int err = 0;
    while (done < text.size()) {
        ssize_t w = ::write(fd, text.data() + done, text.size() - done);
        if (w > 0) done += static_cast<std::size_t>(w);
        else if (errno != EINTR) {
            err = errno;
            break;
        }
    }
    if (err == 0 && ::fsync(fd) != 0) err = errno;
    if (err != 0 && before >= 0 && ::ftruncate(fd, before) != 0) {
        // The partial message stays; mbox readers skip to the next From line.
    }
    ::close(fd);  // releases the lock
    if (err != 0) return fail(err);
    return ExternalResult{};
}

}  // namespace vpsmail::mailstore
