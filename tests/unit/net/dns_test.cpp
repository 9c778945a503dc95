// net::Resolver against real DNS servers on loopback: tests/integration/dns_stub.py (every
// status, including SERVFAIL, silence and null MX) and dnsmasq (MX and A through a real server).
// Every wait is bounded; every process started here is ended and reaped here.
#include "core/error.hpp"
#include "net/dns.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

extern char** environ;

using namespace std::chrono_literals;
using vpsmail::net::AddressResult;
using vpsmail::net::DnsStatus;
using vpsmail::net::MxHost;
using vpsmail::net::MxResult;
using vpsmail::net::Resolver;

namespace {

constexpr auto answer_deadline = 10s;

std::string name_of(DnsStatus status) {
    switch (status) {
    case DnsStatus::ok: return "ok";
    case DnsStatus::no_data: return "no_data";
    case DnsStatus::null_mx: return "null_mx";
    case DnsStatus::nxdomain: return "nxdomain";
    case DnsStatus::temporary: return "temporary";
    }
    return "?";
}

std::string text_of(const std::vector<MxHost>& hosts) {
    std::string out;
    for (const auto& mx : hosts) out += std::to_string(mx.preference) + " " + mx.host + "; ";
    return out;
}

std::string text_of(const std::vector<std::string>& words) {
    std::string out;
    for (const auto& word : words) out += word + " ";
    return out;
}

// A program on pipes: its stdout and stderr come back through read_line; closing its stdin
// and SIGTERM end it, and the destructor reaps it.
class Child {
public:
    explicit Child(const std::vector<std::string>& argv) {
        int out[2];
        int in[2];
        if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(in, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, in[0], 0);
        posix_spawn_file_actions_adddup2(&actions, out[1], 1);
        posix_spawn_file_actions_adddup2(&actions, out[1], 2);
        std::vector<char*> args;
        for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
        args.push_back(nullptr);
        int err = ::posix_spawnp(&pid_, args[0], &actions, nullptr, args.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        ::close(out[1]);
        ::close(in[0]);
        out_ = out[0];
        in_ = in[1];
        if (err != 0) {
            pid_ = -1;
            throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(err));
        }
    }
    ~Child() {
        if (in_ >= 0) ::close(in_);
        if (pid_ > 0) {
            ::kill(pid_, SIGTERM);
            int status = 0;
            while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
            }
        }
        if (out_ >= 0) ::close(out_);
    }
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;

    /// The next output line, or "" at end of output or after `deadline`.
    std::string read_line(std::chrono::milliseconds deadline = answer_deadline) {
        auto until = std::chrono::steady_clock::now() + deadline;
        for (;;) {
            auto newline = buffer_.find('\n');
            if (newline != std::string::npos) {
                std::string line = buffer_.substr(0, newline);
                buffer_.erase(0, newline + 1);
                return line;
            }
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
            if (left.count() <= 0) return {};
            pollfd fd{out_, POLLIN, 0};
            int ready = ::poll(&fd, 1, static_cast<int>(left.count()));
            if (ready < 0 && errno == EINTR) continue;
            if (ready <= 0) return {};
            char chunk[512];
            ssize_t n = ::read(out_, chunk, sizeof chunk);
            if (n <= 0) return {};
            buffer_.append(chunk, static_cast<std::size_t>(n));
        }
    }

    /// Reads lines until one contains `text`; all of them, for the failure message.
    std::pair<bool, std::string> wait_for(const std::string& text) {
        std::string seen;
        for (int i = 0; i < 200; ++i) {
            std::string line = read_line();
            if (line.empty()) return {false, seen};
            seen += line + "\n";
            if (line.find(text) != std::string::npos) return {true, seen};
        }
        return {false, seen};
    }

private:
    pid_t pid_ = -1;
    int out_ = -1;
    int in_ = -1;
    std::string buffer_;
};

// tests/integration/dns_stub.py serving `table` (JSON); `verbose`: it prints each query (read
// them, or a full pipe stalls it).
struct Stub {
    vpsmail::test::TempDir dir;
    std::unique_ptr<Child> child;
    std::string server;

