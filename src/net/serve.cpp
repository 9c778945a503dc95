// The Asio loop around the sans-I/O sessions: one coroutine per connection on its own strand,
// a watchdog coroutine per connection for timeouts, a worker pool for slow jobs, listeners,
// signals and the privilege drop. The only translation unit that includes Asio.
#include "net/serve.hpp"

#include "net/control.hpp"

#include "auth/throttle.hpp"
#include "core/error.hpp"
#include "net/outbound.hpp"
#include "core/log.hpp"

#include <asio.hpp>
#include <asio/ssl.hpp>
#include <fmt/format.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <grp.h>
#include <map>
#include <mutex>
#include <pwd.h>
#include <set>
#include <thread>
#include <ctime>
#include <unistd.h>

namespace vpsmail::net {
namespace {

using server::Conversation;
using server::Peer;

using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using TlsStream = asio::ssl::stream<tcp::socket&>;
constexpr auto farewell_time = std::chrono::seconds(10);  // to write a last reply to a slow client

std::shared_ptr<asio::ssl::context> load_tls(const Settings& s) {
    auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
    // TLS 1.2 and 1.3 only (RFC 8996 deprecates 1.0 and 1.1); OpenSSL's default ciphers.
    ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                     asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
    // OpenSSL frees a connection's record buffers while it is idle.
    SSL_CTX_set_mode(ctx->native_handle(), SSL_MODE_RELEASE_BUFFERS);
    asio::error_code ec;
    ctx->use_certificate_chain_file(s.cert_file, ec);
    if (ec) throw Error(ErrorKind::config, fmt::format("cannot load the TLS certificate {}: {}", s.cert_file, ec.message()));
    ctx->use_private_key_file(s.key_file, asio::ssl::context::pem, ec);
    if (ec) throw Error(ErrorKind::config, fmt::format("cannot load the TLS key {}: {}", s.key_file, ec.message()));
    return ctx;
}

struct Connection;

struct Shared {
    Shared(const Settings& s, asio::io_context& context)
        : settings(s), io(context), workers(s.workers != 0 ? s.workers : 2 * std::max(1u, std::thread::hardware_concurrency())) {}
    const Settings& settings;
    asio::io_context& io;
    asio::thread_pool workers;
    std::mutex mutex;  // guards everything below
    std::shared_ptr<asio::ssl::context> tls;
    std::size_t connections = 0;
    std::map<std::string, std::size_t> per_ip;  // by auth::client_key: an IPv6 /64 counts as one
    std::set<std::shared_ptr<Connection>> live;
    bool stopping = false;
    bool outbound_running = false;  // the transport has connections to end before io stops
    std::atomic<std::uint64_t> next_id{0};
};

// The TLS stream is made when TLS starts: an SSL object and its buffers cost tens of KB, which
// an idle plaintext connection should not pay.
struct Connection {
    Connection(tcp::socket s, std::shared_ptr<asio::ssl::context> ctx)
        : socket(std::move(s)), tls_context(std::move(ctx)), timer(socket.get_executor()) {}
    tcp::socket socket;
    std::shared_ptr<asio::ssl::context> tls_context;  // the one current at accept, kept alive
    std::unique_ptr<TlsStream> tls;                   // over `socket`, once TLS started
    asio::steady_timer timer;
    std::unique_ptr<Conversation> conversation;
    Peer peer;
    bool finished = false;
    bool timed_out = false;
    bool stop_requested = false;
    // The Waker (docs/architecture.md section 4): set by any thread, cleared on the strand just
    // before wake(); while set, further calls post nothing (coalesced).
    std::atomic<bool> wake_pending{false};
    bool wake_requested = false;  // on the strand: wake() is due
    bool reading = false;         // on the strand: a read waits, which a wake cancels
    Clock::time_point deadline = Clock::now();
};

// A deadline earlier than the one the watchdog sleeps towards wakes it.
void set_deadline(Connection& c, Clock::time_point deadline) {
    const bool earlier = deadline < c.deadline;
    c.deadline = deadline;
    if (earlier) c.timer.cancel();
}

asio::awaitable<void> watchdog(std::shared_ptr<Connection> c) {
    while (!c->finished) {
        c->timer.expires_at(c->deadline);
        asio::error_code ec;
        co_await c->timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        if (c->finished) break;
        if (Clock::now() >= c->deadline) {
            c->timed_out = true;
            c->socket.cancel(ec);
            // Runs once; the connection's loop ends or sets a new deadline and wakes us.
            c->deadline = Clock::time_point::max();
        }
    }
}

asio::awaitable<std::size_t> read_some(Connection& c, char* data, std::size_t size, asio::error_code& ec) {
    if (c.tls) co_return co_await c.tls->async_read_some(asio::buffer(data, size), asio::redirect_error(asio::use_awaitable, ec));
    co_return co_await c.socket.async_read_some(asio::buffer(data, size), asio::redirect_error(asio::use_awaitable, ec));
}

// Makes the TLS stream and does the server handshake. Throws on failure.
asio::awaitable<void> start_tls(Connection& c) {
    c.tls = std::make_unique<TlsStream>(c.socket, *c.tls_context);
    asio::error_code ec;
    co_await c.tls->async_handshake(asio::ssl::stream_base::server, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) throw std::runtime_error("TLS handshake: " + ec.message());
}

// Writes what the session queued, one piece at a time (docs/architecture.md section 4: a
// connection holds one piece, never a whole large response). A client that keeps reading keeps
// the connection alive while more pieces follow. False when the peer is gone.
asio::awaitable<bool> flush(Connection& c) {
    std::string out = c.conversation->take_output(server::output_piece);
    while (!out.empty()) {
        asio::error_code ec;
        if (c.tls) co_await asio::async_write(*c.tls, asio::buffer(out), asio::redirect_error(asio::use_awaitable, ec));
        else co_await asio::async_write(c.socket, asio::buffer(out), asio::redirect_error(asio::use_awaitable, ec));
        if (ec) co_return false;
        out = c.conversation->take_output(server::output_piece);
        if (!out.empty() && c.deadline != Clock::time_point::max()) set_deadline(c, Clock::now() + c.conversation->idle_timeout());
    }
    co_return true;
}

// The Waker net/ gives each Conversation: posts to the connection's strand at most once until
// the loop takes it, and cancels a waiting read so that the loop calls wake() at once.
server::Waker make_waker(const std::shared_ptr<Connection>& connection) {
    return [weak = std::weak_ptr<Connection>(connection)] {
        auto c = weak.lock();
        if (!c || c->wake_pending.exchange(true)) return;
        asio::post(c->socket.get_executor(), [c] {
            if (c->finished) return;
            c->wake_requested = true;
            asio::error_code ignored;
            if (c->reading) c->socket.cancel(ignored);
        });
    };
}

// A coroutine on the worker pool; the Job lives in its frame (a capturing lambda coroutine's
// captures would not).
asio::awaitable<std::function<void()>> run_job(server::Job job) { co_return job(); }

void release(Shared& shared, const std::shared_ptr<Connection>& c) {
    std::lock_guard lock(shared.mutex);
    shared.live.erase(c);
    --shared.connections;
    if (auto it = shared.per_ip.find(auth::client_key(c->peer.address)); it != shared.per_ip.end() && --it->second == 0) shared.per_ip.erase(it);
    if (shared.stopping && shared.connections == 0 && !shared.outbound_running) shared.io.stop();  // the last one out
}

asio::awaitable<void> converse(Shared& shared, std::shared_ptr<Connection> c) {
    Conversation& conv = *c->conversation;
    std::string reason = "eof";
    asio::co_spawn(c->socket.get_executor(), watchdog(c), asio::detached);
    try {
        set_deadline(*c, Clock::now() + conv.idle_timeout());
        if (c->peer.tls) co_await start_tls(*c);
        conv.set_waker(make_waker(c));
        conv.start();
        std::array<char, 8192> buffer;
        bool woke = false;
        for (;;) {
            // A wake is not the client speaking: it does not push the idle deadline back.
            if (!woke) set_deadline(*c, Clock::now() + conv.idle_timeout());
            woke = false;
            if (!co_await flush(*c)) {
                reason = "error: write failed";
                break;
            }
            if (auto job = conv.take_job()) {
                auto finish = co_await asio::co_spawn(shared.workers, run_job(std::move(*job)), asio::use_awaitable);
                finish();
                continue;
            }
            if (conv.wants_close()) {
                reason = c->stop_requested ? "stop" : "quit";
                break;
            }
            if (conv.wants_starttls()) {
                co_await start_tls(*c);
                const SSL* ssl = c->tls->native_handle();
                conv.tls_started(SSL_get_version(ssl), SSL_get_cipher_name(ssl));
                continue;
            }
            if (c->stop_requested && !conv.busy()) {
                conv.shutdown();
                set_deadline(*c, Clock::now() + farewell_time);
                co_await flush(*c);
                reason = "stop";
                break;
            }
            if (c->wake_requested) {
                c->wake_requested = false;
                c->wake_pending = false;  // a Waker called during wake() posts again
                conv.wake();
                woke = true;
                continue;
            }
            asio::error_code ec;
            c->reading = true;
            std::size_t n = co_await read_some(*c, buffer.data(), buffer.size(), ec);
            c->reading = false;
            if (ec == asio::error::operation_aborted && c->timed_out) {
                conv.timeout();
                c->timed_out = false;
                set_deadline(*c, Clock::now() + farewell_time);
                co_await flush(*c);
                reason = "timeout";
                break;
            }
            if (ec == asio::error::operation_aborted && (c->stop_requested || c->wake_requested)) continue;
            if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) break;
            if (ec) throw std::runtime_error(ec.message());
            conv.receive(std::string_view(buffer.data(), n));
        }
    } catch (const std::exception& e) {
        reason = std::string("error: ") + e.what();
    }
    asio::error_code ignored;
    if (c->tls && reason != "eof" && reason.rfind("error:", 0) != 0) {
        // A TLS close_notify, bounded: a client that does not answer is not waited for.
        set_deadline(*c, Clock::now() + std::chrono::seconds(2));
        co_await c->tls->async_shutdown(asio::redirect_error(asio::use_awaitable, ignored));
    }
    c->finished = true;
    c->timer.cancel();
    c->socket.shutdown(tcp::socket::shutdown_both, ignored);
    c->socket.close(ignored);
    conv.closed(reason);
    release(shared, c);
}

asio::awaitable<void> refuse(tcp::socket socket, std::string bytes) {
    asio::error_code ec;
    asio::steady_timer timer(socket.get_executor());
    timer.expires_after(farewell_time);
    timer.async_wait([&](asio::error_code e) {
        if (!e) socket.cancel(ec);
    });
    co_await asio::async_write(socket, asio::buffer(bytes), asio::redirect_error(asio::use_awaitable, ec));
    timer.cancel();
    socket.shutdown(tcp::socket::shutdown_both, ec);
    socket.close(ec);
}

std::string endpoint_text(const tcp::endpoint& e) {
    if (e.address().is_v6()) return fmt::format("[{}]:{}", e.address().to_string(), e.port());
    return fmt::format("{}:{}", e.address().to_string(), e.port());
}

asio::awaitable<void> accept_loop(Shared& shared, tcp::acceptor& acceptor, const Listener& listener) {
    const std::string local = endpoint_text(acceptor.local_endpoint());
    for (;;) {
        asio::error_code ec;
        tcp::socket socket = co_await acceptor.async_accept(asio::make_strand(acceptor.get_executor()),
                                                            asio::redirect_error(asio::use_awaitable, ec));
        if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
        if (ec) {
            // EMFILE and friends: say so, and give the system a moment instead of spinning.
            log::line("accept_error", {{"listener", listener.name}, {"error", ec.message()}});
            asio::steady_timer pause(acceptor.get_executor(), std::chrono::milliseconds(100));
            co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
            continue;
        }
        Peer peer;
        peer.listener = listener.name;
        peer.local = local;
        tcp::endpoint remote = socket.remote_endpoint(ec);
        if (ec) continue;  // gone already
        asio::ip::address address = remote.address();
        if (address.is_v6() && address.to_v6().is_v4_mapped())
            address = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
        peer.address = address.to_string();
        peer.port = remote.port();
        peer.loopback = address.is_loopback();
        peer.tls = listener.implicit_tls;
        peer.id = fmt::format("{:x}{:04x}", static_cast<std::uint64_t>(::time(nullptr)), shared.next_id.fetch_add(1) & 0xffff);

        std::shared_ptr<asio::ssl::context> tls;
        std::string refusal;
        const std::string client = auth::client_key(peer.address);
        {
            std::lock_guard lock(shared.mutex);
            if (shared.stopping) refusal = "the server is stopping";
            else if (shared.connections >= shared.settings.max_connections) refusal = "too many connections";
            else if (shared.per_ip[client] >= shared.settings.max_connections_per_ip)
                refusal = "too many connections from your address";
            if (shared.per_ip[client] == 0 && !refusal.empty()) shared.per_ip.erase(client);
            tls = shared.tls;
        }
        if (!refusal.empty()) {
            std::string bytes = listener.service->refuse(peer, refusal);
            auto executor = socket.get_executor();
            if (listener.implicit_tls) bytes.clear();  // no plaintext on a TLS port
            asio::co_spawn(executor, refuse(std::move(socket), std::move(bytes)), asio::detached);
            continue;
        }
        auto c = std::make_shared<Connection>(std::move(socket), std::move(tls));
        c->peer = peer;
        try {
            c->conversation = listener.service->open(c->peer);
        } catch (const std::exception& e) {
            log::line("session_error", {{"session", peer.id}, {"error", e.what()}});
            continue;
        }
        {
            std::lock_guard lock(shared.mutex);
            ++shared.connections;
            ++shared.per_ip[client];
            shared.live.insert(c);
        }
        auto executor = c->socket.get_executor();
        asio::co_spawn(executor, converse(shared, c), asio::detached);
    }
}

void drop_privileges(const std::string& user) {
    if (user.empty() || ::geteuid() != 0) return;
    errno = 0;
    struct passwd* pw = ::getpwnam(user.c_str());
    if (pw == nullptr)
        throw Error(ErrorKind::config, fmt::format("[server] user '{}' does not exist (create it: useradd --system {})", user, user));
    if (pw->pw_uid == 0) return;  // told to run as root
    if (::setgroups(1, &pw->pw_gid) != 0 || ::setgid(pw->pw_gid) != 0 || ::setuid(pw->pw_uid) != 0)
        throw Error(ErrorKind::permission, fmt::format("cannot become user {}", user), errno_text("setuid", errno));
    if (::setuid(0) == 0) throw Error(ErrorKind::internal, fmt::format("still root after becoming {}", user));
}

}  // namespace

