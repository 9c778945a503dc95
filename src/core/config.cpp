#include "core/config.hpp"

#include "core/address.hpp"
#include "core/error.hpp"
#include "core/paths.hpp"
#include "core/size.hpp"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>
#include <arpa/inet.h>
#include <set>
#include <sys/stat.h>
#include <unistd.h>

namespace vpsmail {
namespace {

// One row per key: its section, name, the TOML types it takes, how it is applied, and how its
// effective value is shown. The one list of keys: parsing, `config show` (TOML and JSON) and
// the example-file test all read it.
struct Key {
    const char* section;
    const char* name;
    toml::node_type type;
    toml::node_type alt;  ///< a second accepted type (sizes and durations: a number too), or none
    std::function<void(Config&, const toml::node&, const std::string& where)> apply;
    std::function<ConfigValue(const Config&)> show;
};

[[noreturn]] void fail(const std::string& where, const std::string& why) {
    throw Error(ErrorKind::config, fmt::format("{}: {}", where, why));
}

std::string as_string(const toml::node& n) { return std::string(*n.value<std::string_view>()); }

std::string absolute_path(const toml::node& n, const std::string& where) {
    std::string v = as_string(n);
    if (v.empty() || v.front() != '/') fail(where, "must be an absolute path");
    return v;
}

std::int64_t positive(const toml::node& n, const std::string& where) {
    std::int64_t v = *n.value<std::int64_t>();
    if (v < 1) fail(where, fmt::format("must be at least 1, not {}", v));
    return v;
}

std::uint64_t size_value(const toml::node& n, const std::string& where) {
    if (n.is_integer()) {
        std::int64_t v = *n.value<std::int64_t>();
        if (v < 0) fail(where, fmt::format("must not be negative, not {}", v));
        return static_cast<std::uint64_t>(v);
    }
    try {
        return parse_size(as_string(n));
    } catch (const Error& e) {
        fail(where, e.what());
    }
}

std::chrono::seconds duration_value(const toml::node& n, const std::string& where) {
    std::chrono::seconds v{};
    if (n.is_integer()) {
        v = std::chrono::seconds(*n.value<std::int64_t>());
    } else {
        try {
            v = parse_duration(as_string(n));
        } catch (const Error& e) {
            fail(where, e.what());
        }
    }
    if (v.count() < 1) fail(where, "must be at least 1 second");
    return v;
}

std::vector<std::string> strings(const toml::node& n, const std::string& where) {
    std::vector<std::string> out;
    for (const toml::node& item : *n.as_array()) {
        if (!item.is_string()) fail(where, "must be a list of strings");
        out.push_back(as_string(item));
    }
    return out;
}

std::vector<ListenAddress> listen_list(const toml::node& n, const std::string& where) {
    std::vector<ListenAddress> out;
    for (const std::string& text : strings(n, where)) {
        try {
            out.push_back(parse_listen_address(text));
        } catch (const Error& e) {
            fail(where, e.what());
        }
    }
    return out;
}

std::vector<std::string> listen_strings(const std::vector<ListenAddress>& list) {
    std::vector<std::string> out;
    for (const auto& a : list) out.push_back(a.str());
    return out;
}

// "192.0.2.0/24", "2001:db8::/32", or a single address (a /32 or /128).
void check_network(const std::string& text, const std::string& where) {
    std::string address = text;
    int max_bits = 32;
    unsigned char buffer[16];
    auto slash = text.find('/');
    if (slash != std::string::npos) address = text.substr(0, slash);
    if (::inet_pton(AF_INET, address.c_str(), buffer) != 1) {
        if (::inet_pton(AF_INET6, address.c_str(), buffer) != 1)
            fail(where, fmt::format("'{}' is not an IP network (like 192.0.2.0/24 or 2001:db8::/32)", text));
        max_bits = 128;
    }
    if (slash == std::string::npos) return;
    const std::string bits = text.substr(slash + 1);
    if (bits.empty() || bits.size() > 3 || bits.find_first_not_of("0123456789") != std::string::npos ||
        std::stoi(bits) > max_bits)
        fail(where, fmt::format("'{}': the prefix length must be 0 to {}", text, max_bits));
}

void set_postmaster(Config& c, const toml::node& n, const std::string& w) {
    std::string v = as_string(n);
    if (!v.empty()) {
        try {
            v = parse_recipient(v).str();
        } catch (const Error& e) {
            fail(w, e.what());
        }
    }
    c.routing.postmaster = v;
}

std::chrono::seconds duration_or_zero(const toml::node& n, const std::string& where) {
    if (n.is_integer() && *n.value<std::int64_t>() == 0) return std::chrono::seconds(0);
    if (n.is_string() && (as_string(n) == "0" || as_string(n) == "0s")) return std::chrono::seconds(0);
    return duration_value(n, where);
}

HostPort host_port_value(const toml::node& n, const std::string& where, std::uint16_t default_port) {
    try {
        return parse_host_port(as_string(n), default_port);
    } catch (const Error& e) {
        fail(where, e.what());
    }
}

const std::vector<Key>& keys() {
    using T = toml::node_type;
    constexpr T none = T::none;
    static const std::vector<Key> table = {
        {"store", "path", T::string, none,
         [](Config& c, const toml::node& n, const std::string& w) {
             c.store.path = as_string(n);
             if (c.store.path.empty()) fail(w, "must not be empty (leave the key out for the default)");
         },
         [](const Config& c) { return ConfigValue(c.store.path.empty() ? c.paths.state_dir + "/vpsmail.db" : c.store.path); }},
        {"server", "hostname", T::string, none,
         [](Config& c, const toml::node& n, const std::string& w) {
             try {
                 c.server.hostname = normalize_domain(as_string(n));
             } catch (const Error& e) {
                 fail(w, e.what());
             }
         },
         [](const Config& c) { return ConfigValue(c.server.hostname); }},
        {"server", "user", T::string, none,
         [](Config& c, const toml::node& n, const std::string&) { c.server.user = as_string(n); },
         [](const Config& c) { return ConfigValue(c.server.user); }},
        {"server", "primary_domain", T::string, none,
         [](Config& c, const toml::node& n, const std::string& w) {
             try {
                 std::string v = as_string(n);
                 c.server.primary_domain = v.empty() ? v : normalize_domain(v);
             } catch (const Error& e) {
                 fail(w, e.what());
             }
         },
         [](const Config& c) { return ConfigValue(c.server.primary_domain); }},
        {"server", "postmaster", T::string, none, set_postmaster, [](const Config& c) { return ConfigValue(c.routing.postmaster); }},
        {"paths", "state_dir", T::string, none,
         [](Config& c, const toml::node& n, const std::string& w) { c.paths.state_dir = absolute_path(n, w); },
         [](const Config& c) { return ConfigValue(c.paths.state_dir); }},
        {"paths", "mail_root", T::string, none,
         [](Config& c, const toml::node& n, const std::string& w) { c.paths.mail_root = absolute_path(n, w); },
         [](const Config& c) { return ConfigValue(c.paths.mail_root); }},
        {"paths", "spool_dir", T::string, none,
         [](Config& c, const toml::node& n, const std::string& w) { c.paths.spool_dir = absolute_path(n, w); },
         [](const Config& c) { return ConfigValue(c.paths.spool_dir); }},
        {"paths", "pid_file", T::string, none,
         [](Config& c, const toml::node& n, const std::string& w) { c.paths.pid_file = absolute_path(n, w); },
         [](const Config& c) { return ConfigValue(c.paths.pid_file); }},
        {"routing", "plus_detail", T::boolean, none,
         [](Config& c, const toml::node& n, const std::string&) { c.routing.plus_detail = *n.value<bool>(); },
         [](const Config& c) { return ConfigValue(c.routing.plus_detail); }},
        {"routing", "detail_delimiter", T::string, none,
         [](Config& c, const toml::node& n, const std::string& w) {
             std::string d = as_string(n);
             // One ASCII punctuation character that cannot be confused with address syntax.
             static const std::string allowed = "+-_=~#";
             if (d.size() != 1 || allowed.find(d[0]) == std::string::npos)
                 fail(w, fmt::format("'{}' is not one of the characters {}", d, "+ - _ = ~ #"));
             c.routing.detail_delimiter = d[0];
         },
         [](const Config& c) { return ConfigValue(std::string(1, c.routing.detail_delimiter)); }},
        // The older name of [server] postmaster (issue 2); not shown by config show.
        {"routing", "postmaster", T::string, none, set_postmaster, nullptr},
        {"delivery", "allow_programs", T::boolean, none,
         [](Config& c, const toml::node& n, const std::string&) { c.delivery.allow_programs = *n.value<bool>(); },
         [](const Config& c) { return ConfigValue(c.delivery.allow_programs); }},
        {"delivery", "allow_files", T::boolean, none,
         [](Config& c, const toml::node& n, const std::string&) { c.delivery.allow_files = *n.value<bool>(); },
         [](const Config& c) { return ConfigValue(c.delivery.allow_files); }},
        {"delivery", "allow_includes", T::boolean, none,
         [](Config& c, const toml::node& n, const std::string&) { c.delivery.allow_includes = *n.value<bool>(); },
         [](const Config& c) { return ConfigValue(c.delivery.allow_includes); }},
        {"delivery", "program_user", T::string, none,
         [](Config& c, const toml::node& n, const std::string& w) {
             c.delivery.program_user = as_string(n);
             if (c.delivery.program_user.empty()) fail(w, "must name a user, such as \"nobody\"");
         },
         [](const Config& c) { return ConfigValue(c.delivery.program_user); }},
        {"smtp", "listen", T::array, none,
         [](Config& c, const toml::node& n, const std::string& w) { c.smtp.listen = listen_list(n, w); },
         [](const Config& c) { return ConfigValue(listen_strings(c.smtp.listen)); }},
        {"smtp", "trusted_networks", T::array, none,
         [](Config& c, const toml::node& n, const std::string& w) {
             c.smtp.trusted_networks = strings(n, w);
             for (const auto& net : c.smtp.trusted_networks) check_network(net, w);
         },
         [](const Config& c) { return ConfigValue(c.smtp.trusted_networks); }},
        {"smtp", "strict_8bitmime", T::boolean, none,
         [](Config& c, const toml::node& n, const std::string&) { c.smtp.strict_8bitmime = *n.value<bool>(); },
         [](const Config& c) { return ConfigValue(c.smtp.strict_8bitmime); }},
        {"submission", "listen", T::array, none,
         [](Config& c, const toml::node& n, const std::string& w) { c.submission.listen = listen_list(n, w); },
         [](const Config& c) { return ConfigValue(listen_strings(c.submission.listen)); }},
        {"submissions", "listen", T::array, none,
         [](Config& c, const toml::node& n, const std::string& w) { c.submissions.listen = listen_list(n, w); },
         [](const Config& c) { return ConfigValue(listen_strings(c.submissions.listen)); }},
        {"tls", "cert", T::string, none,
         [](Config& c, const toml::node& n, const std::string& w) { c.tls.cert = absolute_path(n, w); },
         [](const Config& c) { return ConfigValue(c.tls.cert); }},
        {"tls", "key", T::string, none,
         [](Config& c, const toml::node& n, const std::string& w) { c.tls.key = absolute_path(n, w); },
         [](const Config& c) { return ConfigValue(c.tls.key); }},
        {"limits", "max_message_size", T::string, T::integer,
         [](Config& c, const toml::node& n, const std::string& w) {
             c.limits.max_message_size = size_value(n, w);
             if (c.limits.max_message_size < 1024) fail(w, "must be at least 1K");
         },
         [](const Config& c) { return ConfigValue(format_size(c.limits.max_message_size)); }},
        {"limits", "max_recipients", T::integer, none,
         [](Config& c, const toml::node& n, const std::string& w) { c.limits.max_recipients = positive(n, w); },
         [](const Config& c) { return ConfigValue(c.limits.max_recipients); }},
        {"limits", "max_maildrop_messages", T::integer, none,
         [](Config& c, const toml::node& n, const std::string& w) {
             c.limits.max_maildrop_messages = positive(n, w);
             // sendmail looks at each of a user's slots: keep that a few thousand stat(2)s at most.
             if (c.limits.max_maildrop_messages > 10000)
                 fail(w, fmt::format("must be 1 to 10000, not {}", c.limits.max_maildrop_messages));
         },
         [](const Config& c) { return ConfigValue(c.limits.max_maildrop_messages); }},
        {"limits", "max_maildrop_size", T::string, T::integer,
         [](Config& c, const toml::node& n, const std::string& w) {
             c.limits.max_maildrop_size = size_value(n, w);
             if (c.limits.max_maildrop_size < 1024) fail(w, "must be at least 1K");
         },
         [](const Config& c) { return ConfigValue(format_size(c.limits.max_maildrop_size)); }},
        {"limits", "max_connections", T::integer, none,
         [](Config& c, const toml::node& n, const std::string& w) { c.limits.max_connections = positive(n, w); },
         [](const Config& c) { return ConfigValue(c.limits.max_connections); }},
        {"limits", "max_connections_per_ip", T::integer, none,
         [](Config& c, const toml::node& n, const std::string& w) { c.limits.max_connections_per_ip = positive(n, w); },
         [](const Config& c) { return ConfigValue(c.limits.max_connections_per_ip); }},
        {"limits", "command_timeout", T::string, T::integer,
         [](Config& c, const toml::node& n, const std::string& w) { c.limits.command_timeout = duration_value(n, w); },
         [](const Config& c) { return ConfigValue(format_duration(c.limits.command_timeout)); }},
        {"limits", "data_timeout", T::string, T::integer,
         [](Config& c, const toml::node& n, const std::string& w) { c.limits.data_timeout = duration_value(n, w); },
         [](const Config& c) { return ConfigValue(format_duration(c.limits.data_timeout)); }},
        {"outbound", "port", T::integer, none,
         [](Config& c, const toml::node& n, const std::string& w) {
             c.outbound.port = positive(n, w);
             if (c.outbound.port > 65535) fail(w, fmt::format("must be 1 to 65535, not {}", c.outbound.port));
         },
         [](const Config& c) { return ConfigValue(c.outbound.port); }},
        {"outbound", "helo_name", T::string, none,
         [](Config& c, const toml::node& n, const std::string& w) {
             try {
                 std::string v = as_string(n);
                 c.outbound.helo_name = v.empty() ? v : normalize_domain(v);
             } catch (const Error& e) {
                 fail(w, e.what());
             }
         },
         [](const Config& c) { return ConfigValue(c.outbound.helo_name.empty() ? c.server.hostname : c.outbound.helo_name); }},
        {"outbound", "connect_timeout", T::string, T::integer,
         [](Config& c, const toml::node& n, const std::string& w) { c.outbound.connect_timeout = duration_value(n, w); },
         [](const Config& c) { return ConfigValue(format_duration(c.outbound.connect_timeout)); }},
        {"outbound", "command_timeout", T::string, T::integer,
         [](Config& c, const toml::node& n, const std::string& w) { c.outbound.command_timeout = duration_value(n, w); },
         [](const Config& c) { return ConfigValue(format_duration(c.outbound.command_timeout)); }},
        {"outbound", "data_timeout", T::string, T::integer,
         [](Config& c, const toml::node& n, const std::string& w) { c.outbound.data_timeout = duration_value(n, w); },
         [](const Config& c) { return ConfigValue(format_duration(c.outbound.data_timeout)); }},
        {"relay", "host", T::string, none,
         [](Config& c, const toml::node& n, const std::string& w) {
             c.relay.host = as_string(n).empty() ? std::string() : host_port_value(n, w, 25).str();
         },
         [](const Config& c) { return ConfigValue(c.relay.host); }},
        {"relay", "username", T::string, none,
         [](Config& c, const toml::node& n, const std::string&) { c.relay.username = as_string(n); },
         [](const Config& c) { return ConfigValue(c.relay.username); }},
        {"relay", "password_file", T::string, none,
         [](Config& c, const toml::node& n, const std::string& w) { c.relay.password_file = absolute_path(n, w); },
         [](const Config& c) { return ConfigValue(c.relay.password_file); }},
        {"relay", "require_tls", T::boolean, none,
         [](Config& c, const toml::node& n, const std::string&) { c.relay.require_tls = *n.value<bool>(); },
         [](const Config& c) { return ConfigValue(c.relay.require_tls); }},
        {"relay", "tls_verify", T::boolean, none,
         [](Config& c, const toml::node& n, const std::string&) { c.relay.tls_verify = *n.value<bool>(); },
         [](const Config& c) { return ConfigValue(c.relay.tls_verify); }},
        {"dns", "servers", T::array, none,
         [](Config& c, const toml::node& n, const std::string& w) {
             c.dns.servers.clear();
             for (const auto& text : strings(n, w)) {
                 HostPort hp;
                 try {
                     hp = parse_host_port(text, 53);
                 } catch (const Error& e) {
                     fail(w, e.what());
                 }
                 unsigned char buffer[16];
                 if (::inet_pton(AF_INET, hp.host.c_str(), buffer) != 1 && ::inet_pton(AF_INET6, hp.host.c_str(), buffer) != 1)
                     fail(w, fmt::format("'{}': a DNS server must be an IP address", text));
                 c.dns.servers.push_back(hp.str());
             }
         },
         [](const Config& c) { return ConfigValue(c.dns.servers); }},
        {"dns", "timeout", T::string, T::integer,
         [](Config& c, const toml::node& n, const std::string& w) { c.dns.timeout = duration_value(n, w); },
         [](const Config& c) { return ConfigValue(format_duration(c.dns.timeout)); }},
        {"queue", "retry_min", T::string, T::integer,
         [](Config& c, const toml::node& n, const std::string& w) { c.queue.retry_min = duration_value(n, w); },
         [](const Config& c) { return ConfigValue(format_duration(c.queue.retry_min)); }},
        {"queue", "retry_max", T::string, T::integer,
         [](Config& c, const toml::node& n, const std::string& w) { c.queue.retry_max = duration_value(n, w); },
         [](const Config& c) { return ConfigValue(format_duration(c.queue.retry_max)); }},
        {"queue", "max_age", T::string, T::integer,
         [](Config& c, const toml::node& n, const std::string& w) { c.queue.max_age = duration_value(n, w); },
         [](const Config& c) { return ConfigValue(format_duration(c.queue.max_age)); }},
        {"queue", "warn_after", T::string, T::integer,
         [](Config& c, const toml::node& n, const std::string& w) { c.queue.warn_after = duration_or_zero(n, w); },
         [](const Config& c) { return ConfigValue(format_duration(c.queue.warn_after)); }},
        {"queue", "max_per_destination", T::integer, none,
         [](Config& c, const toml::node& n, const std::string& w) { c.queue.max_per_destination = positive(n, w); },
         [](const Config& c) { return ConfigValue(c.queue.max_per_destination); }},
        {"auth", "max_failures", T::integer, none,
         [](Config& c, const toml::node& n, const std::string& w) { c.auth.max_failures = positive(n, w); },
         [](const Config& c) { return ConfigValue(c.auth.max_failures); }},
        {"auth", "lockout", T::string, T::integer,
         [](Config& c, const toml::node& n, const std::string& w) { c.auth.lockout = duration_value(n, w); },
         [](const Config& c) { return ConfigValue(format_duration(c.auth.lockout)); }},
    };
    return table;
}

const char* type_name(toml::node_type t) {
    switch (t) {
    case toml::node_type::string: return "a string";
    case toml::node_type::boolean: return "a boolean (true or false)";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::array: return "an array";
    case toml::node_type::table: return "a table";
    default: return "another type";
    }
}

std::string quote(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    return out + "\"";
}

std::string system_hostname() {
    char name[256] = {};
    if (::gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "localhost";
    try {
        return normalize_domain(name);
    } catch (const Error&) {
        return "localhost";  // a name that is no domain name cannot be an EHLO name either
    }
}

void finish_defaults(Config& c, const std::set<std::string>& given, Install install) {
    if (c.paths.state_dir.empty()) c.paths.state_dir = default_state_dir(install);
    if (c.paths.mail_root.empty()) c.paths.mail_root = c.paths.state_dir + "/mail";
    if (c.paths.spool_dir.empty()) c.paths.spool_dir = c.paths.state_dir + "/spool";
    if (c.paths.pid_file.empty()) c.paths.pid_file = c.paths.state_dir + "/vpsmail.pid";
    if (c.tls.cert.empty()) c.tls.cert = c.paths.state_dir + "/tls/cert.pem";
    if (c.tls.key.empty()) c.tls.key = c.paths.state_dir + "/tls/key.pem";
    if (c.server.hostname.empty()) c.server.hostname = system_hostname();
    // The system's server takes the well-known ports; a user's own gets unprivileged ports on
    // loopback.
    const bool root = install == Install::system;
    const std::string host = root ? "0.0.0.0" : "127.0.0.1";
    for (const ListenerKind& kind : listener_kinds())
        if (!given.count(std::string(kind.name) + ".listen")) kind.listen(c) = {ListenAddress{host, root ? kind.root_port : kind.user_port}};
}

}  // namespace

Config load_config(const std::string& path, bool required, Install install) {
    Config c;
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        int err = errno;
        if (err == ENOENT && !required) {
            finish_defaults(c, {}, install);
            return c;
        }
        throw Error(ErrorKind::config, fmt::format("cannot read configuration file {}: {}", path, std::strerror(err)));
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        const int err = errno;
        // sendmail reads the system file as whichever user calls it, serve after its privilege drop.
        const char* hint = err == EACCES ? " (every user who runs sendmail must be able to read it: chmod 0644; "
                                           "the relay password belongs in [relay] password_file)"
                                         : "";
        throw Error(ErrorKind::config, fmt::format("cannot read configuration file {}: {}{}", path, std::strerror(err), hint));
    }
    std::stringstream buffer;
    buffer << in.rdbuf();
    std::string text = buffer.str();

