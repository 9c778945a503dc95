// bench/smtp_load: SMTP throughput and end-of-data latency of a real `vpsmail serve` (issue 3,
// section 6). Starts the server on an ephemeral loopback port in a temporary folder with a
// fresh store (one domain, 100 accounts, made with the CLI), runs N concurrent sessions, each
// sending M messages of SIZE bytes over one connection (EHLO once; MAIL, RCPT to a random
// account and DATA pipelined; the message; the end-of-data dot), then stops the server with
// SIGTERM and checks that every message is a file of the right size in a Maildir.
//
//   smtp_load --bin PATH [--sessions N] [--messages M] [--size BYTES] [--keep] [--timeout SEC]
//   smtp_load --bin PATH --memory [--sessions N] [--size BYTES]
// Without --sessions, --messages and --size: the matrix sessions {1, 16, 64} x sizes
// {2048, 102400}, 2000 messages per cell of 2 KB and 400 per cell of 100 KB, one line each.
// --memory: the server's memory while N sessions (default 100) send one message of SIZE
// (default 20 MB) each, all at once (docs/architecture.md section 9: bodies past 256 KiB go to a file):
// its peak RSS (VmHWM) and the highest RSS sampled every 10 ms while they send, and both
// per session above the RSS before they connect.
// Latency: from writing the end-of-data dot to reading its 250. Throughput: messages accepted
// over the wall time from the first connect to the last 250. Loopback only; plain POSIX
// sockets and one thread per session. A hard timeout kills the server and fails. The temporary
// folders are made in $TMPDIR (default /tmp) and removed at the end: Maildir file creation
// depends on the file system (see bench/support.cpp), so leave 30 s between runs, or use a fresh $TMPDIR.
#include "support.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <latch>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <signal.h>

