// The daemon's log: one line per event on stderr (journald adds the time and the unit), as
// `event key=value key=value`, values quoted when they hold spaces, quotes or control bytes.
// Each line is one write(2), so lines of concurrent threads never interleave.
// Owns the format only; what to log is the caller's business. The CLI does not log.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace vpsmail::log {

using Field = std::pair<std::string_view, std::string_view>;

/// `event k1=v1 k2=v2`, escaped, ending in a newline.
std::string format_line(std::string_view event, std::initializer_list<Field> fields);

/// Writes format_line(...) to stderr. Any thread; never throws.
void line(std::string_view event, std::initializer_list<Field> fields) noexcept;

/// Starts every line with the UTC time (2026-11-27T12:34:56Z), for a log file; journald and
/// terminals do without. Call before other threads log.
void set_timestamps(bool on) noexcept;

}  // namespace vpsmail::log