    explicit Stub(const std::string& table, bool verbose = false) {
        std::string path = dir.file("table.json");
        std::ofstream(path) << table;
        std::vector<std::string> argv{VPSMAIL_PYTHON, VPSMAIL_SOURCE_DIR "/tests/integration/dns_stub.py", "--json", path,
                                      "--stdin-eof"};
        if (verbose) argv.push_back("--verbose");
        child = std::make_unique<Child>(argv);
        std::string port = child->read_line();
        if (port.empty() || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))
            throw std::runtime_error("dns_stub.py did not print its port; got \"" + port + "\"");
        server = "127.0.0.1:" + port;
    }
};

const char* const stub_table = R"({
  "multi.test": {"MX": [[20, "mx2.multi.test"], [10, "MX1.Multi.Test."], [10, "mx1b.multi.test"]]},
  "single.test": {"MX": [[5, "mail.single.test"]], "A": ["127.0.0.9"]},
  "equal.test": {"MX": [[10, "a.equal.test"], [10, "b.equal.test"], [20, "c.equal.test"]]},
  "nullmx.test": {"MX": [[0, "."]]},
  "nullmx-mixed.test": {"MX": [[0, "."], [10, "real.mixed.test"]]},
  "implicit.test": {"A": ["127.0.0.5"]},
  "dual.test": {"A": ["127.0.0.1", "127.0.0.2"], "AAAA": ["::1", "2001:db8::25"]},
  "v6only.test": {"AAAA": ["2001:db8::1"]},
  "half.test": {"A": ["127.0.0.3"], "AAAA": "SERVFAIL"},
  "half-slow.test": {"A": "TIMEOUT", "AAAA": []},
  "gone.test": "NXDOMAIN",
  "broken.test": "SERVFAIL",
  "refused.test": "REFUSED",
  "slow.test": "TIMEOUT"
})";

template <typename Result, typename Start>
Result wait_result(Start start) {
    auto promise = std::make_shared<std::promise<Result>>();
    auto future = promise->get_future();
    start([promise](Result result) { promise->set_value(std::move(result)); });
    REQUIRE(future.wait_for(answer_deadline) == std::future_status::ready);
    return future.get();
}

MxResult mx_of(Resolver& resolver, const std::string& domain) {
    return wait_result<MxResult>([&](auto done) { resolver.lookup_mx(domain, done); });
}

AddressResult addresses_of(Resolver& resolver, const std::string& host) {
    return wait_result<AddressResult>([&](auto done) { resolver.lookup_addresses(host, done); });
}

// The preference order holds, and the hosts are the expected ones (equal preferences in any order).
void check_mx(const MxResult& got, const std::vector<MxHost>& want) {
    INFO("got " << text_of(got.hosts));
    CHECK(std::is_sorted(got.hosts.begin(), got.hosts.end(),
                         [](const MxHost& a, const MxHost& b) { return a.preference < b.preference; }));
    std::set<std::pair<int, std::string>> got_set, want_set;
    for (const auto& mx : got.hosts) got_set.insert({mx.preference, mx.host});
    for (const auto& mx : want) want_set.insert({mx.preference, mx.host});
    CHECK(got.hosts.size() == want.size());
    CHECK(got_set == want_set);
}

