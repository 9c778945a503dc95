// net::Outbound alone, around a fake Dispatcher, for tests/integration/test_outbound.py.
// Destinations and messages come on stdin, one per line (tab-separated):
//   dest  KEY  DOMAIN|-  RELAY_HOST|-  RELAY_PORT
//   msg   KEY  ID  RETURN_PATH|-  RCPT[,RCPT...]  BODY  SMTPUTF8(0|1)  CONTENT (\r \n \t \xNN escaped)
// Each destination is ready once; when every one was closed the probe stops. A destination
// named with --late is held back until the first other one closed, then the probe nudges. Prints one
// tab-separated line per report and closed(), and "untaken ID" for messages never taken.
// Options: --port N --helo NAME --require-tls --no-verify --user U --password P --dns HOST:PORT
// --connect-timeout S --command-timeout S --data-timeout S --deadline S --late KEY.
#include "net/outbound.hpp"
#include "queue/transport.hpp"

#include <asio.hpp>

#include <cstdio>
#include <deque>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

using namespace vpsmail;

namespace {

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out;
    std::string field;
    std::istringstream in(s);
    while (std::getline(in, field, sep)) out.push_back(field);
    return out;
}

std::string unescape(const std::string& s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] == 'x') {
            out += static_cast<char>(std::stoi(s.substr(i + 2, 2), nullptr, 16));
            i += 3;
        } else if (s[i] == '\\' && i + 1 < s.size()) {
            const char c = s[++i];
            out += c == 'r' ? '\r' : c == 'n' ? '\n' : c == 't' ? '\t' : c;
        } else out += s[i];
    }
    return out;
}

const char* kind(queue::RecipientOutcome::Kind k) {
    switch (k) {
    case queue::RecipientOutcome::Kind::delivered: return "delivered";
    case queue::RecipientOutcome::Kind::deferred: return "deferred";
    case queue::RecipientOutcome::Kind::bounced: return "bounced";
    }
    return "?";
}

class FakeDispatcher : public queue::Dispatcher {
public:
    std::function<void()> on_all_closed;
    std::function<void()> nudge;
    std::set<std::string> late;  // held back until released
    std::vector<queue::Destination> destinations;
    std::map<std::string, std::deque<queue::OutboundMessage>> messages;

    std::vector<queue::Destination> ready(std::chrono::system_clock::time_point) override {
        std::lock_guard lock(mutex_);
        std::vector<queue::Destination> out;
        for (auto& d : destinations)
            if ((released_ || !late.count(d.key)) && started_.insert(d.key).second) out.push_back(d);
        return out;
    }
    std::optional<queue::OutboundMessage> take(const queue::Destination& d) override {
        std::lock_guard lock(mutex_);
        auto& q = messages[d.key];
        if (q.empty()) return std::nullopt;
        auto m = std::move(q.front());
        q.pop_front();
        if (!taken_.insert(m.id).second) print("error\ttaken twice\t" + m.id);
        return m;
    }
    void report(const queue::OutboundMessage& m, const queue::MessageOutcome& outcome) override {
        std::lock_guard lock(mutex_);
        if (!reported_.insert(m.id).second) print("error\treported twice\t" + m.id);
        if (outcome.recipients.size() != m.recipients.size()) print("error\toutcome size\t" + m.id);
        for (std::size_t i = 0; i < outcome.recipients.size() && i < m.recipients.size(); ++i) {
            const auto& o = outcome.recipients[i];
            print("report\t" + m.id + "\t" + m.recipients[i].address + "\t" + kind(o.kind) + "\t" + std::to_string(o.code) + "\t" +
                  o.status + "\t" + (o.remote_reply ? "1" : "0") + "\t" + (o.dsn_passed_on ? "1" : "0") + "\t" + o.remote_mta +
                  "\t" + o.text);
        }
    }
    void closed(const queue::Destination& d) override {
        bool all = false;
        bool release = false;
        {
            std::lock_guard lock(mutex_);
            print("closed\t" + d.key);
            closed_.insert(d.key);
            all = closed_.size() == destinations.size();
            if (!late.empty() && !released_) {
                released_ = true;
                release = true;
            }
        }
        // next_wakeup() said "in an hour": only the nudge makes the late destination go now.
        if (release && nudge) nudge();
        if (all && on_all_closed) on_all_closed();
    }
    std::chrono::system_clock::time_point next_wakeup() override {
        std::lock_guard lock(mutex_);
        const bool all = started_.size() + (released_ ? 0 : late.size()) == destinations.size();
        return std::chrono::system_clock::now() + (all ? std::chrono::hours(1) : std::chrono::hours(0));
    }
    void untaken() {
        std::lock_guard lock(mutex_);
        for (auto& [key, q] : messages)
            for (auto& m : q) print("untaken\t" + m.id);
    }

private:
    void print(const std::string& line) {
        std::printf("%s\n", line.c_str());
        std::fflush(stdout);
    }
    std::mutex mutex_;
    std::set<std::string> started_, closed_, taken_, reported_;
    bool released_ = false;
};

}  // namespace

