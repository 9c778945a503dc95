#include "context.hpp"

#include "core/address.hpp"
#include "core/error.hpp"
#include "core/paths.hpp"
#include "print.hpp"

#include <fmt/format.h>

#include <cstdlib>

namespace vpsmail::cli {

std::string Context::config_path() const {
    if (!options.config.empty()) return options.config;
    if (const char* env = std::getenv("VPSMAIL_CONFIG"); env && *env) return env;
    return default_config_path();
}

const Config& Context::config() {
    if (!config_) reload_config();
    return *config_;
}

void Context::reload_config() {
    bool is_explicit = !options.config.empty() || (std::getenv("VPSMAIL_CONFIG") && *std::getenv("VPSMAIL_CONFIG"));
    config_ = load_config(config_path(), is_explicit);
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
    if (!store_) store_ = store::Store::open(db_path());
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
