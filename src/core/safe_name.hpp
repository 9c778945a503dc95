// Names that become path components (maildir folders named after domains and local parts).
// docs/architecture.md section 10: no "/", no leading ".", no control bytes, nothing empty.
#pragma once

#include <string_view>

namespace vpsmail {

/// Throws Error(bad_data) naming `what` and the value when `name` cannot be a single path
/// component safely.
void check_safe_name(std::string_view name, std::string_view what);

}  // namespace vpsmail
