// bench/relay: outbound delivery throughput of a real `vpsmail serve` (issue 4, section 7).
// Per run: a work folder; an in-process SMTP sink on 127.0.0.1 (the remote MX of every
// domain); dnsmasq on a free loopback UDP port with MX records d0.test..dN.test ->
// mx.dK.test -> 127.0.0.1; the sender's spool filled beforehand with queue::Spool::add
// (MESSAGES messages of SIZE bytes, message i to recipient i mod RECIPIENTS, "rJ@dK.test",
// the domains taking turns; not timed). Then `vpsmail serve --foreground` starts with
// [outbound] port at the sink and [dns] servers at dnsmasq, and the clock runs from its start
// until the sink has received every message and the spool's env/ folder is empty (polled
// every 10 ms). Prints per run: messages drained per second (wall), the sink's connections,
// transactions and recipients, the server's peak RSS (VmHWM just before SIGTERM) and CPU
// seconds; then the medians. The server must exit 0 after SIGTERM, and every message must
// reach the sink exactly once, to its own recipient (an X-Bench-Seq header numbers them).
//
//   relay --bin PATH [--messages N] [--recipients N] [--domains N] [--size BYTES] [--runs K]
//         [--keep] [--timeout SEC] [--sink-only]
// --sink-only measures the sink alone (16 pipelining client threads, same messages): it must
// be far faster than the server. The sink offers PIPELINING, 8BITMIME, SIZE and
// ENHANCEDSTATUSCODES, never STARTTLS: this measures the queue and the SMTP client, not TLS.
// A hard timeout (per run) kills everything and fails. Work folders go in $TMPDIR (default
// /tmp) and are removed at the end: use a fresh $TMPDIR (see bench/support.cpp).
#include "support.hpp"

#include "queue/spool.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

