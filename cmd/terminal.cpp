#include "terminal.hpp"

#include "core/error.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <fcntl.h>
#include <iostream>
#include <termios.h>
#include <unistd.h>

namespace vpsmail::cli {
namespace {

std::string strip_newline(std::string line) {
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
    return line;
}

std::string read_no_echo(int fd, const char* prompt) {
    termios old {};
    bool restore = tcgetattr(fd, &old) == 0;
    if (restore) {
        termios quiet = old;
        quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
        // Echo off (and typeahead dropped) before the prompt: what is typed after it counts.
        tcsetattr(fd, TCSAFLUSH, &quiet);
    }
    (void)!::write(fd, prompt, std::char_traits<char>::length(prompt));
    std::string line;
    char c;
    while (::read(fd, &c, 1) == 1 && c != '\n') line += c;
    if (restore) tcsetattr(fd, TCSAFLUSH, &old);
    (void)!::write(fd, "\n", 1);
    return strip_newline(line);
}

}  // namespace

bool stdin_is_terminal() { return isatty(STDIN_FILENO) == 1; }

namespace {

// One line of stdin without its line end; `what` names it in the errors ("password").
std::string read_line_stdin(std::string_view what, std::string_view option) {
    std::string line;
    if (!std::getline(std::cin, line) && line.empty())
        throw Error(ErrorKind::bad_data, fmt::format("no {} on standard input ({} reads one line)", what, option));
    line = strip_newline(line);
    if (line.empty()) throw Error(ErrorKind::bad_data, fmt::format("the {} read from standard input is empty", what));
    return line;
}

}  // namespace

std::string read_password_stdin() {
    std::string line = read_line_stdin("password", "--password-stdin");
    if (line.find('\0') != std::string::npos)
        throw Error(ErrorKind::bad_data, "the password read from standard input contains a NUL byte");
    return line;
}

std::string read_password_hash_stdin() { return read_line_stdin("password hash", "--password-hash-stdin"); }

std::string prompt_new_password() {
    int fd = ::open("/dev/tty", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        throw Error(ErrorKind::usage, "no terminal to ask for a password: use --password-stdin or --password-hash");
    std::string first = read_no_echo(fd, "New password: ");
    std::string second = first.empty() ? std::string() : read_no_echo(fd, "Retype new password: ");
    ::close(fd);
    if (first.empty()) throw Error(ErrorKind::bad_data, "the password is empty");
    if (first != second) throw Error(ErrorKind::bad_data, "the two passwords differ; nothing was changed");
    return first;
}

}  // namespace vpsmail::cli
