// Output of the CLI: aligned tables, key/value blocks and --json documents to stdout, warnings
// to stderr. The only code of vpsmail that writes to stdout.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace vpsmail::cli {

/// A table printed with a header row and columns padded to their widest cell, two spaces
/// apart; the last column is not padded (it may hold spaces). Empty cells print as "-" so
/// every row has the same number of fields for awk.
class Table {
public:
    explicit Table(std::vector<std::string> header) : header_(std::move(header)) {}
    void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
    std::string str() const;

private:
    std::vector<std::string> header_;
    std::vector<std::vector<std::string>> rows_;
};

/// "key   value" lines with the keys padded to the widest.
class Fields {
public:
    void add(std::string key, std::string value) { rows_.emplace_back(std::move(key), std::move(value)); }
    std::string str() const;

private:
    std::vector<std::pair<std::string, std::string>> rows_;
};

/// Writes text to stdout as is.
void print(std::string_view text);

/// "vpsmail: warning: TEXT" on stderr.
void warn(std::string_view text);

/// "vpsmail: TEXT" on stderr (for -v notes).
void note(std::string_view text);

/// ISO 8601 UTC ("2026-11-27T10:13:43Z"); "-" for 0.
std::string format_time(std::int64_t unix_seconds);

/// "a, b, c".
std::string join(const std::vector<std::string>& items, std::string_view separator = ", ");

}  // namespace vpsmail::cli
