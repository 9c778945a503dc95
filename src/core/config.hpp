// vpsmail.toml: the machine settings (docs/architecture.md section 8). Owns parsing, defaults and
// validation of every key; the only code that includes toml++. Per-domain and per-account
// settings live in the store, not here.
#pragma once

#include "core/paths.hpp"

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace vpsmail {

/// A listener address from a `listen` list: "127.0.0.1:2525", "[::1]:587", "0.0.0.0:25".
struct ListenAddress {
    std::string host;  ///< an IP address (no names: the server binds before any DNS works)
    std::uint16_t port = 0;
    std::string str() const;  ///< as written, IPv6 in brackets
    bool operator==(const ListenAddress&) const = default;
};

/// Parses "host:port" / "[v6]:port". Throws Error(bad_data) naming the value.
ListenAddress parse_listen_address(std::string_view text);

/// A host and port from the configuration: "smtp.example.net:587", "192.0.2.1", "[2001:db8::1]:53".
struct HostPort {
    std::string host;  ///< a domain name (A-label, lower case) or an IP address
    std::uint16_t port = 0;
    std::string str() const;  ///< "host:port", IPv6 in brackets
    bool operator==(const HostPort&) const = default;
};

/// Parses "host[:port]" / "[v6][:port]"; no port gives `default_port`. Throws Error(bad_data)
/// naming the value.
HostPort parse_host_port(std::string_view text, std::uint16_t default_port);

/// Parses "300", "300s", "5m", "1h", "2d" into seconds. Throws Error(bad_data) naming the value.
std::chrono::seconds parse_duration(std::string_view text);

/// The shortest exact form: 300 -> "5m", 90 -> "90s".
std::string format_duration(std::chrono::seconds value);

struct Config {
    std::string source;       ///< the file read; empty when none existed (all defaults)

    struct Store {
        std::string path;     ///< empty: <paths.state_dir>/vpsmail.db
    } store;
    struct Server {
        std::string hostname;        ///< never empty after load_config: the system's name by default
        std::string user = "vpsmail";  ///< serve drops to this user when started as root
        std::string primary_domain;  ///< empty: the first domain added
    } server;
    struct Paths {
        std::string state_dir;  ///< never empty after load_config
        std::string mail_root;  ///< never empty after load_config
        std::string spool_dir;  ///< never empty after load_config
        std::string pid_file;   ///< `serve` writes its pid here; never empty after load_config
    } paths;
    struct Routing {
        bool plus_detail = true;
        char detail_delimiter = '+';
        std::string postmaster;   ///< [server] postmaster (or its older name [routing] postmaster); empty: unset
    } routing;
    /// The three SMTP listeners; an empty list disables one. Defaults: ports 25, 587, 465 on all
    /// addresses as root, else 2525, 5587, 5465 on 127.0.0.1.
    struct Smtp {
        std::vector<ListenAddress> listen;
        std::vector<std::string> trusted_networks;  ///< CIDR blocks that may relay without AUTH
        bool strict_8bitmime = false;  ///< refuse 8-bit text without BODY=8BITMIME (554 5.6.0)
    } smtp;
    struct Submission {
        std::vector<ListenAddress> listen;
    } submission, submissions;
    struct Tls {
        std::string cert;  ///< PEM; default <state_dir>/tls/cert.pem, made on first start when absent
        std::string key;   ///< PEM; default <state_dir>/tls/key.pem
    } tls;
    struct Limits {
        std::uint64_t max_message_size = 50ull << 20;
        std::int64_t max_recipients = 100;
        std::int64_t max_maildrop_messages = 100;           ///< per local user waiting in the maildrop
        std::uint64_t max_maildrop_size = 200ull << 20;      ///< their bytes together
        std::int64_t max_connections = 100;
        std::int64_t max_connections_per_ip = 10;
        std::chrono::seconds command_timeout{300};  ///< RFC 5321 4.5.3.2.7: at least 5 minutes
        std::chrono::seconds data_timeout{600};
    } limits;
    struct Auth {
        std::int64_t max_failures = 5;         ///< per client address, before a lockout
        std::chrono::seconds lockout{900};
    } auth;
    /// How the queue runner reaches other servers (issue 4).
    struct Outbound {
        std::int64_t port = 25;              ///< the port MX delivery connects to
        std::string helo_name;               ///< empty: [server] hostname
        std::chrono::seconds connect_timeout{30};
        std::chrono::seconds command_timeout{300};  ///< RFC 5321 4.5.3.2: 5 minutes per command
        std::chrono::seconds data_timeout{600};     ///< RFC 5321 4.5.3.2.6: 10 minutes for the final dot
    } outbound;
    /// A smart host that takes all outbound mail instead of MX delivery.
    struct Relay {
        std::string host;            ///< "host:port"; empty: deliver by MX
        std::string username;        ///< AUTH user; empty: no AUTH
        std::string password_file;   ///< file whose first line is the AUTH password
        bool require_tls = false;    ///< never send without TLS (to the smart host, or to any MX)
        bool tls_verify = true;      ///< check the smart host's certificate and name
    } relay;
    struct Dns {
        std::vector<std::string> servers;     ///< "host:port"; empty: /etc/resolv.conf
        std::chrono::seconds timeout{5};      ///< per try; two tries
    } dns;
    struct Queue {
        std::chrono::seconds retry_min{300};
        std::chrono::seconds retry_max{3600};
        std::chrono::seconds max_age{5 * 86400};
        std::chrono::seconds warn_after{4 * 3600};  ///< 0: no delay warnings
        std::int64_t max_per_destination = 20;      ///< connections per destination at once
    } queue;
    struct Delivery {
        bool allow_programs = false;
        bool allow_files = false;
        bool allow_includes = false;
        /// The user `|command` targets run as (never root, never the server's user unless told):
        /// serve starts a small launcher as root, before the privilege drop, that runs them
        /// as this user. Read at start; a SIGHUP does not change it.
        std::string program_user = "nobody";
    } delivery;
};

/// One row per protocol listener (docs/architecture.md section 4): its section and listener
/// name, its default port as root (on all addresses) and otherwise (on 127.0.0.1), whether TLS
/// starts at once, and its `listen` list in Config. A protocol's listeners are one row here,
/// one `listen` key and one service in server/ (server.cpp's table).
struct ListenerKind {
    std::string_view name;
    std::uint16_t root_port = 0;
    std::uint16_t user_port = 0;
    bool implicit_tls = false;
    std::vector<ListenAddress>& (*listen)(Config&) = nullptr;
};

/// Every listener kind, in the order serve binds them.
std::span<const ListenerKind> listener_kinds() noexcept;

/// The `listen` list of `kind` in `config`.
const std::vector<ListenAddress>& listen_of(const Config& config, const ListenerKind& kind);

/// Reads `path`. A missing file gives the defaults unless `required` (then Error(config)).
/// Keys the file leaves out get the defaults of `install` (paths, listeners). Unknown
/// sections or keys and values of the wrong type or out of range throw Error(config) naming
/// the key, the file and the line.
Config load_config(const std::string& path, bool required, Install install = default_install());

/// A key's effective value, for `config show` (TOML and JSON alike).
using ConfigValue = std::variant<std::string, bool, std::int64_t, std::vector<std::string>>;
struct ConfigEntry {
    const char* section;
    const char* name;
    ConfigValue value;
};
/// Every key with its effective value (defaults included), in the order of vpsmail.toml.example.
std::vector<ConfigEntry> config_entries(const Config& config);

/// The effective configuration as TOML, every key with its value (defaults included).
std::string format_config(const Config& config);

}  // namespace vpsmail
