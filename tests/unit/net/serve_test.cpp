// net::serve over loopback with a test service (docs/architecture.md section 4): a Waker called
// from another thread reaches a session waiting for input within a second, and a 50 MB response
// made lazily goes out in pieces of at most server::output_piece.
#include "net/serve.hpp"
#include "server/session_driver.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <condition_variable>
#include <csignal>
#include <mutex>
#include <netinet/in.h>
#include <span>
#include <sys/socket.h>
#include <sys/time.h>
#include <thread>
#include <unistd.h>

using namespace vpsmail;

namespace {

constexpr std::uint64_t big_size = 50u * 1024 * 1024;
const std::string big_line = std::string(78, 'y') + "\r\n";

// What the test shares with the connection's session: its Waker, once WAIT asked for one.
struct Notifier {
    std::mutex mutex;
    std::condition_variable changed;
    server::Waker waker;
    std::size_t largest_max = 0;
};

// WAIT keeps the Waker for the test; wake() says "* WOKE"; BIG sends 50 MB made as pulled.
struct WaitSession {
    Notifier* notifier = nullptr;
    const server::Waker* waker = nullptr;
    std::string input, out;
    std::uint64_t remaining = 0;
    bool dot = false, closed = false;

    void start() { out += "+OK ready\r\n"; }
    void receive(std::span<const char> bytes) {
        input.append(bytes.data(), bytes.size());
        for (auto eol = input.find("\r\n"); eol != std::string::npos; eol = input.find("\r\n")) {
            const std::string command = input.substr(0, eol);
            input.erase(0, eol + 2);
            if (command == "WAIT") {
                out += "+OK waiting\r\n";
                std::lock_guard lock(notifier->mutex);
                notifier->waker = *waker;
                notifier->changed.notify_all();
            } else if (command == "BIG") {
                remaining = big_size;
                dot = true;
            } else if (command == "QUIT") {
                out += "+OK bye\r\n";
                closed = true;
            } else {
                out += "+OK " + command + "\r\n";
            }
        }
    }
    void take_output(std::string& o, std::size_t max) {
        {
            std::lock_guard lock(notifier->mutex);
            notifier->largest_max = std::max(notifier->largest_max, max);
        }
        const std::size_t n = std::min(max, out.size());
        o.append(out, 0, n);
        out.erase(0, n);
        while (remaining > 0 && o.size() + big_line.size() <= max) {
            o += big_line;
            remaining -= std::min<std::uint64_t>(remaining, big_line.size());
        }
        if (remaining == 0 && dot && o.size() + 3 <= max) {
            o += ".\r\n";
            dot = false;
        }
    }
    std::optional<int> take_action() { return std::nullopt; }
    void complete(int) {}
    bool wants_close() const { return closed; }
    void timeout() { closed = true; }
    void shutdown() { closed = true; }
    void wake() { out += "* WOKE\r\n"; }
};

class WaitConversation final : public server::SessionDriver<WaitSession> {
public:
    WaitConversation(const server::Peer& peer, Notifier& notifier) : SessionDriver(peer, session_, server::ConnectionLog::none) {
        session_.notifier = &notifier;
        session_.waker = &waker();
    }
    std::chrono::seconds idle_timeout() const override { return std::chrono::seconds(30); }
    bool busy() const override { return false; }

private:
    int run(const int&) override { return 0; }
    WaitSession session_;
};

class WaitService final : public server::Service {
public:
    explicit WaitService(Notifier& notifier) : notifier_(notifier) {}
    std::unique_ptr<server::Conversation> open(const server::Peer& peer) override {
        return std::make_unique<WaitConversation>(peer, notifier_);
    }
    std::string refuse(const server::Peer&, std::string_view) override { return "-ERR busy\r\n"; }

private:
    Notifier& notifier_;
};

// A blocking loopback client whose every read gives up after `timeout`.
class Client {
public:
    Client(std::uint16_t port, std::chrono::seconds timeout) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        REQUIRE(fd_ >= 0);
        timeval tv{static_cast<time_t>(timeout.count()), 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    }
    ~Client() { ::close(fd_); }
    void send(const std::string& text) { REQUIRE(::write(fd_, text.data(), text.size()) == static_cast<ssize_t>(text.size())); }
    /// The next line without CRLF; "" when the read timed out or the server closed.
    std::string line() {
        for (;;) {
            if (auto eol = buffer_.find("\r\n"); eol != std::string::npos) {
                std::string l = buffer_.substr(0, eol);
                buffer_.erase(0, eol + 2);
                return l;
            }
            char chunk[65536];
            ssize_t n = ::read(fd_, chunk, sizeof chunk);
            if (n <= 0) return "";
            received += static_cast<std::uint64_t>(n);
            buffer_.append(chunk, static_cast<std::size_t>(n));
        }
    }
    std::uint64_t received = 0;

private:
    int fd_ = -1;
    std::string buffer_;
};

}  // namespace

