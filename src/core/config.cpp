#include "core/config.hpp"

#include "core/address.hpp"
#include "core/error.hpp"
#include "core/paths.hpp"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>
#include <sys/stat.h>

namespace vpsmail {
namespace {

// One row per key: its section, name, the TOML type it takes, and how it is applied.
struct Key {
    const char* section;
    const char* name;
    toml::node_type type;
    std::function<void(Config&, const toml::node&, const std::string& where)> apply;
};

[[noreturn]] void fail(const std::string& where, const std::string& why) {
    throw Error(ErrorKind::config, fmt::format("{}: {}", where, why));
}

std::string as_string(const toml::node& n) { return std::string(*n.value<std::string_view>()); }

const std::vector<Key>& keys() {
    using T = toml::node_type;
    static const std::vector<Key> table = {
        {"store", "path", T::string, [](Config& c, const toml::node& n, const std::string& w) {
             c.store.path = as_string(n);
             if (c.store.path.empty()) fail(w, "must not be empty (leave the key out for the default)");
         }},
        {"server", "primary_domain", T::string, [](Config& c, const toml::node& n, const std::string& w) {
             try {
                 std::string v = as_string(n);
                 c.server.primary_domain = v.empty() ? v : normalize_domain(v);
             } catch (const Error& e) {
                 fail(w, e.what());
             }
         }},
        {"paths", "state_dir", T::string, [](Config& c, const toml::node& n, const std::string& w) {
             c.paths.state_dir = as_string(n);
             if (c.paths.state_dir.empty() || c.paths.state_dir.front() != '/') fail(w, "must be an absolute path");
         }},
        {"paths", "mail_root", T::string, [](Config& c, const toml::node& n, const std::string& w) {
             c.paths.mail_root = as_string(n);
             if (c.paths.mail_root.empty() || c.paths.mail_root.front() != '/') fail(w, "must be an absolute path");
         }},
        {"routing", "plus_detail", T::boolean, [](Config& c, const toml::node& n, const std::string&) {
             c.routing.plus_detail = *n.value<bool>();
         }},
        {"routing", "detail_delimiter", T::string, [](Config& c, const toml::node& n, const std::string& w) {
             std::string d = as_string(n);
             // One ASCII punctuation character that cannot be confused with address syntax.
             static const std::string allowed = "+-_=~#";
             if (d.size() != 1 || allowed.find(d[0]) == std::string::npos)
                 fail(w, fmt::format("'{}' is not one of the characters {}", d, "+ - _ = ~ #"));
             c.routing.detail_delimiter = d[0];
         }},
        {"routing", "postmaster", T::string, [](Config& c, const toml::node& n, const std::string& w) {
             std::string v = as_string(n);
             if (!v.empty()) {
                 try {
                     v = parse_recipient(v).str();
                 } catch (const Error& e) {
                     fail(w, e.what());
                 }
             }
             c.routing.postmaster = v;
         }},
        {"delivery", "allow_programs", T::boolean, [](Config& c, const toml::node& n, const std::string&) {
             c.delivery.allow_programs = *n.value<bool>();
         }},
        {"delivery", "allow_files", T::boolean, [](Config& c, const toml::node& n, const std::string&) {
             c.delivery.allow_files = *n.value<bool>();
         }},
        {"delivery", "allow_includes", T::boolean, [](Config& c, const toml::node& n, const std::string&) {
             c.delivery.allow_includes = *n.value<bool>();
         }},
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

void finish_defaults(Config& c) {
    if (c.paths.state_dir.empty()) c.paths.state_dir = default_state_dir();
    if (c.paths.mail_root.empty()) c.paths.mail_root = c.paths.state_dir + "/mail";
}

}  // namespace

Config load_config(const std::string& path, bool required) {
    Config c;
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        int err = errno;
        if (err == ENOENT && !required) {
            finish_defaults(c);
            return c;
        }
        throw Error(ErrorKind::config, fmt::format("cannot read configuration file {}: {}", path, std::strerror(err)));
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(ErrorKind::config, fmt::format("cannot read configuration file {}: {}", path, std::strerror(errno)));
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
            if (value.type() != found->type)
                fail(where, fmt::format("must be {}, not {}", type_name(found->type), type_name(value.type())));
            found->apply(c, value, where);
        }
    }
    finish_defaults(c);
    return c;
}

std::string format_config(const Config& c) {
    auto b = [](bool v) { return v ? "true" : "false"; };
    std::string out;
    out += "[store]\n";
    out += fmt::format("path = {}\n", quote(c.store.path.empty() ? c.paths.state_dir + "/vpsmail.db" : c.store.path));
    out += "\n[server]\n";
    out += fmt::format("primary_domain = {}\n", quote(c.server.primary_domain));
    out += "\n[paths]\n";
    out += fmt::format("state_dir = {}\n", quote(c.paths.state_dir));
    out += fmt::format("mail_root = {}\n", quote(c.paths.mail_root));
    out += "\n[routing]\n";
    out += fmt::format("plus_detail = {}\n", b(c.routing.plus_detail));
    out += fmt::format("detail_delimiter = {}\n", quote(std::string(1, c.routing.detail_delimiter)));
    out += fmt::format("postmaster = {}\n", quote(c.routing.postmaster));
    out += "\n[delivery]\n";
    out += fmt::format("allow_programs = {}\n", b(c.delivery.allow_programs));
    out += fmt::format("allow_files = {}\n", b(c.delivery.allow_files));
    out += fmt::format("allow_includes = {}\n", b(c.delivery.allow_includes));
    return out;
}

}  // namespace vpsmail
