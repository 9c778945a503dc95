// The dialogue engine (docs/architecture.md section 12), protocol-neutral: parses a scripted
// conversation (.dlg file) and replays it against server::Conversations, the way src/net drives
// them but without a socket, reporting the first difference. What a protocol adds (its session,
// its ports, its own @ directives) comes from a DialogueAdapter: smtp_dialogue.hpp (smtp::Session
// over fake ports), real_dialogue.hpp (the real services over a temporary store and Maildir).
//
// Format, one item per line; blank lines are skipped, "#" lines are comments and the first
// line must be one saying what the case proves:
//   C: text          the client sends text + CRLF
//   C= bytes         the client sends bytes as written, with \r \n \t \\ \xNN escapes, no CRLF
//   S: text          the next server line is text; "*" matches any run of characters
//   S+ text          server lines are skipped up to one that matches
//   S~ text          consecutive S~ lines: the next that many server lines match them in any
//                    order (IMAP's untagged lines); each line takes the first pattern it matches
//   C2: C2= S2: S2+ S2~
//                    the same on a second connection, opened at its first line (same world)
//   $NAME            (upper case letters, digits, _) in an S pattern matches like "*" and
//                    captures the text the first time; afterwards, and in C lines, it stands for
//                    what it captured
//   @splits lines|packet|bytes|random ...
//                    run the script only in these splits
//   @timeout         the driver's watchdog fires: Conversation::timeout()
//   @starttls        the driver sees wants_starttls() and completes the handshake
//   @closed / @open  the session wants (or does not want) to close
//   @wake            the driver runs Conversation::wake()
// (any of these act on the first connection; other "@" lines are the adapter's).
// Consecutive C lines form one group: the client sends them without waiting. Each script is
// run in every Split: the groups' bytes go to receive() line by line, as one packet, byte by
// byte, and at random (seeded) splits; Jobs run as soon as receive() returns, and output is
// pulled in pieces of at most output_piece bytes when the script reads it.
#pragma once

#include "server/conversation.hpp"

#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace vpsmail::test {

struct DialogueStep {
    int line = 0;
    int connection = 1;  ///< 1, or 2 for C2/S2 lines
    std::string kind;    ///< "C", "S", "S+", "S~", or the directive name ("@store")
    std::string text;    ///< C: the bytes to send; S: the pattern; @: the arguments
};

struct Dialogue {
    std::string name;     ///< path relative to the dialogue root, for messages and seeds
    std::string purpose;  ///< the first comment line
    std::vector<DialogueStep> steps;
};

enum class Split { lines, packet, bytes, random };
inline constexpr Split all_splits[] = {Split::lines, Split::packet, Split::bytes, Split::random};
const char* split_name(Split split) noexcept;

/// What an adapter's "@" directive is.
enum class Directive {
    unknown,
    setting,  ///< configures the sessions: only before the first C or S line
    seed,     ///< changes the world (store, ports) at any time, after the client's pending lines
    check,    ///< asserts on the world (what was delivered), after the pending lines and Jobs
};

/// One protocol's part of a dialogue run: its directives and its Conversations.
class DialogueAdapter {
public:
    virtual ~DialogueAdapter() = default;
    virtual Directive classify(const std::string& kind) const = 0;
    /// Applies a setting or a seed. Throws std::runtime_error for bad arguments.
    virtual void apply(const std::string& kind, const std::vector<std::string>& args) = 0;
    /// Runs a check; "" when it holds, else what differs.
    virtual std::string check(const std::string& kind, const std::string& text) = 0;
    /// Connection 1 or 2, opened once each, after the settings.
    virtual std::unique_ptr<server::Conversation> open(int connection) = 0;
};

using AdapterFactory = std::function<std::unique_ptr<DialogueAdapter>()>;

/// What a run measured, for tests of the engine and the driver.
struct DialogueStats {
    std::size_t largest_piece = 0;     ///< the longest take_output() result
    std::size_t most_buffered = 0;     ///< the most output bytes the engine held at once
    std::size_t bytes_received = 0;    ///< output bytes pulled, every connection
};

/// Parses a script. Throws std::runtime_error naming the line for an unknown item.
Dialogue parse_dialogue(const std::string& text, const std::string& name);

/// Reads and parses a .dlg file; name is its path relative to `root`.
Dialogue load_dialogue(const std::filesystem::path& file, const std::filesystem::path& root);

/// Every .dlg file under root, sorted.
std::vector<std::filesystem::path> find_dialogues(const std::filesystem::path& root);

/// Runs the script with a fresh adapter; returns "" when everything matched, else
/// "name:line: ..." describing the first difference (want, got, split).
std::string run_dialogue(const Dialogue& dialogue, Split split, const AdapterFactory& adapter, DialogueStats* stats = nullptr);

/// "*" matches any run of characters; everything else matches itself.
bool glob_match(std::string_view pattern, std::string_view text);

/// Decodes \r \n \t \\ \xNN; throws std::runtime_error on a bad escape.
std::string unescape(std::string_view text);

/// `text` with control bytes escaped, so that a CR or LF shows in a message.
std::string visible(std::string_view text);

/// The whitespace-separated words of `text`.
std::vector<std::string> words(std::string_view text);

}  // namespace vpsmail::test
