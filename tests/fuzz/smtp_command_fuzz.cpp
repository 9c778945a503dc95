// libFuzzer target: the SMTP command line and MAIL/RCPT parameter parsers, which see every
// byte a client sends before anything else does. They must answer any input with a Command
// or a Reply, never crash, hang or throw.
#include "smtp/command.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const vpsmail::smtp::Command command = vpsmail::smtp::parse_command(text);
    (void)vpsmail::smtp::parse_mail_from(command.argument);
    (void)vpsmail::smtp::parse_rcpt_to(command.argument);
    (void)vpsmail::smtp::parse_mail_from(text);
    (void)vpsmail::smtp::parse_rcpt_to(text);
    (void)vpsmail::smtp::decode_xtext(text);
    return 0;
}