TEST_CASE("serve: a Waker from another thread reaches a waiting session, and big output goes in pieces", "[net][serve]") {
    test::TempDir dir;
    Notifier notifier;
    WaitService service(notifier);
    net::Settings settings;
    settings.cert_file = dir.file("cert.pem");
    settings.key_file = dir.file("key.pem");
    net::ensure_certificate(settings.cert_file, settings.key_file, "localhost");
    settings.listeners.push_back(net::Listener{"test", "127.0.0.1", 0, false, &service});
    settings.threads = 1;
    settings.workers = 1;
    std::mutex mutex;
    std::condition_variable ready;
    std::uint16_t port = 0;
    settings.on_listening = [&](const net::Listener&, const std::string& address) {
        std::lock_guard lock(mutex);
        port = static_cast<std::uint16_t>(std::stoi(address.substr(address.rfind(':') + 1)));
        ready.notify_all();
    };
    std::thread server([&] { net::serve(settings, nullptr); });
    {
        std::unique_lock lock(mutex);
        REQUIRE(ready.wait_for(lock, std::chrono::seconds(30), [&] { return port != 0; }));
    }
    {
        Client client(port, std::chrono::seconds(1));
        CHECK(client.line() == "+OK ready");
        client.send("WAIT\r\n");
        CHECK(client.line() == "+OK waiting");
        server::Waker waker;
        {
            std::unique_lock lock(notifier.mutex);
            REQUIRE(notifier.changed.wait_for(lock, std::chrono::seconds(1), [&] { return bool(notifier.waker); }));
            waker = notifier.waker;
        }
        // The session waits for input; the wake comes from this thread, not the server's.
        std::thread([&] { waker(); }).join();
        CHECK(client.line() == "* WOKE");  // within the client's 1 s read timeout
        // Calls before the wake runs are coalesced: three calls give one to three wakes, never more.
        waker();
        waker();
        waker();
        client.send("PING\r\n");
        int woke = 0;
        for (std::string l = client.line(); l != "+OK PING"; l = client.line()) {
            REQUIRE(l == "* WOKE");
            ++woke;
        }
        CHECK(woke <= 3);

        const std::uint64_t before = client.received;
        client.send("BIG\r\n");
        std::uint64_t lines = 0;
        for (std::string l = client.line(); l != "."; l = client.line()) {
            REQUIRE(l == big_line.substr(0, 78));
            ++lines;
        }
        CHECK(lines * big_line.size() >= big_size);
        CHECK(client.received - before >= big_size);
        {
            std::lock_guard lock(notifier.mutex);
            CHECK(notifier.largest_max == server::output_piece);
        }
        client.send("QUIT\r\n");
        CHECK(client.line() == "+OK bye");
        CHECK(client.line() == "");  // closed
    }
    ::kill(::getpid(), SIGTERM);  // serve's signal_set stops it; no connection is left
    server.join();
}
