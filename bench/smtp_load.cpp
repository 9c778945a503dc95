// bench/smtp_load: SMTP throughput and end-of-data latency of a real `vpsmail serve` (issue 3,
// section 6). Starts the server on an ephemeral loopback port in a temporary folder with a
// fresh store (one domain, 100 accounts, made with the CLI), runs N concurrent sessions, each
// sending M messages of SIZE bytes over one connection (EHLO once; MAIL, RCPT to a random
// account and DATA pipelined; the message; the end-of-data dot), then stops the server with
// SIGTERM and checks that every message is a file of the right size in a Maildir.
//
//   smtp_load --bin PATH [--sessions N] [--messages M] [--size BYTES] [--keep] [--timeout SEC]
// Without --sessions, --messages and --size: the matrix sessions {1, 16, 64} x sizes
// {2048, 102400}, 2000 messages per cell of 2 KB and 400 per cell of 100 KB, one line each.
// Latency: from writing the end-of-data dot to reading its 250. Throughput: messages accepted
// over the wall time from the first connect to the last 250. Loopback only; plain POSIX
// sockets and one thread per session. A hard timeout kills the server and fails. The temporary
// folders are made in $TMPDIR (default /tmp) and removed at the end: Maildir file creation
// depends on the file system (see work_dirs), so leave 30 s between runs, or use a fresh $TMPDIR.
#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <latch>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

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

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr const char* hash = "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$GmcwIgvdUC9qLWcKCi6gklUa1dM3ziD43YxYNURLKy0";
constexpr int accounts = 100;
constexpr auto ready_timeout = std::chrono::seconds(30);

[[noreturn]] void fail(const std::string& why) {
    throw std::runtime_error(why);
}

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

// --- the hard timeout: kills the server and ends the program --------------------------------

std::atomic<pid_t> server_pid{0};
// The cells' work folders, removed together at the end (unless kept): on ext4 without a journal
// (this VM), creating a file costs a scan over every inode of its group freed in the last ~30 s,
// so removing a cell's 2,000 files would slow the next cell's deliveries.
std::mutex dirs_mutex;
std::vector<std::string> work_dirs;
bool keep = false;

void remove_work_dirs() {
    std::lock_guard lock(dirs_mutex);
    for (const auto& dir : work_dirs) {
        std::error_code ec;
        if (keep) std::fprintf(stderr, "kept %s\n", dir.c_str());
        else fs::remove_all(dir, ec);
    }
    work_dirs.clear();
}
std::mutex ending;     // held by whoever ends the program after a failure: the watchdog or main

class Watchdog {
public:
    explicit Watchdog(std::chrono::seconds limit) : deadline_(Clock::now() + limit), thread_([this] { run(); }) {}
    ~Watchdog() {
        {
            std::lock_guard lock(mutex_);
            done_ = true;
        }
        wake_.notify_all();
        thread_.join();
    }

private:
    void run() {
        std::unique_lock lock(mutex_);
        if (wake_.wait_until(lock, deadline_, [this] { return done_; })) return;
        ending.lock();  // never released: _Exit below
        std::fprintf(stderr, "smtp_load: hard timeout reached; killing the server\n");
        if (pid_t pid = server_pid.load(); pid > 0) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
        }
        remove_work_dirs();
        std::_Exit(1);
    }

    Clock::time_point deadline_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool done_ = false;
    std::thread thread_;
};

// --- processes ------------------------------------------------------------------------------

std::vector<char*> argv_of(std::vector<std::string>& args) {
    std::vector<char*> v;
    for (auto& a : args) v.push_back(a.data());
    v.push_back(nullptr);
    return v;
}

// Our environment without VPSMAIL_*, with HOME and the XDG folders inside the work folder.
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

// Runs a command to its end; stdout and stderr go to `log`. Fails unless it exits 0.
void run_command(std::vector<std::string> args, std::vector<std::string> env, const std::string& log) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    pid_t pid = 0;
    auto argv = argv_of(args);
    auto envp = argv_of(env);
    int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) fail("cannot run " + args[0] + ": " + std::strerror(rc));
    int status = 0;
    if (::waitpid(pid, &status, 0) < 0) fail(errno_text("waitpid"));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        std::string line;
        for (std::size_t i = 3; i < args.size(); ++i) line += " " + args[i];
        fail("vpsmail" + line + " failed (status " + std::to_string(status) + "); its output below");
    }
}

struct Server {
    std::string dir, config, db, mail_root, log;
    std::vector<std::string> env;
    pid_t pid = 0;
    int out = -1;  // its stdout
    int port = 0;
};

