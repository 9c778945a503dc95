#include "core/paths.hpp"

#include <cstdlib>
#include <pwd.h>
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

std::string default_config_path() {
    if (running_as_root()) return "/etc/vpsmail/vpsmail.toml";
    return xdg_dir("XDG_CONFIG_HOME", ".config") + "/vpsmail/vpsmail.toml";
}

std::string default_state_dir() {
    if (running_as_root()) return "/var/lib/vpsmail";
    return xdg_dir("XDG_STATE_HOME", ".local/state") + "/vpsmail";
}

}  // namespace vpsmail
