// The Asio loop around smtp::ClientSession: a wake-up coroutine that asks the Dispatcher for
// ready destinations, and one coroutine per connection (on its own strand) that resolves,
// connects address after address, does TLS, sends the taken messages and reports them, with
// a watchdog per connection for the RFC 5321 4.5.3.2 timeouts.
#include "net/outbound.hpp"

#include "core/error.hpp"
#include "core/log.hpp"
#include "smtp/client_session.hpp"
#include "net/dns.hpp"

#include <asio.hpp>
#include <asio/ssl.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <mutex>

namespace vpsmail::net {
namespace {

using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using TlsStream = asio::ssl::stream<tcp::socket&>;
using queue::Destination;
using queue::MessageOutcome;
using queue::OutboundMessage;
using queue::RecipientOutcome;
using smtp::ClientPhase;
using smtp::ClientSession;

constexpr std::size_t write_slice = 64 * 1024;  // one "TCP SEND" of RFC 5321 4.5.3.2.5
constexpr auto longest_sleep = std::chrono::hours(1);

// Runs f() on the pool; the coroutine frame owns f while it runs.
template <class F>
asio::awaitable<std::invoke_result_t<F&>> call(F f) {
    co_return f();
}

template <class F>
asio::awaitable<std::invoke_result_t<F&>> on_pool(asio::thread_pool& pool, F f) {
    co_return co_await asio::co_spawn(pool, call(std::move(f)), asio::use_awaitable);
}

RecipientOutcome make_outcome(RecipientOutcome::Kind kind, int code, std::string status, std::string text) {
    RecipientOutcome o;
    o.kind = kind;
    o.code = code;
    o.status = std::move(status);
    o.text = std::move(text);
    return o;
}

std::string_view kind_name(RecipientOutcome::Kind kind) {
    switch (kind) {
    case RecipientOutcome::Kind::delivered: return "sent";
    case RecipientOutcome::Kind::deferred: return "deferred";
    case RecipientOutcome::Kind::bounced: return "bounced";
    }
    return "";
}

}  // namespace

struct OutboundState {
    OutboundState(asio::io_context& context, asio::thread_pool& pool, queue::Dispatcher& d, OutboundSettings s)
        : io(context), workers(pool), dispatcher(d), settings(std::move(s)), strand(asio::make_strand(context)),
          wake(strand) {}

    asio::io_context& io;
    asio::thread_pool& workers;
    queue::Dispatcher& dispatcher;
    const OutboundSettings settings;
    asio::strand<asio::io_context::executor_type> strand;  // the wake-up loop's
    asio::steady_timer wake;
    bool nudged = false;  // on strand
    std::shared_ptr<asio::ssl::context> mx_tls;
    std::shared_ptr<asio::ssl::context> relay_tls;
    std::unique_ptr<Resolver> resolver;

    std::mutex mutex;  // guards the three below
    std::size_t connections = 0;
    bool stopping = false;
    std::function<void()> on_stopped;

