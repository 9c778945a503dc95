#include "queue/spool.hpp"

#include "core/error.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

namespace vpsmail::queue {
namespace {

constexpr const char* folders[] = {"tmp", "msg", "env"};

Error io_error(const std::string& what, const std::string& path, int err) {
    return Error(errno_kind(err), fmt::format("cannot {} {}: {}", what, path, std::strerror(err)), errno_text(path, err));
}

void make_folder(const std::string& path) {
    if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) throw io_error("create the spool folder", path, errno);
}

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

void sync_folder(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) throw io_error("open", path, errno);
    int err = ::fsync(fd) != 0 ? errno : 0;
    ::close(fd);
    if (err != 0) throw io_error("sync", path, err);
}

// Queue ids: time, process and a counter, in hex: unique across processes and sortable by age.
std::string new_id() {
    static std::atomic<std::uint32_t> counter{0};
    const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    return fmt::format("{:013x}{:05x}{:04x}", micros, static_cast<unsigned>(::getpid()) & 0xfffff,
                       counter.fetch_add(1) & 0xffff);
}

bool valid_id(std::string_view id) {
    return !id.empty() && id.size() <= 64 && id.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

std::optional<std::string> read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

// A value is one line: '%', CR, LF and the other control bytes are written as %XX.
std::string escape(std::string_view value) {
    std::string out;
    for (unsigned char c : value) {
        if (c == '%' || c < 0x20 || c == 0x7f) out += fmt::format("%{:02X}", c);
        else out += static_cast<char>(c);
    }
    return out;
}

std::string unescape(std::string_view value) {
    std::string out;
    for (std::size_t i = 0; i < value.size(); ++i) {
        if (value[i] == '%') {
            const std::string_view hex = value.substr(i + 1, 2);
            if (hex.size() != 2 || hex.find_first_not_of("0123456789ABCDEFabcdef") != std::string_view::npos)
                throw Error(ErrorKind::bad_data, fmt::format("envelope: bad escape in '{}'", value));
            out += static_cast<char>(std::stoi(std::string(hex), nullptr, 16));
            i += 2;
        } else {
            out += value[i];
        }
    }
    return out;
}

}  // namespace

const char* recipient_state_name(RecipientState state) noexcept {
    switch (state) {
    case RecipientState::pending: return "pending";
    case RecipientState::deferred: return "deferred";
    case RecipientState::delivered: return "delivered";
    case RecipientState::bounced: return "bounced";
    }
    return "pending";
}

// One field per line, "name value"; recipients as "rcpt STATE ADDRESS" followed by their own
// "notify", "orcpt" and "error" lines. Unknown names are errors: a newer format is not guessed at.
std::string format_envelope(const Envelope& e) {
    std::string out = "vpsmail-envelope 1\n";
    out += fmt::format("created {}\n", e.created);
    out += fmt::format("return-path {}\n", escape(e.return_path));
    out += fmt::format("body {}\n", e.body);
    out += fmt::format("smtputf8 {}\n", e.smtputf8 ? 1 : 0);
    if (!e.envid.empty()) out += fmt::format("envid {}\n", escape(e.envid));
    if (!e.ret.empty()) out += fmt::format("ret {}\n", e.ret);
    if (!e.received_from.empty()) out += fmt::format("from {}\n", escape(e.received_from));
    for (const auto& r : e.recipients) {
        out += fmt::format("rcpt {} {}\n", recipient_state_name(r.state), escape(r.address));
        if (!r.notify.empty()) out += fmt::format("notify {}\n", escape(r.notify));
        if (!r.orcpt.empty()) out += fmt::format("orcpt {}\n", escape(r.orcpt));
        if (!r.last_error.empty()) out += fmt::format("error {}\n", escape(r.last_error));
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
        auto bad = [&] { return Error(ErrorKind::bad_data, fmt::format("envelope line {}: '{}'", line_number, line)); };
        if (ended) throw bad();
        if (!header) {
            if (line != "vpsmail-envelope 1") throw bad();
            header = true;
        } else if (name == "created") {
            e.created = std::stoll(std::string(value));
        } else if (name == "return-path") {
            e.return_path = unescape(value);
        } else if (name == "body") {
            e.body = std::string(value);
        } else if (name == "smtputf8") {
            e.smtputf8 = value == "1";
        } else if (name == "envid") {
            e.envid = unescape(value);
        } else if (name == "ret") {
            e.ret = std::string(value);
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
        } else if (name == "notify" || name == "orcpt" || name == "error") {
            if (e.recipients.empty()) throw bad();
            auto& r = e.recipients.back();
            (name == "notify" ? r.notify : name == "orcpt" ? r.orcpt : r.last_error) = unescape(value);
        } else if (name == "end") {
            ended = true;
        } else {
            throw bad();
        }
    }
    if (!ended) throw Error(ErrorKind::bad_data, "envelope: no end line (cut off)");
    return e;
}

void Spool::create() const {
    make_folder(dir_);
    for (const char* f : folders) make_folder(dir_ + "/" + f);
    // The maildrop (server/maildrop.hpp): any local user drops files in, nobody lists them, and
    // only the owner of a file (or of the folder) removes it, like Postfix's world-writable
    // maildrop. Others must pass through the spool folder to reach it.
    const std::string maildrop = dir_ + "/maildrop";
    make_folder(maildrop);
    make_folder(maildrop + "/corrupt");
    if (::chmod(maildrop.c_str(), 01733) != 0) throw io_error("set the mode of", maildrop, errno);
    if (::chmod(dir_.c_str(), 0711) != 0) throw io_error("set the mode of", dir_, errno);
}

std::string Spool::add(const Envelope& envelope, std::string_view message) const {
    const std::string id = new_id();
    const std::string msg = dir_ + "/msg/" + id;
    write_durably(dir_ + "/tmp/" + id + ".msg", msg, message);
    try {
        sync_folder(dir_ + "/msg");
        // The envelope goes last: once env/<id> exists the message is complete and queued.
        write_durably(dir_ + "/tmp/" + id + ".env", dir_ + "/env/" + id, format_envelope(envelope));
        sync_folder(dir_ + "/env");
    } catch (...) {
        ::unlink((dir_ + "/env/" + id).c_str());
        ::unlink(msg.c_str());
        throw;
    }
    return id;
}

std::optional<SpooledMessage> Spool::find(const std::string& id) const {
    if (!valid_id(id)) return std::nullopt;
    auto text = read_file(dir_ + "/env/" + id);
    if (!text) return std::nullopt;
    SpooledMessage m;
    m.id = id;
    try {
        m.envelope = parse_envelope(*text);
    } catch (const std::exception&) {
        return std::nullopt;
    }
    struct stat st {};
    if (::stat((dir_ + "/msg/" + id).c_str(), &st) == 0) m.size = static_cast<std::uint64_t>(st.st_size);
    return m;
}

std::vector<SpooledMessage> Spool::list() const {
    const std::string env = dir_ + "/env";
    DIR* d = ::opendir(env.c_str());
    if (d == nullptr) {
        if (errno == ENOENT) return {};
        throw io_error("read", env, errno);
    }
    std::vector<std::string> ids;
    while (dirent* entry = ::readdir(d))
        if (valid_id(entry->d_name)) ids.emplace_back(entry->d_name);
    ::closedir(d);
    std::sort(ids.begin(), ids.end());  // ids begin with the time
    std::vector<SpooledMessage> out;
    for (const auto& id : ids)
        if (auto m = find(id)) out.push_back(std::move(*m));
    return out;
}

}  // namespace vpsmail::queue
