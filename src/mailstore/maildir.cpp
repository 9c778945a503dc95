#include "mailstore/maildir.hpp"

#include "core/error.hpp"
#include "core/fsync.hpp"
#include "core/safe_name.hpp"
#include "mailstore/io.hpp"

#include <cerrno>
#include <filesystem>
#include <sys/stat.h>
#include <unistd.h>

namespace vpsmail::mailstore {
namespace fs = std::filesystem;
namespace {

using detail::io_error;

// The parent's entry for a folder just made reaches the disk only with an fsync of the parent.
void sync_parent(const std::string& path) {
    auto parent = fs::path(path).parent_path();
    std::string dir = parent.empty() ? "." : parent.string();
    if (int err = fsync_directory(dir, ::fsync); err != 0) throw sync_error(dir, err);
}

// mkdir -p with mode 0700 for every folder it creates, each made durable. Returns true when
// `path` was created.
bool make_dirs(const std::string& path) {
    auto made = [&] {
        sync_parent(path);
        return true;
    };
    if (::mkdir(path.c_str(), 0700) == 0) return made();
    int err = errno;
    if (err == EEXIST) return false;
    if (err != ENOENT) throw io_error("create folder", path, "mkdir", err);
    auto parent = fs::path(path).parent_path();
    if (parent.empty() || parent == fs::path(path)) throw io_error("create folder", path, "mkdir", err);
    make_dirs(parent.string());
    if (::mkdir(path.c_str(), 0700) == 0) return made();
    if (errno == EEXIST) return false;
    throw io_error("create folder", path, "mkdir", errno);
}

}  // namespace

std::string maildir_path(const std::string& mail_root, const std::string& domain, const std::string& local) {
    check_safe_name(domain, "domain");
    check_safe_name(local, "local part");
    return mail_root + "/" + domain + "/" + local;
}

bool ensure_maildir(const std::string& path) {
    bool created = false;
    // Maildir spec: a Maildir is its three subfolders; a missing one makes its parents too.
    for (const char* sub : {"cur", "new", "tmp"}) created |= make_dirs(path + "/" + sub);
    return created;
}

bool remove_maildir(const std::string& path) {
    std::error_code ec;
    auto removed = fs::remove_all(path, ec);
    if (ec) throw io_error("remove", path, "remove_all", ec.value());
    return removed > 0;
}

}  // namespace vpsmail::mailstore