    bool is_stopping() {
        std::lock_guard lock(mutex);
        return stopping;
    }
};

namespace {

using State = OutboundState;

// One TCP connection and its watchdog.
struct Link {
    explicit Link(asio::any_io_executor ex) : socket(ex), timer(ex) {}
    tcp::socket socket;
    std::unique_ptr<TlsStream> tls;
    asio::steady_timer timer;
    Clock::time_point deadline = Clock::time_point::max();
    bool timed_out = false;
    bool finished = false;
};

void set_deadline(Link& l, Clock::duration after) {
    const auto deadline = Clock::now() + after;
    const bool earlier = deadline < l.deadline;
    l.deadline = deadline;
    l.timed_out = false;
    if (earlier) l.timer.cancel();
}

asio::awaitable<void> watchdog(std::shared_ptr<Link> l) {
    while (!l->finished) {
        l->timer.expires_at(l->deadline);
        asio::error_code ec;
        co_await l->timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        if (l->finished) break;
        if (Clock::now() >= l->deadline) {
            l->timed_out = true;
            l->socket.cancel(ec);
            l->deadline = Clock::time_point::max();
        }
    }
}

// What a connection attempt came to.
struct Attempt {
    bool served = false;       // the session got ready: this destination is done for now
    bool tls_failed = false;   // the STARTTLS handshake failed
    RecipientOutcome failure;  // !served: what to report if no other address does better
};

struct Target {
    std::string host;  // the name (or IP literal) we connect to
    std::string address;
    std::uint16_t port = 0;
    bool relay = false;
    bool implicit_tls = false;
    std::string mta() const { return host == address ? fmt::format("[{}]", address) : fmt::format("{} [{}]", host, address); }
};

std::string failure_text(const Link& l, std::string_view verb, const Target& t, ClientPhase phase, const asio::error_code& ec) {
    if (l.timed_out) return fmt::format("conversation with {} timed out {}", t.mta(), smtp::describe(phase));
    if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated)
        return fmt::format("lost connection with {} {}", t.mta(), smtp::describe(phase));
    return fmt::format("{} {} {}: {}", verb, t.mta(), smtp::describe(phase), ec.message());
}

asio::awaitable<void> report(State& st, const OutboundMessage& message, MessageOutcome outcome, const std::string& mta) {
    for (std::size_t i = 0; i < outcome.recipients.size() && i < message.recipients.size(); ++i) {
        RecipientOutcome& o = outcome.recipients[i];
        if (o.remote_mta.empty()) o.remote_mta = mta;
        const std::string reply = fmt::format("{} {} {}", o.code, o.status, o.text);
        log::line(kind_name(o.kind),
                  {{"id", message.id}, {"to", message.recipients[i].address}, {"relay", o.remote_mta}, {"reply", reply}});
    }
    co_await on_pool(st.workers, [&st, &message, &outcome] { st.dispatcher.report(message, outcome); });
}

// Writes what the session queued: the message text in slices, each with its own timeout.
asio::awaitable<asio::error_code> flush(State& st, Link& l, ClientSession& s, std::string out) {
    const smtp::ClientTimeouts timeouts{st.settings.connect_timeout, st.settings.command_timeout, st.settings.data_timeout};
    asio::error_code ec;
    const bool text = s.phase() == ClientPhase::data_end;
    for (std::size_t at = 0; at < out.size() && !ec; at += write_slice) {
        set_deadline(l, smtp::timeout_for(s.phase(), timeouts, text));
        auto slice = asio::buffer(out.data() + at, std::min(write_slice, out.size() - at));
        if (l.tls) co_await asio::async_write(*l.tls, slice, asio::redirect_error(asio::use_awaitable, ec));
        else co_await asio::async_write(l.socket, slice, asio::redirect_error(asio::use_awaitable, ec));
    }
    co_return ec;
}

asio::awaitable<asio::error_code> handshake(State& st, Link& l, const Target& t) {
    auto& ctx = t.relay ? *st.relay_tls : *st.mx_tls;
    l.tls = std::make_unique<TlsStream>(l.socket, ctx);
    asio::error_code ec;
    asio::ip::make_address(t.host, ec);
    if (ec) SSL_set_tlsext_host_name(l.tls->native_handle(), t.host.c_str());  // SNI for names only (RFC 6066 3)
    if (t.relay && st.settings.relay_tls_verify) l.tls->set_verify_callback(asio::ssl::host_name_verification(t.host));
    ec.clear();
    set_deadline(l, st.settings.command_timeout);
    co_await l.tls->async_handshake(asio::ssl::stream_base::client, asio::redirect_error(asio::use_awaitable, ec));
    co_return ec;
}

// One connection to one address: connect, converse, send what take() gives.
asio::awaitable<Attempt> attempt(State& st, const Destination& d, const Target& t, bool starttls) {
    Attempt result;
    result.failure = make_outcome(RecipientOutcome::Kind::deferred, 451, "4.4.1", "");
    auto l = std::make_shared<Link>(co_await asio::this_coro::executor);
    asio::co_spawn(l->socket.get_executor(), watchdog(l), asio::detached);
    struct Finish {
        Link& l;
        ~Finish() {
            asio::error_code ignored;
            l.finished = true;
            l.timer.cancel();
            l.socket.shutdown(tcp::socket::shutdown_both, ignored);
            l.socket.close(ignored);
        }
    } finish{*l};

    asio::error_code ec;
    const tcp::endpoint endpoint(asio::ip::make_address(t.address, ec), t.port);
    if (ec) {
        result.failure.text = fmt::format("bad address {}", t.address);
        co_return result;
    }
    set_deadline(*l, st.settings.connect_timeout);
    co_await l->socket.async_connect(endpoint, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
        result.failure.text = l->timed_out ? fmt::format("connection timed out with {}", t.mta())
                              : ec == asio::error::connection_refused ? fmt::format("connection refused by {}", t.mta())
                                                                       : fmt::format("cannot connect to {}: {}", t.mta(), ec.message());
        log::line("outbound_failed", {{"destination", d.key}, {"host", t.host}, {"ip", t.address}, {"error", result.failure.text}});
        co_return result;
    }

    smtp::ClientConfig config;
    config.helo_name = st.settings.helo_name;
    config.tls_wanted = starttls;
    config.tls_required = st.settings.require_tls;
    config.tls_active = t.implicit_tls;
    if (t.relay) {
        config.username = st.settings.username;
        config.password = st.settings.password;
    }
    ClientSession s(config);
    const smtp::ClientTimeouts timeouts{st.settings.connect_timeout, st.settings.command_timeout, st.settings.data_timeout};
    std::string tls_version = "none";
    std::string tls_cipher;
    auto note_tls = [&] {
        const SSL* ssl = l->tls->native_handle();
        tls_version = SSL_get_version(ssl);
        tls_cipher = SSL_get_cipher_name(ssl);
    };
    if (t.implicit_tls) {
        ec = co_await handshake(st, *l, t);
        if (ec) {
            result.failure.text = fmt::format("TLS handshake with {} failed: {}", t.mta(), ec.message());
            log::line("outbound_failed", {{"destination", d.key}, {"host", t.host}, {"ip", t.address}, {"error", result.failure.text}});
            co_return result;
        }
        note_tls();
    }

    std::optional<OutboundMessage> current;
    std::array<char, 8192> buffer;
    for (;;) {
        if (std::string out = s.take_output(); !out.empty()) {
            const ClientPhase phase = s.phase();
            ec = co_await flush(st, *l, s, std::move(out));
            if (ec) s.closed(failure_text(*l, "cannot write to", t, phase, ec));
        }
        if (auto outcome = s.take_outcome()) {
            if (current) co_await report(st, *current, std::move(*outcome), t.mta());
            current.reset();
        }
        if (s.wants_starttls()) {
            ec = co_await handshake(st, *l, t);
            if (ec) {
                result.tls_failed = true;
                result.failure = make_outcome(RecipientOutcome::Kind::deferred, 451, "4.7.5",
                                              fmt::format("TLS handshake with {} failed: {}", t.mta(), ec.message()));
                s.closed(result.failure.text);
                log::line("outbound_failed", {{"destination", d.key}, {"host", t.host}, {"ip", t.address}, {"error", result.failure.text}});
                break;
            }
            note_tls();
            s.tls_started();
            continue;
        }
        const auto state = s.state();
        if (state == ClientSession::State::ready) {
            if (!result.served)
                log::line("outbound_connect", {{"destination", d.key}, {"host", t.host}, {"ip", t.address},
                                               {"tls", tls_version}, {"cipher", tls_cipher}});
            result.served = true;
            if (st.is_stopping()) {
                s.quit();
                continue;
            }
            current = co_await on_pool(st.workers, [&st, &d] { return st.dispatcher.take(d); });
            if (!current) s.quit();
            else s.send(*current);
            continue;
        }
        if (state == ClientSession::State::closed || state == ClientSession::State::failed) break;
        set_deadline(*l, smtp::timeout_for(s.phase(), timeouts));
        const ClientPhase phase = s.phase();
        std::size_t n = 0;
        if (l->tls) n = co_await l->tls->async_read_some(asio::buffer(buffer), asio::redirect_error(asio::use_awaitable, ec));
        else n = co_await l->socket.async_read_some(asio::buffer(buffer), asio::redirect_error(asio::use_awaitable, ec));
        if (ec) {
            s.closed(failure_text(*l, "error with", t, phase, ec));
            continue;  // reports the open message, then ends
        }
        s.receive(std::string_view(buffer.data(), n));
    }
    if (current) {
        // Taken but never sent nor answered (a failure before send()): deferred, reported once.
        MessageOutcome outcome;
        for (std::size_t i = 0; i < current->recipients.size(); ++i)
            outcome.recipients.push_back(make_outcome(RecipientOutcome::Kind::deferred, 451, "4.4.2",
                                                      fmt::format("lost connection with {}", t.mta())));
        co_await report(st, *current, std::move(outcome), t.mta());
    }
    if (!result.served && !result.tls_failed) {
        if (const auto& f = s.failure()) {
            // The host refused (greeting, EHLO, AUTH, TLS policy): deferred with its words; the
            // Dispatcher decides when to give up.
            result.failure = make_outcome(RecipientOutcome::Kind::deferred, f->reply.code,
                                          f->reply.status.empty() ? fmt::format("{}.0.0", f->reply.code / 100) : f->reply.status,
                                          f->reply.text);
            result.failure.remote_reply = f->remote;
            if (f->remote) result.failure.remote_mta = t.mta();
            log::line("outbound_failed", {{"destination", d.key}, {"host", t.host}, {"ip", t.address},
                                          {"error", fmt::format("{} {} {}", f->reply.code, f->reply.status, f->reply.text)}});
        }
    }
    co_return result;
}

// A Resolver lookup as an awaitable on this coroutine's strand; the callback runs on the
// resolver's thread and posts the answer back. The initiating lambda captures only references:
// GCC 12 destroys a lambda temporary inside a co_await expression twice, which frees its
// by-value captures (a std::string, an executor) twice.
template <class Result>
asio::awaitable<Result> await_dns(Resolver& resolver, void (Resolver::*lookup)(const std::string&, std::function<void(Result)>),
                                  std::string name) {
    auto ex = co_await asio::this_coro::executor;
    co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(Result)>(
        [&resolver, &lookup, &name, &ex](auto handler) {
            auto h = std::make_shared<decltype(handler)>(std::move(handler));
            auto work = std::make_shared<asio::executor_work_guard<asio::any_io_executor>>(ex);
            (resolver.*lookup)(name, [ex = ex, h, work](Result r) {
                asio::post(ex, [h, work, r = std::move(r)]() mutable { (*h)(std::move(r)); });
            });
        },
        asio::use_awaitable);
}

// The hosts to try, best first, or the outcome for every message when there are none.
struct Route {
    std::vector<std::string> hosts;
    std::optional<RecipientOutcome> failure;
};

asio::awaitable<Route> route_of(State& st, const Destination& d) {
    Route r;
    if (!d.relay_host.empty()) {
        r.hosts.push_back(d.relay_host);
        co_return r;
    }
    MxResult mx = co_await await_dns<MxResult>(*st.resolver, &Resolver::lookup_mx, d.domain);
    switch (mx.status) {
    case DnsStatus::ok:
        for (auto& h : mx.hosts) r.hosts.push_back(h.host);
        break;
    case DnsStatus::no_data: r.hosts.push_back(d.domain); break;  // RFC 5321 5.1: the implicit MX
    case DnsStatus::null_mx:
        r.failure = make_outcome(RecipientOutcome::Kind::bounced, 556, "5.1.10",
                                 fmt::format("the domain {} accepts no mail (null MX, RFC 7505)", d.domain));
        break;
    case DnsStatus::nxdomain:
        r.failure = make_outcome(RecipientOutcome::Kind::bounced, 550, "5.1.2", fmt::format("the domain {} does not exist", d.domain));
        break;
    case DnsStatus::temporary:
        r.failure = make_outcome(RecipientOutcome::Kind::deferred, 451, "4.4.3",
                                 fmt::format("DNS lookup of the MX of {} failed: {}", d.domain, mx.error));
        break;
    }
    co_return r;
}

// The addresses of `host`: itself when it is an IP literal.
asio::awaitable<std::vector<std::string>> addresses_of(State& st, const std::string& host, std::string& error) {
    asio::error_code ec;
    std::string literal = host;
    if (literal.size() > 2 && literal.front() == '[' && literal.back() == ']') literal = literal.substr(1, literal.size() - 2);
    if (literal.starts_with("IPv6:")) literal = literal.substr(5);  // RFC 5321 4.1.3
    asio::ip::make_address(literal, ec);
    if (!ec) co_return std::vector<std::string>{literal};
    AddressResult a = co_await await_dns<AddressResult>(*st.resolver, &Resolver::lookup_addresses, host);
    if (a.status != DnsStatus::ok) {
        error = a.status == DnsStatus::temporary ? fmt::format("DNS lookup of {} failed: {}", host, a.error)
                                                 : fmt::format("{} has no address", host);
        co_return std::vector<std::string>{};
    }
    co_return a.addresses;
}

// Every message of the destination gets `failure` (no connection could be made).
asio::awaitable<void> fail_all(State& st, const Destination& d, const RecipientOutcome& failure) {
    for (;;) {
        auto message = co_await on_pool(st.workers, [&st, &d] { return st.dispatcher.take(d); });
        if (!message) break;
        MessageOutcome outcome;
        outcome.recipients.assign(message->recipients.size(), failure);
        co_await report(st, *message, std::move(outcome), failure.remote_mta);
    }
}

asio::awaitable<void> deliver(State& st, const Destination& d) {
    Route route = co_await route_of(st, d);
    RecipientOutcome failure = make_outcome(RecipientOutcome::Kind::deferred, 451, "4.4.1", "no host to try");
    if (route.failure) {
        log::line("outbound_failed", {{"destination", d.key}, {"error", route.failure->text}});
        co_return co_await fail_all(st, d, *route.failure);
    }
    const bool relay = !d.relay_host.empty();
    for (const std::string& host : route.hosts) {
        if (st.is_stopping()) co_return;
        std::string error;
        const auto addresses = co_await addresses_of(st, host, error);
        if (addresses.empty()) {
            failure = make_outcome(RecipientOutcome::Kind::deferred, 451, "4.4.3", error);
            log::line("outbound_failed", {{"destination", d.key}, {"host", host}, {"error", error}});
            continue;
        }
        for (const std::string& address : addresses) {
            if (st.is_stopping()) co_return;
            Target t{host, address, relay ? d.relay_port : st.settings.port, relay, relay && d.relay_port == 465};
            Attempt a = co_await attempt(st, d, t, true);
            // Opportunistic TLS that breaks is no TLS: once more in clear, as Postfix does. Not to
            // a smart host whose certificate we check or that gets our password: breaking the
            // handshake must not be a way to make us talk in clear.
            const bool may_fall_back = !st.settings.require_tls &&
                                       !(relay && (st.settings.relay_tls_verify || !st.settings.username.empty()));
            if (a.tls_failed && may_fall_back) {
                log::line("outbound_tls_fallback", {{"destination", d.key}, {"host", host}, {"ip", address}});
                a = co_await attempt(st, d, t, false);
            }
            if (a.served) co_return;
            failure = std::move(a.failure);
        }
    }
    co_await fail_all(st, d, failure);
}

void connection_ended(const std::shared_ptr<State>& st) {
    std::function<void()> done;
    {
        std::lock_guard lock(st->mutex);
        if (--st->connections == 0 && st->stopping) done = std::move(st->on_stopped);
    }
    if (done) done();
}

asio::awaitable<void> connection(std::shared_ptr<State> st, Destination d) {
    try {
        co_await deliver(*st, d);
    } catch (const std::exception& e) {
        log::line("outbound_error", {{"destination", d.key}, {"error", e.what()}});
    }
    try {
        co_await on_pool(st->workers, [&st, &d] { st->dispatcher.closed(d); });
    } catch (const std::exception& e) {
        log::line("outbound_error", {{"destination", d.key}, {"error", e.what()}});
    }
    connection_ended(st);
}

asio::awaitable<void> wake_loop(std::shared_ptr<State> st) {
    while (!st->is_stopping()) {
        std::chrono::system_clock::time_point next;
        try {
            auto ready = co_await on_pool(st->workers, [&st] { return st->dispatcher.ready(std::chrono::system_clock::now()); });
            for (Destination& d : ready) {
                {
                    std::lock_guard lock(st->mutex);
                    if (!st->stopping) ++st->connections;
                    else {
                        // The slot ready() reserved is given back unused.
                        asio::co_spawn(st->workers, call([st, d] { st->dispatcher.closed(d); }), asio::detached);
                        continue;
                    }
                }
                asio::co_spawn(asio::make_strand(st->io), connection(st, std::move(d)), asio::detached);
            }
            next = co_await on_pool(st->workers, [&st] { return st->dispatcher.next_wakeup(); });
        } catch (const std::exception& e) {
            log::line("outbound_error", {{"error", e.what()}});
            next = std::chrono::system_clock::now() + std::chrono::seconds(10);
        }
        if (st->nudged) {
            st->nudged = false;
            continue;
        }
        const auto wait = next - std::chrono::system_clock::now();
        st->wake.expires_after(std::clamp<Clock::duration>(std::chrono::duration_cast<Clock::duration>(wait), Clock::duration::zero(),
                                                           longest_sleep));
        asio::error_code ec;
        co_await st->wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        st->nudged = false;
    }
}

std::shared_ptr<asio::ssl::context> client_tls(bool verify) {
    auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
    ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 | asio::ssl::context::no_sslv3);
    SSL_CTX_set_mode(ctx->native_handle(), SSL_MODE_RELEASE_BUFFERS);
    if (verify) {
        ctx->set_default_verify_paths();
        ctx->set_verify_mode(asio::ssl::verify_peer);
    } else {
        // RFC 7435: opportunistic TLS encrypts without authenticating; any certificate will do.
        ctx->set_verify_mode(asio::ssl::verify_none);
    }
    return ctx;
}

}  // namespace