namespace {

namespace fs = std::filesystem;
using namespace vpsmail::bench;

constexpr const char* hash = "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$GmcwIgvdUC9qLWcKCi6gklUa1dM3ziD43YxYNURLKy0";
constexpr int accounts = 100;

// A work folder with a config file and a store: bench.test with u0..u99.
Server prepare(const std::string& bin, int sessions) {
    Server s;
    s.dir = make_work_dir("vpsmail-smtp-load-");
    s.config = s.dir + "/vpsmail.toml";
    s.db = s.dir + "/state/vpsmail.db";
    s.log = s.dir + "/serve.log";
    s.env = child_env(s.dir);
    std::ofstream(s.config) << "[paths]\nstate_dir = \"" << s.dir << "/state\"\nmail_root = \"" << s.dir << "/mail\"\n"
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

// The message text without its final ".\r\n": headers, then 76-character lines, SIZE bytes.
std::string message(std::size_t size, int session, int number, const std::string& to) {
    return make_message("From: <bench@client.test>\r\nTo: <" + to + ">\r\nSubject: smtp_load " + std::to_string(session) +
                            "/" + std::to_string(number) + "\r\nMessage-ID: <" + std::to_string(session) + "." +
                            std::to_string(number) + "@client.test>\r\n",
                        size);
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
            signal_children(SIGKILL);
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

// --memory: one message of `text` (shared by every session, sent in 1 MB slices) to u<index>.
void memory_session(int port, int index, const std::string& text, std::latch& go, SessionResult& out) {
    go.arrive_and_wait();
    try {
        out.first_connect = Clock::now();
        Client c(port);
        const std::string where = "session " + std::to_string(index);
        c.expect(220, where + ": greeting");
        c.send("EHLO client.test\r\n");
        c.expect(250, where + ": EHLO");
        c.send("MAIL FROM:<bench@client.test> SIZE=" + std::to_string(text.size()) + "\r\nRCPT TO:<u" +
               std::to_string(index % accounts) + "@bench.test>\r\nDATA\r\n");
        c.expect(250, where + ": MAIL");
        c.expect(250, where + ": RCPT");
        c.expect(354, where + ": DATA");
        constexpr std::size_t slice = 1 << 20;
        for (std::size_t at = 0; at < text.size(); at += slice) c.send(std::string_view(text).substr(at, slice));
        c.send(".\r\n");
        c.expect(250, where + ": end of data");
        out.last_ok = Clock::now();
        c.send("QUIT\r\n");
        c.expect(221, where + ": QUIT");
    } catch (const std::exception& e) {
        std::lock_guard lock(error_mutex);
        if (first_error.empty()) {
            first_error = e.what();
            signal_children(SIGKILL);
        }
    }
}

void run_memory(const std::string& bin, int sessions, std::size_t size) {
    Server s = prepare(bin, sessions);
    // A 20 MB message is over the default [limits] max_message_size.
    std::ofstream(s.config, std::ios::app) << "max_message_size = " << size + 1024 << "\n";
    start_server(s, bin);
    const std::string text = make_message("From: <bench@client.test>\r\nSubject: smtp_load --memory\r\n", size);
    const std::size_t before = status_bytes(s.pid, "VmRSS");
    std::atomic<bool> done{false};
    std::size_t highest = 0;
    std::thread sampler([&] {
        while (!done.load()) {
            highest = std::max(highest, status_bytes(s.pid, "VmRSS"));
            std::this_thread::sleep_for(std::chrono::milliseconds(10));  // a sampling period, not a wait
        }
    });
    std::vector<SessionResult> results(static_cast<std::size_t>(sessions));
    {
        std::latch go(sessions);
        std::vector<std::thread> threads;
        for (int i = 0; i < sessions; ++i)
            threads.emplace_back(memory_session, s.port, i, std::cref(text), std::ref(go), std::ref(results[static_cast<std::size_t>(i)]));
        for (auto& t : threads) t.join();
    }
    done = true;
    sampler.join();
    if (!first_error.empty()) {
        kill_children();
        fail(first_error + " (the server's log below)");
    }
    const std::size_t hwm = status_bytes(s.pid, "VmHWM");
    stop_server(s);
    const std::size_t stored = check_maildirs(s.dir + "/mail");
    if (stored != static_cast<std::size_t>(sessions))
        fail(std::to_string(sessions) + " messages accepted but " + std::to_string(stored) + " files in the Maildirs");
    auto first = Clock::time_point::max();
    auto last = Clock::time_point::min();
    for (const auto& r : results) {
        first = std::min(first, r.first_connect);
        last = std::max(last, r.last_ok);
    }
    const double mb = 1024.0 * 1024.0;
    const auto per_session = [&](std::size_t bytes) { return bytes > before ? static_cast<double>(bytes - before) / sessions / 1024.0 : 0.0; };
    std::printf("%8s %10s %10s %12s %12s %12s %12s %8s\n", "sessions", "size", "RSS before", "VmHWM", "highest RSS",
                "HWM/session", "RSS/session", "wall s");
    std::printf("%8d %10zu %8.1f MB %9.1f MB %9.1f MB %9.0f KB %9.0f KB %8.2f\n", sessions, size,
                static_cast<double>(before) / mb, static_cast<double>(hwm) / mb, static_cast<double>(highest) / mb,
                per_session(hwm), per_session(highest), std::chrono::duration<double>(last - first).count());
    std::fflush(stdout);
}

struct Figures {
    std::size_t messages = 0;
    double per_second = 0, p50 = 0, p99 = 0, server_cpu = 0, wall = 0;
};

Figures run_cell(const std::string& bin, int sessions, int messages, std::size_t size) {
    Server s = prepare(bin, sessions);
    start_server(s, bin);
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
        kill_children();
        fail(first_error + " (the server's log below)");
    }
    const double server_cpu = cpu_seconds(s.pid) - cpu_before;
    stop_server(s);

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
    const std::size_t stored = check_maildirs(s.dir + "/mail");
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

void usage() {
    std::fprintf(stderr, "usage: smtp_load --bin PATH [--sessions N] [--messages M] [--size BYTES] [--keep] [--timeout SEC]\n"
                         "       smtp_load --bin PATH --memory [--sessions N] [--size BYTES] [--keep] [--timeout SEC]\n");
    std::exit(64);
}

}  // namespace

int main(int argc, char** argv) {
    std::string bin;
    int sessions = 0, messages = 0, timeout = 300;
    std::size_t size = 0;
    bool memory = false;
    for (int i = 1; i < argc; ++i) {
        std::string flag = argv[i];
        if (flag == "--keep") {
            set_keep(true);
            continue;
        }
        if (flag == "--memory") {
            memory = true;
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
    if (memory) {
        if (messages != 0) usage();  // one message per session
        Watchdog watchdog{"smtp_load", std::chrono::seconds(timeout)};
        try {
            run_memory(bin, sessions == 0 ? 100 : sessions, size == 0 ? 20u << 20 : size);
        } catch (const std::exception& e) {
            return report_failure("smtp_load", e, {"/cli.log", "/serve.log"});
        }
        remove_work_dirs();
        return 0;
    }

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

    Watchdog watchdog{"smtp_load", std::chrono::seconds(timeout)};
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
        return report_failure("smtp_load", e, {"/cli.log", "/serve.log"});
    }
    remove_work_dirs();
    return 0;
}