// A work folder with a config file and a store: bench.test with u0..u99.
Server prepare(const std::string& bin, int sessions) {
    Server s;
    const char* parent = std::getenv("TMPDIR");
    std::string pattern = std::string(parent != nullptr && *parent != '\0' ? parent : "/tmp") + "/vpsmail-smtp-load-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) fail(errno_text("mkdtemp"));
    s.dir = pattern;
    {
        std::lock_guard lock(dirs_mutex);
        work_dirs.push_back(s.dir);
    }
    s.config = s.dir + "/vpsmail.toml";
    s.db = s.dir + "/state/vpsmail.db";
    s.mail_root = s.dir + "/mail";
    s.log = s.dir + "/serve.log";
    s.env = child_env(s.dir);
    std::ofstream(s.config) << "[paths]\nstate_dir = \"" << s.dir << "/state\"\nmail_root = \"" << s.mail_root << "\"\n"
                            << "[server]\nhostname = \"mx.bench.test\"\nuser = \"\"\n"
                            << "[smtp]\nlisten = [\"127.0.0.1:0\"]\n[submission]\nlisten = []\n[submissions]\nlisten = []\n"
                            << "[limits]\nmax_connections = " << sessions + 16 << "\nmax_connections_per_ip = " << sessions + 16
                            << "\n";
    const std::string cli_log = s.dir + "/cli.log";
    run_command({bin, "--config", s.config, "--db", s.db, "domain", "add", "bench.test"}, s.env, cli_log);
    for (int u = 0; u < accounts; ++u)
        run_command({bin, "--config", s.config, "--db", s.db, "user", "add", "u" + std::to_string(u) + "@bench.test",
                     "--password-hash", hash},
                    s.env, cli_log);
    return s;
}

// Starts `vpsmail serve --foreground` and waits, with a deadline, for its "listening smtp" line.
void start(Server& s, const std::string& bin) {
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) fail(errno_text("pipe"));
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 1);
    posix_spawn_file_actions_addopen(&actions, 2, s.log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    std::vector<std::string> args = {bin, "--config", s.config, "--db", s.db, "serve", "--foreground"};
    auto argv = argv_of(args);
    auto envp = argv_of(s.env);
    pid_t pid = 0;
    int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    ::close(pipe_fds[1]);
    if (rc != 0) fail("cannot run " + bin + ": " + std::strerror(rc));
    s.pid = pid;
    server_pid = pid;
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

// CPU seconds (user + system) the process has used so far, from /proc/PID/stat.
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

// SIGTERM; the server must exit 0 (the hard timeout covers a server that does not exit).
void stop(Server& s) {
    if (::kill(s.pid, SIGTERM) != 0) fail(errno_text("kill"));
    int status = 0;
    while (::waitpid(s.pid, &status, 0) < 0)
        if (errno != EINTR) fail(errno_text("waitpid"));
    server_pid = 0;
    ::close(s.out);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail("vpsmail serve did not exit 0 after SIGTERM (status " + std::to_string(status) + "); its log below");
}

// --- the SMTP client ------------------------------------------------------------------------

class Client {
public:
    explicit Client(int port) {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd_ < 0) fail(errno_text("socket"));
        int one = 1;
        ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<std::uint16_t>(port));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) fail(errno_text("connect"));
    }
    ~Client() { ::close(fd_); }
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    void send(std::string_view bytes) {
        while (!bytes.empty()) {
            ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) fail(errno_text("send"));
            bytes.remove_prefix(static_cast<std::size_t>(n));
        }
    }

    // One reply, all its lines; fails unless its code is `expected`. `what`: for the message.
    std::string expect(int expected, const std::string& what) {
        std::string reply;
        for (;;) {
            std::string line = read_line();
            reply += line + "\n";
            if (line.size() < 3 || !std::isdigit(static_cast<unsigned char>(line[0])))
                fail(what + ": malformed reply: " + reply);
            if (line.size() == 3 || line[3] == ' ') break;
            if (line[3] != '-') fail(what + ": malformed reply: " + reply);
        }
        if (std::atoi(reply.substr(0, 3).c_str()) != expected)
            fail(what + ": expected " + std::to_string(expected) + ", got: " + reply.substr(0, reply.size() - 1));
        return reply;
    }

private:
    std::string read_line() {
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

    int fd_ = -1;
    std::string buffer_;
    std::size_t start_ = 0;
};

// The message text without its final ".\r\n": headers, then 76-character lines, SIZE bytes.
// No line begins with a dot, so nothing needs stuffing.
std::string message(std::size_t size, int session, int number, const std::string& to) {
    std::string m = "From: <bench@client.test>\r\nTo: <" + to + ">\r\nSubject: smtp_load " + std::to_string(session) + "/" +
                    std::to_string(number) + "\r\nMessage-ID: <" + std::to_string(session) + "." + std::to_string(number) +
                    "@client.test>\r\n\r\n";
    static const std::string line = std::string(76, 'x') + "\r\n";
    while (m.size() + line.size() <= size) m += line;
    if (m.size() + 2 < size) m += std::string(size - m.size() - 2, 'y') + "\r\n";
    while (m.size() < size) m += "\r\n";
    return m;
}

