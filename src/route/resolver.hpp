// resolve(store, address): where mail for one recipient goes, by the stages and rules of
// docs/routing.md (virtusertable -> aliases -> forwards -> users -> catch-all -> bounce). The one
// resolver: `route test` prints its Resolution and the SMTP server acts on it, so both agree.
// Reads the store and include files; never writes, delivers or relays anything.
#pragma once

#include "route/resolution.hpp"

#include <string>
#include <string_view>

namespace vpsmail::store {
class Store;
class RoutingIndex;
}

namespace vpsmail::route {

struct Options {
    bool plus_detail = true;        ///< [routing] plus_detail (rule 9)
    char detail_delimiter = '+';    ///< [routing] detail_delimiter
    std::string postmaster;         ///< [routing] postmaster; empty: unset (rule 11)
    std::string primary_domain;     ///< [server] primary_domain; empty: the first domain added
    bool allow_programs = false;    ///< [delivery] (rule 12)
    bool allow_files = false;
    bool allow_includes = false;
    int max_depth = 10;             ///< rule 14: a chain of 10 expansions works, the 11th fails
    bool trace = true;              ///< record Resolution::steps (route test); the server skips it
};

/// Resolves `address` (local@domain, or a bare name meaning the primary domain) as the server
/// does for a trusted local sender: a remote address is a remote target.
/// Throws Error(bad_data) when `address` is not an address; Error(temporary/...) from the
/// store. Any thread, one Store per thread.
Resolution resolve(store::Store& store, std::string_view address, const Options& options);

/// The same, reading the server's in-memory index of the store (store/index.hpp) instead of
/// SQLite: the same Resolver code on the same data, so route test and the server agree.
/// Any number of threads may share one index.
Resolution resolve(store::RoutingIndex& index, std::string_view address, const Options& options);

/// Resolves one alias or forward entry (`bob`, `\\bob`, `ann@remote.test`, `|cmd`) as it is
/// resolved inside a list in `domain` (a bare name means that name in `domain`), for the CLI's
/// warnings about targets that go nowhere. Throws like resolve().
Resolution resolve_entry(store::Store& store, std::string_view entry, std::string_view domain, const Options& options);

/// The loops that resolving `address` meets (dropped or failed), for the CLI's warnings.
std::vector<std::string> find_loops(store::Store& store, std::string_view address, const Options& options);

}  // namespace vpsmail::route
