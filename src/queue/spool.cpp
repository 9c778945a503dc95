#include "queue/spool.hpp"

#include "core/error.hpp"
#include "core/escape.hpp"
#include "core/fsync.hpp"
#include "core/log.hpp"
#include "core/safe_name.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <set>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace vpsmail::queue {
namespace {

constexpr const char* folders[] = {"tmp", "msg", "env", "corrupt"};
constexpr std::chrono::hours orphan_age{1};

Error io_error(const std::string& what, const std::string& path, int err) {
    return Error(errno_kind(err), fmt::format("cannot {} {}: {}", what, path, std::strerror(err)), errno_text(path, err));
}

Error not_queued(std::string_view id) {
    return Error(ErrorKind::not_found, fmt::format("no message '{}' in the queue", id));
}

void make_folder(const std::string& path) {
    if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) throw io_error("create the spool folder", path, errno);
}

// Closes on every path out.
struct Fd {
    int fd;
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
};

// Writes `bytes` to `tmp`, fsyncs it and renames it to `final_path`. Removes `tmp` on failure.
void write_durably(const std::string& tmp, const std::string& final_path, std::string_view bytes) {
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) throw io_error("write", tmp, errno);
    int err = 0;
    std::size_t done = 0;
    while (done < bytes.size() && err == 0) {
        ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
        if (n > 0) done += static_cast<std::size_t>(n);
        else if (n < 0 && errno != EINTR) err = errno;
    }
    if (err == 0 && ::fsync(fd) != 0) err = errno;
    if (::close(fd) != 0 && err == 0) err = errno;
    if (err == 0 && ::rename(tmp.c_str(), final_path.c_str()) != 0) err = errno;
    if (err != 0) {
        ::unlink(tmp.c_str());
        throw io_error("write", final_path, err);
    }
}

std::uint32_t next_counter() {
    static std::atomic<std::uint32_t> counter{0};
    return counter.fetch_add(1);
}

// Queue ids: time, process and a counter, in hex: unique across processes and sortable by age.
std::string new_id() {
    const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    return fmt::format("{:013x}{:05x}{:04x}", micros, static_cast<unsigned>(::getpid()) & 0xfffff,
                       next_counter() & 0xffff);
}

// A unique tmp/ name for another write of `id` (updates may overlap with a quarantine).
std::string tmp_name(const std::string& id, std::string_view what) {
    return fmt::format("{}.{}.{:x}.{:x}", id, what, static_cast<unsigned>(::getpid()), next_counter());
}

bool valid_id(std::string_view id) {
    return !id.empty() && id.size() <= 64 && id.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

// The file's bytes; nullopt with `err` set when it cannot be opened or read.
std::optional<std::string> read_file(const std::string& path, int& err) {
    Fd fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW)};
    err = errno;
    if (fd.fd < 0) return std::nullopt;
    std::string out;
    struct stat st {};
    if (::fstat(fd.fd, &st) == 0 && st.st_size > 0) out.reserve(static_cast<std::size_t>(st.st_size));
    char buffer[65536];
    for (;;) {
        ssize_t n = ::read(fd.fd, buffer, sizeof buffer);
        if (n == 0) break;
        if (n < 0) {
            if (errno == EINTR) continue;
            err = errno;
            return std::nullopt;
        }
        out.append(buffer, static_cast<std::size_t>(n));
    }
    return out;
}

bool exists(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0;
}

std::vector<std::string> ids_in(const std::string& folder) {
    DIR* d = ::opendir(folder.c_str());
    if (d == nullptr) {
        if (errno == ENOENT) return {};
        throw io_error("read", folder, errno);
    }
    std::vector<std::string> ids;
    while (dirent* entry = ::readdir(d))
        if (valid_id(entry->d_name)) ids.emplace_back(entry->d_name);
    ::closedir(d);
    std::sort(ids.begin(), ids.end());  // ids begin with the time
    return ids;
}

// The envelope's values, escaped by escape_value(); its errors name the envelope.
std::string unescape(std::string_view value) { return unescape_value(value, "envelope"); }

std::string format_dsn_sent(const DsnSent& sent) {
    std::string out;
    auto add = [&](bool on, const char* name) {
        if (on) out += (out.empty() ? "" : ",") + std::string(name);
    };
    add(sent.failure, "failure");
    add(sent.delay, "delay");
    add(sent.success, "success");
    return out;
}

}  // namespace