// A loopback port with nothing on it (UDP and TCP), found by binding port 0 and letting go.
int free_port() {
    int udp = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (udp < 0 || ::bind(udp, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::getsockname(udp, reinterpret_cast<sockaddr*>(&address), &length) != 0)
        throw std::runtime_error("cannot bind a loopback UDP socket");
    int tcp = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool tcp_free = tcp >= 0 && ::bind(tcp, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    if (tcp >= 0) ::close(tcp);
    ::close(udp);
    if (!tcp_free) return free_port();
    return ntohs(address.sin_port);
}

}  // namespace

TEST_CASE("dns: MX lookups give every status", "[net][dns]") {
    Stub stub(stub_table);
    Resolver resolver({stub.server}, 300ms, 2);
    struct Case {
        std::string domain;
        DnsStatus status;
        std::vector<MxHost> hosts;
        std::string error;  // a part of it
    };
    const std::vector<Case> cases = {
        {"multi.test", DnsStatus::ok, {{10, "mx1.multi.test"}, {10, "mx1b.multi.test"}, {20, "mx2.multi.test"}}, ""},
        {"single.test", DnsStatus::ok, {{5, "mail.single.test"}}, ""},
        {"SINGLE.test.", DnsStatus::ok, {{5, "mail.single.test"}}, ""},
        {"nullmx.test", DnsStatus::null_mx, {}, "null MX"},
        {"nullmx-mixed.test", DnsStatus::ok, {{10, "real.mixed.test"}}, ""},
        {"implicit.test", DnsStatus::no_data, {}, "no records"},
        {"gone.test", DnsStatus::nxdomain, {}, "NXDOMAIN"},
        {"unlisted.test", DnsStatus::nxdomain, {}, "NXDOMAIN"},
        {"broken.test", DnsStatus::temporary, {}, "SERVFAIL"},
        {"refused.test", DnsStatus::temporary, {}, "REFUSED"},
        {"slow.test", DnsStatus::temporary, {}, "timeout"},
        {"", DnsStatus::nxdomain, {}, "malformed"},
        {std::string(64, 'a') + ".test", DnsStatus::nxdomain, {}, "malformed"},
    };
    for (const auto& c : cases) {
        INFO("domain " << c.domain);
        MxResult got = mx_of(resolver, c.domain);
        INFO("got " << name_of(got.status) << " \"" << got.error << "\", want " << name_of(c.status));
        CHECK(got.status == c.status);
        check_mx(got, c.hosts);
        if (c.error.empty()) {
            CHECK(got.error.empty());
        } else {
            CHECK(got.error.find(c.error) != std::string::npos);
        }
    }
}

TEST_CASE("dns: MX hosts of equal preference come in random order", "[net][dns]") {
    Stub stub(stub_table);
    Resolver resolver({stub.server}, 300ms, 2);
    std::set<std::string> firsts;
    // Both orders of two hosts show up within 40 tries unless the shuffle is missing (odds 2^-39).
    for (int i = 0; i < 40 && firsts.size() < 2; ++i) {
        MxResult got = mx_of(resolver, "equal.test");
        REQUIRE(got.status == DnsStatus::ok);
        REQUIRE(got.hosts.size() == 3);
        CHECK(got.hosts[2].host == "c.equal.test");
        firsts.insert(got.hosts[0].host);
    }
    CHECK(firsts == std::set<std::string>{"a.equal.test", "b.equal.test"});
}

TEST_CASE("dns: address lookups ask for A and AAAA", "[net][dns]") {
    Stub stub(stub_table);
    Resolver resolver({stub.server}, 300ms, 2);
    struct Case {
        std::string host;
        DnsStatus status;
        std::vector<std::string> addresses;
        std::string error;
    };
    const std::vector<Case> cases = {
        {"dual.test", DnsStatus::ok, {"127.0.0.1", "127.0.0.2", "::1", "2001:db8::25"}, ""},
        {"Dual.Test", DnsStatus::ok, {"127.0.0.1", "127.0.0.2", "::1", "2001:db8::25"}, ""},
        {"implicit.test", DnsStatus::ok, {"127.0.0.5"}, ""},
        {"v6only.test", DnsStatus::ok, {"2001:db8::1"}, ""},
        {"half.test", DnsStatus::ok, {"127.0.0.3"}, ""},
        {"half-slow.test", DnsStatus::temporary, {}, "A: timeout"},
        {"multi.test", DnsStatus::no_data, {}, "no records"},
        {"gone.test", DnsStatus::nxdomain, {}, "NXDOMAIN"},
        {"broken.test", DnsStatus::temporary, {}, "SERVFAIL"},
        {"slow.test", DnsStatus::temporary, {}, "timeout"},
    };
    for (const auto& c : cases) {
        INFO("host " << c.host);
        AddressResult got = addresses_of(resolver, c.host);
        INFO("got " << name_of(got.status) << " \"" << got.error << "\" " << text_of(got.addresses) << ", want "
                    << name_of(c.status) << " " << text_of(c.addresses));
        CHECK(got.status == c.status);
        CHECK(got.addresses == c.addresses);
        if (c.error.empty()) {
            CHECK(got.error.empty());
        } else {
            CHECK(got.error.find(c.error) != std::string::npos);
        }
    }
}

TEST_CASE("dns: servers are IP addresses with optional ports", "[net][dns]") {
    for (std::string bad : {"localhost", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:5x", "[::1",
                            "[::1]:", "[::1]x", "[127.0.0.1]:53", "", "1.2.3.4:53:53x", "::1::2"}) {
        INFO("server \"" << bad << "\"");
        try {
            Resolver resolver({bad}, 100ms, 1);
            FAIL("no error");
        } catch (const vpsmail::Error& e) {
            CHECK(e.kind() == vpsmail::ErrorKind::config);
            CHECK(std::string(e.what()).find("\"" + bad + "\"") != std::string::npos);
        }
    }
    for (std::string good : {"127.0.0.1", "127.0.0.1:5353", "[::1]:53", "[::1]", "::1", "2001:db8::53"}) {
        INFO("server \"" << good << "\"");
        CHECK_NOTHROW(Resolver({good}, 100ms, 1));
    }
    CHECK_NOTHROW(Resolver({}, 100ms, 1));  // resolv.conf
    CHECK_THROWS_AS(Resolver({"127.0.0.1"}, 0ms, 1), vpsmail::Error);
    CHECK_THROWS_AS(Resolver({"127.0.0.1"}, 100ms, 0), vpsmail::Error);
}

TEST_CASE("dns: nobody listening is a temporary failure", "[net][dns]") {
    Resolver resolver({"127.0.0.1:" + std::to_string(free_port())}, 300ms, 2);
    MxResult mx = mx_of(resolver, "example.test");
    INFO("got " << name_of(mx.status) << " \"" << mx.error << "\"");
    CHECK(mx.status == DnsStatus::temporary);
    CHECK_FALSE(mx.error.empty());
    AddressResult addresses = addresses_of(resolver, "example.test");
    CHECK(addresses.status == DnsStatus::temporary);
}

TEST_CASE("dns: the second server answers when the first refuses, and none answering is temporary", "[net][dns]") {
    Stub refusing(R"({"single.test": "REFUSED"})");
    Stub answering(stub_table);
    Resolver resolver({refusing.server, answering.server}, 300ms, 1);
    MxResult got = mx_of(resolver, "single.test");
    INFO("got " << name_of(got.status) << " \"" << got.error << "\"");
    CHECK(got.status == DnsStatus::ok);
    check_mx(got, {{5, "mail.single.test"}});

    Resolver none_answers({refusing.server, refusing.server}, 300ms, 1);
    got = mx_of(none_answers, "single.test");
    INFO("got " << name_of(got.status) << " \"" << got.error << "\"");
    CHECK(got.status == DnsStatus::temporary);
    CHECK(got.error.find("REFUSED") != std::string::npos);
}

TEST_CASE("dns: destroying the resolver fails outstanding lookups at once", "[net][dns]") {
    Stub stub(stub_table, true);
    std::mutex mutex;
    std::vector<std::pair<std::string, DnsStatus>> calls;
    std::string mx_error;
    auto started = std::chrono::steady_clock::now();
    {
        Resolver resolver({stub.server}, 20s, 1);
        resolver.lookup_mx("slow.test", [&](MxResult r) {
            std::lock_guard lock(mutex);
            calls.emplace_back("mx", r.status);
            mx_error = r.error;
        });
        resolver.lookup_addresses("slow.test", [&](AddressResult r) {
            std::lock_guard lock(mutex);
            calls.emplace_back("addresses", r.status);
        });
        // The queries are on the wire (not only queued) once the stub has seen all three.
        std::set<std::string> seen;
        for (int i = 0; i < 10 && seen.size() < 3; ++i) {
            std::string line = stub.child->read_line();
            REQUIRE(!line.empty());
            seen.insert(line);
        }
        CHECK(seen == std::set<std::string>{"query slow.test MX", "query slow.test A", "query slow.test AAAA"});
        // A lookup still queued when the destructor runs gets its answer too.
        resolver.lookup_mx("single.test", [&](MxResult r) {
            std::lock_guard lock(mutex);
            calls.emplace_back("queued", r.status);
        });
    }
    auto took = std::chrono::steady_clock::now() - started;
    CHECK(took < 10s);  // the 20 s timeout did not run out
    std::lock_guard lock(mutex);
    std::map<std::string, DnsStatus> by_name(calls.begin(), calls.end());
    CHECK(calls.size() == 3);
    CHECK(by_name["mx"] == DnsStatus::temporary);
    CHECK(by_name["addresses"] == DnsStatus::temporary);
    // The queued one may have been answered before the stop: either way, exactly once.
    CHECK(by_name.count("queued") == 1);
    CHECK(mx_error == "resolver stopped");
}

TEST_CASE("dns: lookups from many threads and from callbacks all answer once", "[net][dns]") {
    // Declared before the resolver: callbacks may still run while it is destroyed.
    std::mutex mutex;
    std::condition_variable changed;
    int answered = 0;
    int wrong = 0;
    Stub stub(stub_table);
    Resolver resolver({stub.server}, 300ms, 2);
    constexpr int threads = 4;
    constexpr int per_thread = 25;
    auto count = [&](bool right) {
        std::lock_guard lock(mutex);
        ++answered;
        if (!right) ++wrong;
        changed.notify_all();
    };
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
            for (int i = 0; i < per_thread; ++i) {
                if ((i + t) % 2 == 0) {
                    resolver.lookup_mx("single.test", [&](MxResult r) {
                        bool right = r.status == DnsStatus::ok && r.hosts.size() == 1;
                        // A callback asking again: the MX host's addresses.
                        resolver.lookup_addresses("dual.test", [&, right](AddressResult a) {
                            count(right && a.status == DnsStatus::ok && a.addresses.size() == 4);
                        });
                    });
                } else {
                    resolver.lookup_addresses("gone.test", [&](AddressResult r) { count(r.status == DnsStatus::nxdomain); });
                }
            }
        });
    }
    for (auto& worker : workers) worker.join();
    std::unique_lock lock(mutex);
    bool all = changed.wait_for(lock, 20s, [&] { return answered >= threads * per_thread; });
    INFO("answered " << answered << " of " << threads * per_thread << ", wrong " << wrong);
    CHECK(all);
    CHECK(answered == threads * per_thread);
    CHECK(wrong == 0);
}

