// Default file locations (docs/architecture.md section 8): which installation a command works on, and
// the system's paths or the calling user's XDG paths that follow from it.
#pragma once

#include <string>

namespace vpsmail {

/// True when the effective user is root.
bool running_as_root();

/// The installation a command means: the system's (/etc/vpsmail, /var/lib/vpsmail, the
/// well-known ports) or the calling user's own (XDG folders, unprivileged loopback ports).
enum class Install { system, user };

/// Where the system installation keeps its configuration.
inline constexpr const char* system_config_path = "/etc/vpsmail/vpsmail.toml";

/// What the admin CLI means: the system installation as root, the user's otherwise.
Install default_install();

/// The system installation as root, or when the system configuration file exists (a server
/// started as its own user, with CAP_NET_BIND_SERVICE); otherwise the user's own (a
/// development server on unprivileged ports). What `serve` means without --config.
Install server_install();

/// /etc/vpsmail/vpsmail.toml for the system, else $XDG_CONFIG_HOME (or ~/.config)/vpsmail/vpsmail.toml.
std::string default_config_path(Install install = default_install());

/// /var/lib/vpsmail for the system, else $XDG_STATE_HOME (or ~/.local/state)/vpsmail.
std::string default_state_dir(Install install = default_install());

}  // namespace vpsmail
