// The dialogue runner (docs/architecture.md section 12): replays a scripted SMTP conversation (.dlg file)
// against smtp::Session over fake ports, the way src/net drives it but without a socket, and
// reports the first difference. Also the fake ports, seeded by the script's "@" lines.
//
// Format, one item per line; blank lines are skipped, "#" lines are comments and the first
// line must be one saying what the case proves:
//   C: text          the client sends text + CRLF
//   C= bytes         the client sends bytes as written, with \r \n \t \\ \xNN escapes, no CRLF
//   S: text          the next server line is text; "*" matches any run of characters
//   S+ text          server lines are skipped up to one that matches
//   @mode mx|submission|submissions (TLS active)   @tls none|available|active   @loopback
//   @peer address [name]   @max-size N   @max-recipients N   @max-bad-commands N
//   @strict-8bitmime
//                    session settings, before the first C:/S: line
//   @splits lines|packet|bytes|random ...
//                    run the script only in these splits (a client that breaks RFC 2920 is
//                    told apart only when its bytes arrive together: packet)
//   @store domain D  @store user ADDRESS [PASSWORD]  @relay  @sender USER ADDRESS
//   @password temporary   @deliver refuse ADDRESS CODE STATUS TEXT...
//   @free-space N    seed the fake ports (any time); MAIL SIZE= over N octets gets 452 4.3.1
//   @timeout         the driver's watchdog fires: Session::timeout()
//   @starttls        the driver sees wants_starttls() and completes the handshake
//   @closed / @open  the session wants (or does not want) to close
//   @deliveries N    N messages were handed to Deliver so far
//   @envelope GLOB   the last Deliver's envelope, as one line (see describe_envelope)
//   @received GLOB   the last Deliver's Received header, unfolded to one line
//   @body TEXT       the last Deliver's text after the Received header, exactly (escapes)
// Consecutive C lines form one group: the client sends them without waiting. Each script is
// run in every Split: the groups' bytes go to receive() line by line, as one packet, byte by
// byte, and at random (seeded) splits; actions complete as soon as receive() returns.
#pragma once

#include "smtp/ports.hpp"
#include "smtp/session.hpp"

#include <filesystem>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace vpsmail::test {

/// Ports answering from in-memory tables, as the script seeds them.
class FakePorts : public smtp::Ports {
public:
    std::set<std::string> domains;                           ///< local domains
    std::map<std::string, std::string> users;                ///< address (lower case) -> password
    std::map<std::string, std::set<std::string>> senders;    ///< user -> further MAIL FROM addresses
    std::map<std::string, smtp::Reply> delivery_refusals;    ///< recipient (lower case) -> reply
    bool relay = false;
    bool password_temporary = false;
    std::optional<std::uint64_t> free_space;                 ///< absent: room for anything
    std::vector<smtp::Deliver> deliveries;

    /// Local domain: known users are accepted, others 550 5.1.1; <Postmaster> is accepted;
    /// remote: accepted when relay_allowed and no source route, else 550 5.7.1.
    smtp::Verdict check_recipient(const smtp::RecipientQuery& query) override;
    /// The user's own address, <>, and the addresses @sender gave.
    smtp::Verdict check_sender(const std::string& user, const smtp::MailFrom& mail) override;
    bool may_relay(const std::string& peer_address) override;
    /// Always 2024-01-02 03:04:05 UTC.
    std::chrono::system_clock::time_point now() override;
    /// 452 4.3.1 for a size over free_space.
    smtp::Verdict check_space(std::uint64_t size) override;

    /// Runs an Action as the server would, at once.
    smtp::ActionResult run(const smtp::Action& action);
};

/// "from=<a@b> to=<c@d>,<e@f> notify(c@d)=SUCCESS,FAILURE orcpt(c@d)=rfc822;x@y body=8BITMIME
/// undeclared_8bit smtputf8 ret=HDRS envid=X user=U id=I": the fields that are set, in this
/// order.
std::string describe_envelope(const smtp::Deliver& deliver);

struct DialogueStep {
    int line = 0;
    std::string kind;  ///< "C", "S", "S+", or the directive name ("@store")
    std::string text;  ///< C: the bytes to send; S: the pattern; @: the arguments
};

struct Dialogue {
    std::string name;     ///< path relative to the dialogue root, for messages and seeds
    std::string purpose;  ///< the first comment line
    std::vector<DialogueStep> steps;
};

enum class Split { lines, packet, bytes, random };
inline constexpr Split all_splits[] = {Split::lines, Split::packet, Split::bytes, Split::random};
const char* split_name(Split split) noexcept;

/// Parses a script. Throws std::runtime_error naming the line for an unknown item.
Dialogue parse_dialogue(const std::string& text, const std::string& name);

/// Reads and parses a .dlg file; name is its path relative to `root`.
Dialogue load_dialogue(const std::filesystem::path& file, const std::filesystem::path& root);

/// Every .dlg file under root, sorted.
std::vector<std::filesystem::path> find_dialogues(const std::filesystem::path& root);

/// Runs the script; returns "" when everything matched, else "name:line: ..." describing the
/// first difference (want, got, split).
std::string run_dialogue(const Dialogue& dialogue, Split split);

/// "*" matches any run of characters; everything else matches itself.
bool glob_match(std::string_view pattern, std::string_view text);

/// Decodes \r \n \t \\ \xNN; throws std::runtime_error on a bad escape.
std::string unescape(std::string_view text);

}  // namespace vpsmail::test