TEST_CASE("dns: MX and A through dnsmasq", "[net][dns][dnsmasq]") {
    std::string dnsmasq = ::access("/usr/sbin/dnsmasq", X_OK) == 0 ? "/usr/sbin/dnsmasq" : "dnsmasq";
    std::string port = std::to_string(free_port());
    // `timeout` ends dnsmasq even if this test dies before its destructor runs.
    Child server({"timeout", "120", dnsmasq, "--keep-in-foreground", "--log-facility=-", "--conf-file=/dev/null",
                  "--no-resolv", "--no-hosts", "--bind-interfaces", "--listen-address=127.0.0.1", "--port=" + port,
                  "--pid-file=", "--local=/test/", "--mx-host=example.test,mx1.example.test,10",
                  "--mx-host=example.test,mx2.example.test,20", "--host-record=mx1.example.test,127.0.0.1,::1",
                  "--host-record=implicit.test,127.0.0.5", "--mx-host=nullmx.test,.,0"});
    // dnsmasq logs "started" once its sockets are bound.
    auto [started, log] = server.wait_for("started, version");
    INFO("dnsmasq said:\n" << log);
    REQUIRE(started);
    Resolver resolver({"127.0.0.1:" + port}, 500ms, 2);

    MxResult mx = mx_of(resolver, "example.test");
    INFO("got " << name_of(mx.status) << " \"" << mx.error << "\" " << text_of(mx.hosts));
    REQUIRE(mx.status == DnsStatus::ok);
    REQUIRE(mx.hosts.size() == 2);
    CHECK(mx.hosts[0].preference == 10);
    CHECK(mx.hosts[0].host == "mx1.example.test");
    CHECK(mx.hosts[1].host == "mx2.example.test");

    AddressResult addresses = addresses_of(resolver, mx.hosts[0].host);
    CHECK(addresses.status == DnsStatus::ok);
    CHECK(addresses.addresses == std::vector<std::string>{"127.0.0.1", "::1"});

    CHECK(mx_of(resolver, "nullmx.test").status == DnsStatus::null_mx);
    CHECK(mx_of(resolver, "implicit.test").status == DnsStatus::no_data);
    CHECK(addresses_of(resolver, "implicit.test").addresses == std::vector<std::string>{"127.0.0.5"});
    CHECK(mx_of(resolver, "other.test").status == DnsStatus::nxdomain);
    // Outside --local, dnsmasq without upstream servers refuses.
    CHECK(mx_of(resolver, "example.org").status == DnsStatus::temporary);
}
