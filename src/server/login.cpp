#include "server/login.hpp"

#include "auth/password.hpp"
#include "auth/throttle.hpp"
#include "core/address.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "server/server.hpp"
#include "store/store.hpp"

#include <optional>

namespace vpsmail::server {
namespace {

// A dummy yescrypt hash: an unknown user costs as much time as a wrong password.
constexpr const char* dummy_hash = "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$GmcwIgvdUC9qLWcKCi6gklUa1dM3ziD43YxYNURLKy0";

// A legacy hash ($1$, DES, which only reads 8 characters of a password) that just verified is
// replaced by a yescrypt hash of the same password, unless the account's hash changed
// meanwhile. The login succeeds whatever happens here: the next one tries again.
void upgrade_hash(Server& server, const Address& login, const std::string& old_hash, std::string_view password,
                  const Peer& peer) {
    try {
        // The thread's connection is read-only; this happens once per legacy account.
        const std::string new_hash = auth::hash_password(password);
        const bool done = store::Store::open(server.db_path())->upgrade_password_hash(login.local, login.domain, old_hash, new_hash);
        log::line("rehash", {{"session", peer.id}, {"user", login.str()}, {"result", done ? "yescrypt" : "changed meanwhile"}});
    } catch (const Error& e) {
        log::line("rehash", {{"session", peer.id}, {"user", login.str()}, {"result", "error"}, {"error", e.what()},
                             {"detail", e.detail()}});
    }
}

}  // namespace

LoginOutcome verify_login(Server& server, const LoginRequest& request) {
    const Peer& peer = request.peer;
    using Result = LoginOutcome::Result;
    // [auth] max_failures counts per client network and per canonical account; while either is
    // locked out the password is not even checked (SMTP says 454 4.7.0: try later).
    auth::Throttle& throttle = server.throttle();
    const std::string client = auth::client_key(peer.address);
    const std::string account = auth::account_key(request.user);
    if (!throttle.allowed(client) || !throttle.allowed(account)) {
        log::line("auth", {{"session", peer.id}, {"user", request.user}, {"result", "locked out"}});
        return LoginOutcome{Result::throttled, {}};
    }
    std::string hash = dummy_hash;
    bool usable = false;
    std::optional<Address> login;
    try {
        Address parsed = parse_address(request.user);
        if (!parsed.bare()) {
            parsed.local = lower_ascii(parsed.local);
            if (auto user = server.thread_store().find_user(parsed.local, parsed.domain)) {
                usable = user->enabled;
                hash = user->password_hash;
                login = std::move(parsed);
            }
        }
    } catch (const Error& e) {
        if (is_temporary(e.kind()) || e.kind() == ErrorKind::config || e.kind() == ErrorKind::permission) {
            log::line("auth", {{"session", peer.id}, {"user", request.user}, {"result", "error"}, {"error", e.what()}});
            return LoginOutcome{Result::temporary, {}};
        }
        // Not an address: a wrong login like any other.
    }
    const bool match = auth::verify_password(request.password, hash);
    if (match && usable) {
        throttle.succeeded(client);
        throttle.succeeded(account);
        log::line("auth", {{"session", peer.id}, {"user", request.user}, {"result", "ok"}});
        if (auth::hash_needs_upgrade(hash)) upgrade_hash(server, *login, hash, request.password, peer);
        return LoginOutcome{Result::ok, login->str()};
    }
    const bool locked = throttle.failed(account) | throttle.failed(client);
    log::line("auth", {{"session", peer.id}, {"user", request.user}, {"result", locked ? "failed, locked out" : "failed"}});
    return LoginOutcome{Result::bad_credentials, {}};
}

}  // namespace vpsmail::server