namespace {

namespace fs = std::filesystem;
namespace queue = vpsmail::queue;
using namespace vpsmail::bench;

constexpr int fill_threads = 8;  // Spool::add fsyncs: several at once share the folder fsyncs
constexpr auto stall_limit = std::chrono::seconds(30);
constexpr const char* seq_header = "X-Bench-Seq: ";

struct Options {
    std::string bin;
    int messages = 10000;
    int recipients = 100;
    int domains = 10;
    std::size_t size = 2048;
    int runs = 3;
    int timeout = 300;
    bool sink_only = false;
};

// Recipient k of RECIPIENTS: r(k / DOMAINS)@d(k % DOMAINS).test, so that consecutive messages
// go to different domains and every (local part, domain) pair is distinct.
std::string recipient_of(const Options& o, int seq) {
    const int k = seq % o.recipients;
    return "r" + std::to_string(k / o.domains) + "@d" + std::to_string(k % o.domains) + ".test";
}

std::string message_of(const Options& o, int seq) {
    const std::string n = std::to_string(seq);
    return make_message("From: <bench@sender.test>\r\nTo: <" + recipient_of(o, seq) + ">\r\nSubject: relay " + n +
                            "\r\nMessage-ID: <" + n + "@sender.test>\r\n" + seq_header + n + "\r\n",
                        o.size);
}

void send_all(int fd, std::string_view bytes) {
    while (!bytes.empty()) {
        ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;  // the client went away: its thread ends at the next recv
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
}

// --- the receiving MTA ------------------------------------------------------------------------

// A loopback SMTP server that takes everything and keeps only counts: a thread per connection
// with blocking sockets (a few hundred connections at most; each message costs a recv or two
// and a scan for the end of data). Replies to pipelined commands are sent together once the
// input holds no further complete line (RFC 2920 3.1).
class Sink {
public:
    explicit Sink(const Options& o) : options_(o), seen_(std::make_unique<std::atomic<std::uint32_t>[]>(static_cast<std::size_t>(o.messages))) {
        listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (listen_fd_ < 0) fail(errno_text("socket"));
        int one = 1;
        ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof a;
        if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(listen_fd_, 512) != 0 ||
            ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
            const std::string why = errno_text("sink: bind/listen");
            ::close(listen_fd_);
            fail(why);
        }
        port_ = ntohs(a.sin_port);
        acceptor_ = std::thread([this] { accept_loop(); });
    }

    ~Sink() { stop(); }
    Sink(const Sink&) = delete;
    Sink& operator=(const Sink&) = delete;

    int port() const { return port_; }

    /// Ends the acceptor and every connection (shutdown wakes their recv), waits for them.
    void stop() {
        if (stopped_.exchange(true)) return;
        ::shutdown(listen_fd_, SHUT_RDWR);  // wakes accept()
        acceptor_.join();
        ::close(listen_fd_);
        std::unique_lock lock(mutex_);
        for (int fd : open_) ::shutdown(fd, SHUT_RDWR);
        idle_.wait(lock, [this] { return open_.empty(); });
    }

    std::uint64_t connections() const { return connections_; }
    std::uint64_t transactions() const { return transactions_; }
    std::uint64_t recipients() const { return recipients_; }
    std::uint64_t bytes() const { return bytes_; }
    /// Messages received at least once.
    std::uint64_t distinct() const { return distinct_; }

    /// Empty when every message arrived exactly once with its own recipient; else what went wrong.
    std::string problem() const {
        std::lock_guard lock(problem_mutex_);
        std::string p = first_problem_;
        std::uint64_t missing = 0;
        for (int i = 0; i < options_.messages; ++i) missing += seen_[static_cast<std::size_t>(i)] == 0;
        if (missing != 0 && p.empty()) p = std::to_string(missing) + " messages never arrived";
        if (problems_ > 1) p += " (and " + std::to_string(problems_ - 1) + " more problems)";
        return p;
    }

private:
    void accept_loop() {
        for (;;) {
            int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
            if (fd < 0) {
                if (errno == EINTR || errno == ECONNABORTED) continue;
                return;  // shut down (EINVAL), or out of descriptors: the stall check reports it
            }
            int one = 1;
            ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            {
                std::lock_guard lock(mutex_);
                if (stopped_) {
                    ::close(fd);
                    return;
                }
                open_.push_back(fd);
            }
            ++connections_;
            std::thread([this, fd] { converse(fd); }).detach();
        }
    }

    void note_problem(const std::string& what) {
        std::lock_guard lock(problem_mutex_);
        if (problems_++ == 0) first_problem_ = what;
    }

    // One transaction's data (dot-stuffing left in: no line of ours begins with a dot).
    void received(std::string_view data, const std::vector<std::string>& rcpts) {
        ++transactions_;
        bytes_ += data.size();
        const auto head = data.substr(0, data.find("\r\n\r\n"));
        const auto at = head.find(seq_header);
        if (at == std::string_view::npos) return note_problem("a message without " + std::string(seq_header));
        const long seq = std::strtol(std::string(head.substr(at + std::strlen(seq_header), 12)).c_str(), nullptr, 10);
        if (seq < 0 || seq >= options_.messages) return note_problem("a message numbered " + std::to_string(seq));
        const std::uint32_t before = seen_[static_cast<std::size_t>(seq)]++;
        if (before == 0) ++distinct_;
        else note_problem("message " + std::to_string(seq) + " received twice");
        const std::string want = recipient_of(options_, static_cast<int>(seq));
        if (rcpts.size() != 1 || rcpts[0] != want)
            note_problem("message " + std::to_string(seq) + " sent to " + std::to_string(rcpts.size()) + " recipients (" +
                         (rcpts.empty() ? std::string() : rcpts[0]) + "), want <" + want + ">");
    }

    void converse(int fd) {
        std::string in, out = "220 sink.test ESMTP bench sink\r\n";
        send_all(fd, out);
        std::vector<std::string> rcpts;
        bool mail = false, data = false, quit = false;
        std::size_t pos = 0, scanned = 0;  // consumed, and searched for the end of data
        std::vector<char> chunk(65536);
        while (!quit) {
            ssize_t n = ::recv(fd, chunk.data(), chunk.size(), 0);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            in.append(chunk.data(), static_cast<std::size_t>(n));
            out.clear();
            for (;;) {
                if (data) {
                    // RFC 5321 4.1.1.4: the data ends with a line holding only ".": CRLF . CRLF,
                    // or ". CRLF" right at its start.
                    std::size_t end = std::string::npos, after = 0;
                    if (in.compare(pos, 3, ".\r\n") == 0) {
                        end = pos;
                        after = pos + 3;
                    } else if (auto hit = in.find("\r\n.\r\n", std::max(pos, scanned)); hit != std::string::npos) {
                        end = hit + 2;
                        after = hit + 5;
                    }
                    if (end == std::string::npos) {
                        scanned = in.size() >= 4 ? std::max(pos, in.size() - 4) : pos;
                        break;
                    }
                    received(std::string_view(in).substr(pos, end - pos), rcpts);
                    pos = after;
                    data = mail = false;
                    rcpts.clear();
                    out += "250 2.0.0 queued\r\n";
                    continue;
                }
                const auto eol = in.find("\r\n", pos);
                if (eol == std::string::npos) break;
                const std::string line = in.substr(pos, eol - pos);
                pos = eol + 2;
                std::string verb = line.substr(0, 4);
                for (auto& c : verb) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
                if (verb == "EHLO") {
                    mail = false;
                    rcpts.clear();
                    out += "250-sink.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SIZE 104857600\r\n250 ENHANCEDSTATUSCODES\r\n";
                } else if (verb == "HELO") {
                    out += "250 sink.test\r\n";
                } else if (verb == "MAIL") {
                    mail = true;
                    rcpts.clear();
                    out += "250 2.1.0 ok\r\n";
                } else if (verb == "RCPT") {
                    if (!mail) {
                        out += "503 5.5.1 MAIL first\r\n";
                        continue;
                    }
                    const auto open = line.find('<'), close = line.find('>');
                    rcpts.push_back(open != std::string::npos && close > open ? line.substr(open + 1, close - open - 1) : line);
                    ++recipients_;
                    out += "250 2.1.5 ok\r\n";
                } else if (verb == "DATA") {
                    if (rcpts.empty()) {
                        out += "554 5.5.1 no valid recipients\r\n";
                        continue;
                    }
                    data = true;
                    scanned = pos;
                    out += "354 end with <CRLF>.<CRLF>\r\n";
                } else if (verb == "RSET") {
                    mail = false;
                    rcpts.clear();
                    out += "250 2.0.0 ok\r\n";
                } else if (verb == "NOOP") {
                    out += "250 2.0.0 ok\r\n";
                } else if (verb == "QUIT") {
                    out += "221 2.0.0 bye\r\n";
                    quit = true;
                    break;
                } else {
                    out += "500 5.5.2 unknown command\r\n";
                }
            }
            in.erase(0, pos);
            scanned -= std::min(scanned, pos);
            pos = 0;
            if (!out.empty()) send_all(fd, out);
        }
        std::lock_guard lock(mutex_);
        ::close(fd);
        open_.erase(std::find(open_.begin(), open_.end(), fd));
        if (open_.empty()) idle_.notify_all();
    }

    const Options& options_;
    std::unique_ptr<std::atomic<std::uint32_t>[]> seen_;
    int listen_fd_ = -1;
    int port_ = 0;
    std::thread acceptor_;
    std::atomic<bool> stopped_{false};
    std::mutex mutex_;  // guards open_ (descriptors are closed under it, so shutdown never hits a reused one)
    std::condition_variable idle_;
    std::vector<int> open_;
    std::atomic<std::uint64_t> connections_{0}, transactions_{0}, recipients_{0}, bytes_{0}, distinct_{0};
    mutable std::mutex problem_mutex_;
    std::string first_problem_;
    std::uint64_t problems_ = 0;
};

// --- DNS: dnsmasq ------------------------------------------------------------------------------

std::string find_dnsmasq() {
    if (const char* path = std::getenv("PATH"))
        for (std::string_view rest = path; !rest.empty();) {
            const auto colon = rest.find(':');
            const std::string dir(rest.substr(0, colon));
            rest = colon == std::string_view::npos ? std::string_view() : rest.substr(colon + 1);
            if (!dir.empty() && ::access((dir + "/dnsmasq").c_str(), X_OK) == 0) return dir + "/dnsmasq";
        }
    if (::access("/usr/sbin/dnsmasq", X_OK) == 0) return "/usr/sbin/dnsmasq";
    fail("dnsmasq not found: bench/relay serves the MX records with it (apt-get install dnsmasq)");
}

// A loopback UDP port nobody uses now (dnsmasq binds it a moment later).
int free_udp_port() {
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) fail(errno_text("socket"));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
        const std::string why = errno_text("bind udp");
        ::close(fd);
        fail(why);
    }
    ::close(fd);
    return ntohs(a.sin_port);
}

