#include "mailstore/maildir.hpp"

#include "core/error.hpp"
#include "core/safe_name.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <sys/stat.h>

namespace vpsmail::mailstore {
namespace fs = std::filesystem;
namespace {

Error io_error(const std::string& what, const std::string& path, int err) {
    ErrorKind kind = (err == EACCES || err == EPERM || err == EROFS) ? ErrorKind::permission : ErrorKind::temporary;
    return Error(kind, fmt::format("cannot {} {}: {}", what, path, std::strerror(err)));
}

// mkdir -p with mode 0700 for every folder it creates. Returns true when `path` was created.
bool make_dirs(const std::string& path) {
    if (::mkdir(path.c_str(), 0700) == 0) return true;
    int err = errno;
    if (err == EEXIST) return false;
    if (err != ENOENT) throw io_error("create folder", path, err);
    auto parent = fs::path(path).parent_path();
    if (parent.empty() || parent == fs::path(path)) throw io_error("create folder", path, err);
    make_dirs(parent.string());
    if (::mkdir(path.c_str(), 0700) == 0) return true;
    if (errno == EEXIST) return false;
    throw io_error("create folder", path, errno);
}

}  // namespace

std::string maildir_path(const std::string& mail_root, const std::string& domain, const std::string& local) {
    check_safe_name(domain, "domain");
    check_safe_name(local, "local part");
    return mail_root + "/" + domain + "/" + local;
}

bool create_maildir(const std::string& path) {
    bool created = make_dirs(path);
    for (const char* sub : {"cur", "new", "tmp"}) make_dirs(path + "/" + sub);
    return created;
}

bool remove_maildir(const std::string& path) {
    std::error_code ec;
    auto removed = fs::remove_all(path, ec);
    if (ec) throw io_error("remove", path, ec.value());
    return removed > 0;
}

}  // namespace vpsmail::mailstore
