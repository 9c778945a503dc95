#include "sasl/exchange.hpp"

#include "core/address.hpp"
#include "wire/base64.hpp"

namespace vpsmail::sasl {
namespace {

// LOGIN (draft-murchison-sasl-login): the two prompts, in the base64 every client expects.
constexpr std::string_view login_username_prompt = "VXNlcm5hbWU6";  // "Username:"
constexpr std::string_view login_password_prompt = "UGFzc3dvcmQ6";  // "Password:"

Step challenge(std::string_view text) {
    Step s;
    s.kind = Step::Kind::challenge;
    s.challenge = std::string(text);
    return s;
}

Step failed(Step::Kind kind, std::string reason) {
    Step s;
    s.kind = kind;
    s.reason = std::move(reason);
    return s;
}

}  // namespace

std::optional<Mechanism> find_mechanism(std::string_view name) {
    std::string lower = lower_ascii(name);
    if (lower == "plain") return Mechanism::plain;
    if (lower == "login") return Mechanism::login;
    return std::nullopt;
}

const char* mechanism_name(Mechanism mechanism) noexcept {
    switch (mechanism) {
    case Mechanism::plain: return "PLAIN";
    case Mechanism::login: return "LOGIN";
    }
    return "PLAIN";
}

Step Exchange::finish(Step step) {
    if (step.kind != Step::Kind::challenge) over_ = true;
    return step;
}

Step Exchange::start(std::optional<std::string_view> initial_response) {
    if (!initial_response) {
        // RFC 4616 2: PLAIN starts with an empty challenge; LOGIN asks for the username.
        return challenge(mechanism_ == Mechanism::plain ? "" : login_username_prompt);
    }
    if (*initial_response == "=") return finish(take(""));  // RFC 4954 4: "=" is an empty response
    return respond(*initial_response);
}

Step Exchange::respond(std::string_view line) {
    if (over_) return failed(Step::Kind::malformed, "the exchange is over");
    if (line == "*") return finish(failed(Step::Kind::cancelled, "cancelled by the client"));
    auto decoded = wire::decode_base64(line);
    if (!decoded) return finish(failed(Step::Kind::malformed, "the response is not valid base64"));
    return finish(take(*decoded));
}

Step Exchange::take(std::string_view decoded) {
    ++round_;
    if (mechanism_ == Mechanism::plain) return take_plain(decoded);
    return take_login(decoded);
}

Step Exchange::take_plain(std::string_view message) {
    // RFC 4616 2: message = [authzid] NUL authcid NUL passwd
    auto first = message.find('\0');
    auto second = first == std::string_view::npos ? first : message.find('\0', first + 1);
    if (second == std::string_view::npos || message.find('\0', second + 1) != std::string_view::npos)
        return failed(Step::Kind::malformed, "PLAIN needs authzid NUL authcid NUL password");
    auto authzid = message.substr(0, first);
    auto authcid = message.substr(first + 1, second - first - 1);
    auto password = message.substr(second + 1);
    if (authcid.empty() || password.empty())
        return failed(Step::Kind::malformed, "PLAIN needs a username and a password");
    if (authzid.size() > max_field || authcid.size() > max_field || password.size() > max_field)
        return failed(Step::Kind::malformed, "a PLAIN field is longer than 255 octets");
    // Acting for another identity (RFC 4616 2: authzid) is not offered.
    if (!authzid.empty() && authzid != authcid)
        return failed(Step::Kind::refused, "authorization identity differs from the username");
    Step s;
    s.kind = Step::Kind::done;
    s.credentials.username = std::string(authcid);
    s.credentials.password = std::string(password);
    return s;
}

Step Exchange::take_login(std::string_view field) {
    if (field.empty() || field.size() > max_field || field.find('\0') != std::string_view::npos)
        return failed(Step::Kind::malformed,
                      round_ == 1 ? "LOGIN needs a username of 1 to 255 octets without NUL"
                                  : "LOGIN needs a password of 1 to 255 octets without NUL");
    if (round_ == 1) {
        username_ = std::string(field);
        return challenge(login_password_prompt);
    }
    Step s;
    s.kind = Step::Kind::done;
    s.credentials.username = std::move(username_);
    s.credentials.password = std::string(field);
    return s;
}

}  // namespace vpsmail::sasl
