#include "server/maildrop.hpp"

#include "core/address.hpp"
#include "core/error.hpp"
#include "core/escape.hpp"
#include "core/fsync.hpp"
#include "core/log.hpp"
#include "server/server.hpp"
#include "server/smtp_service.hpp"
#include "smtp/received.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
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

// Strict: the files come from any local user, and escape_value() writes upper-case hex only.
std::string unescape(std::string_view value) { return unescape_value(value, "maildrop", HexDigits::upper_case); }

bool all_digits(std::string_view text) {
    return !text.empty() && text.size() <= 18 && text.find_first_not_of("0123456789") == std::string_view::npos;
}

// A name made by write_maildrop: hex time, '-', hex random.
bool valid_name(std::string_view name) {
    return !name.empty() && name.size() <= 64 && name.find_first_not_of("0123456789abcdef-") == std::string_view::npos;
}

std::string random_name() {
    unsigned char bytes[16];
    std::size_t got = 0;
    while (got < sizeof bytes) {
        ssize_t n = ::getrandom(bytes + got, sizeof bytes - got, 0);
        if (n > 0) got += static_cast<std::size_t>(n);
        else if (errno != EINTR) throw Error(ErrorKind::temporary, "cannot make a maildrop file name", errno_text("getrandom", errno));
    }
    const auto micros =
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    std::string out = fmt::format("{:013x}-", micros);
    for (unsigned char b : bytes) out += fmt::format("{:02x}", b);
    return out;
}

std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}


}  // namespace

std::string format_maildrop(const MaildropEntry& e) {
    std::string out = std::string(magic) + "\n";
    out += fmt::format("created {}\n", e.created);
    out += fmt::format("uid {}\n", e.uid);
    out += fmt::format("user {}\n", escape_value(e.user));
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
            if (!all_digits(value) || value.size() > 10) throw bad("not a uid");
            const auto n = std::stoull(std::string(value));
            if (n > 0xffffffffull) throw bad("not a uid");
            e.uid = static_cast<std::uint32_t>(n);
            uid = true;
        } else if (name == "user" && !user) {
            e.user = unescape(value);
            if (e.user.empty() || e.user.size() > 64) throw bad("not a user name");
            for (unsigned char c : e.user)
                if (c <= 0x20 || c == 0x7f) throw bad("not a user name");
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
    if (!created || !uid || !user || !sender) throw Error(ErrorKind::bad_data, "maildrop: a created, uid, user or sender line is missing");
    if (e.recipients.empty()) throw Error(ErrorKind::bad_data, "maildrop: no recipient");
    // docs/architecture.md section 10: the message goes on as it is, so no bare CR or LF (SMTP smuggling)
    // and no NUL byte.
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '\0') throw Error(ErrorKind::bad_data, "maildrop: the message contains a NUL byte");
        if (c == '\r' && (i + 1 >= text.size() || text[i + 1] != '\n'))
            throw Error(ErrorKind::bad_data, "maildrop: the message contains a bare CR");
        if (c == '\n' && (i == 0 || text[i - 1] != '\r')) throw Error(ErrorKind::bad_data, "maildrop: the message contains a bare LF");
    }
    e.message = std::string(text);
    return e;
}

