// Login throttling ([auth] max_failures, lockout): after max_failures failed logins from one
// client network or for one account within the lockout window, further attempts are refused
// without checking the password until the window has passed. The keys are canonical (see
// client_key, account_key) so that respelling an address or hopping inside an IPv6 /64
// does not reset the count. Protocol-neutral (SMTP AUTH today, POP3
// and IMAP later) and in memory: a restart forgets, like fail2ban's first stage.
// Owns counting only; the caller decides what a refusal looks like on the wire.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace vpsmail::auth {

/// The throttle's (and the per-IP connection limit's) key for a client IP address: an IPv4
/// address as it is; an IPv6 address as its /64 ("2001:db8:1:2::/64"), because one host
/// usually holds a whole /64 (RFC 6177); an IPv4-mapped IPv6 address as its IPv4 address.
/// Text that is no IP address is returned unchanged. Never throws except std::bad_alloc.
std::string client_key(std::string_view address);

/// The throttle's key for a login name: "account " followed by the canonical account address
/// (core/address: local part ASCII lower case, quotes of a dot-atom dropped, domain lower
/// case, A-labels, no trailing dot), so BOB@Example.TEST. counts against bob@example.test.
/// A name that is no address is lower-cased. Never throws except std::bad_alloc.
std::string account_key(std::string_view username);

class Throttle {
public:
    using Clock = std::chrono::steady_clock;

    Throttle(std::int64_t max_failures, std::chrono::seconds lockout) : max_failures_(max_failures), lockout_(lockout) {}

    /// False while `address` is locked out. Thread-safe.
    bool allowed(const std::string& address, Clock::time_point now = Clock::now());
    /// Counts a failed login. Returns true when this failure started a lockout. Thread-safe.
    bool failed(const std::string& address, Clock::time_point now = Clock::now());
    /// A successful login clears the address's count. Thread-safe.
    void succeeded(const std::string& address);
    /// New limits (SIGHUP); counts are kept.
    void configure(std::int64_t max_failures, std::chrono::seconds lockout);

private:
    struct Entry {
        std::int64_t failures = 0;
        Clock::time_point window_end;  ///< failures older than the lockout window are forgotten
    };
    void prune(Clock::time_point now);

    std::mutex mutex_;
    std::int64_t max_failures_;
    std::chrono::seconds lockout_;
    std::unordered_map<std::string, Entry> entries_;
    Clock::time_point next_prune_{};
};

}  // namespace vpsmail::auth
