#include "core/paths.hpp"

#include <cerrno>
#include <cstdlib>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

namespace vpsmail {
namespace {

std::string home_dir() {
    if (const char* home = std::getenv("HOME"); home && *home) return home;
    if (const passwd* pw = getpwuid(geteuid()); pw && pw->pw_dir) return pw->pw_dir;
    return "/";
}

// XDG Base Directory: a relative value is invalid and must be ignored.
std::string xdg_dir(const char* variable, const char* fallback) {
    if (const char* v = std::getenv(variable); v && v[0] == '/') return v;
    return home_dir() + "/" + fallback;
}

}  // namespace

bool running_as_root() { return geteuid() == 0; }

Install default_install() { return running_as_root() ? Install::system : Install::user; }

Install server_install() {
    struct stat st {};
    if (running_as_root() || ::stat(system_config_path, &st) == 0) return Install::system;
    // A file that is there but hidden from us still means the system installation (and its
    // loading then says why it cannot be read).
    return errno == EACCES ? Install::system : Install::user;
}

std::string default_config_path(Install install) {
    if (install == Install::system) return system_config_path;
    return xdg_dir("XDG_CONFIG_HOME", ".config") + "/vpsmail/vpsmail.toml";
}

std::string default_state_dir(Install install) {
    if (install == Install::system) return "/var/lib/vpsmail";
    return xdg_dir("XDG_STATE_HOME", ".local/state") + "/vpsmail";
}

}  // namespace vpsmail
