// vpsmail.toml: the machine settings (DESIGN.md section 8). Owns parsing, defaults and
// validation of every key; the only code that includes toml++. Per-domain and per-account
// settings live in the store, not here.
#pragma once

#include <string>

namespace vpsmail {

struct Config {
    std::string source;       ///< the file read; empty when none existed (all defaults)

    struct Store {
        std::string path;     ///< empty: <paths.state_dir>/vpsmail.db
    } store;
    struct Server {
        std::string primary_domain;  ///< empty: the first domain added
    } server;
    struct Paths {
        std::string state_dir;  ///< never empty after load_config
        std::string mail_root;  ///< never empty after load_config
    } paths;
    struct Routing {
        bool plus_detail = true;
        char detail_delimiter = '+';
        std::string postmaster;   ///< address or bare name; empty: unset
    } routing;
    struct Delivery {
        bool allow_programs = false;
        bool allow_files = false;
        bool allow_includes = false;
    } delivery;
};

/// Reads `path`. A missing file gives the defaults unless `required` (then Error(config)).
/// Unknown sections or keys and values of the wrong type or out of range throw
/// Error(config) naming the key, the file and the line.
Config load_config(const std::string& path, bool required);

/// The effective configuration as TOML, every key with its value (defaults included).
std::string format_config(const Config& config);

}  // namespace vpsmail
