#include "context.hpp"

#include "core/address.hpp"
#include "core/error.hpp"
#include "core/paths.hpp"
#include "print.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstdlib>
#include <sys/stat.h>

namespace vpsmail::cli {

bool Context::config_is_explicit() const {
    const char* env = std::getenv("VPSMAIL_CONFIG");
    return !options.config.empty() || (env && *env);
}

std::string Context::config_path() const {
    if (!config_path_.empty()) return config_path_;
    if (!options.config.empty()) return options.config;
    if (const char* env = std::getenv("VPSMAIL_CONFIG"); env && *env) return env;
    return default_config_path(install_);
}

const Config& Context::config() {
    if (!config_) {
        // Resolved once: after serve's privilege drop, $HOME and the euid would point elsewhere.
        config_path_ = config_path();
        config_ = load_config(config_path_, config_is_explicit(), install_);
        config_required_ = config_is_explicit() || !config_->source.empty();
    }
    return *config_;
}

void Context::reload_config() {
    if (!config_) {
        config();
        return;
    }
    config_ = load_config(config_path_, config_required_, install_);
}

std::string Context::db_path() {
    if (!options.db.empty()) return options.db;
    if (const char* env = std::getenv("VPSMAIL_DB"); env && *env) return env;
    const Config& c = config();
    if (!c.store.path.empty()) return c.store.path;
    return c.paths.state_dir + "/vpsmail.db";
}

store::Store& Context::store() {
    // A broken configuration file fails every command alike, also when --db names the store.
    config();
    if (!store_) {
        const std::string path = db_path();
        struct stat st {};
        // A reading command (or a completion as another user) must not leave a new, empty
        // store behind a typo'd --db: only commands that write create one.
        if (!creates_store_ && ::stat(path.c_str(), &st) != 0 && errno == ENOENT)
            throw Error(ErrorKind::config,
                        fmt::format("store {} does not exist (check --db, $VPSMAIL_DB and [store] path; a command that "
                                    "writes to the store, like 'vpsmail domain add', creates it)",
                                    path));
        store_ = store::Store::open(path);
    }
    return *store_;
}

store::Domain Context::get_domain(const std::string& text) {
    auto domain = store().find_domain(normalize_domain(text));
    if (!domain) throw Error(ErrorKind::no_such_domain, fmt::format("no such domain '{}' (see 'vpsmail domain list')", text));
    return *domain;
}

route::Options Context::route_options() {
    const Config& c = config();
    route::Options o;
    o.plus_detail = c.routing.plus_detail;
    o.detail_delimiter = c.routing.detail_delimiter;
    o.postmaster = c.routing.postmaster;
    o.primary_domain = c.server.primary_domain;
    o.allow_programs = c.delivery.allow_programs;
    o.allow_files = c.delivery.allow_files;
    o.allow_includes = c.delivery.allow_includes;
    return o;
}

void Context::warn(const std::string& text) const {
    if (!options.quiet) cli::warn(text);
}

void Context::note(const std::string& text) const {
    if (options.verbose) cli::note(text);
}

}  // namespace vpsmail::cli
