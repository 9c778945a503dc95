#include "server/maildrop.hpp"

#include "core/address.hpp"
#include "core/error.hpp"
#include "core/escape.hpp"
#include "core/fsync.hpp"
#include "core/log.hpp"
#include "queue/scheduler.hpp"
#include "server/peer.hpp"
#include "server/server.hpp"
#include "server/smtp_service.hpp"
#include "smtp/received.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <pwd.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

namespace vpsmail::server {
namespace {

constexpr std::string_view magic = "vpsmail-maildrop 1";
constexpr std::size_t envelope_allowance = 1 << 20;  // recipient lines beyond the message limit
constexpr std::int64_t stale_tmp_seconds = 24 * 3600;

Error io_error(const std::string& what, const std::string& path, int err) {
    return Error(errno_kind(err), fmt::format("cannot {} {}: {}", what, path, std::strerror(err)), errno_text(path, err));
}

// A descriptor closed when it goes out of scope.
struct Fd {
    int fd = -1;
    Fd() = default;
    explicit Fd(int f) : fd(f) {}
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
};

// Strict: the files come from any local user, and escape_value() writes upper-case hex only.
std::string unescape(std::string_view value) { return unescape_value(value, "maildrop", HexDigits::upper_case); }

bool all_digits(std::string_view text) {
    return !text.empty() && text.size() <= 18 && text.find_first_not_of("0123456789") == std::string_view::npos;
}

// A name made by write_maildrop ("<uid>-<slot>") or by an older one (hex time, '-', hex random).
bool valid_name(std::string_view name) {
    return !name.empty() && name.size() <= 64 && name.find_first_not_of("0123456789abcdef-") == std::string_view::npos;
}

// The uid a "<uid>-<slot>" name is for; nullopt for the older random names (13 hex digits of
// time first, longer than any uid).
std::optional<std::uint32_t> uid_of_name(std::string_view name) {
    const auto dash = name.find('-');
    if (dash == std::string_view::npos || dash > 10 || !all_digits(name.substr(0, dash)) || !all_digits(name.substr(dash + 1)))
        return std::nullopt;
    const auto n = std::stoull(std::string(name.substr(0, dash)));
    if (n > 0xffffffffull) return std::nullopt;
    return static_cast<std::uint32_t>(n);
}

std::string random_hex() {
    unsigned char bytes[12];
    std::size_t got = 0;
    while (got < sizeof bytes) {
        ssize_t n = ::getrandom(bytes + got, sizeof bytes - got, 0);
        if (n > 0) got += static_cast<std::size_t>(n);
        else if (errno != EINTR) throw Error(ErrorKind::temporary, "cannot make a maildrop file name", errno_text("getrandom", errno));
    }
    std::string out;
    for (unsigned char b : bytes) out += fmt::format("{:02x}", b);
    return out;
}

std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// The login of `uid` for the logs and the Received header, else the number.
std::string login_of(uid_t uid) {
    struct passwd pw {};
    struct passwd* found = nullptr;
    char buffer[4096];
    if (::getpwuid_r(uid, &pw, buffer, sizeof buffer, &found) == 0 && found != nullptr) return found->pw_name;
    return std::to_string(uid);
}

}  // namespace

std::string format_maildrop(const MaildropEntry& e) {
    std::string out = std::string(magic) + "\n";
    out += fmt::format("created {}\n", e.created);
    out += fmt::format("sender {}\n", escape_value(e.sender));
    for (const auto& r : e.recipients) out += fmt::format("rcpt {}\n", escape_value(r));
    out += "end\n";
    out += e.message;
    return out;
}

MaildropEntry parse_maildrop(std::string_view text) {
    MaildropEntry e;
    std::size_t number = 0;
    bool created = false, uid = false, user = false, sender = false;
    for (;;) {
        auto nl = text.find('\n');
        if (nl == std::string_view::npos) throw Error(ErrorKind::bad_data, "maildrop: no end line (cut off)");
        const std::string_view line = text.substr(0, nl);
        text.remove_prefix(nl + 1);
        ++number;
        auto bad = [&](std::string_view why) {
            std::string shown;
            for (unsigned char c : line.substr(0, 80)) shown += c < 0x20 || c == 0x7f ? '?' : static_cast<char>(c);
            return Error(ErrorKind::bad_data, fmt::format("maildrop line {} '{}': {}", number, shown, why));
        };
        if (number == 1) {
            if (line != magic) throw bad("not a vpsmail maildrop file");
            continue;
        }
        if (line == "end") break;
        const auto space = line.find(' ');
        if (space == std::string_view::npos) throw bad("no value");
        const std::string_view name = line.substr(0, space), value = line.substr(space + 1);
        if (name == "created" && !created) {
            if (!all_digits(value)) throw bad("not a time");
            e.created = std::stoll(std::string(value));
            created = true;
        } else if (name == "uid" && !uid) {
            uid = true;  // older writers: the file's owner is the submitter, not this line
        } else if (name == "user" && !user) {
            user = true;
        } else if (name == "sender" && !sender) {
            e.sender = unescape(value);
            if (!e.sender.empty()) {
                try {
                    e.sender = parse_address(e.sender).str();
                } catch (const Error& x) {
                    throw bad(x.what());
                }
            }
            sender = true;
        } else if (name == "rcpt") {
            try {
                e.recipients.push_back(parse_recipient(unescape(value)).str());
            } catch (const Error& x) {
                throw bad(x.what());
            }
        } else {
            throw bad("unknown or repeated line");
        }
    }
    if (!created || !sender) throw Error(ErrorKind::bad_data, "maildrop: a created or sender line is missing");
    if (e.recipients.empty()) throw Error(ErrorKind::bad_data, "maildrop: no recipient");
    e.message = std::string(text);
    return e;
}

std::optional<smtp::Reply> check_local_message(std::string_view message, std::size_t recipients, const Config::Limits& limits) {
    auto refuse = [](smtp::ReplyId id, std::string text) {
        smtp::Reply r = smtp::reply(id);
        r.text = std::move(text);
        return r;
    };
    if (recipients > static_cast<std::size_t>(limits.max_recipients))
        return refuse(smtp::ReplyId::transaction_failed,
                      fmt::format("{} recipients, more than the limit of {} ([limits] max_recipients)", recipients, limits.max_recipients));
    if (message.size() > limits.max_message_size)
        return refuse(smtp::ReplyId::size_exceeded,
                      fmt::format("the message is {} bytes with CRLF line ends and the added header fields, more than the limit "
                                  "of {} ([limits] max_message_size)",
                                  message.size(), limits.max_message_size));
    // docs/architecture.md section 10: the message goes on as it is, so no bare CR or LF (SMTP smuggling)
    // and no NUL byte.
    std::size_t line = 1;
    for (std::size_t i = 0; i < message.size(); ++i) {
        const char c = message[i];
        if (c == '\0')
            return refuse(smtp::ReplyId::bare_newline_data, fmt::format("the message contains a NUL byte (line {})", line));
        if (c == '\r' && (i + 1 >= message.size() || message[i + 1] != '\n'))
            return refuse(smtp::ReplyId::bare_newline_data,
                          fmt::format("the message contains a bare CR (line {}): end its lines with LF or CRLF only", line));
        if (c == '\n') {
            if (i == 0 || message[i - 1] != '\r')
                return refuse(smtp::ReplyId::bare_newline_data, fmt::format("the message contains a bare LF (line {})", line));
            ++line;
        }
    }
    return std::nullopt;
}

std::string write_maildrop(const std::string& spool_dir, const MaildropEntry& entry, const Config::Limits& limits) {
    const std::string dir = spool_dir + "/maildrop";
    // O_PATH: others may search the folder (mode 3733) but not read it.
    Fd folder(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (folder.fd < 0) {
        const int err = errno;
        if (err == ENOENT)
            throw Error(ErrorKind::temporary, fmt::format("the maildrop {} does not exist (start 'vpsmail serve' once)", dir),
                        errno_text(dir, err));
        throw io_error("open the maildrop", dir, err);
    }
    const uid_t uid = ::geteuid();
    const std::string bytes = format_maildrop(entry);

    // This user's slots: a user may not list the folder, but may look at names it knows.
    std::vector<std::string> free;
    std::int64_t waiting = 0;
    std::uint64_t waiting_bytes = 0;
    for (std::int64_t n = 0; n < limits.max_maildrop_messages; ++n) {
        const std::string name = fmt::format("{}-{}", uid, n);
        struct stat st {};
        if (::fstatat(folder.fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno != ENOENT) throw io_error("look into the maildrop", dir, errno);
            free.push_back(name);
        } else if (st.st_uid == uid) {  // another user's file in our slot is the pickup's to quarantine
            ++waiting;
            waiting_bytes += static_cast<std::uint64_t>(st.st_size);
        }
    }
    const std::string who = fmt::format("uid {} ({})", uid, login_of(uid));
    if (waiting >= limits.max_maildrop_messages)
        throw Error(ErrorKind::temporary,
                    fmt::format("{} already has {} messages waiting in the maildrop, the limit ([limits] max_maildrop_messages); "
                                "they leave it when 'vpsmail serve' picks them up",
                                who, waiting));
    if (waiting_bytes + bytes.size() > limits.max_maildrop_size)
        throw Error(ErrorKind::temporary,
                    fmt::format("{} has {} bytes waiting in the maildrop; with this message's {} that is more than the limit of {} "
                                "([limits] max_maildrop_size); they leave it when 'vpsmail serve' picks them up",
                                who, waiting_bytes, bytes.size(), limits.max_maildrop_size));
    if (free.empty())
        throw Error(ErrorKind::temporary, fmt::format("no free maildrop slot for {}: files of other users are in the way until "
                                                      "'vpsmail serve' removes them", who));

    const std::string tmp = fmt::format(".tmp-{}-{}", uid, random_hex());
    int fd = ::openat(folder.fd, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0640);
    if (fd < 0) throw io_error("write into the maildrop", dir, errno);
    // The umask may have taken the group's read bit, which the server needs.
    int err = ::fchmod(fd, 0640) != 0 ? errno : 0;
    std::size_t done = 0;
    while (err == 0 && done < bytes.size()) {
        ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
        if (n > 0) done += static_cast<std::size_t>(n);
        else if (n < 0 && errno != EINTR) err = errno;
    }
    if (err == 0 && ::fsync(fd) != 0) err = errno;
    std::string name;
    if (err == 0) {
        // Another sendmail of the same user may take a slot meanwhile: never replace a file.
        for (const auto& slot : free) {
            if (::renameat2(folder.fd, tmp.c_str(), folder.fd, slot.c_str(), RENAME_NOREPLACE) == 0) {
                name = slot;
                break;
            }
            if (errno != EEXIST) {
                err = errno;
                break;
            }
        }
        if (err == 0 && name.empty()) err = EEXIST;
    }
    if (err == 0) {
        // The folder is not readable by others, so they cannot open it to fsync it. A second
        // fsync of the renamed file then commits the journal transaction that holds the rename
        // (ext4, xfs), as close to the folder fsync as a non-owner can get.
        const int sync_err = fsync_directory(dir, ::fsync);
        if (sync_err == EACCES) {
            if (::fsync(fd) != 0) err = errno;
        } else if (sync_err != 0) {
            err = sync_err;
        }
    }
    if (::close(fd) != 0 && err == 0) err = errno;
    if (err != 0) {
        ::unlinkat(folder.fd, tmp.c_str(), 0);
        if (!name.empty()) ::unlinkat(folder.fd, name.c_str(), 0);
        if (err == EEXIST)
            throw Error(ErrorKind::temporary, fmt::format("every maildrop slot of {} was taken while writing; try again", who));
        throw io_error("write into the maildrop", dir, err);
    }
    return name;
}

std::string format_local_received(std::string_view hostname, std::uint32_t uid, std::string_view user, std::string_view id,
                                  std::chrono::system_clock::time_point when) {
    return fmt::format("Received: by {} (vpsmail, from userid {} {})\r\n\tid {}; {}\r\n", hostname, uid, user, id,
                       smtp::format_date(when));
}

namespace {

// What became of one file.
enum class Outcome { delivered, refused, quarantined, later };

// One pass's view of the folders: the spool (to reach corrupt/) and the maildrop.
struct Folders {
    int spool = -1;
    int maildrop = -1;
    std::string spool_path;
    std::string maildrop_path;
};

// Moves `name` into <spool>/corrupt, which only the server user may write (a local user can
// replace nothing there), or removes it when that fails: never picked up again and again.
void quarantine(const Folders& f, const std::string& name, const std::string& why, uid_t owner) {
    std::string target;
    try {
        target = "maildrop." + random_hex();
    } catch (const Error&) {
        target.clear();
    }
    bool moved = false;
    if (!target.empty()) {
        Fd corrupt(::openat(f.spool, "corrupt", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (corrupt.fd < 0 && errno == ENOENT && ::mkdirat(f.spool, "corrupt", 0700) == 0)
            corrupt.fd = ::openat(f.spool, "corrupt", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (corrupt.fd >= 0 && ::renameat(f.maildrop, name.c_str(), corrupt.fd, target.c_str()) == 0) {
            moved = true;
            ::fsync(corrupt.fd);
        }
    }
    log::line("maildrop_corrupt", {{"file", f.maildrop_path + "/" + name}, {"owner", std::to_string(owner)}, {"reason", why},
                                   {"moved_to", moved ? f.spool_path + "/corrupt/" + target : std::string("(removed)")}});
    if (!moved) ::unlinkat(f.maildrop, name.c_str(), 0);
    ::fsync(f.maildrop);
}

smtp::Envelope envelope_of(const std::string& id, const MaildropEntry& entry) {
    smtp::Envelope envelope;
    envelope.id = id;
    if (!entry.sender.empty()) envelope.return_path = parse_address(entry.sender);
    bool utf8 = false, eight_bit = false;
    for (const auto& r : entry.recipients) {
        envelope.recipients.push_back(smtp::Recipient{parse_recipient(r), std::nullopt, std::nullopt});
        for (unsigned char c : r) utf8 = utf8 || c >= 0x80;
    }
    for (unsigned char c : entry.sender) utf8 = utf8 || c >= 0x80;
    for (unsigned char c : entry.message) eight_bit = eight_bit || c >= 0x80;
    envelope.smtputf8 = utf8;
    envelope.body = eight_bit ? smtp::Body::eight_bit_mime : smtp::Body::seven_bit;
    return envelope;
}

// One maildrop file's pickup: reads, checks, delivers or bounces, removes.
class Pickup {
public:
    Pickup(Server& server, const MaildropBounce& bounce, const Folders& folders)
        : server_(server), bounce_(bounce), f_(folders) {}

    Outcome run(const std::string& name) {
        struct stat st {};
        Fd fd(::openat(f_.maildrop, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
        if (fd.fd < 0) {
            const int err = errno;
            if (err == ELOOP) {
                ::fstatat(f_.maildrop, name.c_str(), &st, AT_SYMLINK_NOFOLLOW);
                quarantine(f_, name, "a symbolic link", st.st_uid);
                return Outcome::quarantined;
            }
            if (err == ENOENT) return Outcome::refused;  // gone meanwhile
            log::line("maildrop_failed", {{"file", path(name)}, {"error", std::strerror(err)}});
            return Outcome::later;  // EMFILE, EIO: tried again after a backoff
        }
        if (::fstat(fd.fd, &st) != 0) {
            log::line("maildrop_failed", {{"file", path(name)}, {"error", std::strerror(errno)}});
            return Outcome::later;
        }
        const auto config = server_.config();
        std::string why;
        if (!S_ISREG(st.st_mode)) why = "not a regular file";
        // A hard link could carry another user's file in under its owner's name.
        else if (st.st_nlink != 1) why = "a file with other links";
        else if (!valid_name(name)) why = "not a maildrop file name";
        else if (auto named = uid_of_name(name); named && *named != st.st_uid)
            why = fmt::format("named for uid {} but belongs to uid {}", *named, st.st_uid);
        if (!why.empty()) {
            quarantine(f_, name, why, st.st_uid);
            return Outcome::quarantined;
        }
        const std::uint64_t limit = config->limits.max_message_size + envelope_allowance;
        const bool too_big = static_cast<std::uint64_t>(st.st_size) > limit;
        std::string text;
        try {
            // Too big a file: its envelope only, for the bounce.
            text = read_all(fd.fd, name, too_big ? envelope_allowance : static_cast<std::size_t>(st.st_size));
        } catch (const Error& e) {
            log::line("maildrop_failed", {{"file", path(name)}, {"error", e.what()}, {"detail", e.detail()}});
            return Outcome::later;
        }
        ::close(fd.fd);
        fd.fd = -1;
        MaildropEntry entry;
        try {
            entry = parse_maildrop(text);
        } catch (const Error& e) {
            quarantine(f_, name, e.what(), st.st_uid);
            return Outcome::quarantined;
        }
        const Submitter who{static_cast<std::uint32_t>(st.st_uid), login_of(st.st_uid)};
        std::optional<smtp::Reply> refusal;
        if (too_big) {
            refusal = smtp::reply(smtp::ReplyId::size_exceeded);
            refusal->text = fmt::format("the maildrop file is {} bytes, more than the limit of {} ([limits] max_message_size)",
                                        st.st_size, config->limits.max_message_size);
            entry.message.clear();  // cut off: the bounce goes without it
        } else {
            refusal = check_local_message(entry.message, entry.recipients.size(), config->limits);
        }
        if (refusal) return refuse(name, who, entry, *refusal);
        return deliver(name, who, entry);
    }

private:
    struct Submitter {
        std::uint32_t uid;
        std::string login;
    };

    std::string path(const std::string& name) const { return f_.maildrop_path + "/" + name; }

    std::string read_all(int fd, const std::string& name, std::size_t size) {
        std::string text(size, '\0');
        std::size_t done = 0;
        while (done < text.size()) {
            ssize_t n = ::read(fd, text.data() + done, text.size() - done);
            if (n > 0) done += static_cast<std::size_t>(n);
            else if (n == 0) break;
            else if (errno != EINTR) throw io_error("read", path(name), errno);
        }
        text.resize(done);
        return text;
    }

    std::string trace(const Submitter& who, const std::string& name, const MaildropEntry& entry) {
        return format_local_received(server_.config()->server.hostname, who.uid, who.login, name, std::chrono::system_clock::now()) +
               entry.message;
    }

    void remove(const std::string& name) {
        if (::unlinkat(f_.maildrop, name.c_str(), 0) != 0)
            log::line("maildrop_failed", {{"id", name}, {"error", "cannot remove the picked-up file"}, {"detail", std::strerror(errno)}});
        ::fsync(f_.maildrop);
    }

    void bounce(const smtp::Envelope& envelope, const std::string& message, const std::vector<Refusal>& refused) {
        if (!refused.empty() && bounce_) bounce_(envelope, message, refused);
        for (const auto& r : refused)
            log::line("maildrop_refused", {{"id", envelope.id}, {"rcpt", r.recipient.address.str()},
                                           {"reply", fmt::format("{} {} {}", r.reply.code, r.reply.status, r.reply.text)}});
    }

    // The whole message is refused: every recipient gets the refusal in a DSN to the sender.
    Outcome refuse(const std::string& name, const Submitter& who, const MaildropEntry& entry, const smtp::Reply& refusal) {
        const smtp::Envelope envelope = envelope_of(name, entry);
        std::vector<Refusal> refused;
        for (const auto& r : envelope.recipients) refused.push_back(Refusal{r, refusal});
        log::line("maildrop", {{"id", name}, {"uid", std::to_string(who.uid)}, {"user", who.login}, {"from", entry.sender},
                               {"recipients", std::to_string(entry.recipients.size())}, {"accepted", "0"},
                               {"refused", std::to_string(refused.size())}, {"deferred", "0"}});
        bounce(envelope, entry.message.empty() ? std::string() : trace(who, name, entry), refused);
        remove(name);
        return Outcome::refused;
    }

    Outcome deliver(const std::string& name, const Submitter& who, const MaildropEntry& entry) {
        const auto config = server_.config();
        const Peer peer = local_submission_peer("maildrop." + name);

        smtp::Deliver action;
        action.envelope = envelope_of(name, entry);
        action.message = trace(who, name, entry);
        // Local mailboxes that fail for now go to the queue, which retries them with its backoff.
        const smtp::DeliveryResult result = deliver_message(server_, action, peer, OnTemporaryFailure::queue);
        const bool expired = unix_now() - entry.created > config->queue.max_age.count();
        const smtp::Envelope& envelope = action.envelope;
        std::vector<Refusal> refused;
        std::size_t accepted = 0, deferred = 0;
        for (std::size_t i = 0; i < envelope.recipients.size() && i < result.recipients.size(); ++i) {
            const smtp::Verdict& v = result.recipients[i];
            if (v.accepted()) ++accepted;
            else if (v.refusal->temporary() && !expired) ++deferred;
            else refused.push_back(Refusal{envelope.recipients[i], *v.refusal});
        }
        log::line("maildrop", {{"id", name}, {"uid", std::to_string(who.uid)}, {"user", who.login}, {"from", entry.sender},
                               {"recipients", std::to_string(entry.recipients.size())}, {"accepted", std::to_string(accepted)},
                               {"refused", std::to_string(refused.size())}, {"deferred", std::to_string(deferred)}});
        // Not even the queue could take them (a full disk): the file stays for a later pass,
        // whose delivered recipients may then get the message twice, which beats losing it.
        if (deferred > 0) return Outcome::later;
        bounce(envelope, action.message, refused);
        remove(name);
        return accepted > 0 ? Outcome::delivered : Outcome::refused;
    }

    Server& server_;
    const MaildropBounce& bounce_;
    const Folders& f_;
};

}  // namespace

MaildropPickup::MaildropPickup(Server& server, MaildropBounce bounce) : server_(server), bounce_(std::move(bounce)) {}

std::size_t MaildropPickup::run(std::chrono::system_clock::time_point now) {
    Folders f;
    f.spool_path = server_.spool().dir();
    f.maildrop_path = f.spool_path + "/maildrop";
    Fd spool(::open(f.spool_path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    Fd maildrop(spool.fd < 0 ? -1 : ::openat(spool.fd, "maildrop", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (maildrop.fd < 0) {
        if (errno != ENOENT) log::line("maildrop_failed", {{"file", f.maildrop_path}, {"error", std::strerror(errno)}});
        return 0;
    }
    f.spool = spool.fd;
    f.maildrop = maildrop.fd;

    struct Found {
        std::string name;
        struct timespec mtime;
    };
    std::vector<Found> found;
    if (DIR* d = ::fdopendir(::dup(f.maildrop))) {
        while (dirent* e = ::readdir(d)) {
            const std::string name = e->d_name;
            // corrupt/: where older versions quarantined (now <spool>/corrupt); left alone.
            if (name == "." || name == ".." || name == "corrupt") continue;
            struct stat st {};
            if (::fstatat(f.maildrop, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
            if (name.starts_with(".tmp-")) {
                // A writer that died before its rename leaves this behind.
                if (S_ISREG(st.st_mode) && unix_now() - st.st_mtime > stale_tmp_seconds) ::unlinkat(f.maildrop, name.c_str(), 0);
                continue;
            }
            found.push_back(Found{name, st.st_mtim});
        }
        ::closedir(d);
    }
    // Oldest first: by the time of the rename (a slot's number says nothing about its age).
    std::sort(found.begin(), found.end(), [](const Found& a, const Found& b) {
        if (a.mtime.tv_sec != b.mtime.tv_sec) return a.mtime.tv_sec < b.mtime.tv_sec;
        if (a.mtime.tv_nsec != b.mtime.tv_nsec) return a.mtime.tv_nsec < b.mtime.tv_nsec;
        return a.name < b.name;
    });
    // Backoffs of files that are gone are forgotten.
    for (auto it = waiting_.begin(); it != waiting_.end();)
        it = std::any_of(found.begin(), found.end(), [&](const Found& x) { return x.name == it->first; }) ? std::next(it)
                                                                                                       : waiting_.erase(it);
    const auto config = server_.config();
    queue::Policy policy;
    policy.retry_min = config->queue.retry_min;
    policy.retry_max = config->queue.retry_max;

    Pickup pickup(server_, bounce_, f);
    std::size_t delivered = 0;
    for (const auto& file : found) {
        auto wait = waiting_.find(file.name);
        if (wait != waiting_.end() && now < wait->second.next) continue;
        Outcome outcome = Outcome::later;
        try {
            outcome = pickup.run(file.name);
        } catch (const std::exception& e) {
            log::line("maildrop_failed", {{"file", f.maildrop_path + "/" + file.name}, {"error", e.what()}});
        }
        if (outcome == Outcome::later) {
            Waiting& w = waiting_[file.name];
            ++w.attempts;
            w.next = now + queue::backoff(w.attempts, policy);
            log::line("maildrop_deferred", {{"file", f.maildrop_path + "/" + file.name}, {"attempts", std::to_string(w.attempts)},
                                            {"next_try_in", format_duration(queue::backoff(w.attempts, policy))}});
        } else {
            waiting_.erase(file.name);
            if (outcome == Outcome::delivered) ++delivered;
        }
    }
    return delivered;
}

}  // namespace vpsmail::server
