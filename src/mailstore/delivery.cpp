#include "mailstore/delivery.hpp"

#include "core/error.hpp"
#include "core/fsync.hpp"
#include "mailstore/io.hpp"
#include "mailstore/maildir.hpp"
#include "mailstore/message_name.hpp"
#include "mailstore/unique_name.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <ctime>
#include <cerrno>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>

namespace vpsmail::mailstore {
namespace {

using detail::io_error;

constexpr std::size_t buffer_capacity = 64 * 1024;
// Names come from make_unique_name and cannot repeat; a clash means a clock gone back and a
// reused pid at once. A few fresh names are enough to get past it, and bound the loop.
constexpr int name_attempts = 4;

std::string parent_of(const std::string& path) { return path.substr(0, path.rfind('/')); }

void check_writable(const std::string& folder) {
    // The real check is the link or open in commit(); this one lets SMTP refuse at RCPT time.
    if (::faccessat(AT_FDCWD, folder.c_str(), W_OK | X_OK, AT_EACCESS) != 0)
        throw io_error("deliver into", folder, "faccessat", errno);
}

}  // namespace

Delivery::Delivery(SyncGroup* sync, DeliveryHooks hooks) : sync_(sync), hooks_(std::move(hooks)) {
    if (!hooks_.link) hooks_.link = ::link;
    if (!hooks_.fsync) hooks_.fsync = ::fsync;
}

Delivery::~Delivery() { abort(); }

Delivery::Delivery(Delivery&& other) noexcept
    : sync_(other.sync_),
      hooks_(std::move(other.hooks_)),
      recipients_(std::move(other.recipients_)),
      base_(std::move(other.base_)),
      tmp_path_(std::move(other.tmp_path_)),
      fd_(std::exchange(other.fd_, -1)),
      buffer_(std::move(other.buffer_)),
      size_(other.size_),
      bare_lf_(other.bare_lf_),
      last_(other.last_),
      copies_(std::move(other.copies_)),
      visible_(std::move(other.visible_)),
      state_(std::exchange(other.state_, State::finished)) {}

Delivery& Delivery::operator=(Delivery&& other) noexcept {
    if (this != &other) {
        abort();
        sync_ = other.sync_;
        hooks_ = std::move(other.hooks_);
        recipients_ = std::move(other.recipients_);
        base_ = std::move(other.base_);
        tmp_path_ = std::move(other.tmp_path_);
        fd_ = std::exchange(other.fd_, -1);
        buffer_ = std::move(other.buffer_);
        size_ = other.size_;
        bare_lf_ = other.bare_lf_;
        last_ = other.last_;
        copies_ = std::move(other.copies_);
        visible_ = std::move(other.visible_);
        state_ = std::exchange(other.state_, State::finished);
    }
    return *this;
}

void Delivery::require_open(std::string_view action) const {
    if (state_ != State::open)
        throw Error(ErrorKind::internal, fmt::format("cannot {} a message: its delivery is finished", action));
}

bool Delivery::add(const std::string& maildir, IndexedDelivery indexed) {
    if (indexed.index == nullptr) throw Error(ErrorKind::internal, fmt::format("cannot index a delivery into {} without an index", maildir));
    if (!add(maildir)) return false;
    recipients_.back().indexed = std::move(indexed);
    return true;
}

bool Delivery::add(const std::string& maildir) {
    require_open("add a Maildir to");
    ensure_maildir(maildir);
    struct stat st {};
    if (::stat(maildir.c_str(), &st) != 0) throw io_error("open Maildir", maildir, "stat", errno);
    const auto device = static_cast<std::uint64_t>(st.st_dev);
    const auto inode = static_cast<std::uint64_t>(st.st_ino);
    for (const Recipient& r : recipients_)
        if (r.device == device && r.inode == inode) return false;
    check_writable(maildir + "/new");
    check_writable(maildir + "/tmp");
    recipients_.reserve(recipients_.size() + 1);  // so that nothing throws once the file exists
    if (recipients_.empty()) open_file(maildir);
    recipients_.push_back(Recipient{maildir, device, inode, std::nullopt});
    return true;
}

void Delivery::open_file(const std::string& maildir) {
    buffer_.reserve(buffer_capacity);
    for (int attempt = 0; attempt < name_attempts; ++attempt) {
        std::string base = make_unique_name();
        std::string path = maildir + "/tmp/" + base;
        // Maildir spec: the file is made in tmp/ under its unique name; O_EXCL never reuses one.
        int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd >= 0) {
            fd_ = fd;
            base_ = std::move(base);
            tmp_path_ = std::move(path);
            return;
        }
        if (errno != EEXIST) throw io_error("create a message file in", maildir + "/tmp", "open", errno);
    }
    throw Error(ErrorKind::temporary, fmt::format("cannot find an unused file name in {}/tmp", maildir));
}

