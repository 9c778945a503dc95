// DNS for outbound delivery: MX lookups (RFC 5321 section 5, RFC 7505 null MX) and host
// addresses (A and AAAA), asynchronous, through one c-ares channel driven by its own thread.
// Knows nothing of SMTP or the queue; c-ares headers stay in dns.cpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace vpsmail::net {

enum class DnsStatus {
    ok,         ///< answers found
    no_data,    ///< the name exists but has no record of that type (MX: use the domain's A/AAAA)
    null_mx,    ///< RFC 7505: the domain accepts no mail (a single MX "." of preference 0)
    nxdomain,   ///< the name does not exist: permanent
    temporary,  ///< SERVFAIL, REFUSED, timeout, anything else: try again later
};

struct MxHost {
    std::uint16_t preference = 0;
    std::string host;  ///< lower case, without the trailing dot
};

struct MxResult {
    DnsStatus status = DnsStatus::temporary;
    std::vector<MxHost> hosts;  ///< ok: by preference, equal preferences shuffled (RFC 5321 5.1)
    std::string error;          ///< not ok: why, for logs and DSNs ("SERVFAIL", "timeout")
};

struct AddressResult {
    DnsStatus status = DnsStatus::temporary;  ///< never null_mx
    std::vector<std::string> addresses;       ///< ok: IPv4 ones first, then IPv6, as text
    std::string error;
};

class Resolver {
public:
    /// `servers`: "host:port" or "[v6]:port" (port optional, 53); empty: the system's
    /// resolv.conf. Each query is sent up to `tries` times with `timeout` per try.
    /// Throws Error(config) naming a malformed server, Error(internal) when c-ares fails to start.
    Resolver(const std::vector<std::string>& servers, std::chrono::milliseconds timeout, int tries);
    /// Cancels outstanding queries (their callbacks get DnsStatus::temporary) and joins the thread.
    ~Resolver();
    Resolver(const Resolver&) = delete;
    Resolver& operator=(const Resolver&) = delete;

    /// The MX records of `domain` (an A-label). `done` runs once, on the resolver's thread.
    /// Thread-safe.
    void lookup_mx(const std::string& domain, std::function<void(MxResult)> done);

    /// The A and AAAA records of `host`. `done` runs once, on the resolver's thread. Thread-safe.
    void lookup_addresses(const std::string& host, std::function<void(AddressResult)> done);

private:
    struct State;
    std::unique_ptr<State> state_;
};

}  // namespace vpsmail::net