void serve(const Settings& settings, const std::function<void()>& reload) {
    std::signal(SIGPIPE, SIG_IGN);  // a closed stderr or socket is an error code, not death
    asio::io_context io;
    // Before anything is printed: a SIGTERM right after the listening lines is a clean stop.
    asio::signal_set signals(io, SIGINT, SIGTERM, SIGHUP);
    Shared shared(settings, io);
    shared.tls = load_tls(settings);

    std::vector<std::unique_ptr<tcp::acceptor>> acceptors;
    for (const Listener& l : settings.listeners) {
        asio::error_code ec;
        asio::ip::address address = asio::ip::make_address(l.host, ec);
        if (ec) throw Error(ErrorKind::config, fmt::format("[{}] listen: '{}' is not an IP address", l.name, l.host));
        tcp::endpoint endpoint(address, l.port);
        auto acceptor = std::make_unique<tcp::acceptor>(io);
        acceptor->open(endpoint.protocol(), ec);
        if (!ec) acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
        if (!ec && address.is_v6()) acceptor->set_option(asio::ip::v6_only(true), ec);
        if (!ec) acceptor->bind(endpoint, ec);
        if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
        if (ec) {
            const ErrorKind kind = ec == asio::error::access_denied ? ErrorKind::permission : ErrorKind::temporary;
            throw Error(kind, fmt::format("cannot listen on {} for {}: {}", endpoint_text(endpoint), l.name, ec.message()));
        }
        acceptors.push_back(std::move(acceptor));
    }
    drop_privileges(settings.run_as);
    // After the drop, so the socket belongs to the server's user; removed however serve() ends
    // (no other server can have bound it meanwhile: the caller holds the spool lock).
    struct RemoveAtExit {
        std::string path;
        ~RemoveAtExit() {
            if (!path.empty()) ::unlink(path.c_str());
        }
    } control_socket;
    if (!settings.control_path.empty() && settings.on_control) {
        start_control(io, shared.workers, settings.control_path, settings.on_control);
        control_socket.path = settings.control_path;
    }
    // The outbound transport never runs as root either; a bad [outbound] DNS server fails here.
    std::unique_ptr<Outbound> outbound;
    if (settings.dispatcher != nullptr)
        outbound = std::make_unique<Outbound>(io, shared.workers, *settings.dispatcher, settings.outbound);

    if (settings.on_bound) settings.on_bound();
    for (std::size_t i = 0; i < acceptors.size(); ++i) {
        const Listener& l = settings.listeners[i];
        asio::co_spawn(io, accept_loop(shared, *acceptors[i], l), asio::detached);
        std::printf("listening %s %s\n", l.name.c_str(), endpoint_text(acceptors[i]->local_endpoint()).c_str());
        log::line("listening", {{"listener", l.name}, {"address", endpoint_text(acceptors[i]->local_endpoint())}});
        if (settings.on_listening) settings.on_listening(l, endpoint_text(acceptors[i]->local_endpoint()));
    }
    std::fflush(stdout);
    if (settings.on_ready) settings.on_ready();

    if (outbound) {
        shared.outbound_running = true;
        outbound->start();
        if (settings.on_outbound) settings.on_outbound(outbound->nudger());
    }

    asio::steady_timer grace(io);
    std::function<void()> wait_signal;
    wait_signal = [&] {
        signals.async_wait([&](asio::error_code ec, int signal) {
            if (ec) return;
            if (signal == SIGHUP) {
                try {
                    if (reload) reload();
                    auto tls = load_tls(settings);
                    std::lock_guard lock(shared.mutex);
                    shared.tls = std::move(tls);
                    log::line("reloaded", {});
                } catch (const std::exception& e) {
                    log::line("reload_failed", {{"error", e.what()}});
                }
                wait_signal();
                return;
            }
            std::vector<std::shared_ptr<Connection>> live;
            {
                std::lock_guard lock(shared.mutex);
                if (shared.stopping) {  // a second SIGTERM: stop now
                    io.stop();
                    return;
                }
                shared.stopping = true;
                live.assign(shared.live.begin(), shared.live.end());
                if (shared.connections == 0 && !shared.outbound_running) io.stop();
            }
            if (outbound)
                outbound->stop([&] {
                    std::lock_guard lock(shared.mutex);
                    shared.outbound_running = false;
                    if (shared.connections == 0) io.stop();
                });
            log::line("stopping", {{"signal", signal == SIGTERM ? "TERM" : "INT"}, {"connections", std::to_string(live.size())}});
            for (auto& a : acceptors) a->close(ec);
            for (auto& c : live)
                asio::post(c->socket.get_executor(), [c] {
                    c->stop_requested = true;
                    asio::error_code ignored;
                    c->socket.cancel(ignored);
                });
            grace.expires_after(settings.grace);
            grace.async_wait([&](asio::error_code e) {
                if (e) return;
                log::line("grace_expired", {});
                io.stop();
            });
            wait_signal();
        });
    };
    wait_signal();

    const unsigned threads = settings.threads != 0 ? settings.threads : std::max(1u, std::thread::hardware_concurrency());
    std::vector<std::thread> pool;
    for (unsigned i = 1; i < threads; ++i) pool.emplace_back([&] { io.run(); });
    io.run();
    for (auto& t : pool) t.join();
    shared.workers.join();  // jobs in flight (a delivery's fsync) finish; their results are dropped
    {
        // Connections still open after the grace time go with io's pending coroutines, while
        // io still exists.
        std::lock_guard lock(shared.mutex);
        shared.live.clear();
    }
    outbound.reset();
    log::line("stopped", {});
}

}  // namespace vpsmail::net