SpoolLock::~SpoolLock() {
    if (fd_ >= 0) ::close(fd_);  // closing the only descriptor releases the flock
}

SpoolLock& SpoolLock::operator=(SpoolLock&& other) noexcept {
    if (this != &other) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = other.fd_;
        other.fd_ = -1;
    }
    return *this;
}

bool is_final(RecipientState state) noexcept {
    return state == RecipientState::delivered || state == RecipientState::bounced;
}

const char* recipient_state_name(RecipientState state) noexcept {
    switch (state) {
    case RecipientState::pending: return "pending";
    case RecipientState::deferred: return "deferred";
    case RecipientState::delivered: return "delivered";
    case RecipientState::bounced: return "bounced";
    }
    return "pending";
}

void check_queue_id(std::string_view id) {
    check_safe_name(id, "queue id");
    if (!valid_id(id)) throw Error(ErrorKind::bad_data, fmt::format("invalid queue id '{}': want lower-case hex digits, as `vpsmail queue list` shows", id));
}

void add_history(SpoolRecipient& recipient, std::int64_t time, std::string result) {
    // One line: a reply text from a remote server may hold anything.
    std::replace_if(result.begin(), result.end(), [](char c) { return c == '\r' || c == '\n'; }, ' ');
    recipient.history.push_back({time, std::move(result)});
    if (recipient.history.size() > max_history)
        recipient.history.erase(recipient.history.begin(),
                                recipient.history.begin() + static_cast<std::ptrdiff_t>(recipient.history.size() - max_history));
}

void hold(Envelope& envelope) noexcept { envelope.held = true; }

void release(Envelope& envelope) noexcept { envelope.held = false; }

void retry(Envelope& envelope) noexcept {
    for (auto& r : envelope.recipients)
        if (!is_final(r.state)) r.next_attempt = 0;
}

std::size_t bounce(Envelope& envelope, std::string_view reason, std::int64_t now) {
    std::size_t changed = 0;
    for (auto& r : envelope.recipients) {
        if (is_final(r.state)) continue;
        r.state = RecipientState::bounced;
        r.status = "5.0.0";  // RFC 3463: other undefined status; the admin's reason says more
        r.code = 0;
        r.remote_reply = false;
        r.last_error = std::string(reason);
        r.next_attempt = 0;
        add_history(r, now, fmt::format("bounced by the administrator: {}", reason));
        ++changed;
    }
    return changed;
}

// One field per line, "name value"; recipients as "rcpt STATE ADDRESS" followed by their own
// fields. Fields at their default are left out (the header comment of spool.hpp lists them).
std::string format_envelope(const Envelope& e) {
    std::string out = "vpsmail-envelope 2\n";
    out += fmt::format("created {}\n", e.created);
    if (e.size) out += fmt::format("size {}\n", *e.size);
    if (e.held) out += "held 1\n";
    if (e.warned) out += "warned 1\n";
    out += fmt::format("return-path {}\n", escape_value(e.return_path));
    out += fmt::format("body {}\n", escape_value(e.body));
    out += fmt::format("smtputf8 {}\n", e.smtputf8 ? 1 : 0);
    if (!e.envid.empty()) out += fmt::format("envid {}\n", escape_value(e.envid));
    if (!e.ret.empty()) out += fmt::format("ret {}\n", escape_value(e.ret));
    if (!e.received_from.empty()) out += fmt::format("from {}\n", escape_value(e.received_from));
    for (const auto& r : e.recipients) {
        out += fmt::format("rcpt {} {}\n", recipient_state_name(r.state), escape_value(r.address));
        if (r.local) out += "local 1\n";
        if (!r.notify.empty()) out += fmt::format("notify {}\n", escape_value(r.notify));
        if (!r.orcpt.empty()) out += fmt::format("orcpt {}\n", escape_value(r.orcpt));
        if (!r.part.empty()) out += fmt::format("part {}\n", escape_value(r.part));
        if (r.attempts != 0) out += fmt::format("attempts {}\n", r.attempts);
        if (r.next_attempt != 0) out += fmt::format("next-attempt {}\n", r.next_attempt);
        if (r.last_attempt != 0) out += fmt::format("last-attempt {}\n", r.last_attempt);
        if (r.code != 0) out += fmt::format("code {}\n", r.code);
        if (!r.status.empty()) out += fmt::format("status {}\n", escape_value(r.status));
        if (!r.remote_mta.empty()) out += fmt::format("remote-mta {}\n", escape_value(r.remote_mta));
        if (r.remote_reply) out += "remote-reply 1\n";
        if (!r.last_error.empty()) out += fmt::format("error {}\n", escape_value(r.last_error));
        if (r.dsn_passed_on) out += "dsn-passed-on 1\n";
        if (const std::string sent = format_dsn_sent(r.dsn_sent); !sent.empty()) out += fmt::format("dsn-sent {}\n", sent);
        for (const auto& a : r.history) out += fmt::format("history {} {}\n", a.time, escape_value(a.result));
    }
    out += "end\n";
    return out;
}

