// The common part of every Conversation (docs/architecture.md section 4): a sans-I/O session's
// Actions turned into Jobs, its output handed out in bounded pieces, the Waker kept for it, and
// the connect, TLS and disconnect log lines. What is protocol-specific (how an Action runs, the
// idle timeout, when a transaction is open, extra log lines) stays in the adapter deriving from
// it; no sockets, no Asio here.
#pragma once

#include "core/log.hpp"
#include "server/conversation.hpp"

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace vpsmail::server {

namespace detail {
template <class T>
struct argument_of;
template <class C, class R, class A>
struct argument_of<R (C::*)(A)> {
    using type = std::decay_t<A>;
};
template <class C, class R, class A>
struct argument_of<R (C::*)(A) noexcept> {
    using type = std::decay_t<A>;
};
}  // namespace detail

/// A sans-I/O session SessionDriver can run: start(), receive(bytes), take_action() giving an
/// optional Action, complete(Result), wants_close(), timeout(), shutdown(); and a take_output:
/// either `std::string take_output()` (small replies, which the driver hands out in pieces) or
/// `void take_output(std::string& out, std::size_t max)` appending at most `max` bytes (a large
/// response produced piece by piece, a 50 MB FETCH read from its file). Optional:
/// wants_starttls() and tls_started(), wake() (SessionDriver::wake() calls it).
template <class S>
concept DrivenSession = requires(S& s, const S& cs, std::span<const char> bytes) {
    s.start();
    s.receive(bytes);
    s.take_action();
    &S::complete;
    s.timeout();
    s.shutdown();
    { cs.wants_close() } -> std::convertible_to<bool>;
};

/// Whether the driver writes the connect, tls and disconnect log lines.
enum class ConnectionLog { lines, none };

/// A Conversation around a session of type S, which the deriving adapter owns (it constructs
/// its ports first, then the session) and hands to this constructor by reference.
template <DrivenSession S>
class SessionDriver : public Conversation {
public:
    using Action = typename decltype(std::declval<S&>().take_action())::value_type;
    using Result = typename detail::argument_of<decltype(&S::complete)>::type;

    void start() override { session_.start(); }

    void receive(std::string_view bytes) override {
        session_.receive(std::span<const char>(bytes.data(), bytes.size()));
        after_input();
    }

    /// At most `max` bytes: pulled from the session's bounded take_output, or cut from what its
    /// plain take_output() returned. Empty when nothing is queued.
    std::string take_output(std::size_t max) override {
        std::string out;
        if constexpr (requires(S& s, std::string& o, std::size_t m) { s.take_output(o, m); }) {
            session_.take_output(out, max);
        } else {
            if (offset_ == pending_.size()) {
                pending_ = session_.take_output();
                offset_ = 0;
            }
            const std::size_t n = std::min(max, pending_.size() - offset_);
            out.assign(pending_, offset_, n);
            offset_ += n;
            if (offset_ == pending_.size()) {
                pending_.clear();
                offset_ = 0;
            }
        }
        return out;
    }

    /// The next Action as a Job: run() on a worker thread, then complete() and after_input()
    /// on the connection's thread. The Job refers to this Conversation, which outlives it.
    std::optional<Job> take_job() override {
        auto action = session_.take_action();
        if (!action) return std::nullopt;
        return Job([this, action = std::move(*action)]() -> std::function<void()> {
            Result result = run(action);
            return [this, result = std::move(result)]() mutable {
                session_.complete(std::move(result));
                after_input();
            };
        });
    }

    void set_waker(Waker waker) override { waker_ = std::move(waker); }

    void wake() override {
        if constexpr (requires(S& s) { s.wake(); }) session_.wake();
    }

    bool wants_starttls() const override {
        if constexpr (requires(const S& s) { s.wants_starttls(); }) return session_.wants_starttls();
        return false;
    }

    void tls_started(std::string_view version, std::string_view cipher) override {
        if (log_ == ConnectionLog::lines) log::line("tls", {{"session", peer_.id}, {"version", version}, {"cipher", cipher}});
        if constexpr (requires(S& s) { s.tls_started(); }) session_.tls_started();
    }

    bool wants_close() const override { return session_.wants_close(); }
    void timeout() override { session_.timeout(); }
    void shutdown() override { session_.shutdown(); }

    void closed(std::string_view reason) override {
        if (log_ == ConnectionLog::lines) log::line("disconnect", {{"session", peer_.id}, {"reason", reason}});
    }

protected:
    /// `session` is the adapter's member, constructed after this base: nothing here touches
    /// it before start().
    SessionDriver(Peer peer, S& session, ConnectionLog log = ConnectionLog::lines)
        : peer_(std::move(peer)), session_(session), log_(log) {
        if (log_ == ConnectionLog::lines)
            log::line("connect", {{"session", peer_.id}, {"listener", peer_.listener}, {"client", peer_.address}});
    }

    const Peer& peer() const noexcept { return peer_; }
    /// The driver's Waker (empty before set_waker(), and where nothing drives one: a
    /// dialogue without a second thread, sendmail -bs). Copy it to whatever may wake us.
    const Waker& waker() const noexcept { return waker_; }

    /// Runs one Action on a worker thread (crypt(3), an fsync'd delivery) and returns its
    /// result; never at the same time as another Action of this session. Must not throw.
    virtual Result run(const Action& action) = 0;
    /// After each receive() and complete(), on the connection's thread (SMTP logs improper
    /// pipelining here).
    virtual void after_input() {}

private:
    Peer peer_;
    S& session_;
    ConnectionLog log_;
    Waker waker_;
    std::string pending_;     // what the plain take_output() gave and was not handed out yet
    std::size_t offset_ = 0;  // handed out of pending_
};

}  // namespace vpsmail::server
