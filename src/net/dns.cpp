// The resolver over c-ares 1.18, which has no event thread of its own: one thread polls the
// channel's sockets and an eventfd that other threads write to when they queue a lookup. Only
// that thread touches the channel (a 1.18 channel is not thread-safe); the queue is the one
// thing shared, under the mutex.
#include "net/dns.hpp"

#include "core/error.hpp"
#include "core/log.hpp"

#include <ares.h>
#include <arpa/inet.h>
#include <fmt/format.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <mutex>
#include <random>
#include <system_error>
#include <thread>
#include <utility>

namespace vpsmail::net {
namespace {

// RFC 1035 3.2.2 and 3.2.4: TYPE and CLASS values.
constexpr int class_in = 1;
constexpr int type_a = 1;
constexpr int type_mx = 15;
constexpr int type_aaaa = 28;  // RFC 3596 2.1

// RFC 6891 6.2.5: a UDP payload that avoids IP fragmentation on common paths.
constexpr int edns_payload = 1232;

// ares_library_init is not thread-safe in 1.18 and only does work on Windows; once per process.
int library_status() {
    static const int status = ares_library_init(ARES_LIB_INIT_ALL);
    return status;
}

[[noreturn]] void bad_server(const std::string& text) {
    throw Error(ErrorKind::config,
                fmt::format("bad DNS server \"{}\": want an IP address and an optional port, like 127.0.0.1:53 or [::1]:53",
                            text));
}

// "host:port", "[v6]:port", "host" or a bare IPv6 address; the port defaults to 53.
ares_addr_port_node parse_server(const std::string& text) {
    std::string host = text;
    std::string port;
    bool bracketed = false;
    if (!text.empty() && text.front() == '[') {
        auto close = text.find(']');
        if (close == std::string::npos) bad_server(text);
        host = text.substr(1, close - 1);
        std::string rest = text.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':' || rest.size() == 1) bad_server(text);
            port = rest.substr(1);
        }
        bracketed = true;
    } else if (std::count(text.begin(), text.end(), ':') == 1) {
        auto colon = text.find(':');
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
        if (port.empty()) bad_server(text);
    }
    ares_addr_port_node node{};
    in_addr v4{};
    in6_addr v6{};
    if (!bracketed && ::inet_pton(AF_INET, host.c_str(), &v4) == 1) {
        node.family = AF_INET;
        node.addr.addr4 = v4;
    } else if (::inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
        node.family = AF_INET6;
        static_assert(sizeof(node.addr.addr6) == sizeof(v6));
        std::memcpy(&node.addr.addr6, &v6, sizeof(v6));
    } else {
        bad_server(text);
    }
    int number = 53;
    if (!port.empty()) {
        if (port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))
            bad_server(text);
        number = std::stoi(port);
        if (number < 1 || number > 65535) bad_server(text);
    }
    node.udp_port = number;
    node.tcp_port = number;
    return node;
}

DnsStatus status_of(int ares_status) {
    switch (ares_status) {
    case ARES_SUCCESS: return DnsStatus::ok;
    case ARES_ENODATA: return DnsStatus::no_data;
    case ARES_ENOTFOUND: return DnsStatus::nxdomain;  // ares_query: RCODE NXDOMAIN
    // A name c-ares cannot even encode (a label over 63 octets, RFC 1035 2.3.4) can never
    // exist: retrying it for days helps no one.
    case ARES_EBADNAME: return DnsStatus::nxdomain;
    default: return DnsStatus::temporary;
    }
}