    toml::table root;
    try {
        root = toml::parse(text, std::string_view{path});
    } catch (const toml::parse_error& e) {
        throw Error(ErrorKind::config, fmt::format("{}:{}: {}", path, e.source().begin.line, e.description()));
    }
    c.source = path;
    std::set<std::string> given;
    std::string postmaster_where;  // [server] postmaster and [routing] postmaster are one setting

    for (auto&& [section_name, section_node] : root) {
        std::string section(section_name.str());
        auto line = section_node.source().begin.line;
        bool known_section = false;
        for (const auto& k : keys())
            if (section == k.section) known_section = true;
        if (!known_section)
            throw Error(ErrorKind::config, fmt::format("{}:{}: unknown section or key '{}'", path, line, section));
        const toml::table* table = section_node.as_table();
        if (!table)
            throw Error(ErrorKind::config, fmt::format("{}:{}: '{}' must be a section ([{}])", path, line, section, section));
        for (auto&& [key_name, value] : *table) {
            std::string name(key_name.str());
            std::string where = fmt::format("{}:{}: {}.{}", path, value.source().begin.line, section, name);
            const Key* found = nullptr;
            for (const auto& k : keys())
                if (section == k.section && name == k.name) found = &k;
            if (!found) throw Error(ErrorKind::config, fmt::format("{}: unknown key", where));
            if (value.type() != found->type && (found->alt == toml::node_type::none || value.type() != found->alt))
                fail(where, fmt::format("must be {}{}, not {}", type_name(found->type),
                                        found->alt == toml::node_type::none ? "" : std::string(" or ") + type_name(found->alt),
                                        type_name(value.type())));
            if (name == "postmaster") {
                if (!postmaster_where.empty())
                    fail(where, fmt::format("postmaster is set twice (also at {}); keep [server] postmaster", postmaster_where));
                postmaster_where = where;
            }
            found->apply(c, value, where);
            given.insert(section + "." + name);
        }
    }
    if (c.queue.retry_max < c.queue.retry_min)
        throw Error(ErrorKind::config, fmt::format("{}: queue.retry_max ({}) must not be shorter than queue.retry_min ({})", path,
                                                   format_duration(c.queue.retry_max), format_duration(c.queue.retry_min)));
    if (!c.relay.username.empty() && c.relay.password_file.empty())
        throw Error(ErrorKind::config, fmt::format("{}: relay.username is set but relay.password_file is not", path));
    if (!c.relay.username.empty() && c.relay.host.empty())
        throw Error(ErrorKind::config, fmt::format("{}: relay.username is set but relay.host is not", path));
    finish_defaults(c, given, install);
    return c;
}

std::string ListenAddress::str() const {
    if (host.find(':') != std::string::npos) return fmt::format("[{}]:{}", host, port);
    return fmt::format("{}:{}", host, port);
}

ListenAddress parse_listen_address(std::string_view text) {
    auto bad = [&](const char* why) {
        return Error(ErrorKind::bad_data, fmt::format("'{}' is not a listen address ({}; like 127.0.0.1:2525 or [::1]:587)",
                                                      text, why));
    };
    std::string host;
    std::string_view port;
    if (text.starts_with('[')) {
        auto close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') throw bad("no ]:port");
        host = std::string(text.substr(1, close - 1));
        port = text.substr(close + 2);
    } else {
        auto colon = text.rfind(':');
        if (colon == std::string_view::npos) throw bad("no port");
        host = std::string(text.substr(0, colon));
        port = text.substr(colon + 1);
        if (host.find(':') != std::string::npos) throw bad("an IPv6 address goes in brackets");
    }
    unsigned char buffer[16];
    if (::inet_pton(AF_INET, host.c_str(), buffer) != 1 && ::inet_pton(AF_INET6, host.c_str(), buffer) != 1)
        throw bad("the host must be an IP address");
    if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string_view::npos) throw bad("bad port");
    const long number = std::stol(std::string(port));
    // Port 0: any free port (tests); serve prints the one it got.
    if (number > 65535) throw bad("the port must be 0 to 65535");
    return ListenAddress{host, static_cast<std::uint16_t>(number)};
}

