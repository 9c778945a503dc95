#include "auth/throttle.hpp"

#include "core/address.hpp"
#include "core/error.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <iterator>

namespace vpsmail::auth {

std::string client_key(std::string_view address) {
    const std::string text(address);
    unsigned char bytes[16];
    if (::inet_pton(AF_INET6, text.c_str(), bytes) != 1) return text;
    constexpr unsigned char v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    char out[INET6_ADDRSTRLEN];
    if (std::equal(std::begin(v4_mapped), std::end(v4_mapped), bytes)) {
        if (::inet_ntop(AF_INET, bytes + 12, out, sizeof out) == nullptr) return text;
        return out;
    }
    std::fill(bytes + 8, bytes + 16, 0);
    if (::inet_ntop(AF_INET6, bytes, out, sizeof out) == nullptr) return text;
    return std::string(out) + "/64";
}

std::string account_key(std::string_view username) {
    try {
        const Address a = parse_address(username);
        if (!a.quoted) return "account " + lower_ascii(a.local) + "@" + a.domain;
    } catch (const Error&) {
        // Not an address: counted under its own (lower-cased) spelling.
    }
    return "account " + lower_ascii(username);
}

bool Throttle::allowed(const std::string& address, Clock::time_point now) {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(address);
    if (it == entries_.end()) return true;
    if (now >= it->second.window_end) {
        entries_.erase(it);
        return true;
    }
    return it->second.failures < max_failures_;
}

bool Throttle::failed(const std::string& address, Clock::time_point now) {
    std::lock_guard lock(mutex_);
    prune(now);
    Entry& e = entries_[address];
    if (now >= e.window_end) e.failures = 0;
    ++e.failures;
    // Each failure extends the window: a client that keeps guessing stays locked out.
    e.window_end = now + lockout_;
    return e.failures == max_failures_;
}

void Throttle::succeeded(const std::string& address) {
    std::lock_guard lock(mutex_);
    entries_.erase(address);
}

void Throttle::configure(std::int64_t max_failures, std::chrono::seconds lockout) {
    std::lock_guard lock(mutex_);
    max_failures_ = max_failures;
    lockout_ = lockout;
}

// Forgets addresses whose window has passed, at most once a minute, so that a scan from many
// addresses cannot grow the map without bound.
void Throttle::prune(Clock::time_point now) {
    if (now < next_prune_) return;
    next_prune_ = now + std::chrono::minutes(1);
    for (auto it = entries_.begin(); it != entries_.end();) {
        if (now >= it->second.window_end) it = entries_.erase(it);
        else ++it;
    }
}

}  // namespace vpsmail::auth
