#include "mailstore/quota.hpp"

#include "core/error.hpp"
#include "mailstore/io.hpp"
#include "mailstore/unique_name.hpp"

#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <memory>
#include <sys/stat.h>
#include <vector>

namespace vpsmail::mailstore {
namespace {

using detail::io_error;

struct DirCloser {
    void operator()(DIR* dir) const noexcept { ::closedir(dir); }
};
using DirHandle = std::unique_ptr<DIR, DirCloser>;

// Opens a folder for listing; null when it does not exist (or a file has its name).
DirHandle open_folder(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR) return nullptr;
        throw io_error("read folder", path, "open", errno);
    }
    DIR* dir = ::fdopendir(fd);
    if (dir == nullptr) {
        int err = errno;
        ::close(fd);
        throw io_error("read folder", path, "fdopendir", err);
    }
    return DirHandle(dir);
}

bool is_dot_entry(const char* name) { return name[0] == '.'; }

// Calls `f(entry)` for each entry of an open folder; throws when listing fails part-way.
template <typename F>
void for_each_entry(DIR* dir, const std::string& path, F&& f) {
    for (;;) {
        errno = 0;
        const dirent* entry = ::readdir(dir);
        if (entry == nullptr) {
            if (errno != 0) throw io_error("read folder", path, "readdir", errno);
            return;
        }
        f(*entry);
    }
}

std::uint64_t folder_usage(const std::string& path) {
    DirHandle dir = open_folder(path);
    if (!dir) return 0;
    std::uint64_t total = 0;
    for_each_entry(dir.get(), path, [&](const dirent& entry) {
        if (is_dot_entry(entry.d_name)) return;
        if (auto size = find_message_size(entry.d_name)) {
            total += *size;  // Maildir++: the size in the name spares the stat
            return;
        }
        struct stat st {};
        if (::fstatat(::dirfd(dir.get()), entry.d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno == ENOENT) return;  // moved to cur/ or expunged meanwhile
            throw io_error("read the size of", path + "/" + entry.d_name, "fstatat", errno);
        }
        if (S_ISREG(st.st_mode)) total += static_cast<std::uint64_t>(st.st_size);
    });
    return total;
}

std::uint64_t mailbox_usage(const std::string& path) { return folder_usage(path + "/cur") + folder_usage(path + "/new"); }

}  // namespace

std::uint64_t maildir_usage(const std::string& maildir) {
    std::uint64_t total = mailbox_usage(maildir);
    DirHandle root = open_folder(maildir);
    if (!root) return total;
    std::vector<std::string> folders;
    for_each_entry(root.get(), maildir, [&](const dirent& entry) {
        // Maildir++: a folder is a subfolder ".Name" (".Sent", ".Lists.vpsmail") with its own cur/ new/.
        if (!is_dot_entry(entry.d_name) || std::strcmp(entry.d_name, ".") == 0 || std::strcmp(entry.d_name, "..") == 0)
            return;
        if (entry.d_type != DT_DIR && entry.d_type != DT_UNKNOWN) return;
        folders.push_back(maildir + "/" + entry.d_name);
    });
    root.reset();
    for (const std::string& folder : folders) total += mailbox_usage(folder);
    return total;
}

}  // namespace vpsmail::mailstore