struct SessionResult {
    std::vector<double> latencies_ms;
    Clock::time_point first_connect, last_ok;
};

std::mutex error_mutex;
std::string first_error;

void session(int port, int index, int messages, std::size_t size, std::latch& go, SessionResult& out) {
    std::mt19937 rng(static_cast<unsigned>(index) * 7919u + 1);
    std::uniform_int_distribution<int> pick(0, accounts - 1);
    std::vector<std::string> bodies;  // built before the clock starts
    std::vector<std::string> recipients;
    for (int i = 0; i < messages; ++i) {
        recipients.push_back("u" + std::to_string(pick(rng)) + "@bench.test");
        bodies.push_back(message(size, index, i, recipients.back()));
    }
    out.latencies_ms.reserve(static_cast<std::size_t>(messages));
    go.arrive_and_wait();
    try {
        out.first_connect = Clock::now();
        Client c(port);
        const std::string where = "session " + std::to_string(index);
        c.expect(220, where + ": greeting");
        c.send("EHLO client.test\r\n");
        std::string ehlo = c.expect(250, where + ": EHLO");
        if (ehlo.find("PIPELINING") == std::string::npos) fail(where + ": the server does not offer PIPELINING");
        for (int i = 0; i < messages; ++i) {
            const std::string what = where + " message " + std::to_string(i);
            c.send("MAIL FROM:<bench@client.test> SIZE=" + std::to_string(size) + "\r\nRCPT TO:<" + recipients[i] +
                   ">\r\nDATA\r\n");
            c.expect(250, what + ": MAIL");
            c.expect(250, what + ": RCPT");
            c.expect(354, what + ": DATA");
            c.send(bodies[i]);
            auto dot = Clock::now();
            c.send(".\r\n");
            c.expect(250, what + ": end of data");
            out.last_ok = Clock::now();
            out.latencies_ms.push_back(std::chrono::duration<double, std::milli>(out.last_ok - dot).count());
            std::string().swap(bodies[i]);
            std::lock_guard lock(error_mutex);
            if (!first_error.empty()) return;  // another session failed
        }
        c.send("QUIT\r\n");
        c.expect(221, where + ": QUIT");
    } catch (const std::exception& e) {
        std::lock_guard lock(error_mutex);
        if (first_error.empty()) {
            first_error = e.what();
            // The others may wait for replies that never come: end their connections.
            if (pid_t pid = server_pid.load(); pid > 0) ::kill(pid, SIGKILL);
        }
    }
}

// Every file in the Maildirs' new/: counts them and checks each size against its ,S= suffix.
std::size_t check_maildirs(const std::string& mail_root) {
    std::size_t files = 0;
    for (const auto& account : fs::directory_iterator(mail_root + "/bench.test")) {
        for (const char* sub : {"tmp", "cur"})
            if (fs::exists(account.path() / sub) && !fs::is_empty(account.path() / sub))
                fail(account.path().string() + "/" + sub + " is not empty");
        for (const auto& file : fs::directory_iterator(account.path() / "new")) {
            const std::string name = file.path().filename().string();
            auto s = name.find(",S=");
            if (s == std::string::npos) fail(file.path().string() + ": no ,S= in the name");
            const auto said = std::strtoull(name.c_str() + s + 3, nullptr, 10);
            const auto real = fs::file_size(file.path());
            if (said != real)
                fail(file.path().string() + ": ,S=" + std::to_string(said) + " but " + std::to_string(real) + " bytes");
            ++files;
        }
    }
    return files;
}

struct Figures {
    std::size_t messages = 0;
    double per_second = 0, p50 = 0, p99 = 0, server_cpu = 0, wall = 0;
};

