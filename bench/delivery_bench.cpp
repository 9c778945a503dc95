// bench/delivery: durable Maildir delivery (docs/architecture.md section 9). N threads each deliver M messages of
// SIZE bytes into one Maildir (or K Maildirs per message), once with every commit fsyncing new/
// itself and once through a SyncGroup that shares those fsyncs, alternating for R rounds; prints
// messages/s, the median and p99 commit() latency and the folder fsyncs per message of each.
//
//   delivery_bench [--threads N] [--messages M] [--size BYTES] [--maildirs K] [--rounds R]
//                  [--dir PATH]
// The Maildirs go in a new folder under PATH ($TMPDIR or /tmp), removed at the end: PATH must
// be on the file system to measure (tmpfs makes fsync free).
#include "mailstore/delivery.hpp"
#include "core/sync_group.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace vpsmail;
using Clock = std::chrono::steady_clock;

struct Options {
    int threads = 8;
    int messages = 200;
    std::size_t size = 4096;
    int maildirs = 1;
    int rounds = 3;
    std::string dir;
};

struct Figures {
    double per_second = 0;
    double p50_ms = 0;
    double p99_ms = 0;
    double folder_fsyncs_per_message = 0;
};

Figures run(const Options& o, const std::string& root, bool grouped) {
    std::filesystem::remove_all(root);
    std::vector<std::string> maildirs;
    for (int k = 0; k < o.maildirs; ++k) maildirs.push_back(fmt::format("{}/m{}", root, k));
    for (const auto& m : maildirs) mailstore::Delivery().add(m);  // create them outside the timing

    SyncGroup group;
    std::vector<std::vector<double>> latencies(static_cast<std::size_t>(o.threads));
    const std::string body(o.size, 'x');
    std::atomic<bool> go{false};
    std::vector<std::thread> workers;
    for (int t = 0; t < o.threads; ++t)
        workers.emplace_back([&, t] {
            auto& mine = latencies[static_cast<std::size_t>(t)];
            mine.reserve(static_cast<std::size_t>(o.messages));
            while (!go.load()) std::this_thread::yield();
            for (int i = 0; i < o.messages; ++i) {
                mailstore::Delivery d(grouped ? &group : nullptr);
                for (const auto& m : maildirs) d.add(m);
                d.write(body);
                auto started = Clock::now();
                d.commit();
                mine.push_back(std::chrono::duration<double, std::milli>(Clock::now() - started).count());
            }
        });
    auto started = Clock::now();
    go = true;
    for (auto& w : workers) w.join();
    const double seconds = std::chrono::duration<double>(Clock::now() - started).count();

    std::vector<double> all;
    for (const auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
    std::sort(all.begin(), all.end());
    Figures f;
    f.per_second = static_cast<double>(all.size()) / seconds;
    f.p50_ms = all[all.size() / 2];
    f.p99_ms = all[std::min(all.size() - 1, all.size() * 99 / 100)];
    // Without the group each commit fsyncs each of its new/ folders once.
    f.folder_fsyncs_per_message = grouped ? static_cast<double>(group.counters().fsyncs) / static_cast<double>(all.size())
                                          : static_cast<double>(o.maildirs);
    return f;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    const char* tmpdir = std::getenv("TMPDIR");
    o.dir = tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp";
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string flag = argv[i], value = argv[i + 1];
        if (flag == "--threads") o.threads = std::stoi(value);
        else if (flag == "--messages") o.messages = std::stoi(value);
        else if (flag == "--size") o.size = std::stoul(value);
        else if (flag == "--maildirs") o.maildirs = std::stoi(value);
        else if (flag == "--rounds") o.rounds = std::stoi(value);
        else if (flag == "--dir") o.dir = value;
        else {
            fmt::print(stderr, "unknown option {}\n", flag);
            return 64;
        }
    }
    if (o.threads < 1 || o.messages < 1 || o.maildirs < 1 || o.rounds < 1) {
        fmt::print(stderr, "--threads, --messages, --maildirs and --rounds must be at least 1\n");
        return 64;
    }
    std::string root = o.dir + "/delivery-bench-XXXXXX";
    if (::mkdtemp(root.data()) == nullptr) {
        fmt::print(stderr, "cannot make a folder in {}\n", o.dir);
        return 73;
    }
    fmt::print("{} threads x {} messages of {} bytes, {} Maildir(s) each, {} rounds, in {}\n", o.threads, o.messages,
               o.size, o.maildirs, o.rounds, o.dir);
    std::vector<Figures> solo, grouped;
    for (int r = 0; r < o.rounds; ++r) {
        for (bool g : {false, true}) {
            Figures f = run(o, root + "/run", g);
            (g ? grouped : solo).push_back(f);
            fmt::print("round {} {:<12} {:>8.0f} messages/s  commit p50 {:6.2f} ms  p99 {:6.2f} ms  {:.2f} folder fsyncs/message\n",
                       r + 1, g ? "SyncGroup" : "own fsyncs", f.per_second, f.p50_ms, f.p99_ms, f.folder_fsyncs_per_message);
        }
    }
    for (const auto* set : {&solo, &grouped}) {
        auto pick = [&](double Figures::*field) {
            std::vector<double> v;
            for (const auto& f : *set) v.push_back(f.*field);
            return median(v);
        };
        fmt::print("median {:<11} {:>8.0f} messages/s  commit p50 {:6.2f} ms  p99 {:6.2f} ms  {:.2f} folder fsyncs/message\n",
                   set == &grouped ? "SyncGroup" : "own fsyncs", pick(&Figures::per_second), pick(&Figures::p50_ms),
                   pick(&Figures::p99_ms), pick(&Figures::folder_fsyncs_per_message));
    }
    std::filesystem::remove_all(root);
    return 0;
}