void Delivery::write(std::string_view bytes) {
    require_open("write");
    if (recipients_.empty()) throw Error(ErrorKind::internal, "cannot write a message before its first Maildir is added");
    for (char c : bytes) {
        if (c == '\n' && last_ != '\r') ++bare_lf_;
        last_ = c;
    }
    try {
        if (buffer_.size() + bytes.size() > buffer_capacity) {
            flush();
            if (bytes.size() >= buffer_capacity) {
                if (int err = detail::write_all(fd_, bytes); err != 0) throw io_error("write", tmp_path_, "write", err);
                size_ += bytes.size();
                return;
            }
        }
        buffer_.append(bytes);
        size_ += bytes.size();
    } catch (...) {
        discard();
        throw;
    }
}

void Delivery::flush() {
    if (buffer_.empty()) return;
    if (int err = detail::write_all(fd_, buffer_); err != 0) throw io_error("write", tmp_path_, "write", err);
    buffer_.clear();
}

std::vector<DeliveredFile> Delivery::commit() {
    require_open("commit");
    if (recipients_.empty()) throw Error(ErrorKind::internal, "cannot commit a message without a Maildir to deliver it to");
    try {
        flush();
        const auto indexed = std::find_if(recipients_.begin(), recipients_.end(), [](const Recipient& r) { return r.indexed.has_value(); });
        if (indexed != recipients_.end() && indexed->indexed->internal_date != 0) {
            // The internal date is the file's mtime, as Maildir readers and a rebuild see it.
            const timespec times[2] = {{indexed->indexed->internal_date, 0}, {indexed->indexed->internal_date, 0}};
            if (::futimens(fd_, times) != 0) throw io_error("set the date of", tmp_path_, "futimens", errno);
        }
        // docs/architecture.md section 9: the bytes reach the disk before any name in new/ points at them.
        if (hooks_.fsync(fd_) != 0) throw sync_error(tmp_path_, errno);
        struct stat st {};
        if (::fstat(fd_, &st) != 0) throw io_error("read the size of", tmp_path_, "fstat", errno);
        if (static_cast<std::uint64_t>(st.st_size) != size_)
            throw Error(ErrorKind::internal, fmt::format("message file {} holds {} bytes, {} were written", tmp_path_,
                                                         st.st_size, size_));

        std::vector<DeliveredFile> delivered;
        delivered.reserve(recipients_.size());
        std::vector<std::string> folders;
        folders.reserve(recipients_.size());
        for (const Recipient& r : recipients_) {
            delivered.push_back(place(r));
            folders.push_back(r.maildir + "/" + delivered.back().folder);
        }
        // docs/architecture.md section 9: the new entries are on disk, "and the directory after the rename".
        if (sync_ != nullptr) {
            sync_->sync(folders);
        } else {
            for (const std::string& folder : folders)
                if (int err = fsync_directory(folder, hooks_.fsync); err != 0) throw sync_error(folder, err);
        }

        visible_.clear();  // they stay: the message is delivered
        indexed_.clear();
        state_ = State::committed;
        discard();         // the names in tmp/
        return delivered;
    } catch (...) {
        // Rows already committed for copies that are now removed go too (best effort: a sync
        // would expunge them anyway).
        for (auto& [index, mailbox, uid] : indexed_) {
            try {
                index->expunge(mailbox, {uid});
            } catch (...) {
            }
        }
        indexed_.clear();
        discard();
        throw;
    }
}

