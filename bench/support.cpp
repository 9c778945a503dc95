#include "support.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace vpsmail::bench {

namespace fs = std::filesystem;

namespace {

constexpr auto ready_timeout = std::chrono::seconds(30);

// The work folders, removed together at the end (unless kept): on ext4 without a journal
// (this VM), creating a file costs a scan over every inode of its group freed in the last ~30 s,
// so removing one run's files would slow the next run's.
std::mutex dirs_mutex;
std::vector<std::string> work_dirs;
bool keep_dirs = false;

std::mutex children_mutex;
std::vector<pid_t> children;

std::vector<char*> argv_of(std::vector<std::string>& args) {
    std::vector<char*> v;
    for (auto& a : args) v.push_back(a.data());
    v.push_back(nullptr);
    return v;
}

}  // namespace

void fail(const std::string& why) {
    throw std::runtime_error(why);
}

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

std::string make_work_dir(const std::string& prefix) {
    const char* parent = std::getenv("TMPDIR");
    std::string pattern = std::string(parent != nullptr && *parent != '\0' ? parent : "/tmp") + "/" + prefix + "XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) fail(errno_text("mkdtemp"));
    std::lock_guard lock(dirs_mutex);
    work_dirs.push_back(pattern);
    return pattern;
}

void set_keep(bool keep) {
    std::lock_guard lock(dirs_mutex);
    keep_dirs = keep;
}

void remove_work_dirs() {
    std::lock_guard lock(dirs_mutex);
    for (const auto& dir : work_dirs) {
        std::error_code ec;
        if (keep_dirs) std::fprintf(stderr, "kept %s\n", dir.c_str());
        else fs::remove_all(dir, ec);
    }
    work_dirs.clear();
}

std::string last_work_dir() {
    std::lock_guard lock(dirs_mutex);
    return work_dirs.empty() ? std::string() : work_dirs.back();
}

void track_child(pid_t pid) {
    std::lock_guard lock(children_mutex);
    children.push_back(pid);
}

void forget_child(pid_t pid) {
    std::lock_guard lock(children_mutex);
    children.erase(std::remove(children.begin(), children.end(), pid), children.end());
}

void signal_children(int signal) {
    std::lock_guard lock(children_mutex);
    for (pid_t pid : children) ::kill(pid, signal);
}

void kill_children() {
    std::vector<pid_t> all;
    {
        std::lock_guard lock(children_mutex);
        all.swap(children);
    }
    for (pid_t pid : all) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
    }
}

std::mutex& ending() {
    static std::mutex m;
    return m;
}

Watchdog::Watchdog(std::string program, std::chrono::seconds limit)
    : program_(std::move(program)), deadline_(Clock::now() + limit), thread_([this] { run(); }) {}

Watchdog::~Watchdog() {
    {
        std::lock_guard lock(mutex_);
        done_ = true;
    }
    wake_.notify_all();
    thread_.join();
}

void Watchdog::run() {
    std::unique_lock lock(mutex_);
    if (wake_.wait_until(lock, deadline_, [this] { return done_; })) return;
    ending().lock();  // never released: _Exit below
    std::fprintf(stderr, "%s: hard timeout reached; killing the server\n", program_.c_str());
    kill_children();
    remove_work_dirs();
    std::_Exit(1);
}

std::vector<std::string> child_env(const std::string& dir) {
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
        std::string_view kv(*e);
        if (kv.starts_with("VPSMAIL_DB=") || kv.starts_with("VPSMAIL_CONFIG=") || kv.starts_with("HOME=") ||
            kv.starts_with("XDG_STATE_HOME=") || kv.starts_with("XDG_CONFIG_HOME="))
            continue;
        env.emplace_back(kv);
    }
    env.push_back("HOME=" + dir);
    env.push_back("XDG_STATE_HOME=" + dir + "/xdg-state");
    env.push_back("XDG_CONFIG_HOME=" + dir + "/xdg-config");
    return env;
}

namespace {

// posix_spawn with stdin from /dev/null, stdout to `out_fd` (when >= 0) or `log`, stderr to
// `log` (appended).
pid_t spawn(std::vector<std::string>& args, const std::vector<std::string>& env, const std::string& log, int out_fd) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    if (out_fd >= 0) {
        posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
        posix_spawn_file_actions_addopen(&actions, 2, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    } else {
        posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
        posix_spawn_file_actions_adddup2(&actions, 1, 2);
    }
    pid_t pid = 0;
    auto argv = argv_of(args);
    std::vector<std::string> env_copy = env;
    auto envp = argv_of(env_copy);
    int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) fail("cannot run " + args[0] + ": " + std::strerror(rc));
    return pid;
}

}  // namespace

void run_command(std::vector<std::string> args, std::vector<std::string> env, const std::string& log) {
    const pid_t pid = spawn(args, env, log, -1);
    int status = 0;
    if (::waitpid(pid, &status, 0) < 0) fail(errno_text("waitpid"));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        std::string line;
        for (std::size_t i = 3; i < args.size(); ++i) line += " " + args[i];
        fail("vpsmail" + line + " failed (status " + std::to_string(status) + "); its output below");
    }
}

pid_t spawn_command(std::vector<std::string> args, const std::vector<std::string>& env, const std::string& log) {
    const pid_t pid = spawn(args, env, log, -1);
    track_child(pid);
    return pid;
}

bool has_exited(pid_t pid) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) != pid) return false;
    forget_child(pid);
    return true;
}

void terminate_child(pid_t pid, std::chrono::seconds limit) {
    ::kill(pid, SIGTERM);
    const auto deadline = Clock::now() + limit;
    int status = 0;
    // Bounded: 10 ms steps up to `limit`, then SIGKILL, which cannot be ignored.
    while (::waitpid(pid, &status, WNOHANG) == 0) {
        if (Clock::now() >= deadline) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, &status, 0);
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    forget_child(pid);
}

