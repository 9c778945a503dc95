// The outbound SMTP transport: asks the queue runner (queue::Dispatcher) which destinations
// have due mail, resolves them (MX, or the smart host), connects, does TLS and drives one
// smtp::ClientSession per connection, sending the messages take() gives, one after another,
// and reports each recipient's outcome. Decides nothing about retries or bounces: the
// Dispatcher does. net-internal: the Asio types are only forward-declared here.
#pragma once

#include "net/serve.hpp"
#include "queue/transport.hpp"

#include <functional>
#include <memory>

namespace asio {
class io_context;
class thread_pool;
}  // namespace asio

namespace vpsmail::net {

struct OutboundState;  // outbound.cpp

class Outbound {
public:
    /// `workers` runs every Dispatcher call (they may fsync); `io` the network. Both, and the
    /// Dispatcher, must outlive the io_context's run. Throws Error(config) for bad DNS servers.
    Outbound(asio::io_context& io, asio::thread_pool& workers, queue::Dispatcher& dispatcher, OutboundSettings settings);
    /// Call after io.run() returned (no network thread left): drops the DNS resolver.
    ~Outbound();
    Outbound(const Outbound&) = delete;
    Outbound& operator=(const Outbound&) = delete;

    /// Starts the wake-up loop: ready() now, then at next_wakeup() or nudge().
    void start();

    /// Asks ready() now. Any thread, any time.
    void nudge();

    /// nudge() as a function that stays safe to call after this Outbound is gone.
    std::function<void()> nudger() const;

    /// No new connection; connections finish the transaction in flight, then QUIT. `done`
    /// runs on a network thread once the last connection ended (at once when none is open).
    void stop(std::function<void()> done);

private:
    std::shared_ptr<OutboundState> state_;
};

}  // namespace vpsmail::net
