// server::SessionDriver (docs/architecture.md section 4): output pulled in bounded pieces, both
// from a session that produces a large response lazily and from one that returns its replies
// whole; Jobs; the Waker handed to the session's side.
#include "server/session_driver.hpp"
#include "support/dialogue.hpp"

#include <catch2/catch.hpp>

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>

using namespace vpsmail;

namespace {

constexpr std::uint64_t big_size = 50u * 1024 * 1024;
const std::string big_line = std::string(78, 'x') + "\r\n";

// A line protocol: BIG answers "+OK big", then 50 MB of lines made as they are pulled, then
// "."; SLOW answers after an Action; QUIT closes; wake() says "* WOKE".
struct LazySession {
    std::string input;
    std::string out;
    std::uint64_t remaining = 0;  // bytes of the big response not made yet
    bool dot = false;             // the big response's end mark is due
    bool slow = false;
    bool closed = false;
    std::size_t largest_max = 0;

    void start() { out += "+OK ready\r\n"; }
    void receive(std::span<const char> bytes) {
        input.append(bytes.data(), bytes.size());
        for (auto eol = input.find("\r\n"); eol != std::string::npos; eol = input.find("\r\n")) {
            const std::string command = input.substr(0, eol);
            input.erase(0, eol + 2);
            if (command == "BIG") {
                out += "+OK big\r\n";
                remaining = big_size;
                dot = true;
            } else if (command == "SLOW") {
                slow = true;
            } else if (command == "QUIT") {
                out += "+OK bye\r\n";
                closed = true;
            } else {
                out += "-ERR " + command + "\r\n";
            }
        }
    }
    void take_output(std::string& o, std::size_t max) {
        largest_max = std::max(largest_max, max);
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
    std::optional<int> take_action() {
        if (!slow) return std::nullopt;
        slow = false;
        return 41;
    }
    void complete(int result) { out += "+OK " + std::to_string(result) + "\r\n"; }
    bool wants_close() const { return closed; }
    void timeout() { out += "-ERR timeout\r\n"; closed = true; }
    void shutdown() { out += "-ERR bye\r\n"; closed = true; }
    void wake() { out += "* WOKE\r\n"; }
};

class LazyConversation final : public server::SessionDriver<LazySession> {
public:
    LazyConversation() : SessionDriver(server::Peer{}, session_, server::ConnectionLog::none) {}
    std::chrono::seconds idle_timeout() const override { return std::chrono::seconds(60); }
    bool busy() const override { return false; }
    LazySession& session() { return session_; }
    /// What a mailbox notifier would keep to wake this connection.
    server::Waker waker_copy() const { return waker(); }

private:
    int run(const int& action) override { return action + 1; }
    LazySession session_;
};

// A session with plain std::string take_output(): its replies come whole.
struct PlainSession {
    std::string out;
    void start() { out = std::string(200000, 'a') + "\r\n"; }
    void receive(std::span<const char>) {}
    std::string take_output() { return std::exchange(out, {}); }
    std::optional<int> take_action() { return std::nullopt; }
    void complete(int) {}
    bool wants_close() const { return false; }
    void timeout() {}
    void shutdown() {}
};

class PlainConversation final : public server::SessionDriver<PlainSession> {
public:
    PlainConversation() : SessionDriver(server::Peer{}, session_, server::ConnectionLog::none) {}
    std::chrono::seconds idle_timeout() const override { return std::chrono::seconds(60); }
    bool busy() const override { return false; }

private:
    int run(const int&) override { return 0; }
    PlainSession session_;
};

class LazyAdapter final : public test::DialogueAdapter {
public:
    test::Directive classify(const std::string&) const override { return test::Directive::unknown; }
    void apply(const std::string&, const std::vector<std::string>&) override {}
    std::string check(const std::string&, const std::string&) override { return ""; }
    std::unique_ptr<server::Conversation> open(int) override { return std::make_unique<LazyConversation>(); }
};

}  // namespace

TEST_CASE("SessionDriver: a 50 MB response made lazily is never buffered whole (dialogue runner)", "[server][session_driver]") {
    const std::string script = "# a big response streams\nS: +OK ready\nC: BIG\nS: +OK big\nS+ .\nC: SLOW\nS: +OK 42\nC: QUIT\nS: +OK bye\n@closed\n";
    test::DialogueStats stats;
    auto failure = test::run_dialogue(test::parse_dialogue(script, "big.dlg"), test::Split::lines,
                                      [] { return std::make_unique<LazyAdapter>(); }, &stats);
    CHECK(failure == "");
    CHECK(stats.bytes_received > big_size);
    CHECK(stats.largest_piece <= server::output_piece);
    CHECK(stats.most_buffered <= server::output_piece + big_line.size());
}

TEST_CASE("SessionDriver: pieces of at most max bytes, from either kind of take_output", "[server][session_driver]") {
    SECTION("a bounded session is asked for max bytes at most") {
        LazyConversation c;
        c.start();
        c.receive("BIG\r\n");
        std::uint64_t total = 0;
        std::size_t largest = 0;
        for (std::string piece = c.take_output(1000); !piece.empty(); piece = c.take_output(1000)) {
            total += piece.size();
            largest = std::max(largest, piece.size());
        }
        CHECK(largest <= 1000);
        CHECK(c.session().largest_max == 1000);
        CHECK(total == std::string("+OK ready\r\n+OK big\r\n").size() + big_size + 3);
    }
    SECTION("a whole reply is handed out in pieces that add up to it") {
        PlainConversation c;
        c.start();
        std::string all;
        std::size_t pieces = 0;
        for (std::string piece = c.take_output(server::output_piece); !piece.empty(); piece = c.take_output(server::output_piece)) {
            CHECK(piece.size() <= server::output_piece);
            all += piece;
            ++pieces;
        }
        CHECK(pieces == 4);
        CHECK(all == std::string(200000, 'a') + "\r\n");
    }
}

TEST_CASE("SessionDriver: an Action becomes a Job whose result reaches complete()", "[server][session_driver]") {
    LazyConversation c;
    c.start();
    c.receive("SLOW\r\n");
    auto job = c.take_job();
    REQUIRE(job);
    CHECK_FALSE(c.take_job());
    auto finish = (*job)();
    finish();
    CHECK(c.take_output(1000) == "+OK ready\r\n+OK 42\r\n");
}

TEST_CASE("SessionDriver: the Waker it was given is what a notifier on another thread calls", "[server][session_driver]") {
    LazyConversation c;
    std::mutex mutex;
    std::condition_variable cv;
    int calls = 0;
    c.set_waker([&] {
        std::lock_guard lock(mutex);
        ++calls;
        cv.notify_all();
    });
    c.start();
    CHECK(c.take_output(1000) == "+OK ready\r\n");
    std::thread notifier([waker = c.waker_copy()] { waker(); });
    {
        std::unique_lock lock(mutex);
        CHECK(cv.wait_for(lock, std::chrono::seconds(1), [&] { return calls == 1; }));
    }
    notifier.join();
    c.wake();  // what the driver does on the connection's thread
    CHECK(c.take_output(1000) == "* WOKE\r\n");
}
