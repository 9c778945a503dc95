// bench/support: what the benchmarks that drive a real `vpsmail serve` share: work folders in
// $TMPDIR, child processes (run to the end, or started and stopped), the hard-timeout watchdog
// that kills them, the server's start-up handshake, its CPU time and peak memory, and a plain
// blocking SMTP client. Loopback only; POSIX calls, no Asio. Not a test helper: failures throw
// std::runtime_error and each benchmark's main() reports them (report_failure).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <initializer_list>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace vpsmail::bench {

using Clock = std::chrono::steady_clock;

/// Throws std::runtime_error(why).
[[noreturn]] void fail(const std::string& why);

/// "what: strerror(errno)".
std::string errno_text(const char* what);

// --- work folders -----------------------------------------------------------------------------

/// Makes a new folder "$TMPDIR/<prefix>XXXXXX" (default /tmp) and registers it for
/// remove_work_dirs(). Throws on failure.
std::string make_work_dir(const std::string& prefix);

/// --keep: remove_work_dirs() names the folders on stderr instead of removing them.
void set_keep(bool keep);

/// Removes every registered folder (or names them, with --keep). Any thread.
void remove_work_dirs();

/// The folder registered last; empty when none is.
std::string last_work_dir();

// --- child processes --------------------------------------------------------------------------

/// Children that a failure or the watchdog must kill: registered when started, forgotten
/// when reaped. Any thread.
void track_child(pid_t pid);
void forget_child(pid_t pid);
/// Sends `signal` to every tracked child without waiting (a session unblocking the others).
void signal_children(int signal);
/// SIGKILL to every tracked child, then reaps and forgets them.
void kill_children();

/// Our environment without VPSMAIL_*, with HOME and the XDG folders inside `dir`.
std::vector<std::string> child_env(const std::string& dir);

/// Runs a command to its end; stdout and stderr go to `log`. Fails unless it exits 0.
void run_command(std::vector<std::string> args, std::vector<std::string> env, const std::string& log);

/// Starts a command in the background (tracked), stdin from /dev/null, stdout and stderr
/// appended to `log`. Returns its pid.
pid_t spawn_command(std::vector<std::string> args, const std::vector<std::string>& env, const std::string& log);

/// Whether the process exited (then reaped and forgotten) without blocking.
bool has_exited(pid_t pid);

/// SIGTERM, then waits for the process up to `limit`, then SIGKILL; reaps and forgets it.
void terminate_child(pid_t pid, std::chrono::seconds limit);

/// The mutex held by whoever ends the program after a failure: the watchdog or main().
std::mutex& ending();

/// The hard timeout: at `limit` it prints "<program>: hard timeout reached; killing the
/// server", kills every tracked child, removes the work folders and _Exit(1)s.
class Watchdog {
public:
    Watchdog(std::string program, std::chrono::seconds limit);
    ~Watchdog();
    Watchdog(const Watchdog&) = delete;
    Watchdog& operator=(const Watchdog&) = delete;

private:
    void run();

    std::string program_;
    Clock::time_point deadline_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool done_ = false;
    std::thread thread_;
};

// --- vpsmail serve ----------------------------------------------------------------------------

struct Server {
    std::string dir, config, db, log;
    std::vector<std::string> env;
    pid_t pid = 0;
    int out = -1;  ///< its stdout
    int port = 0;  ///< the smtp listener's port
};

/// Starts `bin --config s.config --db s.db serve --foreground` (stderr to s.log, tracked)
/// and waits, with a deadline of 30 s, for its "listening smtp HOST:PORT" line; sets pid,
/// out and port.
void start_server(Server& s, const std::string& bin);

/// SIGTERM; the server must exit 0 (the watchdog covers a server that does not exit).
void stop_server(Server& s);

/// CPU seconds (user + system) the process has used so far, from /proc/PID/stat.
double cpu_seconds(pid_t pid);

/// A "kB" field of /proc/PID/status ("VmHWM", "VmRSS") in bytes; 0 when absent.
std::size_t status_bytes(pid_t pid, const char* field);

/// The last 20 lines of a log file on stderr, for a failure message.
void print_log_tail(const std::string& path);

/// For main()'s catch: prints "<program>: <what>", kills the children, prints the tails of
/// `logs` (file names inside the last work folder), removes the work folders; returns 1.
int report_failure(const char* program, const std::exception& e, std::initializer_list<const char*> logs);

// --- messages and a plain SMTP client ---------------------------------------------------------

/// `headers` (each line ending in CRLF, no blank line) then a blank line and a body of
/// 76-character lines, exactly `size` bytes when `size` leaves room; CRLF line ends, no line
/// begins with a dot. The final ".\r\n" is not included.
std::string make_message(std::string headers, std::size_t size);

/// One blocking connection to 127.0.0.1:port, TCP_NODELAY.
class Client {
public:
    explicit Client(int port);
    ~Client();
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    void send(std::string_view bytes);

    /// One reply, all its lines; fails unless its code is `expected`. `what`: for the message.
    std::string expect(int expected, const std::string& what);

private:
    std::string read_line();

    int fd_ = -1;
    std::string buffer_;
    std::size_t start_ = 0;
};

}  // namespace vpsmail::bench
