// The server side of the SASL mechanisms PLAIN (RFC 4616) and LOGIN: decode the client's
// responses, issue challenges, and hand back the claimed username and password. Shared by SMTP
// AUTH, IMAP AUTHENTICATE and POP3 AUTH, so it knows no protocol's framing (334, "+ ") and
// never verifies a password: the caller does, off the network thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace vpsmail::sasl {

enum class Mechanism { plain, login };

/// The mechanism named `name` (case-insensitive, RFC 4422 3.1), or nullopt when unsupported.
std::optional<Mechanism> find_mechanism(std::string_view name);

/// "PLAIN" or "LOGIN".
const char* mechanism_name(Mechanism mechanism) noexcept;

/// What the client claims. For PLAIN an authzid equal to the authcid is folded into it.
struct Credentials {
    std::string username;
    std::string password;
};

inline constexpr std::size_t max_field = 255;  // RFC 4616 2: authzid, authcid, passwd

/// What the server does next.
struct Step {
    enum class Kind {
        challenge,  ///< send `challenge` (base64, possibly empty) and wait for a response
        done,       ///< `credentials` are complete: verify them
        cancelled,  ///< the client sent "*" (RFC 4954 4; RFC 3501 6.2.2)
        malformed,  ///< not base64, or not a valid message for the mechanism: `reason` says why
        refused,    ///< well formed but not allowed (an authzid other than the authcid)
    };
    Kind kind = Kind::challenge;
    std::string challenge;     ///< base64 text, for challenge
    Credentials credentials;   ///< for done
    std::string reason;        ///< client-safe, for malformed and refused
};

/// One authentication exchange. Not thread-safe; one per AUTH command.
class Exchange {
public:
    explicit Exchange(Mechanism mechanism) : mechanism_(mechanism) {}

    /// The first step. `initial_response` is the base64 text given with the command, "=" for an
    /// empty one (RFC 4954 4), or nullopt when the command had none.
    Step start(std::optional<std::string_view> initial_response);

    /// The next step, given the client's response line (base64, or "*" to cancel).
    /// After done, cancelled, malformed or refused the exchange is over; calling again gives
    /// malformed.
    Step respond(std::string_view line);

    Mechanism mechanism() const noexcept { return mechanism_; }

private:
    Step take(std::string_view decoded);
    Step take_plain(std::string_view message);
    Step take_login(std::string_view field);
    Step finish(Step step);

    Mechanism mechanism_;
    int round_ = 0;  ///< responses taken so far
    bool over_ = false;
    std::string username_;
};

}  // namespace vpsmail::sasl
