// What src/net needs of a protocol session, and all it knows of one: server/ wraps each sans-I/O
// session (smtp::Session, later pop3 and imap) in a Conversation (server/session_driver.hpp does
// the common part) and runs its slow actions as Jobs. No Asio, no sockets here: net/ drives these
// from its event loop; the dialogue runner and `sendmail -bs` drive them without a socket
// (docs/architecture.md section 4).
#pragma once

#include "server/origin.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace vpsmail::server {

/// One accepted connection, as the session sees it.
struct Peer {
    std::string listener;  ///< "smtp", "submission", "submissions": for logs only
    /// What policies apply (server/peer.hpp); net/ leaves the default for its clients.
    Origin origin = Origin::network;
    std::string local;     ///< the listener's address, "127.0.0.1:2525"
    std::string address;   ///< the client's IP address
    std::uint16_t port = 0;
    bool loopback = false;
    bool tls = false;      ///< TLS from the start (implicit TLS listener)
    std::string id;        ///< the session id in every log line
};

/// Slow work (password check, fsync'd delivery) for a worker thread. It returns what to run
/// afterwards on the connection (handing the result to the session); that part runs on the
/// connection's own strand, never at the same time as another call into the Conversation.
using Job = std::function<std::function<void()>()>;

/// Asks the driver to call Conversation::wake() soon, on the connection's own thread: a
/// delivery or another session's change reached this one (an IMAP IDLE). Any thread may call
/// it, any number of times: calls made before wake() runs are coalesced into one wake(). A
/// no-op once the connection is closed. Never throws.
using Waker = std::function<void()>;

/// The most a driver pulls from take_output() at once (net/ writes it, then pulls again).
inline constexpr std::size_t output_piece = 64 * 1024;

/// A protocol session behind one connection. net/ calls it from one thread at a time.
class Conversation {
public:
    virtual ~Conversation() = default;
    virtual void start() = 0;
    virtual void receive(std::string_view bytes) = 0;
    /// The next at most `max` (> 0) bytes to send; empty when nothing is queued. Output is
    /// pulled in pieces, so a large response is never built whole in memory.
    virtual std::string take_output(std::size_t max) = 0;
    virtual std::optional<Job> take_job() = 0;
    /// The driver's Waker for this connection, given once, before start().
    virtual void set_waker(Waker waker) = 0;
    /// The Waker was called: look again (new mail for an IDLE session), queue output if any.
    /// Runs on the connection's thread, between the other calls.
    virtual void wake() = 0;
    virtual bool wants_starttls() const = 0;
    /// The TLS handshake asked for by wants_starttls() succeeded.
    virtual void tls_started(std::string_view version, std::string_view cipher) = 0;
    virtual bool wants_close() const = 0;
    /// How long the client may stay silent now (a command, or the next piece of a message).
    virtual std::chrono::seconds idle_timeout() const = 0;
    /// The client stayed silent for idle_timeout(): queue the farewell.
    virtual void timeout() = 0;
    /// The server is stopping and the session is between transactions: queue the farewell.
    virtual void shutdown() = 0;
    /// True while a transaction is open (shutdown waits for it, up to the grace time).
    virtual bool busy() const = 0;
    /// The connection is gone; `reason` is "quit", "eof", "timeout", "error: ..." or "stop".
    virtual void closed(std::string_view reason) = 0;
};

/// What serves one kind of listener; provided by server/. Called from network threads.
class Service {
public:
    virtual ~Service() = default;
    virtual std::unique_ptr<Conversation> open(const Peer& peer) = 0;
    /// The bytes to send to a connection refused because of a connection limit (`why`), and log.
    virtual std::string refuse(const Peer& peer, std::string_view why) = 0;
};

}  // namespace vpsmail::server
