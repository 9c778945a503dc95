// The control socket of a running `vpsmail serve`: a unix stream socket (mode 0600, owned by
// the server's user) on which `vpsmail queue flush` and friends ask the server to act now.
// One request line per connection; the reply is the handler's text, then the socket closes.
// net-internal: includes Asio.
#pragma once

#include <asio.hpp>

#include <functional>
#include <string>
#include <string_view>

namespace vpsmail::net {

/// Binds `path` (replacing a stale socket file), mode 0600, and serves requests: each line
/// (at most 4 KB) is handed to `handler` on `workers` and its result written back. Throws
/// Error(permission/temporary) naming the path when it cannot be bound.
void start_control(asio::io_context& io, asio::thread_pool& workers, const std::string& path,
                   std::function<std::string(std::string_view request)> handler);

}  // namespace vpsmail::net
