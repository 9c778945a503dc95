// libFuzzer target: sasl/exchange, the PLAIN and LOGIN server steps, with arbitrary client
// responses. The first byte chooses the mechanism, whether there is an initial response and
// whether the responses are sent base64-encoded (to reach past the decoder); the rest is split
// at '\n' into responses. Invariants: challenges are valid base64, done gives credentials within
// the field limits, an exchange that is over answers malformed, and PLAIN's credentials, sent
// again as authzid NUL authcid NUL password, give the same credentials.
#include "sasl/exchange.hpp"
#include "wire/base64.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace {

using vpsmail::sasl::Credentials;
using vpsmail::sasl::Exchange;
using vpsmail::sasl::Mechanism;
using vpsmail::sasl::Step;

void check(const Step& step, Mechanism mechanism) {
    using vpsmail::sasl::max_field;
    if (step.kind == Step::Kind::challenge && !vpsmail::wire::decode_base64(step.challenge)) __builtin_trap();
    if (step.kind != Step::Kind::done) return;
    const Credentials& c = step.credentials;
    if (c.username.empty() || c.password.empty() || c.username.size() > max_field || c.password.size() > max_field) __builtin_trap();
    if (c.username.find('\0') != std::string::npos || c.password.find('\0') != std::string::npos) __builtin_trap();
    if (mechanism == Mechanism::plain) {
        Exchange again(Mechanism::plain);
        const std::string message = c.username + '\0' + c.username + '\0' + c.password;
        const Step s = again.start(vpsmail::wire::encode_base64(message));
        if (s.kind != Step::Kind::done || s.credentials.username != c.username || s.credentials.password != c.password)
            __builtin_trap();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const Mechanism mechanism = data[0] & 1 ? Mechanism::login : Mechanism::plain;
    const bool initial = data[0] & 2;
    const bool encode = data[0] & 4;
    std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
    auto next = [&]() -> std::string {
        const std::size_t cut = std::min(rest.find('\n'), rest.size());
        const std::string_view piece = rest.substr(0, cut);
        rest.remove_prefix(std::min(cut + 1, rest.size()));
        return encode && piece != "*" && piece != "=" ? vpsmail::wire::encode_base64(piece) : std::string(piece);
    };

    Exchange exchange(mechanism);
    std::optional<std::string> first;
    if (initial) first = next();
    Step step = first ? exchange.start(std::string_view(*first)) : exchange.start(std::nullopt);
    check(step, mechanism);
    for (int rounds = 0; step.kind == Step::Kind::challenge && !rest.empty() && rounds < 8; ++rounds) {
        step = exchange.respond(next());
        check(step, mechanism);
    }
    if (step.kind != Step::Kind::challenge && exchange.respond("").kind != Step::Kind::malformed) __builtin_trap();
    if (!vpsmail::sasl::find_mechanism(vpsmail::sasl::mechanism_name(mechanism))) __builtin_trap();
    (void)vpsmail::sasl::find_mechanism(rest);
    return 0;
}
