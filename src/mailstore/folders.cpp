#include "mailstore/folders.hpp"

#include "core/error.hpp"
#include "core/fsync.hpp"
#include "mailstore/io.hpp"
#include "mailstore/maildir.hpp"
#include "mailstore/unique_name.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <dirent.h>
#include <fcntl.h>
#include <filesystem>
#include <optional>
#include <set>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>

namespace vpsmail::mailstore {
namespace fs = std::filesystem;
namespace {

using detail::FileDescriptor;
using detail::io_error;

constexpr const char* subscriptions_file = "subscriptions";

// docs/architecture.md section 9: a new or renamed entry reaches the disk with its folder's fsync.
void sync_dir(const std::string& path) {
    if (int err = fsync_directory(path, ::fsync); err != 0) throw sync_error(path, err);
}

// lstat: true for a real directory, false when nothing (or a non-directory) is there.
bool is_directory(const std::string& path) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) return S_ISDIR(st.st_mode);
    if (errno == ENOENT || errno == ENOTDIR) return false;
    throw io_error("look at", path, "lstat", errno);
}

bool is_there(const std::string& path) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) return true;
    if (errno == ENOENT || errno == ENOTDIR) return false;
    throw io_error("look at", path, "lstat", errno);
}

// rename(2) that never replaces what is at `to` (an empty directory would be replaced).
// Returns 0 or the errno; EEXIST (or ENOTEMPTY) when `to` is there.
int rename_noreplace(int from_dir, const char* from, int to_dir, const char* to) {
    if (::renameat2(from_dir, from, to_dir, to, RENAME_NOREPLACE) == 0) return 0;
    if (errno != EINVAL && errno != ENOSYS) return errno;
    // A file system without RENAME_NOREPLACE: check, then rename (a race may still replace).
    struct stat st {};
    if (::fstatat(to_dir, to, &st, AT_SYMLINK_NOFOLLOW) == 0) return EEXIST;
    return ::renameat(from_dir, from, to_dir, to) == 0 ? 0 : errno;
}

// The names of the entries of the folder at `path` with their d_type; ENOENT: nullopt.
std::optional<std::vector<std::pair<std::string, unsigned char>>> read_entries(const std::string& path) {
    DIR* dir = ::opendir(path.c_str());
    if (dir == nullptr) {
        if (errno == ENOENT) return std::nullopt;
        throw io_error("read folder", path, "opendir", errno);
    }
    std::vector<std::pair<std::string, unsigned char>> out;
    errno = 0;
    while (const dirent* e = ::readdir(dir)) {
        std::string name = e->d_name;
        unsigned char type = e->d_type;
        if (name != "." && name != "..") {
            if (type == DT_UNKNOWN) {
                struct stat st {};
                if (::fstatat(::dirfd(dir), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
                    type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG : DT_LNK;
            }
            out.emplace_back(std::move(name), type);
        }
        errno = 0;
    }
    const int err = errno;
    ::closedir(dir);
    if (err != 0) throw io_error("read folder", path, "readdir", err);
    return out;
}

// The folders that are directories of their own in the Maildir root, sorted.
std::vector<MailboxName> real_folders(const std::string& maildir) {
    std::set<MailboxName> names;
    if (auto entries = read_entries(maildir)) {
        for (const auto& [file, type] : *entries) {
            if (type != DT_DIR) continue;  // files, and symbolic links: never followed
            if (auto name = find_folder_name(file)) names.insert(*name);
        }
    }
    return {names.begin(), names.end()};
}

// A folder name for a temporary entry in the Maildir's tmp/, which is on the Maildir's file
// system and never listed as a folder.
std::string staging_path(const std::string& maildir, std::string_view what) {
    return fmt::format("{}/tmp/{}-{}", maildir, what, make_unique_name());
}

void make_folder_dir(const std::string& path) {
    if (::mkdir(path.c_str(), 0700) != 0) throw io_error("create folder", path, "mkdir", errno);
}

bool equals_inbox(std::string_view line) {
    if (line.size() != 5) return false;
    for (std::size_t i = 0; i < 5; ++i)
        if ((line[i] | 0x20) != "inbox"[i]) return false;
    return true;
}

// A line of the subscriptions file: a folder file name without its leading '.', or INBOX.
std::optional<MailboxName> subscription_name(std::string_view line) {
    if (equals_inbox(line)) return MailboxName();
    if (line.empty()) return std::nullopt;
    return find_folder_name("." + std::string(line));
}

std::string subscription_line(const MailboxName& name) {
    return name.is_inbox() ? std::string("INBOX") : folder_file_name(name).substr(1);
}

std::vector<std::string> read_subscription_lines(const std::string& maildir) {
    const std::string path = maildir + "/" + subscriptions_file;
    FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) {
        if (errno == ENOENT || errno == ENOTDIR) return {};
        throw io_error("read", path, "open", errno);
    }
    std::string text;
    char buffer[8192];
    for (;;) {
        const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw io_error("read", path, "read", errno);
        }
        if (n == 0) break;
        text.append(buffer, static_cast<std::size_t>(n));
    }
    std::vector<std::string> lines;
    std::size_t start = 0;
    while (start < text.size()) {
        std::size_t end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        std::string line = text.substr(start, end - start);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (!line.empty()) lines.push_back(std::move(line));
        start = end + 1;
    }
    return lines;
}

