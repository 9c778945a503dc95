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

    /// Which installation the command means (docs/architecture.md section 8): its default configuration
    /// file and the defaults of the keys that file leaves out. default_install() unless set;
    /// set it before the first config().
    void set_install(Install install) noexcept { install_ = install; }
    /// True when --config or $VPSMAIL_CONFIG names the file.
    bool config_is_explicit() const;
    /// Lets store() create a missing store: commands that write to it do.
    void set_creates_store(bool creates) noexcept { creates_store_ = creates; }

    /// The configuration: --config, else $VPSMAIL_CONFIG, else the install's default path (a
    /// missing default file means all defaults). Throws Error(config).
    const Config& config();
    /// Reads the configuration again (serve, on SIGHUP): the very file config() read first,
    /// with the same install's defaults, whoever the process runs as now. A file that existed
    /// then must still be readable; one that did not may have appeared since (else the
    /// defaults again). Throws Error(config); the configuration read before stays then.
    void reload_config();
    /// Which file config() reads (once it has read one: that file, for good).
    std::string config_path() const;
    /// The store path: --db, else $VPSMAIL_DB, else [store] path, else <state_dir>/vpsmail.db.
    std::string db_path();
    /// The store, opened on first use. A missing store is created only after
    /// set_creates_store(true); otherwise it is Error(config) naming its path.
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
    Install install_ = default_install();
    bool creates_store_ = false;
    std::string config_path_;       ///< resolved at the first config()
    bool config_required_ = false;  ///< a reload must find the file
    std::optional<Config> config_;
    std::unique_ptr<store::Store> store_;
};

}  // namespace vpsmail::cli
