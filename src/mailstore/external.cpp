#include "mailstore/external.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <grp.h>
#include <sys/stat.h>
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

[[noreturn]] void exec_child(const std::string& command, int in, int out, const ProgramOptions& o) {
    ::setpgid(0, 0);
    ::dup2(in, STDIN_FILENO);
    ::dup2(out, STDOUT_FILENO);
    ::dup2(out, STDERR_FILENO);
    for (int fd = 3; fd < 1024; ++fd) ::close(fd);
    if (::geteuid() == 0) {
        // Never run an alias's command as root.
        const struct passwd* pw = ::getpwnam(o.run_as.empty() ? "nobody" : o.run_as.c_str());
        if (pw == nullptr || pw->pw_uid == 0 || ::setgroups(0, nullptr) != 0 || ::setgid(pw->pw_gid) != 0 ||
            ::setuid(pw->pw_uid) != 0)
            ::_exit(75);
    }
    const std::string sender = "SENDER=" + o.sender;
    const std::string recipient = "RECIPIENT=" + o.recipient;
    const char* env[] = {"PATH=/usr/local/bin:/usr/bin:/bin", "SHELL=/bin/sh", "HOME=/", sender.c_str(), recipient.c_str(), nullptr};
    const char* argv[] = {"/bin/sh", "-c", command.c_str(), nullptr};
    if (::chdir("/") != 0) ::_exit(75);
    ::execve("/bin/sh", const_cast<char* const*>(argv), const_cast<char* const*>(env));
    ::_exit(75);
}

}  // namespace

ExternalResult run_program(const std::string& command, std::string_view message, const ProgramOptions& options) {
    int in[2], out[2];
    if (::pipe2(in, O_CLOEXEC) != 0) return temporary("cannot start the program: " + std::string(std::strerror(errno)));
    if (::pipe2(out, O_CLOEXEC) != 0) {
        ::close(in[0]);
        ::close(in[1]);
        return temporary("cannot start the program: " + std::string(std::strerror(errno)));
    }
    pid_t pid = ::fork();
    if (pid < 0) {
        for (int fd : {in[0], in[1], out[0], out[1]}) ::close(fd);
        return temporary("cannot start the program: " + std::string(std::strerror(errno)));
    }
    if (pid == 0) exec_child(command, in[0], out[1], options);
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
    if (timed_out) ::kill(-pid, SIGKILL);
    int status = 0;
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