Outbound::Outbound(asio::io_context& io, asio::thread_pool& workers, queue::Dispatcher& dispatcher, OutboundSettings settings)
    : state_(std::make_shared<OutboundState>(io, workers, dispatcher, std::move(settings))) {
    state_->mx_tls = client_tls(false);
    state_->relay_tls = client_tls(state_->settings.relay_tls_verify);
    state_->resolver = std::make_unique<Resolver>(state_->settings.dns_servers, state_->settings.dns_timeout, state_->settings.dns_tries);
}

Outbound::~Outbound() {
    state_->resolver.reset();
}

void Outbound::start() { asio::co_spawn(state_->strand, wake_loop(state_), asio::detached); }

void Outbound::nudge() {
    auto st = state_;
    asio::post(st->strand, [st] {
        st->nudged = true;
        st->wake.cancel();
    });
}

std::function<void()> Outbound::nudger() const {
    std::weak_ptr<OutboundState> weak = state_;
    return [weak] {
        auto st = weak.lock();
        if (!st) return;
        asio::post(st->strand, [st] {
            st->nudged = true;
            st->wake.cancel();
        });
    };
}

void Outbound::stop(std::function<void()> done) {
    auto st = state_;
    bool now = false;
    {
        std::lock_guard lock(st->mutex);
        st->stopping = true;
        if (st->connections == 0) now = true;
        else st->on_stopped = std::move(done);
    }
    asio::post(st->strand, [st] { st->wake.cancel(); });
    if (now && done) asio::post(st->strand, std::move(done));
}

}  // namespace vpsmail::net