std::string write_maildrop(const std::string& spool_dir, const MaildropEntry& entry) {
    const std::string dir = spool_dir + "/maildrop";
    const std::string name = random_name();
    const std::string tmp = dir + "/.tmp-" + name;
    const std::string final_path = dir + "/" + name;
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) {
        const int err = errno;
        if (err == ENOENT)
            throw Error(ErrorKind::temporary, fmt::format("the maildrop {} does not exist (start 'vpsmail serve' once)", dir),
                        errno_text(tmp, err));
        throw io_error("write into the maildrop", dir, err);
    }
    // The umask may have taken the read bits that the server user needs.
    int err = ::fchmod(fd, 0644) != 0 ? errno : 0;
    const std::string bytes = format_maildrop(entry);
    std::size_t done = 0;
    while (err == 0 && done < bytes.size()) {
        ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
        if (n > 0) done += static_cast<std::size_t>(n);
        else if (n < 0 && errno != EINTR) err = errno;
    }
    if (err == 0 && ::fsync(fd) != 0) err = errno;
    if (err == 0 && ::rename(tmp.c_str(), final_path.c_str()) != 0) err = errno;
    if (err == 0) {
        // The folder is not readable by others (1733), so they cannot open it to fsync it.
        // A second fsync of the renamed file then commits the journal transaction that holds
        // the rename (ext4, xfs), as close to the folder fsync as a non-owner can get.
        const int sync_err = fsync_directory(dir, ::fsync);
        if (sync_err == EACCES) {
            if (::fsync(fd) != 0) err = errno;
        } else if (sync_err != 0) {
            err = sync_err;
        }
    }
    if (::close(fd) != 0 && err == 0) err = errno;
    if (err != 0) {
        ::unlink(tmp.c_str());
        ::unlink(final_path.c_str());
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

// One maildrop file's pickup: reads, checks, delivers, removes. Throws Error for a file to
// quarantine; returns false when it stays for a retry.
class Pickup {
public:
    Pickup(Server& server, const MaildropBounce& bounce, int dir_fd, std::string dir)
        : server_(server), bounce_(bounce), dir_fd_(dir_fd), dir_(std::move(dir)) {}

    // Returns true when the file was delivered and removed.
    bool run(const std::string& name) {
        MaildropEntry entry;
        struct stat st {};
        try {
            entry = read(name, st);
        } catch (const Error& e) {
            if (e.kind() == ErrorKind::temporary) {
                log::line("maildrop_failed", {{"file", dir_ + "/" + name}, {"error", e.what()}});
                return false;  // EMFILE, EIO: tried again at the next pickup
            }
            quarantine(name, e.what(), st.st_uid);
            return false;
        }
        return deliver(name, entry);
    }

private:
    MaildropEntry read(const std::string& name, struct stat& st) {
        int fd = ::openat(dir_fd_, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0) {
            if (errno == ELOOP) throw Error(ErrorKind::bad_data, "a symbolic link");
            throw io_error("read", dir_ + "/" + name, errno);
        }
        std::string text;
        try {
            if (::fstat(fd, &st) != 0) throw io_error("read", dir_ + "/" + name, errno);
            if (!S_ISREG(st.st_mode)) throw Error(ErrorKind::bad_data, "not a regular file");
            // A hard link could carry another user's file in under its owner's name.
            if (st.st_nlink != 1) throw Error(ErrorKind::bad_data, "a file with other links");
            const std::uint64_t limit = server_.config()->limits.max_message_size + envelope_allowance;
            if (static_cast<std::uint64_t>(st.st_size) > limit)
                throw Error(ErrorKind::bad_data, fmt::format("larger than {} bytes", limit));
            text.resize(static_cast<std::size_t>(st.st_size));
            std::size_t done = 0;
            while (done < text.size()) {
                ssize_t n = ::read(fd, text.data() + done, text.size() - done);
                if (n > 0) done += static_cast<std::size_t>(n);
                else if (n == 0) break;
                else if (errno != EINTR) throw io_error("read", dir_ + "/" + name, errno);
            }
            text.resize(done);
        } catch (...) {
            ::close(fd);
            throw;
        }
        ::close(fd);
        MaildropEntry entry = parse_maildrop(text);
        // The file's owner is who submitted it; only this process's own retries name another.
        if (entry.uid != st.st_uid && st.st_uid != ::geteuid())
            throw Error(ErrorKind::bad_data, fmt::format("says uid {} but belongs to uid {}", entry.uid, st.st_uid));
        const auto config = server_.config();
        if (entry.message.size() > config->limits.max_message_size)
            throw Error(ErrorKind::bad_data, fmt::format("the message is larger than {} bytes", config->limits.max_message_size));
        if (static_cast<std::int64_t>(entry.recipients.size()) > config->limits.max_recipients)
            throw Error(ErrorKind::bad_data, fmt::format("more than {} recipients ([limits] max_recipients)", config->limits.max_recipients));
        return entry;
    }

    bool deliver(const std::string& name, const MaildropEntry& entry) {
        const auto config = server_.config();
        Peer peer;
        peer.listener = "sendmail";
        peer.address = "127.0.0.1";
        peer.loopback = true;
        peer.id = "maildrop." + name;

        smtp::Deliver action;
        smtp::Envelope& envelope = action.envelope;
        envelope.id = name;
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
        action.message = format_local_received(config->server.hostname, entry.uid, entry.user, name,
                                               std::chrono::system_clock::now()) +
                         entry.message;

        const smtp::DeliveryResult result = deliver_message(server_, action, peer);
        const bool expired = unix_now() - entry.created > maildrop_lifetime.count();
        std::vector<Refusal> refused;
        std::vector<std::string> retry;
        std::size_t accepted = 0;
        for (std::size_t i = 0; i < envelope.recipients.size() && i < result.recipients.size(); ++i) {
            const smtp::Verdict& v = result.recipients[i];
            if (v.accepted()) ++accepted;
            else if (v.refusal->temporary() && !expired) retry.push_back(entry.recipients[i]);
            else refused.push_back(Refusal{envelope.recipients[i], *v.refusal});
        }
        log::line("maildrop", {{"id", name}, {"uid", std::to_string(entry.uid)}, {"user", entry.user},
                               {"from", entry.sender}, {"recipients", std::to_string(entry.recipients.size())},
                               {"accepted", std::to_string(accepted)}, {"refused", std::to_string(refused.size())},
                               {"deferred", std::to_string(retry.size())}});
        if (!retry.empty() && accepted == 0 && refused.empty()) return false;  // nothing done: the same file again later
        if (!retry.empty()) {
            MaildropEntry rest = entry;
            rest.recipients = retry;
            try {
                write_maildrop(server_.spool().dir(), rest);
            } catch (const Error& e) {
                // The file stays: its delivered recipients would get the message again, which
                // beats losing it for the deferred ones.
                log::line("maildrop_failed", {{"id", name}, {"error", e.what()}, {"detail", e.detail()}});
                return false;
            }
        }
        if (!refused.empty() && bounce_) bounce_(envelope, action.message, refused);
        for (const auto& r : refused)
            log::line("maildrop_refused", {{"id", name}, {"rcpt", r.recipient.address.str()},
                                           {"reply", fmt::format("{} {} {}", r.reply.code, r.reply.status, r.reply.text)}});
        if (::unlinkat(dir_fd_, name.c_str(), 0) != 0)
            log::line("maildrop_failed", {{"id", name}, {"error", "cannot remove the delivered file"}, {"detail", std::strerror(errno)}});
        ::fsync(dir_fd_);
        return true;
    }

public:
    void quarantine(const std::string& name, const std::string& why, uid_t owner) {
        ::mkdirat(dir_fd_, "corrupt", 0700);
        const std::string target = "corrupt/" + name;
        const bool moved = ::renameat(dir_fd_, name.c_str(), dir_fd_, target.c_str()) == 0;
        log::line("maildrop_corrupt", {{"file", dir_ + "/" + name}, {"owner", std::to_string(owner)}, {"reason", why},
                                       {"moved_to", moved ? dir_ + "/" + target : std::string("(not moved)")}});
        if (!moved) ::unlinkat(dir_fd_, name.c_str(), 0);  // never picked up again and again
    }

private:
    Server& server_;
    const MaildropBounce& bounce_;
    int dir_fd_;
    std::string dir_;
};

}  // namespace

