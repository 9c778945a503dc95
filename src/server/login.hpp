// Login verification for every protocol (SMTP AUTH today; POP3 USER/PASS and AUTH, IMAP LOGIN
// and AUTHENTICATE later): the account looked up in the store, its crypt(3) hash checked, login
// throttling per client network and per account ([auth] max_failures, lockout), legacy hashes
// upgraded to yescrypt. Speaks no protocol: each session maps the outcome to its own replies.
#pragma once

#include "server/conversation.hpp"

#include <string>

namespace vpsmail::server {

class Server;

/// One login attempt.
struct LoginRequest {
    std::string user;       ///< the login the client gave ("bob@example.org")
    std::string password;
    std::string mechanism;  ///< as the client chose it: "PLAIN", "LOGIN", "USER"...; not part of the check
    Peer peer;              ///< the client: throttled per its network; its session id in the log
};

/// How a login attempt ended.
struct LoginOutcome {
    enum class Result {
        ok,               ///< the password matches an enabled account
        bad_credentials,  ///< unknown user, wrong password or disabled account (told apart nowhere)
        throttled,        ///< the client network or the account is locked out: not even checked
        temporary,        ///< the store could not be read: try again later
    } result = Result::bad_credentials;
    /// With ok: the account, canonical ("bob@example.org", local part in lower case).
    std::string account;
    bool ok() const noexcept { return result == Result::ok; }
};

/// Verifies one login. An unknown user costs as much time as a wrong password (a dummy hash is
/// checked). Failures count towards the throttle; a success clears the client's and the
/// account's count. Any thread (a worker: crypt(3) is slow); never throws (but std::bad_alloc).
LoginOutcome verify_login(Server& server, const LoginRequest& request);

}  // namespace vpsmail::server