std::string HostPort::str() const {
    if (host.find(':') != std::string::npos) return fmt::format("[{}]:{}", host, port);
    return fmt::format("{}:{}", host, port);
}

HostPort parse_host_port(std::string_view text, std::uint16_t default_port) {
    auto bad = [&](const char* why) {
        return Error(ErrorKind::bad_data, fmt::format("'{}' is not a host and port ({}; like smtp.example.net:587)", text, why));
    };
    std::string host;
    std::string_view port;
    if (text.starts_with('[')) {
        auto close = text.find(']');
        if (close == std::string_view::npos) throw bad("no ]");
        host = std::string(text.substr(1, close - 1));
        if (close + 1 < text.size()) {
            if (text[close + 1] != ':') throw bad("text after ]");
            port = text.substr(close + 2);
            if (port.empty()) throw bad("empty port");
        }
        unsigned char buffer[16];
        if (::inet_pton(AF_INET6, host.c_str(), buffer) != 1 && ::inet_pton(AF_INET, host.c_str(), buffer) != 1)
            throw bad("brackets hold an IP address");
    } else {
        auto colon = text.find(':');
        if (colon != text.rfind(':')) throw bad("an IPv6 address goes in brackets");
        host = std::string(text.substr(0, colon));
        if (colon != std::string_view::npos) {
            port = text.substr(colon + 1);
            if (port.empty()) throw bad("empty port");
        }
        unsigned char buffer[16];
        if (::inet_pton(AF_INET, host.c_str(), buffer) != 1) {
            try {
                host = normalize_domain(host);
            } catch (const Error&) {
                throw bad("the host is neither an IP address nor a domain name");
            }
        }
    }
    if (host.empty()) throw bad("no host");
    std::uint16_t number = default_port;
    if (!port.empty()) {
        if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string_view::npos) throw bad("bad port");
        const long p = std::stol(std::string(port));
        if (p < 1 || p > 65535) throw bad("the port must be 1 to 65535");
        number = static_cast<std::uint16_t>(p);
    }
    return HostPort{host, number};
}

