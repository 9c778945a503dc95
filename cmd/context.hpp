// What every command handler gets: the global options, and the configuration and store
// opened on first use. No business rules here.
#pragma once

#include "core/config.hpp"
#include "route/resolver.hpp"
#include "store/store.hpp"

#include <memory>
#include <optional>
#include <string>

namespace vpsmail::cli {

struct GlobalOptions {
    std::string db;      ///< --db
    std::string config;  ///< --config
    bool json = false;   ///< --json
    bool quiet = false;  ///< -q: no warnings
    bool verbose = false;  ///< -v: say what was done, and error details
};

class Context {
public:
    GlobalOptions options;

    /// The configuration: --config, else $VPSMAIL_CONFIG, else the default path (a missing
    /// default file means all defaults). Throws Error(config).
    const Config& config();
    /// Reads the configuration file again (serve, on SIGHUP). Throws Error(config); the
    /// configuration read before stays then.
    void reload_config();
    /// Which file config() reads.
    std::string config_path() const;
    /// The store path: --db, else $VPSMAIL_DB, else [store] path, else <state_dir>/vpsmail.db.
    std::string db_path();
    /// The store, opened (and created) on first use.
    store::Store& store();
    /// The local domain named by `text` (any case, trailing dot, U-labels). Throws
    /// Error(bad_data) for a malformed name, Error(no_such_domain) when it is not local.
    store::Domain get_domain(const std::string& text);
    /// Resolver options from [routing], [server] and [delivery].
    route::Options route_options();

    /// Closes the store if it was opened (its WAL checkpoint decision is made then). The
    /// next store() opens it again.
    void close_store() noexcept { store_.reset(); }

    /// Prints a warning unless -q.
    void warn(const std::string& text) const;
    /// Prints a note when -v.
    void note(const std::string& text) const;

private:
    std::optional<Config> config_;
    std::unique_ptr<store::Store> store_;
};

}  // namespace vpsmail::cli
