// bench/index_bench: the per-account mailbox index (docs/architecture.md section 9). Delivers N
// messages into one mailbox through Delivery with the index updated by every commit, then
// times: opening the index and syncing the mailbox (right after the deliveries, when the scan
// cannot be skipped, and once the folders have settled), listing every UID and flags, setting
// one flag on one message (median of 200); prints them and the index's bytes per message.
//
//   index_bench [--messages N] [--size BYTES] [--fsync] [--reopen] [--dir PATH]
// The Maildir goes in a new folder under PATH ($TMPDIR or /tmp), removed at the end. Without
// --fsync the deliveries skip their fsyncs (the figures measured here are the index's, and
// 100,000 fsync'd deliveries take minutes on a shared disk). --reopen borrows the index from the
// pool for every delivery, as the server does.
#include "mailstore/delivery.hpp"
#include "mailstore/index_pool.hpp"
#include "mailstore/message_name.hpp"
#include "mailstore/sqlite_index.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

using namespace vpsmail;
using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point started) { return std::chrono::duration<double, std::milli>(Clock::now() - started).count(); }

std::uintmax_t file_size(const std::string& path) {
    std::error_code ec;
    auto n = std::filesystem::file_size(path, ec);
    return ec ? 0 : n;
}

}  // namespace

int main(int argc, char** argv) {
    int messages = 100000;
    std::size_t size = 2048;
    bool fsync = false;
    bool reopen = false;
    const char* tmp = std::getenv("TMPDIR");
    std::string dir = tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) {
                fmt::print(stderr, "index_bench: {} needs a value\n", a);
                std::exit(64);
            }
            return argv[++i];
        };
        if (a == "--messages") messages = std::atoi(next().c_str());
        else if (a == "--size") size = static_cast<std::size_t>(std::atol(next().c_str()));
        else if (a == "--fsync") fsync = true;
        else if (a == "--reopen") reopen = true;
        else if (a == "--dir") dir = next();
        else {
            fmt::print(stderr, "usage: index_bench [--messages N] [--size BYTES] [--fsync] [--reopen] [--dir PATH]\n");
            return 64;
        }
    }
    if (messages < 1) messages = 1;
    const std::string root = fmt::format("{}/index-bench-{}", dir, ::getpid());
    const std::string maildir = root + "/Maildir";
    const mailstore::MailboxRef inbox{"INBOX", maildir};
    mailstore::DeliveryHooks hooks;
    if (!fsync) hooks.fsync = [](int) { return 0; };

    std::string body = fmt::format("From: a@example.org\r\nSubject: bench\r\n\r\n");
    body.resize(std::max(size, body.size()), 'x');
    double deliver_s = 0;
    {
        auto index = mailstore::open_sqlite_index(maildir);
        auto started = Clock::now();
        for (int i = 0; i < messages; ++i) {
            mailstore::Delivery d(nullptr, hooks);
            mailstore::IndexedDelivery indexed;
            mailstore::IndexLease lease;
            if (reopen) lease = mailstore::borrow_index(maildir);  // as the server does
            indexed.index = reopen ? lease.get() : index.get();
            d.add(maildir, std::move(indexed));
            d.write(body);
            d.commit();
        }
        deliver_s = ms_since(started) / 1000;
    }
    fmt::print("deliver {} x {} B, index updated by each commit{}{}: {:.0f} messages/s\n", messages, body.size(),
               fsync ? "" : " (fsyncs skipped)", reopen ? " (index borrowed per delivery)" : "", messages / deliver_s);

    auto open_and_sync = [&](const char* label) {
        auto started = Clock::now();
        auto index = mailstore::open_sqlite_index(maildir);
        index->sync(inbox);
        auto status = index->status(inbox);
        fmt::print("open + sync + status ({}): {:.2f} ms ({} messages)\n", label, ms_since(started), status.messages);
        return index;
    };
    open_and_sync("right after delivering: new/ is scanned");
    std::this_thread::sleep_for(std::chrono::milliseconds(2100));  // a benchmark may wait; the folders settle
    open_and_sync("2 s later: scanned once more, now records the settled mtimes");
    auto index = open_and_sync("settled: scan skipped");

    auto started = Clock::now();
    auto list = index->list(inbox);
    std::uint64_t seen = 0;
    for (const auto& r : list) seen += (r.flags & mailstore::flag_seen) != 0;
    fmt::print("list all UIDs and flags: {:.2f} ms ({} rows, {} seen)\n", ms_since(started), list.size(), seen);

    std::vector<double> times;
    const std::uint32_t uid = list[list.size() / 2].uid;
    for (int i = 0; i < 200; ++i) {
        auto t = Clock::now();
        index->set_flags(inbox, uid, i % 2 == 0 ? mailstore::FlagChange::add : mailstore::FlagChange::remove, mailstore::flag_seen, {});
        times.push_back(ms_since(t));
    }
    std::sort(times.begin(), times.end());
    fmt::print("set \\Seen on one message (rename + row): median {:.3f} ms, p99 {:.3f} ms\n", times[times.size() / 2],
               times[times.size() * 99 / 100]);

    index.reset();
    const std::string file = maildir + "/" + mailstore::index_file_name;
    const auto bytes = file_size(file) + file_size(file + "-wal");
    fmt::print("index size: {} bytes ({:.0f} bytes per message)\n", bytes, static_cast<double>(bytes) / messages);
    std::error_code ec;
    std::filesystem::remove_all(root, ec);
    return 0;
}