void start_server(Server& s, const std::string& bin) {
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) fail(errno_text("pipe"));
    std::vector<std::string> args = {bin, "--config", s.config, "--db", s.db, "serve", "--foreground"};
    pid_t pid = 0;
    try {
        pid = spawn(args, s.env, s.log, pipe_fds[1]);
    } catch (...) {
        ::close(pipe_fds[0]);
        ::close(pipe_fds[1]);
        throw;
    }
    ::close(pipe_fds[1]);
    s.pid = pid;
    track_child(pid);
    s.out = pipe_fds[0];

    const auto deadline = Clock::now() + ready_timeout;
    std::string buffer;
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0) fail("vpsmail serve did not listen within 30 s; its log below");
        pollfd p{s.out, POLLIN, 0};
        int n = ::poll(&p, 1, static_cast<int>(left));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail(errno_text("poll"));
        if (n == 0) continue;
        char chunk[4096];
        ssize_t got = ::read(s.out, chunk, sizeof chunk);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) fail("vpsmail serve exited before listening; its log below");
        buffer.append(chunk, static_cast<std::size_t>(got));
        for (std::size_t eol; (eol = buffer.find('\n')) != std::string::npos; buffer.erase(0, eol + 1)) {
            std::string line = buffer.substr(0, eol);  // "listening smtp 127.0.0.1:PORT"
            if (line.starts_with("listening smtp ")) {
                s.port = std::atoi(line.substr(line.rfind(':') + 1).c_str());
                return;
            }
        }
    }
}

void stop_server(Server& s) {
    if (::kill(s.pid, SIGTERM) != 0) fail(errno_text("kill"));
    int status = 0;
    while (::waitpid(s.pid, &status, 0) < 0)
        if (errno != EINTR) fail(errno_text("waitpid"));
    forget_child(s.pid);
    ::close(s.out);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail("vpsmail serve did not exit 0 after SIGTERM (status " + std::to_string(status) + "); its log below");
}

double cpu_seconds(pid_t pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    auto close = text.rfind(')');
    if (close == std::string::npos) return 0;
    std::vector<std::string> fields;
    std::size_t pos = close + 2;
    while (pos < text.size()) {
        auto space = text.find(' ', pos);
        if (space == std::string::npos) space = text.size();
        fields.push_back(text.substr(pos, space - pos));
        pos = space + 1;
    }
    if (fields.size() < 13) return 0;  // fields[11], [12]: utime, stime (fields 14 and 15)
    return (std::atof(fields[11].c_str()) + std::atof(fields[12].c_str())) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

std::size_t status_bytes(pid_t pid, const char* field) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    const std::string prefix = std::string(field) + ":";
    for (std::string line; std::getline(status, line);)
        if (line.starts_with(prefix)) return std::strtoull(line.c_str() + prefix.size(), nullptr, 10) * 1024;  // "  1234 kB"
    return 0;
}

void print_log_tail(const std::string& path) {
    std::ifstream in(path);
    if (!in) return;
    std::fprintf(stderr, "%s:\n", path.c_str());
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) {
        lines.push_back(line);
        if (lines.size() > 20) lines.erase(lines.begin());
    }
    for (const auto& line : lines) std::fprintf(stderr, "  | %s\n", line.c_str());
}

int report_failure(const char* program, const std::exception& e, std::initializer_list<const char*> logs) {
    std::lock_guard lock(ending());  // after a timeout, the watchdog reports and exits
    std::fprintf(stderr, "%s: %s\n", program, e.what());
    kill_children();
    if (const std::string dir = last_work_dir(); !dir.empty())
        for (const char* log : logs) print_log_tail(dir + log);
    remove_work_dirs();
    return 1;
}

std::string make_message(std::string m, std::size_t size) {
    m += "\r\n";
    static const std::string line = std::string(76, 'x') + "\r\n";
    while (m.size() + line.size() <= size) m += line;
    if (m.size() + 2 < size) m += std::string(size - m.size() - 2, 'y') + "\r\n";
    while (m.size() < size) m += "\r\n";
    return m;
}

Client::Client(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) fail(errno_text("socket"));
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        const std::string why = errno_text("connect");
        ::close(fd_);
        fail(why);
    }
}

Client::~Client() { ::close(fd_); }

void Client::send(std::string_view bytes) {
    while (!bytes.empty()) {
        ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail(errno_text("send"));
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
}

std::string Client::expect(int expected, const std::string& what) {
    std::string reply;
    for (;;) {
        std::string line = read_line();
        reply += line + "\n";
        if (line.size() < 3 || !std::isdigit(static_cast<unsigned char>(line[0]))) fail(what + ": malformed reply: " + reply);
        if (line.size() == 3 || line[3] == ' ') break;
        if (line[3] != '-') fail(what + ": malformed reply: " + reply);
    }
    if (std::atoi(reply.substr(0, 3).c_str()) != expected)
        fail(what + ": expected " + std::to_string(expected) + ", got: " + reply.substr(0, reply.size() - 1));
    return reply;
}

std::string Client::read_line() {
    for (;;) {
        if (auto eol = buffer_.find("\r\n", start_); eol != std::string::npos) {
            std::string line = buffer_.substr(start_, eol - start_);
            start_ = eol + 2;
            if (start_ == buffer_.size()) buffer_.clear(), start_ = 0;
            return line;
        }
        char chunk[4096];
        ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail(errno_text("recv"));
        if (n == 0) fail("the server closed the connection");
        buffer_.append(chunk, static_cast<std::size_t>(n));
    }
}

}  // namespace vpsmail::bench