std::string error_of(int ares_status) {
    switch (ares_status) {
    case ARES_ENODATA: return "no records of that type";
    case ARES_ENOTFOUND: return "NXDOMAIN";
    case ARES_EBADNAME: return "malformed domain name";
    case ARES_ESERVFAIL: return "SERVFAIL";
    case ARES_EREFUSED: return "REFUSED";
    case ARES_EFORMERR: return "FORMERR";
    case ARES_ENOTIMP: return "NOTIMP";
    case ARES_ETIMEOUT: return "timeout";
    // c-ares's word when every server failed: unreachable, or SERVFAIL or REFUSED from each.
    case ARES_ECONNREFUSED: return "no DNS server answered (unreachable, SERVFAIL or REFUSED)";
    case ARES_ECANCELLED:
    case ARES_EDESTRUCTION: return "resolver stopped";
    default: return ares_strerror(ares_status);
    }
}

// A name as a mail host: lower case (RFC 1035 2.3.3: compared without case), no trailing dot.
std::string host_name(const char* raw) {
    std::string host = raw != nullptr ? raw : "";
    while (!host.empty() && host.back() == '.') host.pop_back();
    std::transform(host.begin(), host.end(), host.begin(),
                   [](unsigned char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : static_cast<char>(c); });
    return host;
}

// A channel with `options`; `servers` (linked) replace resolv.conf's unless empty.
ares_channel open_channel(ares_options& options, int mask, std::vector<ares_addr_port_node>& servers) {
    ares_channel channel = nullptr;
    // With no servers given, ares_init_options reads /etc/resolv.conf.
    if (int status = ares_init_options(&channel, &options, mask); status != ARES_SUCCESS)
        throw Error(ErrorKind::internal, "cannot start the DNS resolver", fmt::format("ares_init_options: {}", ares_strerror(status)));
    if (!servers.empty()) {
        if (int status = ares_set_servers_ports(channel, servers.data()); status != ARES_SUCCESS) {
            ares_destroy(channel);
            throw Error(ErrorKind::internal, "cannot set the DNS servers", fmt::format("ares_set_servers_ports: {}", ares_strerror(status)));
        }
    }
    return channel;
}

int server_count(ares_channel channel) {
    ares_addr_port_node* servers = nullptr;
    if (ares_get_servers_ports(channel, &servers) != ARES_SUCCESS) return 0;
    int count = 0;
    for (const ares_addr_port_node* node = servers; node != nullptr; node = node->next) ++count;
    ares_free_data(servers);
    return count;
}

struct MxReplyFree {
    void operator()(ares_mx_reply* p) const noexcept { ares_free_data(p); }
};
struct HostentFree {
    void operator()(hostent* p) const noexcept { ares_free_hostent(p); }
};

MxResult mx_result(int status, const unsigned char* answer, int length, std::mt19937& random) {
    MxResult result;
    if (status == ARES_SUCCESS) {
        ares_mx_reply* head = nullptr;
        status = ares_parse_mx_reply(answer, length, &head);
        std::unique_ptr<ares_mx_reply, MxReplyFree> owned(head);
        if (status == ARES_SUCCESS) {
            bool null_mx = false;
            for (const ares_mx_reply* mx = head; mx != nullptr; mx = mx->next) {
                std::string host = host_name(mx->host);
                // RFC 7505 3: the exchange "." (the root) is no host; a domain that has only that
                // accepts no mail. Any other record beside it is a misconfiguration: use those.
                if (host.empty()) {
                    null_mx = true;
                    continue;
                }
                result.hosts.push_back({mx->priority, std::move(host)});
            }
            if (result.hosts.empty() && null_mx) {
                result.status = DnsStatus::null_mx;
                result.error = "null MX (RFC 7505): the domain accepts no mail";
                return result;
            }
            if (result.hosts.empty()) status = ARES_ENODATA;  // only CNAMEs, say
        }
    }
    if (status != ARES_SUCCESS) {
        result.status = status_of(status);
        result.error = error_of(status);
        if (result.status == DnsStatus::ok) result.status = DnsStatus::temporary;
        return result;
    }
    // RFC 5321 5.1: hosts of equal preference are tried in random order, to spread the load.
    std::shuffle(result.hosts.begin(), result.hosts.end(), random);
    std::stable_sort(result.hosts.begin(), result.hosts.end(),
                     [](const MxHost& a, const MxHost& b) { return a.preference < b.preference; });
    result.status = DnsStatus::ok;
    return result;
}

