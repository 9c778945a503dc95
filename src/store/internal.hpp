// What the table files of src/store share and nothing outside the store sees: the Store's
// cache of domains and catch-alls, and small lookups used by several tables.
#pragma once

#include "store/database.hpp"
#include "store/store.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace vpsmail::store {

/// The domains and catch-alls looked up so far (absent ones too), valid while neither this
/// connection's commits nor PRAGMA data_version (other connections' commits) changed since they
/// were read. Filled one point lookup at a time: a short command asks about one or two domains
/// and should not read a thousand.
struct Store::CachedDomain {
    std::int64_t id = 0;
    std::optional<std::string> catchall;
};

struct Store::Cache {
    struct Hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
    };
    /// Remote domains are remembered too; the map is emptied when it reaches this size.
    static constexpr std::size_t max_entries = 65536;
    bool valid = false;
    std::int64_t data_version = 0;
    std::uint64_t commits = 0;
    std::unordered_map<std::string, std::optional<CachedDomain>, Hash, std::equal_to<>> domains;  ///< nullopt: not local
};

namespace detail {

/// Unix seconds now.
std::int64_t unix_now() noexcept;

/// The rowid of a domain (lower case name), or nullopt.
std::optional<std::int64_t> find_domain_id(Database& db, std::string_view domain);
/// Throws no_such_domain.
std::int64_t get_domain_id(Database& db, std::string_view domain);
/// The rowid of an account (lower case local part and domain). Throws no_such_user.
std::int64_t get_user_id(Database& db, std::string_view local, std::string_view domain);

}  // namespace detail
}  // namespace vpsmail::store
