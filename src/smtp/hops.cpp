#include "smtp/hops.hpp"

#include "core/address.hpp"

#include <algorithm>
#include <cstring>

namespace vpsmail::smtp {
namespace {

// RFC 5321 4.5.3.1.3: a path is at most 256 octets; with the name and some folding white
// space, a longer Delivered-To field names no address we could have sent it to.
constexpr std::size_t max_field = 512;
// Distinct Delivered-To values kept; a loop repeats the same ones.
constexpr std::size_t max_delivered_to = 64;

bool is_wsp(char c) noexcept { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && is_wsp(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_wsp(s.back())) s.remove_suffix(1);
    return s;
}

}  // namespace

void HopCounter::scan(std::string_view text) {
    std::size_t i = 0;
    while (i < text.size() && !done_) {
        if (line_start_) {
            const char c = text[i];
            if (c == '\r' || c == '\n') {
                // RFC 5322 2.1: an empty line ends the header section (a bare CR is refused by
                // the session anyway).
                end_field();
                done_ = true;
                break;
            }
            // RFC 5322 2.2.3: a line starting with white space continues the field.
            if (!is_wsp(c)) end_field();
            in_field_ = true;
            line_start_ = false;
        }
        const char* start = text.data() + i;
        const char* lf = static_cast<const char*>(std::memchr(start, '\n', text.size() - i));
        std::size_t end = lf != nullptr ? static_cast<std::size_t>(lf - text.data()) : text.size();
        std::string_view part = text.substr(i, end - i);
        if (field_.size() + part.size() > max_field) {
            truncated_ = true;
            part = part.substr(0, max_field - std::min(max_field, field_.size()));
        }
        field_.append(part);
        if (lf == nullptr) break;
        if (!field_.empty() && field_.back() == '\r') field_.pop_back();  // the CR of CRLF, maybe from the last piece
        line_start_ = true;
        i = end + 1;
    }
}

void HopCounter::finish() {
    if (!done_) end_field();
    done_ = true;
}

void HopCounter::end_field() {
    if (!in_field_) return;
    in_field_ = false;
    const std::string_view field = field_;
    const auto colon = field.find(':');
    if (colon != std::string_view::npos) {
        const std::string name = lower_ascii(trim(field.substr(0, colon)));
        if (name == "received") {
            ++received_;
        } else if (name == "delivered-to" && !truncated_) {
            std::string_view value = trim(field.substr(colon + 1));
            if (value.size() >= 2 && value.front() == '<' && value.back() == '>') value = trim(value.substr(1, value.size() - 2));
            std::string address = lower_ascii(value);
            auto it = std::find_if(delivered_to_.begin(), delivered_to_.end(), [&](const auto& e) { return e.first == address; });
            if (it != delivered_to_.end()) ++it->second;
            else if (delivered_to_.size() < max_delivered_to) delivered_to_.emplace_back(std::move(address), 1);
        }
    }
    field_.clear();
    truncated_ = false;
}

std::size_t HopCounter::delivered_to(std::string_view address) const {
    const std::string wanted = lower_ascii(address);
    for (const auto& [value, count] : delivered_to_)
        if (value == wanted) return count;
    return 0;
}

}  // namespace vpsmail::smtp
