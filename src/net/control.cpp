#include "net/control.hpp"

#include "core/error.hpp"
#include "core/log.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <sys/stat.h>
#include <unistd.h>

namespace vpsmail::net {
namespace {

using asio::local::stream_protocol;
constexpr std::size_t max_request = 4096;

asio::awaitable<std::string> run_handler(std::function<std::string(std::string_view)> handler, std::string request) {
    co_return handler(request);
}

asio::awaitable<void> answer(stream_protocol::socket socket, asio::thread_pool& workers,
                             std::function<std::string(std::string_view)> handler) {
    std::string request;
    asio::error_code ec;
    asio::steady_timer timer(socket.get_executor());
    // A client that connects and says nothing is cut off after 10 seconds.
    timer.expires_after(std::chrono::seconds(10));
    timer.async_wait([&socket](asio::error_code e) {
        if (!e) socket.cancel();
    });
    std::size_t n = co_await asio::async_read_until(socket, asio::dynamic_buffer(request, max_request), '\n',
                                                    asio::redirect_error(asio::use_awaitable, ec));
    timer.cancel();
    std::string reply;
    if (ec) {
        reply = ec == asio::error::not_found ? "error request longer than 4 KB\n" : std::string();
    } else {
        request.resize(n - 1);
        if (!request.empty() && request.back() == '\r') request.pop_back();
        try {
            reply = co_await asio::co_spawn(workers, run_handler(handler, request), asio::use_awaitable);
        } catch (const std::exception& e) {
            reply = fmt::format("error {}\n", e.what());
        }
    }
    if (!reply.empty()) co_await asio::async_write(socket, asio::buffer(reply), asio::redirect_error(asio::use_awaitable, ec));
    socket.shutdown(stream_protocol::socket::shutdown_both, ec);
}

asio::awaitable<void> accept_loop(std::shared_ptr<stream_protocol::acceptor> acceptor, asio::thread_pool& workers,
                                  std::function<std::string(std::string_view)> handler) {
    for (;;) {
        asio::error_code ec;
        stream_protocol::socket socket = co_await acceptor->async_accept(asio::redirect_error(asio::use_awaitable, ec));
        if (ec == asio::error::operation_aborted || !acceptor->is_open()) co_return;
        if (ec) continue;
        asio::co_spawn(acceptor->get_executor(), answer(std::move(socket), workers, handler), asio::detached);
    }
}

}  // namespace

void start_control(asio::io_context& io, asio::thread_pool& workers, const std::string& path,
                   std::function<std::string(std::string_view request)> handler) {
    if (path.size() >= sizeof(sockaddr_un{}.sun_path))
        throw Error(ErrorKind::config, fmt::format("the control socket path {} is too long (at most {} bytes)", path,
                                                   sizeof(sockaddr_un{}.sun_path) - 1));
    // A socket file left by a server that died is replaced; only one server runs per state
    // folder (the spool lock says so before we get here).
    ::unlink(path.c_str());
    auto acceptor = std::make_shared<stream_protocol::acceptor>(io);
    asio::error_code ec;
    const mode_t old = ::umask(0177);  // the socket is born 0600: no window with wider rights
    acceptor->open(stream_protocol(), ec);
    if (!ec) acceptor->bind(stream_protocol::endpoint(path), ec);
    ::umask(old);
    if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
        const ErrorKind kind = ec == asio::error::access_denied ? ErrorKind::permission : ErrorKind::temporary;
        throw Error(kind, fmt::format("cannot make the control socket {}: {}", path, ec.message()));
    }
    log::line("control", {{"socket", path}});
    asio::co_spawn(io, accept_loop(acceptor, workers, std::move(handler)), asio::detached);
}

}  // namespace vpsmail::net