int main(int argc, char** argv) {
    net::OutboundSettings settings;
    settings.helo_name = "probe.test";
    FakeDispatcher dispatcher;
    int deadline = 120;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
        if (a == "--port") settings.port = static_cast<std::uint16_t>(std::stoi(next()));
        else if (a == "--helo") settings.helo_name = next();
        else if (a == "--require-tls") settings.require_tls = true;
        else if (a == "--no-verify") settings.relay_tls_verify = false;
        else if (a == "--user") settings.username = next();
        else if (a == "--password") settings.password = next();
        else if (a == "--dns") settings.dns_servers.push_back(next());
        else if (a == "--connect-timeout") settings.connect_timeout = std::chrono::seconds(std::stoi(next()));
        else if (a == "--command-timeout") settings.command_timeout = std::chrono::seconds(std::stoi(next()));
        else if (a == "--data-timeout") settings.data_timeout = std::chrono::seconds(std::stoi(next()));
        else if (a == "--deadline") deadline = std::stoi(next());
        else if (a == "--late") dispatcher.late.insert(next());
        else {
            std::fprintf(stderr, "outbound_probe: unknown option %s\n", a.c_str());
            return 64;
        }
    }
    std::string line;
    while (std::getline(std::cin, line)) {
        auto f = split(line, '\t');
        if (f.size() == 5 && f[0] == "dest") {
            queue::Destination d;
            d.key = f[1];
            d.domain = f[2] == "-" ? "" : f[2];
            d.relay_host = f[3] == "-" ? "" : f[3];
            d.relay_port = static_cast<std::uint16_t>(std::stoi(f[4]));
            dispatcher.destinations.push_back(d);
        } else if (f.size() == 8 && f[0] == "msg") {
            queue::OutboundMessage m;
            m.id = f[2];
            m.return_path = f[3] == "-" ? "" : f[3];
            for (auto& r : split(f[4], ',')) m.recipients.push_back({r, "", ""});
            m.body = f[5];
            m.smtputf8 = f[6] == "1";
            m.content = unescape(f[7]);
            dispatcher.messages[f[1]].push_back(std::move(m));
        } else {
            std::fprintf(stderr, "outbound_probe: bad input line: %s\n", line.c_str());
            return 65;
        }
    }

    asio::io_context io;
    asio::thread_pool workers(2);
    auto work = asio::make_work_guard(io);
    int status = 0;
    {
        net::Outbound outbound(io, workers, dispatcher, settings);
        dispatcher.nudge = outbound.nudger();
        dispatcher.on_all_closed = [&] {
            asio::post(io, [&] { outbound.stop([&] { io.stop(); }); });
        };
        asio::steady_timer limit(io, std::chrono::seconds(deadline));
        limit.async_wait([&](asio::error_code ec) {
            if (ec) return;
            std::printf("error\tdeadline\n");
            status = 1;
            io.stop();
        });
        outbound.start();
        io.run();
        workers.join();
    }
    dispatcher.untaken();
    return status;
}