// One MX query for `name` (RFC 1035 4.1); whether an answer with RCODE 0 came within 200 ms.
bool dns_answers(int port, const std::string& name) {
    std::string q = {'\x12', '\x34', '\x01', '\x00', '\x00', '\x01', '\x00', '\x00', '\x00', '\x00', '\x00', '\x00'};
    for (std::size_t start = 0; start <= name.size();) {
        auto dot = name.find('.', start);
        if (dot == std::string::npos) dot = name.size();
        q += static_cast<char>(dot - start);
        q += name.substr(start, dot - start);
        start = dot + 1;
    }
    q += std::string("\x00\x00\x0f\x00\x01", 5);  // root, QTYPE MX, QCLASS IN
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) fail(errno_text("socket"));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = false;
    if (::sendto(fd, q.data(), q.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a) == static_cast<ssize_t>(q.size())) {
        pollfd p{fd, POLLIN, 0};
        char reply[512];
        if (::poll(&p, 1, 200) == 1) {
            const ssize_t n = ::recv(fd, reply, sizeof reply, 0);
            ok = n >= 12 && reply[0] == '\x12' && reply[1] == '\x34' && (reply[3] & 0x0f) == 0;
        }
    }
    ::close(fd);
    return ok;
}

struct Dns {
    pid_t pid = 0;
    int port = 0;
};