std::size_t pickup_maildrop(Server& server, const MaildropBounce& bounce) {
    const std::string dir = server.spool().dir() + "/maildrop";
    int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0) {
        if (errno != ENOENT) log::line("maildrop_failed", {{"file", dir}, {"error", std::strerror(errno)}});
        return 0;
    }
    std::vector<std::string> names;
    if (DIR* d = ::fdopendir(::dup(dir_fd))) {
        while (dirent* e = ::readdir(d)) {
            const std::string name = e->d_name;
            if (name.starts_with(".tmp-")) {
                // A writer that died before its rename leaves this behind.
                struct stat st {};
                if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && unix_now() - st.st_mtime > stale_tmp_seconds)
                    ::unlinkat(dir_fd, name.c_str(), 0);
                continue;
            }
            if (name == "." || name == ".." || name == "corrupt") continue;
            names.push_back(name);
        }
        ::closedir(d);
    }
    std::sort(names.begin(), names.end());  // the names begin with the time: oldest first
    Pickup pickup(server, bounce, dir_fd, dir);
    std::size_t delivered = 0;
    for (const auto& name : names) {
        try {
            if (!valid_name(name)) {
                struct stat st {};
                ::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW);
                pickup.quarantine(name, "not a maildrop file name", st.st_uid);
            } else if (pickup.run(name)) {
                ++delivered;
            }
        } catch (const std::exception& e) {
            log::line("maildrop_failed", {{"file", dir + "/" + name}, {"error", e.what()}});
        }
    }
    ::close(dir_fd);
    return delivered;
}

}  // namespace vpsmail::server