Envelope parse_envelope(std::string_view text) {
    Envelope e;
    std::size_t line_number = 0;
    bool header = false, ended = false;
    while (!text.empty()) {
        auto nl = text.find('\n');
        if (nl == std::string_view::npos) throw Error(ErrorKind::bad_data, "envelope: the last line is cut off");
        std::string_view line = text.substr(0, nl);
        text.remove_prefix(nl + 1);
        ++line_number;
        auto space = line.find(' ');
        std::string_view name = line.substr(0, space);
        std::string_view value = space == std::string_view::npos ? std::string_view() : line.substr(space + 1);
        auto bad = [&] { return Error(ErrorKind::bad_data, fmt::format("envelope line {}: '{}'", line_number, escape_value(line))); };
        auto number = [&]<typename T>(T& out, std::string_view digits) {
            auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), out);
            if (ec != std::errc() || end != digits.data() + digits.size() || digits.empty()) throw bad();
        };
        auto flag = [&] {
            if (value != "0" && value != "1") throw bad();
            return value == "1";
        };
        auto recipient = [&]() -> SpoolRecipient& {
            if (e.recipients.empty()) throw bad();
            return e.recipients.back();
        };
        if (ended) throw bad();
        if (!header) {
            // Version 1 has a subset of version 2's fields.
            if (line != "vpsmail-envelope 1" && line != "vpsmail-envelope 2") throw bad();
            header = true;
        } else if (name == "created") {
            number(e.created, value);
        } else if (name == "size") {
            std::uint64_t size = 0;
            number(size, value);
            e.size = size;
        } else if (name == "held") {
            e.held = flag();
        } else if (name == "warned") {
            e.warned = flag();
        } else if (name == "return-path") {
            e.return_path = unescape(value);
        } else if (name == "body") {
            // The body type decides how the message may leave (BINARYMIME only with BDAT): a
            // value we do not know is not guessed at.
            if (value != "7BIT" && value != "8BITMIME" && value != "BINARYMIME") throw bad();
            e.body = std::string(value);
        } else if (name == "smtputf8") {
            e.smtputf8 = flag();
        } else if (name == "envid") {
            e.envid = unescape(value);
        } else if (name == "ret") {
            e.ret = unescape(value);
        } else if (name == "from") {
            e.received_from = unescape(value);
        } else if (name == "rcpt") {
            auto sp = value.find(' ');
            if (sp == std::string_view::npos) throw bad();
            SpoolRecipient r;
            std::string_view state = value.substr(0, sp);
            if (state == "pending") r.state = RecipientState::pending;
            else if (state == "deferred") r.state = RecipientState::deferred;
            else if (state == "delivered") r.state = RecipientState::delivered;
            else if (state == "bounced") r.state = RecipientState::bounced;
            else throw bad();
            r.address = unescape(value.substr(sp + 1));
            e.recipients.push_back(std::move(r));
        } else if (name == "local") {
            recipient().local = flag();
        } else if (name == "notify") {
            recipient().notify = unescape(value);
        } else if (name == "orcpt") {
            recipient().orcpt = unescape(value);
        } else if (name == "part") {
            recipient().part = unescape(value);
        } else if (name == "attempts") {
            number(recipient().attempts, value);
        } else if (name == "next-attempt") {
            number(recipient().next_attempt, value);
        } else if (name == "last-attempt") {
            number(recipient().last_attempt, value);
        } else if (name == "code") {
            number(recipient().code, value);
        } else if (name == "status") {
            recipient().status = unescape(value);
        } else if (name == "remote-mta") {
            recipient().remote_mta = unescape(value);
        } else if (name == "remote-reply") {
            recipient().remote_reply = flag();
        } else if (name == "error") {
            recipient().last_error = unescape(value);
        } else if (name == "dsn-passed-on") {
            recipient().dsn_passed_on = flag();
        } else if (name == "dsn-sent") {
            auto& r = recipient();
            std::string_view rest = value;
            while (!rest.empty()) {
                auto comma = rest.find(',');
                std::string_view word = rest.substr(0, comma);
                if (word == "failure") r.dsn_sent.failure = true;
                else if (word == "delay") r.dsn_sent.delay = true;
                else if (word == "success") r.dsn_sent.success = true;
                else throw bad();
                rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
            }
        } else if (name == "history") {
            auto& r = recipient();
            auto sp = value.find(' ');
            Attempt a;
            number(a.time, value.substr(0, sp));
            if (sp != std::string_view::npos) a.result = unescape(value.substr(sp + 1));
            r.history.push_back(std::move(a));
            if (r.history.size() > max_history) r.history.erase(r.history.begin());
        } else if (name == "end") {
            ended = true;
        } else {
            throw bad();
        }
    }
    if (!ended) throw Error(ErrorKind::bad_data, "envelope: no end line (cut off)");
    return e;
}

