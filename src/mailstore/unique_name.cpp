#include "mailstore/unique_name.hpp"

#include <fmt/format.h>

#include <atomic>
#include <climits>
#include <ctime>
#include <unistd.h>

namespace vpsmail::mailstore {
namespace {

std::atomic<std::uint64_t> deliveries{0};

const std::string& host_name() {
    static const std::string name = [] {
        char buffer[HOST_NAME_MAX + 1] = {};
        if (::gethostname(buffer, sizeof buffer - 1) != 0 || buffer[0] == '\0') return std::string("localhost");
        return std::string(buffer);
    }();
    return name;
}

}  // namespace

std::string escape_host(std::string_view host) {
    std::string out;
    out.reserve(host.size());
    for (char c : host) {
        // Maildir spec: "/" and ":" in the host name become \057 and \072.
        if (c == '/')
            out += "\\057";
        else if (c == ':')
            out += "\\072";
        else
            out += c;
    }
    return out;
}

std::string format_unique_name(const UniqueNameParts& parts) {
    return fmt::format("{}.M{}P{}Q{}.{}", parts.seconds, parts.microseconds, parts.pid, parts.counter,
                       escape_host(parts.host));
}

std::string make_unique_name() {
    ::timespec now{};
    ::clock_gettime(CLOCK_REALTIME, &now);
    UniqueNameParts parts;
    parts.seconds = now.tv_sec;
    parts.microseconds = static_cast<std::uint32_t>(now.tv_nsec / 1000);
    parts.pid = ::getpid();  // not cached: a forked child must not reuse its parent's names
    parts.counter = deliveries.fetch_add(1, std::memory_order_relaxed) + 1;
    parts.host = host_name();
    return format_unique_name(parts);
}

std::string format_new_name(std::string_view base, std::uint64_t size) {
    return fmt::format("{},S={}", base, size);
}

std::optional<std::uint64_t> find_message_size(std::string_view file_name) {
    // Maildir spec: the info part starts at the first ":" (a ":" in the host is escaped).
    std::string_view head = file_name.substr(0, file_name.find(':'));
    // The last ",S=" is the field: the fields follow the host, which could hold ",S=" itself.
    auto at = head.rfind(",S=");
    if (at == std::string_view::npos) return std::nullopt;
    std::string_view digits = head.substr(at + 3);
    digits = digits.substr(0, digits.find(','));
    if (digits.empty() || digits.size() > 19) return std::nullopt;  // 19 digits always fit 64 bits
    std::uint64_t size = 0;
    for (char c : digits) {
        if (c < '0' || c > '9') return std::nullopt;
        size = size * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return size;
}

}  // namespace vpsmail::mailstore
