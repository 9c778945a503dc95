// Default file locations (docs/architecture.md section 8): system paths as root, XDG paths otherwise.
#pragma once

#include <string>

namespace vpsmail {

/// True when the effective user is root.
bool running_as_root();

/// /etc/vpsmail/vpsmail.toml as root, else $XDG_CONFIG_HOME (or ~/.config)/vpsmail/vpsmail.toml.
std::string default_config_path();

/// /var/lib/vpsmail as root, else $XDG_STATE_HOME (or ~/.local/state)/vpsmail.
std::string default_state_dir();

}  // namespace vpsmail