Figures run_cell(const std::string& bin, int sessions, int messages, std::size_t size) {
    Server s = prepare(bin, sessions);
    start(s, bin);
    const double cpu_before = cpu_seconds(s.pid);
    std::vector<SessionResult> results(static_cast<std::size_t>(sessions));
    {
        std::latch go(sessions);
        std::vector<std::thread> threads;
        for (int i = 0; i < sessions; ++i)
            threads.emplace_back(session, s.port, i, messages, size, std::ref(go), std::ref(results[static_cast<std::size_t>(i)]));
        for (auto& t : threads) t.join();
    }
    if (!first_error.empty()) {
        ::kill(s.pid, SIGKILL);
        ::waitpid(s.pid, nullptr, 0);
        server_pid = 0;
        fail(first_error + " (the server's log below)");
    }
    const double server_cpu = cpu_seconds(s.pid) - cpu_before;
    stop(s);

    Figures f;
    std::vector<double> all;
    auto first = Clock::time_point::max();
    auto last = Clock::time_point::min();
    for (const auto& r : results) {
        all.insert(all.end(), r.latencies_ms.begin(), r.latencies_ms.end());
        first = std::min(first, r.first_connect);
        last = std::max(last, r.last_ok);
    }
    f.messages = all.size();
    const std::size_t stored = check_maildirs(s.mail_root);
    if (stored != f.messages)
        fail(std::to_string(f.messages) + " messages accepted but " + std::to_string(stored) + " files in the Maildirs");
    std::sort(all.begin(), all.end());
    auto pct = [&](double p) { return all[static_cast<std::size_t>(p * static_cast<double>(all.size() - 1))]; };
    f.wall = std::chrono::duration<double>(last - first).count();
    f.per_second = static_cast<double>(f.messages) / f.wall;
    f.p50 = pct(0.50);
    f.p99 = pct(0.99);
    f.server_cpu = server_cpu;
    return f;
}

// The last lines of the server's log, for a failure message (the folder goes away after it).
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

void usage() {
    std::fprintf(stderr, "usage: smtp_load --bin PATH [--sessions N] [--messages M] [--size BYTES] [--keep] [--timeout SEC]\n");
    std::exit(64);
}

}  // namespace

int main(int argc, char** argv) {
    std::string bin;
    int sessions = 0, messages = 0, timeout = 300;
    std::size_t size = 0;
    for (int i = 1; i < argc; ++i) {
        std::string flag = argv[i];
        if (flag == "--keep") {
            keep = true;
            continue;
        }
        if (i + 1 == argc) usage();
        const char* value = argv[++i];
        if (flag == "--bin") bin = value;
        else if (flag == "--sessions") sessions = std::atoi(value);
        else if (flag == "--messages") messages = std::atoi(value);
        else if (flag == "--size") size = std::strtoull(value, nullptr, 10);
        else if (flag == "--timeout") timeout = std::atoi(value);
        else usage();
    }
    if (bin.empty() || sessions < 0 || messages < 0 || timeout <= 0) usage();
    if (bin.find('/') == std::string::npos) bin = "./" + bin;
    bin = fs::absolute(bin).string();
    if (size != 0 && size < 200) {
        std::fprintf(stderr, "smtp_load: --size must be at least 200 bytes (the headers)\n");
        return 64;
    }
    ::signal(SIGPIPE, SIG_IGN);

    struct Cell {
        int sessions, messages;
        std::size_t size;
    };
    std::vector<Cell> cells;
    // 2000 messages per cell up to 2 KB, 400 above, shared out (rounded up) among the sessions.
    auto per_session = [](std::size_t sz, int n) { return ((sz <= 2048 ? 2000 : 400) + n - 1) / n; };
    if (sessions == 0 && messages == 0 && size == 0) {
        for (std::size_t sz : {std::size_t{2048}, std::size_t{102400}})
            for (int n : {1, 16, 64}) cells.push_back({n, per_session(sz, n), sz});
    } else {
        if (sessions == 0) sessions = 16;
        if (size == 0) size = 2048;
        if (messages == 0) messages = per_session(size, sessions);
        cells.push_back({sessions, messages, size});
    }

    Watchdog watchdog{std::chrono::seconds(timeout)};
    std::printf("%8s %8s %9s %10s %9s %9s %8s %11s\n", "sessions", "size", "messages", "msg/s", "p50 ms", "p99 ms", "wall s",
                "server CPU");
    std::fflush(stdout);
    try {
        for (const Cell& c : cells) {
            Figures f = run_cell(bin, c.sessions, c.messages, c.size);
            std::printf("%8d %8zu %9zu %10.0f %9.2f %9.2f %8.2f %10.0f%%\n", c.sessions, c.size, f.messages, f.per_second,
                        f.p50, f.p99, f.wall, 100.0 * f.server_cpu / f.wall);
            std::fflush(stdout);
        }
    } catch (const std::exception& e) {
        std::lock_guard lock(ending);  // after a timeout, the watchdog reports and exits
        std::fprintf(stderr, "smtp_load: %s\n", e.what());
        if (pid_t pid = server_pid.load(); pid > 0) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
        }
        {
            std::lock_guard lock(dirs_mutex);
            if (!work_dirs.empty())
                for (const char* log : {"/cli.log", "/serve.log"}) print_log_tail(work_dirs.back() + log);
        }
        remove_work_dirs();
        return 1;
    }
    remove_work_dirs();
    return 0;
}