// ---- Spool ----

Spool::Spool(std::string dir, FsyncFunction fsync)
    : dir_(std::move(dir)), fsync_(fsync ? std::move(fsync) : FsyncFunction(::fsync)), syncs_(std::make_shared<SyncGroup>(fsync_)) {}

void Spool::create() const {
    make_folder(dir_);
    for (const char* f : folders) make_folder(dir_ + "/" + f);
    // The maildrop (server/maildrop.hpp): any local user drops files in, nobody lists them, and
    // only the owner of a file (or of the folder) removes it, like Postfix's world-writable
    // maildrop; setgid, so that every file gets the server's group, which alone may read it.
    // Others must pass through the spool folder to reach it. Nothing of ours lives inside it:
    // quarantined files go to corrupt/, which no local user can write.
    const std::string maildrop = dir_ + "/maildrop";
    make_folder(maildrop);
    if (::chmod(maildrop.c_str(), 03733) != 0) throw io_error("set the mode of", maildrop, errno);
    if (::chmod(dir_.c_str(), 0711) != 0) throw io_error("set the mode of", dir_, errno);
}

void Spool::sync_folders(bool env, bool msg) const {
    std::vector<std::string> wanted;
    if (env) wanted.push_back(dir_ + "/env");
    if (msg) wanted.push_back(dir_ + "/msg");
    syncs_->sync(wanted);  // both at once: a remove() waits for the two fsyncs in parallel
}

Spool::SyncCounters Spool::sync_counters() const {
    return syncs_->counters();
}

std::string Spool::add(const Envelope& envelope, std::string_view message) const {
    const std::string id = new_id();
    write_durably(dir_ + "/tmp/" + id + ".msg", dir_ + "/msg/" + id, message);
    return add_envelope(id, envelope, message.size());
}

std::string Spool::add_file(const Envelope& envelope, const std::string& path) const {
    const std::string id = new_id();
    const std::string msg = dir_ + "/msg/" + id;
    Fd fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW)};
    if (fd.fd < 0) throw io_error("read", path, errno);
    struct stat st {};
    if (::fstat(fd.fd, &st) != 0) throw io_error("read", path, errno);
    // The bytes are on disk before a name in msg/ points at them; the file is never written
    // again, so several entries may share it.
    if (::fsync(fd.fd) != 0) throw io_error("write", path, errno);
    if (::link(path.c_str(), msg.c_str()) != 0) throw io_error("write", msg, errno);
    return add_envelope(id, envelope, static_cast<std::uint64_t>(st.st_size));
}

