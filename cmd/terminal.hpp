// Reading passwords: one line from stdin for scripts, or a no-echo prompt on the terminal.
// Passwords are never taken from argv (docs/architecture.md section 10).
#pragma once

#include <string>

namespace vpsmail::cli {

/// True when standard input is a terminal.
bool stdin_is_terminal();

/// Reads one line from stdin (trailing CR/LF removed). Throws Error(bad_data) when it is
/// empty or stdin is at end of file, Error(bad_data) when it holds a NUL byte.
std::string read_password_stdin();

/// Reads one line from stdin for --password-hash-stdin (trailing CR/LF removed), unchecked:
/// auth::normalize_password_hash checks it. Throws Error(bad_data) when it is empty or stdin
/// is at end of file.
std::string read_password_hash_stdin();

/// Prompts twice on /dev/tty with echo off; throws Error(bad_data) when the two differ or the
/// password is empty, Error(usage) when there is no terminal.
std::string prompt_new_password();

}  // namespace vpsmail::cli
