// The client side of the running server's control socket (<state_dir>/control): what
// `vpsmail queue flush` and friends, and `sendmail`, use to ask a running `vpsmail serve` to
// act now. No server running is a normal answer, not an error.
#pragma once

#include "core/config.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace vpsmail::cli {

/// The control socket's path for this configuration.
std::string control_socket_path(const Config& config);

/// Sends one request line and returns the server's reply (its lines, the last one "ok" or
/// "error ..."), or nullopt when no server listens (no socket file, or nobody accepts on it).
/// Throws Error(temporary) when a server is there but does not answer within `timeout_ms`.
std::optional<std::string> ask_server(const Config& config, std::string_view request, int timeout_ms = 10000);

/// Asks the running server to try its whole queue now, due or not (`sendmail -q`, like
/// `postqueue -f`). False when no server answered "ok" within a second (none runs: not an
/// error). Never throws.
bool request_flush(const Config& config) noexcept;

/// Tells the running server that sendmail spooled mail or filled the maildrop: it looks at
/// once, but tries only what is due (deferred messages keep their backoff). As request_flush
/// otherwise.
bool request_nudge(const Config& config) noexcept;

}  // namespace vpsmail::cli
