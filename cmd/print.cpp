#include "print.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <ctime>

namespace vpsmail::cli {

std::string Table::str() const {
    std::vector<std::size_t> width(header_.size(), 0);
    auto cell = [](const std::vector<std::string>& row, std::size_t i) -> std::string {
        return i < row.size() && !row[i].empty() ? row[i] : "-";
    };
    for (std::size_t i = 0; i < header_.size(); ++i) {
        width[i] = header_[i].size();
        for (const auto& row : rows_) width[i] = std::max(width[i], cell(row, i).size());
    }
    std::string out;
    auto line = [&](const std::vector<std::string>& row, bool header) {
        std::string text;
        for (std::size_t i = 0; i < header_.size(); ++i) {
            std::string c = header ? header_[i] : cell(row, i);
            if (i + 1 < header_.size()) text += fmt::format("{:<{}}  ", c, width[i]);
            else text += c;
        }
        out += text + "\n";
    };
    line(header_, true);
    for (const auto& row : rows_) line(row, false);
    return out;
}

std::string Fields::str() const {
    std::size_t width = 0;
    for (const auto& [k, v] : rows_) width = std::max(width, k.size());
    std::string out;
    for (const auto& [k, v] : rows_) out += fmt::format("{:<{}}  {}\n", k, width, v.empty() ? "-" : v);
    return out;
}

void print(std::string_view text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
}

void warn(std::string_view text) { std::fprintf(stderr, "vpsmail: warning: %.*s\n", static_cast<int>(text.size()), text.data()); }

void note(std::string_view text) { std::fprintf(stderr, "vpsmail: %.*s\n", static_cast<int>(text.size()), text.data()); }

std::string format_time(std::int64_t unix_seconds) {
    if (unix_seconds <= 0) return "-";
    std::time_t t = static_cast<std::time_t>(unix_seconds);
    std::tm tm {};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

std::string join(const std::vector<std::string>& items, std::string_view separator) {
    std::string out;
    for (const auto& item : items) {
        if (!out.empty()) out += separator;
        out += item;
    }
    return out;
}

}  // namespace vpsmail::cli
