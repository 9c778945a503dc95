// bench/route: resolution throughput and latency on a large store (issue 2, section 9).
// A store with 1,000,000 virtusertable entries, 100,000 aliases and 100,000 users over 1,000
// domains; resolves N random addresses in-process on one thread, first as the SMTP server
// does (through the in-memory routing index, no trace), then as `route test` does (SQLite, with
// the step trace), and prints the figures, with the index's load time and memory.
//
//   route_bench [--store PATH] [--addresses N] [--seed S] [--index-only]
// With --store, an existing benchmark store at PATH is reused (and a new one kept there).
#include "route/resolver.hpp"
#include "store/index.hpp"
#include "store/store.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

using namespace vpsmail;
using Clock = std::chrono::steady_clock;

constexpr int domains = 1000;
constexpr int users_per_domain = 100;      // 100,000 users
constexpr int aliases = 100000;
constexpr int vusers_per_domain = 1000;    // 1,000,000 virtusertable entries

std::string domain_name(int d) { return fmt::format("d{:04}.bench", d); }

void seed(store::Store& s) {
    auto started = Clock::now();
    s.write_batch([&] {
        for (int d = 0; d < domains; ++d) {
            std::string dn = domain_name(d);
            s.create_domain(dn);
            for (int u = 0; u < users_per_domain; ++u) {
                store::NewUser nu;
                nu.local = fmt::format("u{}", u);
                nu.domain = dn;
                nu.password_hash = "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$GmcwIgvdUC9qLWcKCi6gklUa1dM3ziD43YxYNURLKy0";
                s.create_user(nu);
            }
            for (int v = 0; v < vusers_per_domain; ++v) {
                // Half to a bare name (an account of the domain), half to an account elsewhere.
                std::string target = v % 2 ? fmt::format("u{}", v % users_per_domain)
                                           : fmt::format("u{}@{}", v % users_per_domain, domain_name((d + 1) % domains));
                s.map_vuser(fmt::format("v{}@{}", v, dn), dn, target);
            }
        }
        for (int a = 0; a < aliases; ++a)
            s.add_alias(fmt::format("a{}", a), {fmt::format("u{}", a % users_per_domain), fmt::format("x{}@remote.example", a)});
    });
    fmt::print("seeded {} domains, {} users, {} aliases, {} vuser entries in {:.1f} s\n", domains,
               domains * users_per_domain, aliases, domains * vusers_per_domain,
               std::chrono::duration<double>(Clock::now() - started).count());
}

const char* const kind_names[] = {"vuser hit", "alias", "account", "+detail", "bounce", "remote"};

int kind_of(int draw) { return draw < 40 ? 0 : draw < 60 ? 1 : draw < 80 ? 2 : draw < 85 ? 3 : draw < 95 ? 4 : 5; }

std::vector<std::string> addresses(std::size_t n, unsigned seed, std::vector<int>& kinds) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> pick_domain(0, domains - 1), pick_user(0, users_per_domain - 1),
        pick_vuser(0, vusers_per_domain - 1), pick_alias(0, aliases - 1), pick_kind(0, 99);
    std::vector<std::string> out;
    out.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        std::string dn = domain_name(pick_domain(rng));
        int kind = pick_kind(rng);
        kinds.push_back(kind_of(kind));
        if (kind < 40) out.push_back(fmt::format("v{}@{}", pick_vuser(rng), dn));                // vuser hit
        else if (kind < 60) out.push_back(fmt::format("a{}@{}", pick_alias(rng), dn));           // alias
        else if (kind < 80) out.push_back(fmt::format("u{}@{}", pick_user(rng), dn));            // account
        else if (kind < 85) out.push_back(fmt::format("u{}+tag@{}", pick_user(rng), dn));        // +detail
        else if (kind < 95) out.push_back(fmt::format("nobody{}@{}", pick_user(rng), dn));       // bounce
        else out.push_back(fmt::format("someone{}@remote.example", pick_user(rng)));             // remote
    }
    return out;
}

// Resident memory of this process, in MB (/proc/self/statm).
double resident_mb() {
    std::ifstream statm("/proc/self/statm");
    double size = 0, resident = 0;
    statm >> size >> resident;
    return resident * static_cast<double>(::sysconf(_SC_PAGESIZE)) / 1e6;
}