// Makes the message visible in the recipient's new/ (or cur/), through its index when it has one.
DeliveredFile Delivery::place(const Recipient& r) {
    if (!r.indexed) return DeliveredFile{r.maildir, link_into(r.maildir, "new", [&](const std::string& base) { return format_new_name(base, size_); }), 0, "new"};
    const IndexedDelivery& ix = *r.indexed;
    const std::string folder = ix.into_cur ? "cur" : "new";
    MailboxRef mailbox{ix.mailbox, r.maildir};
    DeliveredFile out{r.maildir, {}, 0, folder};
    NewMessage m;
    m.keywords = ix.keywords;
    m.flags = ix.into_cur ? ix.flags | take_forwarded(m.keywords) : 0;
    m.internal_date = ix.internal_date != 0 ? ix.internal_date : static_cast<std::int64_t>(::time(nullptr));
    m.size = size_;
    m.crlf_size = crlf_size();
    // docs/architecture.md section 9: the UID is read, named and committed in one index transaction.
    m.link = [&](std::uint32_t uid) {
        out.name = link_into(r.maildir, folder, [&](const std::string& base) {
            std::string stem = format_indexed_name(base, size_, crlf_size(), uid);
            return ix.into_cur ? cur_name(stem, m.flags) : stem;
        });
        return folder + "/" + out.name;
    };
    out.uid = ix.index->add_message(mailbox, m);
    indexed_.push_back({ix.index, mailbox, out.uid});
    return out;
}

// Links the message into maildir/folder/ under name(base); returns that name.
std::string Delivery::link_into(const std::string& maildir, const std::string& folder,
                                const std::function<std::string(const std::string& base)>& make_name) {
    std::string source = tmp_path_;
    std::string base = base_;
    int attempts = 0;
    for (;;) {
        std::string name = make_name(base);
        std::string target = maildir + "/" + folder + "/" + name;
        // Maildir spec: link tmp/ -> new/ (not rename, which would replace a file of that name);
        // the other recipients share the same inode, written and fsync'd once.
        if (hooks_.link(source.c_str(), target.c_str()) == 0) {
            visible_.push_back(std::move(target));
            return name;
        }
        const int err = errno;
        if (err == EEXIST && ++attempts < name_attempts) {
            base = make_unique_name();
        } else if ((err == EXDEV || err == EMLINK) && source == tmp_path_) {
            // Another file system, or the inode has its maximum of links: a copy of our own.
            source = copy_into(maildir);
        } else {
            throw io_error("deliver into", maildir + "/" + folder, "link", err);
        }
    }
}

// A durable copy of the message file in maildir/tmp/; returns its path.
std::string Delivery::copy_into(const std::string& maildir) {
    std::string path;
    detail::FileDescriptor copy;
    for (int attempt = 0; attempt < name_attempts && !copy; ++attempt) {
        path = maildir + "/tmp/" + make_unique_name();
        copy.reset(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
        if (!copy && errno != EEXIST) throw io_error("create a message file in", maildir + "/tmp", "open", errno);
    }
    if (!copy) throw Error(ErrorKind::temporary, fmt::format("cannot find an unused file name in {}/tmp", maildir));
    copies_.push_back(path);

    std::string chunk(buffer_capacity, '\0');
    std::uint64_t offset = 0;
    while (offset < size_) {
        const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(chunk.size(), size_ - offset));
        ssize_t n = ::pread(fd_, chunk.data(), want, static_cast<off_t>(offset));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw io_error("read", tmp_path_, "pread", errno);
        if (n == 0) throw Error(ErrorKind::internal, fmt::format("message file {} ended before {} bytes", tmp_path_, size_));
        if (int err = detail::write_all(copy.get(), std::string_view(chunk.data(), static_cast<std::size_t>(n))); err != 0)
            throw io_error("write", path, "write", err);
        offset += static_cast<std::uint64_t>(n);
    }
    if (hooks_.fsync(copy.get()) != 0) throw sync_error(path, errno);
    return path;
}

void Delivery::abort() noexcept {
    if (state_ == State::open) discard();
}

// Removes what the message left in new/ (a failed commit) and in tmp/, closes the file and
// finishes the Delivery.
void Delivery::discard() noexcept {
    try {
        for (const std::string& path : visible_) ::unlink(path.c_str());
        // Best effort: without it a crash could bring back the entries of a commit that failed,
        // and the sender's retry would deliver the message twice.
        for (const std::string& path : visible_) fsync_directory(parent_of(path), hooks_.fsync);
    } catch (...) {  // std::bad_alloc from a path: the unlinks are done, the fsyncs best effort
    }
    visible_.clear();
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    if (!tmp_path_.empty()) ::unlink(tmp_path_.c_str());
    for (const std::string& path : copies_) ::unlink(path.c_str());
    copies_.clear();
    buffer_.clear();
    if (state_ == State::open) state_ = State::finished;
}

}  // namespace vpsmail::mailstore