// msg/<id> is written: makes it durable, then the envelope, which queues it.
std::string Spool::add_envelope(const std::string& id, const Envelope& envelope, std::uint64_t size) const {
    const std::string msg = dir_ + "/msg/" + id;
    Envelope stored = envelope;
    stored.size = size;
    try {
        // msg/ first: an envelope that survives a crash must find its message.
        sync_folders(false, true);
        // The envelope goes last: once env/<id> exists the message is complete and queued.
        write_durably(dir_ + "/tmp/" + id + ".env", dir_ + "/env/" + id, format_envelope(stored));
        sync_folders(true, false);
    } catch (...) {
        ::unlink((dir_ + "/env/" + id).c_str());
        ::unlink(msg.c_str());
        throw;
    }
    return id;
}

namespace {

// One entry of env/: the message, or why it is damaged, or nothing when it vanished meanwhile
// (removed by another thread or process between the listing and the read).
struct Entry {
    std::optional<SpooledMessage> message;
    std::optional<std::string> damage;
};

Entry read_entry(const std::string& dir, const std::string& id) {
    const std::string env_path = dir + "/env/" + id;
    int err = 0;
    auto text = read_file(env_path, err);
    if (!text) {
        if (err == ENOENT) return {};
        return {std::nullopt, fmt::format("envelope unreadable: {}", std::strerror(err))};
    }
    SpooledMessage m;
    m.id = id;
    try {
        m.envelope = parse_envelope(*text);
    } catch (const Error& e) {
        return {std::nullopt, e.what()};
    }
    struct stat st {};
    if (::stat((dir + "/msg/" + id).c_str(), &st) != 0) {
        if (!exists(env_path)) return {};  // remove(): env/ goes first, then msg/
        return {std::nullopt, "message file missing"};
    }
    m.size = static_cast<std::uint64_t>(st.st_size);
    if (m.envelope.size && *m.envelope.size != m.size)
        return {std::nullopt, fmt::format("message file has {} bytes, the envelope says {}", m.size, *m.envelope.size)};
    return {std::move(m), std::nullopt};
}

}  // namespace

ScanResult Spool::scan(std::chrono::system_clock::time_point now) const {
    ScanResult out;
    const std::vector<std::string> env_ids = ids_in(dir_ + "/env");
    for (const auto& id : env_ids) {
        Entry entry = read_entry(dir_, id);
        if (entry.message) out.messages.push_back(std::move(*entry.message));
        else if (entry.damage) out.damaged.push_back({id, std::move(*entry.damage)});
    }
    const std::set<std::string> queued(env_ids.begin(), env_ids.end());
    for (const auto& id : ids_in(dir_ + "/msg")) {
        if (queued.count(id) != 0) continue;
        struct stat st {};
        if (::stat((dir_ + "/msg/" + id).c_str(), &st) != 0) continue;
        const auto modified = std::chrono::system_clock::from_time_t(st.st_mtime);
        // A younger one is an add() between its two renames, or a remove() between its unlinks.
        if (now - modified < orphan_age || exists(dir_ + "/env/" + id)) continue;
        out.damaged.push_back({id, "orphan message file (no envelope)"});
    }
    return out;
}

std::vector<SpooledMessage> Spool::list() const {
    std::vector<SpooledMessage> out;
    for (const auto& id : ids_in(dir_ + "/env"))
        if (Entry entry = read_entry(dir_, id); entry.message) out.push_back(std::move(*entry.message));
    return out;
}

std::optional<SpooledMessage> Spool::find(const std::string& id) const {
    if (!valid_id(id)) return std::nullopt;
    return read_entry(dir_, id).message;
}

SpooledMessage Spool::get(const std::string& id) const {
    check_queue_id(id);
    Entry entry = read_entry(dir_, id);
    if (entry.message) return std::move(*entry.message);
    if (entry.damage) throw Error(ErrorKind::bad_data, fmt::format("queued message '{}' is damaged: {}", id, *entry.damage));
    throw not_queued(id);
}

std::string Spool::read_content(const SpooledMessage& message) const {
    check_queue_id(message.id);
    const std::string path = dir_ + "/msg/" + message.id;
    int err = 0;
    auto bytes = read_file(path, err);
    if (!bytes) {
        if (err == ENOENT) throw Error(ErrorKind::bad_data, fmt::format("queued message '{}' has no message file", message.id), path);
        throw io_error("read", path, err);
    }
    if (message.envelope.size && bytes->size() != *message.envelope.size)
        throw Error(ErrorKind::bad_data,
                    fmt::format("queued message '{}' has {} bytes, the envelope says {}", message.id, bytes->size(), *message.envelope.size),
                    path);
    return std::move(*bytes);
}

