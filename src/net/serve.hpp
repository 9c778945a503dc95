// src/net: the only code that includes Asio and OpenSSL. It binds the listeners, accepts
// connections, moves bytes between sockets and protocol sessions, runs their slow work on a
// worker pool, enforces timeouts and connection limits, does TLS (implicit and STARTTLS),
// handles SIGTERM/SIGHUP and drops privileges. It knows no protocol: server/ hands it a
// Service per listener, whose Conversations wrap the sans-I/O sessions (docs/architecture.md section 4).
// This header includes neither Asio nor OpenSSL.
#pragma once

#include "server/conversation.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vpsmail::queue {
class Dispatcher;
}

namespace vpsmail::net {

/// The outbound SMTP transport ([outbound] and [relay] of vpsmail.toml), filled by the caller.
struct OutboundSettings {
    std::uint16_t port = 25;  ///< the MX hosts' port (tests use another)
    std::string helo_name;    ///< our name in EHLO
    std::vector<std::string> dns_servers;  ///< "host[:port]"; empty: resolv.conf
    bool require_tls = false;  ///< no TLS, no delivery (deferred); otherwise TLS is opportunistic
    /// The smart host's AUTH credentials (already read from their file); empty: no AUTH.
    std::string username;
    std::string password;
    /// Verify the smart host's certificate against the system CA store and its name. MX
    /// delivery never verifies: its TLS is opportunistic (RFC 3207 4.1, RFC 7435).
    bool relay_tls_verify = true;
    std::chrono::seconds connect_timeout{30};
    std::chrono::seconds command_timeout{300};  ///< RFC 5321 4.5.3.2
    std::chrono::seconds data_timeout{600};     ///< the reply to the final dot
    std::chrono::milliseconds dns_timeout{5000};  ///< per try
    int dns_tries = 2;
};

struct Listener {
    std::string name;     ///< "smtp", "submission", "submissions"
    std::string host;     ///< an IP address
    std::uint16_t port = 0;
    bool implicit_tls = false;
    server::Service* service = nullptr;
};

struct Settings {
    std::vector<Listener> listeners;
    std::string cert_file;  ///< PEM
    std::string key_file;   ///< PEM
    std::size_t max_connections = 100;
    std::size_t max_connections_per_ip = 10;
    std::chrono::seconds grace{30};  ///< SIGTERM: how long transactions in flight may finish
    unsigned threads = 0;   ///< network threads; 0: one per core
    unsigned workers = 0;   ///< slow-work threads; 0: two per core
    std::string run_as;     ///< when root: the user to become after binding; empty: stay
    /// Called after the privilege drop, once every listener is bound, before their lines are
    /// printed: what must be in place when they are (the pid file). May throw: serve() then
    /// ends with that exception.
    std::function<void()> on_bound;
    /// Called once every listener accepts connections and their lines are printed.
    std::function<void()> on_ready;
    /// Called for each listener, before on_ready, with the address it is bound to
    /// ("127.0.0.1:41234": a port 0 in the settings becomes the one the system chose).
    std::function<void(const Listener& listener, const std::string& address)> on_listening;
    /// The control socket (net/control): made after the privilege drop, mode 0600, removed
    /// when serve() returns; each request line is answered by on_control on the worker pool.
    /// Empty path: none.
    std::string control_path;
    std::function<std::string(std::string_view request)> on_control;
    /// Outbound delivery: when set, serve() runs the transport (net/outbound) for this queue
    /// runner after the privilege drop and stops it, letting transactions finish, on SIGTERM.
    queue::Dispatcher* dispatcher = nullptr;
    OutboundSettings outbound;
    /// Called once, when the transport runs, with its nudge: a function any thread may call,
    /// at any time (a no-op once serve() returned), to make the transport ask the Dispatcher
    /// for ready() destinations now (the control socket's `queue flush`).
    std::function<void(std::function<void()>)> on_outbound;
};

/// Loads the certificate, binds every listener (Error(config) naming the address when it is
/// malformed, Error(permission/temporary) when it cannot be bound), becomes `run_as` when
/// root, prints `listening NAME HOST:PORT` on stdout for each listener, then serves until
/// SIGTERM or SIGINT. SIGHUP calls `reload` (on a network thread; exceptions are logged) and
/// reloads the certificate and key. Returns after the connections ended or the grace time.
void serve(const Settings& settings, const std::function<void()>& reload);

/// Creates a self-signed certificate (RSA 2048, SHA-256, ten years, subjectAltName
/// `hostname`) and its key, PEM, mode 0600, unless both files exist. Returns true when it
/// created them. Throws Error(permission/temporary) naming the file.
bool ensure_certificate(const std::string& cert_file, const std::string& key_file, const std::string& hostname);

}  // namespace vpsmail::net