std::chrono::seconds parse_duration(std::string_view text) {
    auto bad = [&] {
        return Error(ErrorKind::bad_data, fmt::format("'{}' is not a duration (like 30s, 5m, 1h, 2d)", text));
    };
    if (text.empty()) throw bad();
    // Digits, then at most one unit letter; no unit means seconds.
    const std::size_t digits = std::min(text.find_first_not_of("0123456789"), text.size());
    if (digits == 0 || digits > 9 || text.size() - digits > 1) throw bad();
    const std::int64_t value = std::stoll(std::string(text.substr(0, digits)));
    const char unit = digits == text.size() ? 's' : static_cast<char>(std::tolower(static_cast<unsigned char>(text.back())));
    switch (unit) {
    case 's': return std::chrono::seconds(value);
    case 'm': return std::chrono::seconds(value * 60);
    case 'h': return std::chrono::seconds(value * 3600);
    case 'd': return std::chrono::seconds(value * 86400);
    default: throw bad();
    }
}

std::string format_duration(std::chrono::seconds value) {
    const std::int64_t s = value.count();
    if (s != 0 && s % 86400 == 0) return fmt::format("{}d", s / 86400);
    if (s != 0 && s % 3600 == 0) return fmt::format("{}h", s / 3600);
    if (s != 0 && s % 60 == 0) return fmt::format("{}m", s / 60);
    return fmt::format("{}s", s);
}