std::string Spool::read_content(const std::string& id) const {
    return read_content(get(id));
}

void Spool::update(const SpooledMessage& message) const {
    check_queue_id(message.id);
    const std::string env_path = dir_ + "/env/" + message.id;
    if (!exists(env_path)) throw not_queued(message.id);
    write_durably(dir_ + "/tmp/" + tmp_name(message.id, "env"), env_path, format_envelope(message.envelope));
    sync_folders(true, false);
}

void Spool::remove(const std::string& id) const {
    check_queue_id(id);
    if (::unlink((dir_ + "/env/" + id).c_str()) != 0) {
        if (errno == ENOENT) throw not_queued(id);
        throw io_error("remove", dir_ + "/env/" + id, errno);
    }
    // An error here leaves an orphan message file, which scan() reports after an hour.
    if (::unlink((dir_ + "/msg/" + id).c_str()) != 0 && errno != ENOENT) throw io_error("remove", dir_ + "/msg/" + id, errno);
    sync_folders(true, true);
}

void Spool::quarantine(const std::string& id, std::string_view reason) const {
    check_queue_id(id);
    const std::string corrupt = dir_ + "/corrupt";
    make_folder(corrupt);
    write_durably(dir_ + "/tmp/" + tmp_name(id, "why"), corrupt + "/" + id + ".why", std::string(reason) + "\n");
    bool moved = false;
    for (const char* kind : {"env", "msg"}) {
        const std::string from = fmt::format("{}/{}/{}", dir_, kind, id);
        if (::rename(from.c_str(), fmt::format("{}/{}.{}", corrupt, id, kind).c_str()) == 0) moved = true;
        else if (errno != ENOENT) throw io_error("quarantine", from, errno);
    }
    if (int err = fsync_directory(corrupt, fsync_); err != 0) throw io_error("sync", corrupt, err);
    sync_folders(true, true);
    log::line("spool_quarantine", {{"id", id}, {"reason", reason}, {"moved", moved ? "yes" : "nothing"}, {"to", corrupt}});
}

std::size_t Spool::remove_stale_tmp(std::chrono::system_clock::time_point now, std::chrono::seconds min_age) const {
    const std::string tmp = dir_ + "/tmp";
    DIR* d = ::opendir(tmp.c_str());
    if (d == nullptr) {
        if (errno == ENOENT) return 0;
        throw io_error("read", tmp, errno);
    }
    std::size_t removed = 0;
    while (dirent* entry = ::readdir(d)) {
        const std::string name = entry->d_name;
        if (name == "." || name == "..") continue;
        const std::string path = tmp + "/" + name;
        struct stat st {};
        if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
        if (now - std::chrono::system_clock::from_time_t(st.st_mtime) < min_age) continue;
        if (::unlink(path.c_str()) == 0) ++removed;
    }
    ::closedir(d);
    return removed;
}

std::optional<SpoolLock> Spool::try_lock(std::chrono::milliseconds wait) const {
    const std::string path = dir_ + "/lock";
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) throw io_error("open", path, errno);
    SpoolLock lock(fd);
    const auto deadline = std::chrono::steady_clock::now() + wait;
    while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EINTR) continue;
        if (errno != EWOULDBLOCK) throw io_error("lock", path, errno);
        // The holder may be a queue command editing the spool for a moment.
        if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
        ::usleep(20000);
    }
    return lock;
}

SpooledMessage Spool::hold(const std::string& id) const {
    SpooledMessage m = get(id);
    queue::hold(m.envelope);
    update(m);
    return m;
}

SpooledMessage Spool::release(const std::string& id) const {
    SpooledMessage m = get(id);
    queue::release(m.envelope);
    update(m);
    return m;
}

SpooledMessage Spool::retry(const std::string& id) const {
    SpooledMessage m = get(id);
    queue::retry(m.envelope);
    update(m);
    return m;
}

SpooledMessage Spool::bounce(const std::string& id, std::string_view reason, std::chrono::system_clock::time_point now) const {
    SpooledMessage m = get(id);
    queue::bounce(m.envelope, reason, std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count());
    update(m);
    return m;
}

}  // namespace vpsmail::queue