// dnsmasq in the foreground on 127.0.0.1:port, authoritative for .test: MX dK.test ->
// mx.dK.test -> 127.0.0.1. Ready once it answers a query (bounded: 10 s).
Dns start_dnsmasq(const std::string& dir, const Options& o) {
    Dns d;
    d.port = free_udp_port();
    std::vector<std::string> args = {find_dnsmasq(), "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
                                     "--bind-interfaces", "--listen-address=127.0.0.1", "--port=" + std::to_string(d.port),
                                     "--pid-file=", "--local=/test/"};
    if (::geteuid() == 0) args.push_back("--user=root");  // nothing to drop for a benchmark
    for (int k = 0; k < o.domains; ++k) {
        const std::string domain = "d" + std::to_string(k) + ".test";
        args.push_back("--mx-host=" + domain + ",mx." + domain + ",10");
        args.push_back("--host-record=mx." + domain + ",127.0.0.1");
    }
    d.pid = spawn_command(args, child_env(dir), dir + "/dnsmasq.log");
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (!dns_answers(d.port, "d0.test")) {
        if (has_exited(d.pid)) fail("dnsmasq exited at start; see " + dir + "/dnsmasq.log below");
        if (Clock::now() > deadline) fail("dnsmasq did not answer within 10 s");
    }
    return d;
}

// --- one run ----------------------------------------------------------------------------------

// Spool::add from several threads (each add fsyncs its two files; the folder fsyncs are shared).
void fill_spool(const std::string& spool_dir, const Options& o) {
    queue::Spool spool(spool_dir);
    spool.create();
    const std::int64_t now =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    std::atomic<int> next{0};
    std::mutex error_mutex;
    std::string error;
    std::vector<std::thread> threads;
    for (int t = 0; t < fill_threads; ++t)
        threads.emplace_back([&] {
            try {
                for (int i; (i = next++) < o.messages;) {
                    queue::Envelope e;
                    e.return_path = "bench@sender.test";
                    e.created = now;
                    e.received_from = "bench.relay [127.0.0.1]";
                    queue::SpoolRecipient r;
                    r.address = recipient_of(o, i);
                    e.recipients.push_back(std::move(r));
                    spool.add(e, message_of(o, i));
                }
            } catch (const std::exception& ex) {
                std::lock_guard lock(error_mutex);
                if (error.empty()) error = std::string("Spool::add: ") + ex.what();
                next = o.messages;
            }
        });
    for (auto& t : threads) t.join();
    if (!error.empty()) fail(error);
}

bool folder_empty(const std::string& path) {
    DIR* d = ::opendir(path.c_str());
    if (d == nullptr) fail(errno_text(("opendir " + path).c_str()));
    bool empty = true;
    while (dirent* e = ::readdir(d))
        if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) {
            empty = false;
            break;
        }
    ::closedir(d);
    return empty;
}