std::string exists_message(const MailboxName& name) { return fmt::format("mailbox '{}' exists already", name.str()); }

}  // namespace

SpecialUse special_use_of(const MailboxName& name) noexcept {
    // RFC 6154 2: the attributes; the names are those Dovecot's and most clients' defaults use.
    static constexpr std::pair<std::string_view, SpecialUse> names[] = {
        {"Sent", SpecialUse::sent},   {"Drafts", SpecialUse::drafts},   {"Trash", SpecialUse::trash},
        {"Junk", SpecialUse::junk},   {"Archive", SpecialUse::archive},
    };
    for (const auto& [text, use] : names)
        if (name.str() == text) return use;
    return SpecialUse::none;
}

std::vector<std::string> folder_attributes(const FolderEntry& entry) {
    std::vector<std::string> out;
    if (!entry.selectable) out.emplace_back("\\Noselect");
    out.emplace_back(entry.has_children ? "\\HasChildren" : "\\HasNoChildren");
    switch (entry.special_use) {
    case SpecialUse::none: break;
    case SpecialUse::sent: out.emplace_back("\\Sent"); break;
    case SpecialUse::drafts: out.emplace_back("\\Drafts"); break;
    case SpecialUse::trash: out.emplace_back("\\Trash"); break;
    case SpecialUse::junk: out.emplace_back("\\Junk"); break;
    case SpecialUse::archive: out.emplace_back("\\Archive"); break;
    }
    return out;
}

std::vector<FolderEntry> Folders::list() const {
    const std::vector<MailboxName> real = real_folders(maildir_);
    const std::set<MailboxName> real_set(real.begin(), real.end());
    std::set<MailboxName> implicit;
    std::set<MailboxName> parents;
    for (const MailboxName& name : real) {
        for (auto p = name.parent(); p; p = p->parent()) {
            parents.insert(*p);
            if (!p->is_inbox() && !real_set.contains(*p)) implicit.insert(*p);
        }
    }
    std::set<MailboxName> subscribed;
    for (const MailboxName& name : list_subscribed()) subscribed.insert(name);

    std::vector<FolderEntry> out;
    auto add = [&](const MailboxName& name, bool selectable) {
        // RFC 6154 2: the attribute tells where messages go, so a \Noselect name has none.
        const SpecialUse use = selectable ? special_use_of(name) : SpecialUse::none;
        FolderEntry e{name, selectable, parents.contains(name), use, subscribed.contains(name)};
        out.push_back(std::move(e));
    };
    add(MailboxName(), true);
    std::set<MailboxName> all(real_set);
    all.insert(implicit.begin(), implicit.end());
    for (const MailboxName& name : all) add(name, !implicit.contains(name));
    return out;
}

