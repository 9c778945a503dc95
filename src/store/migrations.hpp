// The store's schema: forward migrations keyed on PRAGMA user_version, and the check that a
// file is a vpsmail store at all (PRAGMA application_id). Internal to src/store.
#pragma once

#include <cstdint>

namespace vpsmail::store {

class Database;

/// PRAGMA application_id of a vpsmail store: "VPML".
inline constexpr std::int32_t application_id = 0x56504d4c;

/// The newest schema version this build knows.
int latest_schema_version() noexcept;

/// PRAGMA user_version of the open file.
int schema_version(Database& db);

/// Checks that `db` is a vpsmail store (or an empty file) whose schema is not newer than this
/// build's, then, read-write, switches it to WAL and applies the missing migrations in one
/// write transaction that re-checks the version, so that concurrent openers of a fresh file
/// all succeed and the schema is created once. Read-only, it migrates nothing: a schema older
/// than the latest throws config. Throws config for a foreign, corrupt or newer file.
void migrate(Database& db);

}  // namespace vpsmail::store