// `source`: the Store (SQLite) or the RoutingIndex.
template <typename Source>
void run(Source& s, const char* label, const std::vector<std::string>& list, const std::vector<int>& kinds, bool trace) {
    route::Options options;
    options.trace = trace;
    std::vector<double> micros;
    micros.reserve(list.size());
    std::size_t delivered = 0;
    auto started = Clock::now();
    for (const auto& address : list) {
        auto t0 = Clock::now();
        auto r = route::resolve(s, address, options);
        micros.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
        delivered += r.outcome == route::Outcome::deliver;
    }
    double seconds = std::chrono::duration<double>(Clock::now() - started).count();
    if (!trace && list.size() > 50000) {
        // Median latency of each kind of address, to show where the time goes.
        for (int k = 0; k < 6; ++k) {
            std::vector<double> of_kind;
            for (std::size_t i = 0; i < micros.size(); ++i)
                if (kinds[i] == k) of_kind.push_back(micros[i]);
            if (of_kind.empty()) continue;
            std::nth_element(of_kind.begin(), of_kind.begin() + static_cast<std::ptrdiff_t>(of_kind.size() / 2), of_kind.end());
            fmt::print("  {:<10} {:>8} addresses  p50 {:.1f} us\n", kind_names[k], of_kind.size(), of_kind[of_kind.size() / 2]);
        }
    }
    std::sort(micros.begin(), micros.end());
    auto pct = [&](double p) { return micros[static_cast<std::size_t>(p * static_cast<double>(micros.size() - 1))]; };
    fmt::print("{:<30} {:>9} resolutions in {:.2f} s = {:>7.0f}/s   p50 {:.1f} us  p99 {:.1f} us  p99.9 {:.1f} us  "
               "({} delivered)\n",
               label, list.size(), seconds,
               static_cast<double>(list.size()) / seconds, pct(0.50), pct(0.99), pct(0.999), delivered);
}

}  // namespace

int main(int argc, char** argv) {
    std::string path;
    std::size_t count = 1000000;
    unsigned seed_value = 42;
    bool with_sqlite = true;
    for (int i = 1; i < argc; i += 2) {
        std::string flag = argv[i];
        if (flag == "--index-only") {
            with_sqlite = false;
            --i;
            continue;
        }
        if (i + 1 == argc) flag = "--help";
        if (flag == "--store") path = argv[i + 1];
        else if (flag == "--addresses") count = std::strtoull(argv[i + 1], nullptr, 10);
        else if (flag == "--seed") seed_value = static_cast<unsigned>(std::strtoul(argv[i + 1], nullptr, 10));
        else {
            fmt::print(stderr, "usage: route_bench [--store PATH] [--addresses N] [--seed S] [--index-only]\n");
            return 64;
        }
    }
    bool temporary = path.empty();
    if (temporary) path = (std::filesystem::temp_directory_path() / fmt::format("vpsmail-route-bench-{}.db", ::getpid())).string();
    try {
        auto s = store::Store::open(path);
        if (s->list_domains().empty()) seed(*s);
        fmt::print("store {}: {:.1f} MB\n", path, static_cast<double>(std::filesystem::file_size(path)) / 1e6);
        std::vector<int> kinds;
        auto list = addresses(count, seed_value, kinds);
        // Warm the page cache and the memory map the way a running server is warm.
        std::size_t warm = std::min<std::size_t>(list.size(), 50000);
        std::vector<std::string> warm_list(list.begin(), list.begin() + static_cast<std::ptrdiff_t>(warm));
        std::vector<int> warm_kinds(kinds.begin(), kinds.begin() + static_cast<std::ptrdiff_t>(warm));
        const double before = resident_mb();
        auto loading = Clock::now();
        auto index = store::RoutingIndex::open(path);
        auto stats = index->stats();
        fmt::print("index loaded in {:.2f} s: {} domains, {} accounts, {} aliases, {} vuser entries, +{:.0f} MB resident\n",
                   std::chrono::duration<double>(Clock::now() - loading).count(), stats.domains, stats.accounts,
                   stats.aliases, stats.vusers, resident_mb() - before);
        run(*index, "warm-up", warm_list, warm_kinds, false);
        run(*index, "server (index, no trace)", list, kinds, false);
        run(*index, "index, with trace", list, kinds, true);
        if (with_sqlite) {
            run(*s, "warm-up", warm_list, warm_kinds, false);
            run(*s, "SQLite, no trace", list, kinds, false);
            run(*s, "route test (SQLite, trace)", list, kinds, true);
        }
    } catch (const std::exception& e) {
        fmt::print(stderr, "route_bench: {}\n", e.what());
        return 70;
    }
    if (temporary) {
        std::filesystem::remove(path);
        std::filesystem::remove(path + "-wal");
        std::filesystem::remove(path + "-shm");
    }
    return 0;
}
