// Login throttling ([auth] max_failures, lockout): after max_failures failed logins from one
// client address within the lockout window, further attempts from it are refused without
// checking the password until the window has passed. Protocol-neutral (SMTP AUTH today, POP3
// and IMAP later) and in memory: a restart forgets, like fail2ban's first stage.
// Owns counting only; the caller decides what a refusal looks like on the wire.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace vpsmail::auth {

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