// One family's half of lookup_addresses.
struct AddressPart {
    DnsStatus status = DnsStatus::temporary;
    std::vector<std::string> addresses;
    std::string error;
};

AddressPart address_part(int family, int status, const unsigned char* answer, int length) {
    AddressPart part;
    if (status == ARES_SUCCESS) {
        hostent* host = nullptr;
        status = family == AF_INET ? ares_parse_a_reply(answer, length, &host, nullptr, nullptr)
                                   : ares_parse_aaaa_reply(answer, length, &host, nullptr, nullptr);
        std::unique_ptr<hostent, HostentFree> owned(host);
        if (status == ARES_SUCCESS && host != nullptr && host->h_addr_list != nullptr) {
            char text[INET6_ADDRSTRLEN] = {};
            for (char** address = host->h_addr_list; *address != nullptr; ++address) {
                if (::inet_ntop(family, *address, text, sizeof text) != nullptr) part.addresses.emplace_back(text);
            }
        }
        if (status == ARES_SUCCESS && part.addresses.empty()) status = ARES_ENODATA;
    }
    part.status = status_of(status);
    if (status != ARES_SUCCESS) {
        part.error = error_of(status);
        if (part.status == DnsStatus::ok) part.status = DnsStatus::temporary;
    }
    return part;
}

// Any address is an answer; otherwise a temporary failure of either query wins (the other may
// have been lucky), then NXDOMAIN, then no data.
AddressResult combine(AddressPart v4, AddressPart v6) {
    AddressResult result;
    if (v4.status == DnsStatus::ok || v6.status == DnsStatus::ok) {
        result.status = DnsStatus::ok;
        result.addresses = std::move(v4.addresses);
        result.addresses.insert(result.addresses.end(), std::make_move_iterator(v6.addresses.begin()),
                                std::make_move_iterator(v6.addresses.end()));
        return result;
    }
    for (DnsStatus status : {DnsStatus::temporary, DnsStatus::nxdomain, DnsStatus::no_data}) {
        for (AddressPart* part : {&v4, &v6}) {
            if (part->status == status) {
                result.status = status;
                result.error = (part == &v4 ? "A: " : "AAAA: ") + part->error;
                return result;
            }
        }
    }
    return result;
}

// Runs a caller's callback; what it throws is logged, never let into c-ares or the loop.
template <typename Result>
void deliver(const std::function<void(Result)>& done, Result result) noexcept {
    try {
        done(std::move(result));
    } catch (const std::exception& e) {
        log::line("dns_callback_failed", {{"error", e.what()}});
    } catch (...) {
        log::line("dns_callback_failed", {{"error", "unknown exception"}});
    }
}

// One query on the wire: owned by the queue, then by c-ares from ares_query to its callback.
struct Query {
    std::string name;
    int type = 0;
    std::function<void(int status, const unsigned char* answer, int length)> answered;
};

void on_reply(void* arg, int status, int /*timeouts*/, unsigned char* answer, int length) {
    std::unique_ptr<Query> query(static_cast<Query*>(arg));
    query->answered(status, answer, length);
}

}  // namespace

struct Resolver::State {
    ares_channel channel = nullptr;
    int wake_fd = -1;
    std::thread thread;

    std::mutex mutex;
    std::vector<std::unique_ptr<Query>> queued;  // under mutex
    bool stopping = false;                       // under mutex

    std::mt19937 random{std::random_device{}()};  // the loop thread's

    ~State() {
        if (channel != nullptr) ares_destroy(channel);
        if (wake_fd >= 0) ::close(wake_fd);
    }

    void wake() noexcept {
        std::uint64_t one = 1;
        // EAGAIN means the counter is already non-zero: the loop wakes anyway.
        while (::write(wake_fd, &one, sizeof one) < 0 && errno == EINTR) {
        }
    }