bool Folders::exists(const MailboxName& name) const {
    return name.is_inbox() || is_directory(folder_path(maildir_, name));
}

void Folders::create(const MailboxName& name) {
    if (name.is_inbox()) throw Error(ErrorKind::exists, exists_message(name));
    const std::string target = folder_path(maildir_, name);
    if (is_there(target)) throw Error(ErrorKind::exists, exists_message(name));
    ensure_maildir(maildir_);
    // Built whole in tmp/, then renamed into place: a crash leaves no half-made folder.
    const std::string staging = staging_path(maildir_, "folder");
    make_folder_dir(staging);
    try {
        for (const char* sub : {"/cur", "/new", "/tmp"}) make_folder_dir(staging + sub);
        // Maildir++: the marker that tells delivery agents this is a folder, not a Maildir.
        const std::string marker = staging + "/maildirfolder";
        FileDescriptor fd(::open(marker.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
        if (!fd) throw io_error("create", marker, "open", errno);
        sync_dir(staging);
        if (int err = rename_noreplace(AT_FDCWD, staging.c_str(), AT_FDCWD, target.c_str()); err != 0) {
            if (err == EEXIST || err == ENOTEMPTY) throw Error(ErrorKind::exists, exists_message(name));
            throw io_error("create folder", target, "renameat2", err);
        }
    } catch (...) {
        std::error_code ignored;
        fs::remove_all(staging, ignored);
        throw;
    }
    sync_dir(maildir_);
}

void Folders::remove(const MailboxName& name) {
    // RFC 3501 6.3.4: it is an error to delete INBOX.
    if (name.is_inbox()) throw Error(ErrorKind::bad_data, "INBOX cannot be deleted (it is the account's Maildir itself)");
    const std::string path = folder_path(maildir_, name);
    if (!is_directory(path)) {
        for (const MailboxName& other : real_folders(maildir_))
            if (name.is_ancestor_of(other))
                throw Error(ErrorKind::not_found,
                            fmt::format("mailbox '{}' does not exist (only folders below it do, such as '{}')", name.str(), other.str()));
        throw Error(ErrorKind::not_found, fmt::format("no such mailbox '{}'", name.str()));
    }
    ensure_maildir(maildir_);
    // Out of the listing in one rename, then removed: a crash in between leaves it in tmp/.
    const std::string trash = staging_path(maildir_, "deleted");
    if (::rename(path.c_str(), trash.c_str()) != 0) throw io_error("delete folder", path, "rename", errno);
    sync_dir(maildir_);
    std::error_code ec;
    fs::remove_all(trash, ec);
    if (ec) throw io_error("remove", trash, "remove_all", ec.value());
}

void Folders::rename(const MailboxName& from, const MailboxName& to) {
    if (to.is_inbox()) throw Error(ErrorKind::exists, exists_message(to));
    if (from.is_inbox()) return rename_inbox(to);
    if (from.is_ancestor_of(to))
        throw Error(ErrorKind::bad_data, fmt::format("cannot rename mailbox '{}' into itself ('{}')", from.str(), to.str()));
    struct Move {
        MailboxName from, to;
    };
    std::vector<Move> moves;
    for (const MailboxName& name : real_folders(maildir_))
        if (name == from || from.is_ancestor_of(name)) moves.push_back({name, name.rebased(from, to)});
    if (moves.empty()) throw Error(ErrorKind::not_found, fmt::format("no such mailbox '{}'", from.str()));
    // Every target checked before the first rename: no half-done rename over another folder.
    for (const Move& m : moves)
        if (is_there(folder_path(maildir_, m.to))) throw Error(ErrorKind::exists, exists_message(m.to));

    std::vector<std::string> lines = read_subscription_lines(maildir_);
    bool subscriptions_changed = false;
    for (std::string& line : lines) {
        auto name = subscription_name(line);
        if (!name || (*name != from && !from.is_ancestor_of(*name))) continue;
        try {
            line = subscription_line(name->rebased(from, to));
            subscriptions_changed = true;
        } catch (const Error&) {
            // A subscribed name below `from` that is no folder and would be over the limits:
            // it stays as it is, subscribed to a name that does not exist (RFC 3501 6.3.6).
        }
    }

    for (const Move& m : moves) {
        const std::string source = folder_path(maildir_, m.from);
        const std::string target = folder_path(maildir_, m.to);
        if (int err = rename_noreplace(AT_FDCWD, source.c_str(), AT_FDCWD, target.c_str()); err != 0) {
            if (err == EEXIST || err == ENOTEMPTY) throw Error(ErrorKind::exists, exists_message(m.to));
            throw io_error("rename folder", source, "renameat2", err);
        }
    }
    sync_dir(maildir_);
    if (subscriptions_changed) write_subscriptions(lines);
}

void Folders::rename_inbox(const MailboxName& to) {
    // RFC 3501 6.3.5: INBOX's messages move to a new mailbox; INBOX stays, empty, and the
    // names below INBOX are not renamed. Only message files move: any index stays with INBOX.
    create(to);
    const std::string target = folder_path(maildir_, to);
    for (const char* sub : {"new", "cur"}) {
        const std::string source_dir = maildir_ + "/" + sub;
        const std::string target_dir = target + "/" + sub;
        auto entries = read_entries(source_dir);
        if (!entries) continue;
        FileDescriptor source(::open(source_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW));
        if (!source) throw io_error("open folder", source_dir, "open", errno);
        FileDescriptor dest(::open(target_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW));
        if (!dest) throw io_error("open folder", target_dir, "open", errno);
        bool moved = false;
        for (const auto& [file, type] : *entries) {
            if (type != DT_REG || file.front() == '.') continue;  // Maildir spec: dot files are no messages
            if (int err = rename_noreplace(source.get(), file.c_str(), dest.get(), file.c_str()); err != 0)
                throw io_error("move message", source_dir + "/" + file, "renameat2", err);
            moved = true;
        }
        if (!moved) continue;
        // The folder the messages went to first: what is on disk never lacks them.
        if (::fsync(dest.get()) != 0) throw sync_error(target_dir, errno);
        if (::fsync(source.get()) != 0) throw sync_error(source_dir, errno);
    }
}

bool Folders::subscribe(const MailboxName& name) {
    std::vector<std::string> lines = read_subscription_lines(maildir_);
    for (const std::string& line : lines)
        if (subscription_name(line) == name) return false;
    lines.push_back(subscription_line(name));
    write_subscriptions(lines);
    return true;
}

bool Folders::unsubscribe(const MailboxName& name) {
    std::vector<std::string> lines = read_subscription_lines(maildir_);
    const auto before = lines.size();
    std::erase_if(lines, [&](const std::string& line) { return subscription_name(line) == name; });
    if (lines.size() == before) return false;
    write_subscriptions(lines);
    return true;
}

std::vector<MailboxName> Folders::list_subscribed() const {
    std::vector<MailboxName> out;
    for (const std::string& line : read_subscription_lines(maildir_))
        if (auto name = subscription_name(line); name && std::find(out.begin(), out.end(), *name) == out.end())
            out.push_back(*name);
    return out;
}

void Folders::write_subscriptions(const std::vector<std::string>& lines) {
    ensure_maildir(maildir_);
    std::string text;
    for (const std::string& line : lines) text += line + "\n";
    const std::string path = maildir_ + "/" + subscriptions_file;
    const std::string tmp = staging_path(maildir_, "subscriptions");
    // docs/architecture.md section 9: tmp + fsync + rename + folder fsync, never a torn file.
    try {
        FileDescriptor fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
        if (!fd) throw io_error("create", tmp, "open", errno);
        if (int err = detail::write_all(fd.get(), text); err != 0) throw io_error("write", tmp, "write", err);
        if (::fsync(fd.get()) != 0) throw sync_error(tmp, errno);
        if (::rename(tmp.c_str(), path.c_str()) != 0) throw io_error("replace", path, "rename", errno);
    } catch (...) {
        ::unlink(tmp.c_str());
        throw;
    }
    sync_dir(maildir_);
}

}  // namespace vpsmail::mailstore
