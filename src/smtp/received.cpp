#include "smtp/received.hpp"

#include <fmt/format.h>

#include <ctime>

namespace vpsmail::smtp {

std::string protocol_name(const Trace& trace) {
    if (!trace.esmtp) return "SMTP";
    std::string name = trace.smtputf8 ? "UTF8SMTP" : "ESMTP";
    if (trace.tls) name += 'S';
    if (trace.authenticated) name += 'A';
    return name;
}

std::string format_date(std::chrono::system_clock::time_point when) {
    static constexpr const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static constexpr const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                             "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    std::time_t t = std::chrono::system_clock::to_time_t(when);
    std::tm tm{};
    gmtime_r(&t, &tm);
    return fmt::format("{}, {:02} {} {:04} {:02}:{:02}:{:02} +0000", days[tm.tm_wday], tm.tm_mday,
                       months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

std::string format_received(const Trace& trace) {
    std::string peer = trace.peer_name.empty() ? "unknown" : trace.peer_name;
    if (!trace.peer_address.empty()) {
        // RFC 5321 4.1.3: an IPv6 address literal is tagged "IPv6:".
        bool v6 = trace.peer_address.find(':') != std::string::npos;
        peer += fmt::format(" [{}{}]", v6 ? "IPv6:" : "", trace.peer_address);
    }
    std::string out = fmt::format("Received: from {} ({})\r\n\tby {} with {} id {}", trace.helo, peer,
                                  trace.hostname, protocol_name(trace), trace.id);
    // RFC 5321 7.2: naming one recipient reveals nothing; listing several would.
    if (trace.recipient) out += fmt::format("\r\n\tfor <{}>", *trace.recipient);
    out += ";\r\n\t";
    out += format_date(trace.when);
    out += "\r\n";
    return out;
}

}  // namespace vpsmail::smtp
