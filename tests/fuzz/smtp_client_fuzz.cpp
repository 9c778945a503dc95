// libFuzzer target: the SMTP client session's reply parsing, which sees every byte a remote
// server sends. The input is replayed as server replies, in pieces split where it holds a
// 0x00 byte, and a message is sent whenever the session is ready; the session must end in a
// defined state, never crash, hang or throw.
#include "smtp/client_session.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using vpsmail::smtp::ClientSession;
    std::string_view input(reinterpret_cast<const char*>(data), size);
    vpsmail::smtp::ClientConfig config;
    config.helo_name = "fuzz.test";
    config.username = "u";
    config.password = "p";
    config.tls_active = true;
    ClientSession s(config);
    vpsmail::queue::OutboundMessage m;
    m.id = "f";
    m.return_path = "a@b.test";
    m.recipients = {{"c@d.test", "FAILURE", "rfc822;c@d.test"}, {"e@d.test", "", ""}};
    m.content = ".x\r\nbody\r\n";
    int sent = 0;
    while (!input.empty()) {
        const std::size_t cut = std::min(input.find('\0'), input.size());
        const std::string_view piece = input.substr(0, cut);
        input.remove_prefix(std::min(cut + 1, input.size()));
        s.receive(std::span<const char>(piece.data(), piece.size()));
        (void)s.take_output();
        if (auto outcome = s.take_outcome(); outcome && outcome->recipients.size() != m.recipients.size()) __builtin_trap();
        if (s.wants_starttls()) s.tls_started();
        if (s.state() == ClientSession::State::ready && sent++ < 4) s.send(m);
        (void)vpsmail::smtp::parse_reply_line(piece);
    }
    s.closed("end of input");
    if (auto outcome = s.take_outcome(); outcome && outcome->recipients.size() != m.recipients.size()) __builtin_trap();
    return 0;
}