struct Figures {
    double per_second = 0, wall = 0, server_cpu = 0, sink_cpu = 0;
    double connections = 0, transactions = 0, recipients = 0, peak_rss_mb = 0;
};

Figures run_once(const Options& o) {
    const std::string dir = make_work_dir("vpsmail-relay-");
    Sink sink(o);
    const Dns dns = start_dnsmasq(dir, o);
    Server s;
    s.dir = dir;
    s.config = dir + "/vpsmail.toml";
    s.db = dir + "/state/vpsmail.db";
    s.log = dir + "/serve.log";
    s.env = child_env(dir);
    std::ofstream(s.config) << "[paths]\nstate_dir = \"" << dir << "/state\"\nmail_root = \"" << dir << "/mail\"\nspool_dir = \""
                            << dir << "/spool\"\n"
                            << "[server]\nhostname = \"mx.sender.test\"\nuser = \"\"\n"
                            << "[smtp]\nlisten = [\"127.0.0.1:0\"]\n[submission]\nlisten = []\n[submissions]\nlisten = []\n"
                            << "[outbound]\nport = " << sink.port() << "\n"
                            << "[dns]\nservers = [\"127.0.0.1:" << dns.port << "\"]\n";
    fill_spool(dir + "/spool", o);

    const std::string env_dir = dir + "/spool/env";
    const double sink_cpu_before = cpu_seconds(::getpid());
    const auto start = Clock::now();
    start_server(s, o.bin);
    auto last_progress = Clock::now();
    std::uint64_t last_count = 0;
    for (;;) {
        const std::uint64_t got = sink.distinct();
        if (got >= static_cast<std::uint64_t>(o.messages) && folder_empty(env_dir)) break;
        if (has_exited(s.pid)) fail("vpsmail serve exited while the queue drained; its log below");
        const auto now = Clock::now();
        if (got != last_count) {
            last_count = got;
            last_progress = now;
        } else if (now - last_progress > stall_limit) {
            fail("no progress for 30 s: " + std::to_string(got) + " of " + std::to_string(o.messages) +
                 " messages at the sink; the server's log below");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    Figures f;
    f.wall = std::chrono::duration<double>(Clock::now() - start).count();
    f.sink_cpu = cpu_seconds(::getpid()) - sink_cpu_before;
    f.peak_rss_mb = static_cast<double>(status_bytes(s.pid, "VmHWM")) / (1024.0 * 1024.0);
    f.server_cpu = cpu_seconds(s.pid);
    stop_server(s);
    terminate_child(dns.pid, std::chrono::seconds(10));
    sink.stop();
    if (const std::string p = sink.problem(); !p.empty()) fail("wrong delivery: " + p);
    if (sink.transactions() != static_cast<std::uint64_t>(o.messages))
        fail(std::to_string(sink.transactions()) + " transactions at the sink for " + std::to_string(o.messages) + " messages");
    f.per_second = o.messages / f.wall;
    f.connections = static_cast<double>(sink.connections());
    f.transactions = static_cast<double>(sink.transactions());
    f.recipients = static_cast<double>(sink.recipients());
    return f;
}

// The sink alone: 16 client threads, each one connection, MAIL/RCPT/DATA pipelined per message.
Figures sink_only(const Options& o) {
    Sink sink(o);
    constexpr int clients = 16;
    std::atomic<int> next{0};
    std::mutex error_mutex;
    std::string error;
    const double cpu_before = cpu_seconds(::getpid());
    const auto start = Clock::now();
    std::vector<std::thread> threads;
    for (int t = 0; t < clients; ++t)
        threads.emplace_back([&] {
            try {
                Client c(sink.port());
                c.expect(220, "greeting");
                c.send("EHLO client.test\r\n");
                c.expect(250, "EHLO");
                for (int i; (i = next++) < o.messages;) {
                    c.send("MAIL FROM:<bench@sender.test>\r\nRCPT TO:<" + recipient_of(o, i) + ">\r\nDATA\r\n");
                    c.expect(250, "MAIL");
                    c.expect(250, "RCPT");
                    c.expect(354, "DATA");
                    c.send(message_of(o, i) + ".\r\n");
                    c.expect(250, "end of data");
                }
                c.send("QUIT\r\n");
                c.expect(221, "QUIT");
            } catch (const std::exception& e) {
                std::lock_guard lock(error_mutex);
                if (error.empty()) error = e.what();
                next = o.messages;
            }
        });
    for (auto& t : threads) t.join();
    Figures f;
    f.wall = std::chrono::duration<double>(Clock::now() - start).count();
    f.sink_cpu = cpu_seconds(::getpid()) - cpu_before;  // the clients' share included
    sink.stop();
    if (!error.empty()) fail("sink client: " + error);
    if (const std::string p = sink.problem(); !p.empty()) fail("wrong delivery: " + p);
    f.per_second = o.messages / f.wall;
    f.connections = static_cast<double>(sink.connections());
    f.transactions = static_cast<double>(sink.transactions());
    f.recipients = static_cast<double>(sink.recipients());
    return f;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

void print_line(const std::string& label, const Options& o, const Figures& f) {
    std::printf("%6s %9d %6zu %9.0f %8.2f %11.0f %12.0f %10.0f %8.1f %9.2f %8.2f\n", label.c_str(), o.messages, o.size,
                f.per_second, f.wall, f.connections, f.transactions, f.recipients, f.peak_rss_mb, f.server_cpu, f.sink_cpu);
    std::fflush(stdout);
}

[[noreturn]] void usage() {
    std::fprintf(stderr,
                 "usage: relay --bin PATH [--messages N] [--recipients N] [--domains N] [--size BYTES] [--runs K] [--keep]\n"
                 "             [--timeout SEC] [--sink-only]\n");
    std::exit(64);
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string flag = argv[i];
        if (flag == "--keep") {
            set_keep(true);
            continue;
        }
        if (flag == "--sink-only") {
            o.sink_only = true;
            continue;
        }
        if (i + 1 == argc) usage();
        const char* value = argv[++i];
        if (flag == "--bin") o.bin = value;
        else if (flag == "--messages") o.messages = std::atoi(value);
        else if (flag == "--recipients") o.recipients = std::atoi(value);
        else if (flag == "--domains") o.domains = std::atoi(value);
        else if (flag == "--size") o.size = std::strtoull(value, nullptr, 10);
        else if (flag == "--runs") o.runs = std::atoi(value);
        else if (flag == "--timeout") o.timeout = std::atoi(value);
        else usage();
    }
    if ((o.bin.empty() && !o.sink_only) || o.messages <= 0 || o.domains <= 0 || o.recipients < o.domains || o.runs <= 0 ||
        o.timeout <= 0)
        usage();
    if (o.size < 300) {
        std::fprintf(stderr, "relay: --size must be at least 300 bytes (the headers)\n");
        return 64;
    }
    if (!o.bin.empty()) {
        if (o.bin.find('/') == std::string::npos) o.bin = "./" + o.bin;
        o.bin = fs::absolute(o.bin).string();
    }
    ::signal(SIGPIPE, SIG_IGN);

    std::printf("%6s %9s %6s %9s %8s %11s %12s %10s %8s %9s %8s\n", "run", "messages", "size", "msg/s", "wall s", "connections",
                "transactions", "recipients", "RSS MB", "server s", "bench s");
    std::fflush(stdout);
    std::vector<Figures> all;
    try {
        for (int run = 1; run <= o.runs; ++run) {
            Watchdog watchdog{"relay", std::chrono::seconds(o.timeout)};
            all.push_back(o.sink_only ? sink_only(o) : run_once(o));
            print_line(o.sink_only ? "sink" + std::to_string(run) : std::to_string(run), o, all.back());
        }
    } catch (const std::exception& e) {
        return report_failure("relay", e, {"/dnsmasq.log", "/serve.log"});
    }
    auto med = [&](double Figures::*field) {
        std::vector<double> v;
        for (const auto& f : all) v.push_back(f.*field);
        return median(v);
    };
    Figures m;
    for (auto field : {&Figures::per_second, &Figures::wall, &Figures::server_cpu, &Figures::sink_cpu, &Figures::connections,
                       &Figures::transactions, &Figures::recipients, &Figures::peak_rss_mb})
        m.*field = med(field);
    print_line("median", o, m);
    remove_work_dirs();
    return 0;
}
