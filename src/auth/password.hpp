// Password hashes: crypt(3) hashing (yescrypt) and verification through libxcrypt, and the
// checks on hashes imported from elsewhere (Dovecot's {CRYPT}-family prefixes accepted).
// Owns no storage (the store keeps the hash as text) and no login throttling.
// Hashing and verification are slow on purpose (~50 ms): call them off network threads.
#pragma once

#include <string>
#include <string_view>

namespace vpsmail::auth {

/// A new yescrypt ($y$) hash of `password` with a fresh random salt. Thread-safe.
/// Throws Error(bad_data) when the password holds a NUL byte (crypt(3) would cut it there),
/// Error(internal) when libxcrypt fails.
std::string hash_password(std::string_view password);

/// True when `password` matches `hash`: any scheme libxcrypt knows ($y$, $2b$, $6$, $5$, $1$,
/// ...), optionally behind a Dovecot prefix {CRYPT}, {BLF-CRYPT}, {SHA512-CRYPT},
/// {SHA256-CRYPT} or {MD5-CRYPT}. The result is compared in constant time. An empty, locked
/// (`!...`, `*...`) or otherwise invalid hash never matches. Never throws. Thread-safe.
bool verify_password(std::string_view password, std::string_view hash) noexcept;

/// The hash to store for `user add --password-hash`: the Dovecot crypt-family prefix removed,
/// else unchanged. Throws Error(bad_data, "invalid password hash '...': why; ...") for another
/// {SCHEME} prefix ({PLAIN}, {SSHA}, ...), whitespace or control bytes, a method libxcrypt
/// does not know or has disabled, a bare setting without the hash part, or a cost so high that
/// one verification would take many seconds.
std::string normalize_password_hash(std::string_view hash);

/// True when `hash` should be replaced by hash_password() at the next successful login: its
/// method is legacy ($1$, DES, ...) or unknown to crypt_checksalt.
bool hash_needs_upgrade(std::string_view hash) noexcept;

}  // namespace vpsmail::auth