std::vector<ConfigEntry> config_entries(const Config& c) {
    std::vector<ConfigEntry> out;
    for (const Key& k : keys())
        if (k.show) out.push_back(ConfigEntry{k.section, k.name, k.show(c)});
    return out;
}

std::string format_config(const Config& c) {
    std::string out;
    std::string_view section;
    for (const ConfigEntry& e : config_entries(c)) {
        if (e.section != section) {
            if (!section.empty()) out += "\n";
            section = e.section;
            out += fmt::format("[{}]\n", section);
        }
        std::string value;
        if (auto* text = std::get_if<std::string>(&e.value)) value = quote(*text);
        else if (auto* flag = std::get_if<bool>(&e.value)) value = *flag ? "true" : "false";
        else if (auto* number = std::get_if<std::int64_t>(&e.value)) value = std::to_string(*number);
        else {
            value = "[";
            for (const auto& item : std::get<std::vector<std::string>>(e.value)) value += (value.size() > 1 ? ", " : "") + quote(item);
            value += "]";
        }
        out += fmt::format("{} = {}\n", e.name, value);
    }
    return out;
}

std::span<const ListenerKind> listener_kinds() noexcept {
    static const ListenerKind kinds[] = {
        {"smtp", 25, 2525, false, [](Config& c) -> std::vector<ListenAddress>& { return c.smtp.listen; }},
        {"submission", 587, 5587, false, [](Config& c) -> std::vector<ListenAddress>& { return c.submission.listen; }},
        {"submissions", 465, 5465, true, [](Config& c) -> std::vector<ListenAddress>& { return c.submissions.listen; }},
    };
    return kinds;
}

const std::vector<ListenAddress>& listen_of(const Config& config, const ListenerKind& kind) {
    return kind.listen(const_cast<Config&>(config));  // only read
}

}  // namespace vpsmail