    // Any thread. Once stopping, the query fails at once on the calling thread: that is the
    // resolver's thread (a callback asking again while the destructor cancels), or a broken loop.
    void submit(std::vector<std::unique_ptr<Query>> queries) {
        bool stopped = false;
        {
            std::lock_guard lock(mutex);
            stopped = stopping;
            if (!stopped) {
                for (auto& query : queries) queued.push_back(std::move(query));
            }
        }
        if (stopped) {
            for (auto& query : queries) query->answered(ARES_ECANCELLED, nullptr, 0);
            return;
        }
        wake();
    }

    void run() noexcept {
        try {
            loop();
        } catch (const std::exception& e) {
            log::line("dns_loop_failed", {{"error", e.what()}});
        }
        // Stopping, or broken: later lookups fail at once, queued and outstanding ones now.
        std::vector<std::unique_ptr<Query>> left;
        {
            std::lock_guard lock(mutex);
            stopping = true;
            left.swap(queued);
        }
        for (auto& query : left) query->answered(ARES_ECANCELLED, nullptr, 0);
        ares_cancel(channel);
    }

    void loop() {
        std::vector<pollfd> fds;
        for (;;) {
            std::vector<std::unique_ptr<Query>> starting;
            {
                std::lock_guard lock(mutex);
                if (stopping) return;
                starting.swap(queued);
            }
            for (auto& query : starting) {
                Query* raw = query.release();
                // "" and "." would ask about the root, which no mail domain is.
                if (raw->name.empty() || raw->name == ".") {
                    on_reply(raw, ARES_EBADNAME, 0, nullptr, 0);
                    continue;
                }
                // c-ares may call on_reply before returning (a malformed name, no memory).
                ares_query(channel, raw->name.c_str(), class_in, raw->type, on_reply, raw);
            }

            ares_socket_t sockets[ARES_GETSOCK_MAXNUM];
            int bits = ares_getsock(channel, sockets, ARES_GETSOCK_MAXNUM);
            fds.clear();
            fds.push_back({wake_fd, POLLIN, 0});
            for (int i = 0; i < ARES_GETSOCK_MAXNUM; ++i) {
                short events = 0;
                if (ARES_GETSOCK_READABLE(bits, i)) events |= POLLIN;
                if (ARES_GETSOCK_WRITABLE(bits, i)) events |= POLLOUT;
                if (events != 0) fds.push_back({sockets[i], events, 0});
            }
            timeval room{};
            timeval* next = ares_timeout(channel, nullptr, &room);
            int wait_ms = -1;
            if (next != nullptr) wait_ms = static_cast<int>(next->tv_sec * 1000 + (next->tv_usec + 999) / 1000);

            int ready = ::poll(fds.data(), fds.size(), wait_ms);
            if (ready < 0) {
                if (errno == EINTR) continue;
                throw Error(ErrorKind::internal, "DNS resolver failed", errno_text("poll", errno));
            }
            if (fds[0].revents != 0) {
                std::uint64_t count = 0;
                while (::read(wake_fd, &count, sizeof count) < 0 && errno == EINTR) {
                }
            }
            bool processed = false;
            for (std::size_t i = 1; i < fds.size(); ++i) {
                if (fds[i].revents == 0) continue;
                // An error or hang-up is reported as readable: c-ares then reads, sees the
                // failure and moves the query on to the next server.
                bool failed = (fds[i].revents & (POLLERR | POLLHUP | POLLNVAL)) != 0;
                ares_socket_t read_fd = (fds[i].revents & POLLIN) != 0 || failed ? fds[i].fd : ARES_SOCKET_BAD;
                ares_socket_t write_fd = (fds[i].revents & POLLOUT) != 0 ? fds[i].fd : ARES_SOCKET_BAD;
                ares_process_fd(channel, read_fd, write_fd);
                processed = true;
            }
            // Each ares_process_fd also expires timed-out tries; with no socket ready, do only that.
            if (!processed) ares_process_fd(channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
        }
    }
};

Resolver::Resolver(const std::vector<std::string>& servers, std::chrono::milliseconds timeout, int tries)
    : state_(std::make_unique<State>()) {
    if (timeout.count() <= 0 || timeout.count() > 3600 * 1000)
        throw Error(ErrorKind::config, fmt::format("bad DNS timeout {} ms: want 1 ms to 1 hour", timeout.count()));
    if (tries < 1 || tries > 100) throw Error(ErrorKind::config, fmt::format("bad DNS tries {}: want 1 to 100", tries));
    std::vector<ares_addr_port_node> nodes;
    for (const std::string& server : servers) nodes.push_back(parse_server(server));

    if (int status = library_status(); status != ARES_SUCCESS)
        throw Error(ErrorKind::internal, "cannot start the DNS resolver", fmt::format("ares_library_init: {}", ares_strerror(status)));

    ares_options options{};
    options.timeout = static_cast<int>(timeout.count());
    options.tries = tries;
    options.flags = ARES_FLAG_EDNS;
    options.ednspsz = edns_payload;
    const int mask = ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_FLAGS | ARES_OPT_EDNSPSZ;
    for (std::size_t i = 0; i + 1 < nodes.size(); ++i) nodes[i].next = &nodes[i + 1];
    state_->channel = open_channel(options, mask, nodes);
    // c-ares moves on to the next server after a SERVFAIL or REFUSED and, when none is left,
    // reports only "connection refused". With a single server there is no next one: let the
    // reply through, so that logs and DSNs say SERVFAIL or REFUSED.
    if (server_count(state_->channel) == 1) {
        ares_destroy(state_->channel);
        state_->channel = nullptr;
        options.flags |= ARES_FLAG_NOCHECKRESP;
        state_->channel = open_channel(options, mask, nodes);
    }
    state_->wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (state_->wake_fd < 0) {
        int err = errno;
        throw Error(ErrorKind::internal, "cannot start the DNS resolver", errno_text("eventfd", err));
    }
    try {
        state_->thread = std::thread([state = state_.get()] { state->run(); });
    } catch (const std::system_error& e) {
        throw Error(ErrorKind::internal, "cannot start the DNS resolver", e.what());
    }
}

Resolver::~Resolver() {
    {
        std::lock_guard lock(state_->mutex);
        state_->stopping = true;
    }
    state_->wake();
    if (state_->thread.joinable()) state_->thread.join();
}

void Resolver::lookup_mx(const std::string& domain, std::function<void(MxResult)> done) {
    auto query = std::make_unique<Query>();
    query->name = domain;
    query->type = type_mx;
    State* state = state_.get();
    query->answered = [state, done = std::move(done)](int status, const unsigned char* answer, int length) {
        deliver(done, mx_result(status, answer, length, state->random));
    };
    std::vector<std::unique_ptr<Query>> queries;
    queries.push_back(std::move(query));
    state_->submit(std::move(queries));
}

void Resolver::lookup_addresses(const std::string& host, std::function<void(AddressResult)> done) {
    // Both halves answer on the resolver's thread, so the shared pair needs no lock.
    struct Pair {
        std::function<void(AddressResult)> done;
        AddressPart v4, v6;
        int waiting = 2;
    };
    auto pair = std::make_shared<Pair>();
    pair->done = std::move(done);
    std::vector<std::unique_ptr<Query>> queries;
    for (int family : {AF_INET, AF_INET6}) {
        auto query = std::make_unique<Query>();
        query->name = host;
        query->type = family == AF_INET ? type_a : type_aaaa;
        query->answered = [pair, family](int status, const unsigned char* answer, int length) {
            (family == AF_INET ? pair->v4 : pair->v6) = address_part(family, status, answer, length);
            if (--pair->waiting == 0) deliver(pair->done, combine(std::move(pair->v4), std::move(pair->v6)));
        };
        queries.push_back(std::move(query));
    }
    state_->submit(std::move(queries));
}

}  // namespace vpsmail::net
