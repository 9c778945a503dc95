#include "support/dialogue.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <deque>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>

namespace vpsmail::test {
namespace {

std::uint64_t fnv1a(std::string_view text) {
    std::uint64_t h = 14695981039346656037ull;
    for (unsigned char c : text) {
        h ^= c;
        h *= 1099511628211ull;
    }
    return h;
}

// The engine's own directives, which act on the first connection.
constexpr std::string_view engine_directives[] = {"@timeout", "@starttls", "@closed", "@open", "@wake"};

bool name_char(char c, bool first) {
    return (c >= 'A' && c <= 'Z') || c == '_' || (!first && c >= '0' && c <= '9');
}

// The length of a capture name at text[at] ('$' excluded), 0 when none starts there.
std::size_t capture_length(std::string_view text, std::size_t at) {
    std::size_t n = 0;
    while (at + n < text.size() && name_char(text[at + n], n == 0)) ++n;
    return n;
}

using Captures = std::map<std::string, std::string, std::less<>>;

// `text` with every bound $NAME replaced by its value.
std::string substitute(std::string_view text, const Captures& captures) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '$') {
            const std::size_t n = capture_length(text, i + 1);
            if (n > 0) {
                if (auto it = captures.find(text.substr(i + 1, n)); it != captures.end()) {
                    out += it->second;
                    i += n;
                    continue;
                }
            }
        }
        out += text[i];
    }
    return out;
}

// Glob matching where an unbound $NAME is a "*" that captures (backtracking; patterns are short).
bool capture_match(std::string_view p, std::string_view t, Captures& bound) {
    if (p.empty()) return t.empty();
    if (p[0] == '*') {
        for (std::size_t k = 0; k <= t.size(); ++k)
            if (capture_match(p.substr(1), t.substr(k), bound)) return true;
        return false;
    }
    if (p[0] == '$') {
        const std::size_t n = capture_length(p, 1);
        if (n > 0) {
            const std::string name(p.substr(1, n));
            for (std::size_t k = 0; k <= t.size(); ++k) {
                Captures trial = bound;
                trial[name] = std::string(t.substr(0, k));
                if (capture_match(p.substr(1 + n), t.substr(k), trial)) {
                    bound = std::move(trial);
                    return true;
                }
            }
            return false;
        }
    }
    return !t.empty() && p[0] == t[0] && capture_match(p.substr(1), t.substr(1), bound);
}

// One connection of the run.
struct Link {
    std::unique_ptr<server::Conversation> conversation;
    std::vector<std::string> group;  // client lines not sent yet
    std::string partial;             // output after the last CRLF
    std::deque<std::string> lines;   // output lines not read yet
    std::size_t buffered = 0;        // bytes in partial and lines
};

class Engine {
public:
    Engine(const Dialogue& dialogue, Split split, std::unique_ptr<DialogueAdapter> adapter, DialogueStats* stats)
        : dialogue_(dialogue), split_(split), adapter_(std::move(adapter)), stats_(stats), random_(fnv1a(dialogue.name)) {}

    std::string run() {
        try {
            if (!in_splits()) return "";
            const auto& steps = dialogue_.steps;
            for (std::size_t i = 0; i < steps.size() && failure_.empty(); ++i) {
                const DialogueStep& step = steps[i];
                line_ = step.line;
                Link& link = links_[step.connection - 1];
                if (step.kind == "C") {
                    open(step.connection);
                    flush_others(step.connection);
                    link.group.push_back(substitute(step.text, captures_));
                    continue;
                }
                if (step.kind == "S" || step.kind == "S+" || step.kind == "S~") {
                    open(step.connection);
                    flush_all();
                    if (step.kind == "S~") {
                        std::size_t end = i;
                        while (end < steps.size() && steps[end].kind == "S~" && steps[end].connection == step.connection) ++end;
                        expect_any_order(link, i, end);
                        i = end - 1;
                    } else {
                        expect(link, step);
                    }
                    continue;
                }
                directive(step);
            }
            if (failure_.empty()) {
                open(1);
                flush_all();
                for (auto& l : links_) {
                    if (!l.conversation) continue;
                    drain(l);
                    if (failure_.empty() && !l.lines.empty())
                        fail("the server said more than the script expects: '" + visible(l.lines.front()) + "'");
                }
            }
        } catch (const std::exception& e) {
            fail(std::string("exception: ") + e.what());
        }
        return failure_;
    }

private:
    bool in_splits() const {
        for (const auto& step : dialogue_.steps) {
            if (step.kind != "@splits") continue;
            auto names = words(step.text);
            if (names.empty()) throw std::runtime_error("@splits needs split names");
            for (const auto& n : names)
                if (n != "lines" && n != "packet" && n != "bytes" && n != "random")
                    throw std::runtime_error("@splits: unknown split " + n);
            return std::find(names.begin(), names.end(), split_name(split_)) != names.end();
        }
        return true;
    }

    void fail(const std::string& what) {
        if (failure_.empty())
            failure_ = dialogue_.name + ":" + std::to_string(line_) + ": " + what + " (split: " + split_name(split_) + ")";
    }

    bool started() const { return links_[0].conversation || links_[1].conversation; }

    void open(int connection) {
        Link& link = links_[connection - 1];
        if (link.conversation) return;
        link.conversation = adapter_->open(connection);
        link.conversation->start();
        run_jobs(link);
    }

    void directive(const DialogueStep& step) {
        const std::string& k = step.kind;
        if (k == "@splits") {
            if (started()) throw std::runtime_error(k + " must come before the first C: or S: line");
            return;  // read by in_splits()
        }
        const bool engine = std::find(std::begin(engine_directives), std::end(engine_directives), k) != std::end(engine_directives);
        const Directive kind = engine ? Directive::check : adapter_->classify(k);
        if (kind == Directive::unknown) throw std::runtime_error("unknown directive " + k);
        if (kind == Directive::setting) {
            if (started()) throw std::runtime_error(k + " must come before the first C: or S: line");
            adapter_->apply(k, words(step.text));
            return;
        }
        if (kind == Directive::seed) {
            if (started()) flush_all();
            adapter_->apply(k, words(step.text));
            return;
        }
        open(1);
        flush_all();
        if (engine) return perform(k);
        if (std::string why = adapter_->check(k, substitute(step.text, captures_)); !why.empty()) fail(why);
    }

    void perform(const std::string& k) {
        Link& link = links_[0];
        server::Conversation& c = *link.conversation;
        if (k == "@timeout") {
            c.timeout();
        } else if (k == "@starttls") {
            drain(link);  // the reply to STARTTLS goes out in plaintext first
            if (!c.wants_starttls()) return fail("want wants_starttls(), the session does not");
            c.tls_started("TLSv1.3", "TLS_AES_128_GCM_SHA256");
        } else if (k == "@closed") {
            if (!c.wants_close()) fail("want wants_close(), the session stays open");
        } else if (k == "@open") {
            if (c.wants_close()) fail("want an open session, it wants to close");
        } else if (k == "@wake") {
            c.wake();
        }
        run_jobs(link);
    }

    // Jobs run at once, on this thread: the worker part, then the part for the connection.
    void run_jobs(Link& link) {
        while (auto job = link.conversation->take_job()) (*job)()();
    }

    // Pulls one piece of output into lines; false when there is none.
    bool pull(Link& link) {
        std::string piece = link.conversation->take_output(server::output_piece);
        if (piece.empty()) return false;
        if (stats_) {
            stats_->largest_piece = std::max(stats_->largest_piece, piece.size());
            stats_->bytes_received += piece.size();
        }
        link.partial += piece;
        std::size_t start = 0, pos;
        while ((pos = link.partial.find("\r\n", start)) != std::string::npos) {
            link.lines.push_back(link.partial.substr(start, pos - start));
            start = pos + 2;
        }
        link.partial.erase(0, start);
        link.buffered += piece.size();
        if (stats_) stats_->most_buffered = std::max(stats_->most_buffered, link.buffered);
        std::string_view rest = link.partial;  // a CR at the end may be a CRLF cut by the piece
        if (!rest.empty() && rest.back() == '\r') rest.remove_suffix(1);
        if (rest.find_first_of("\r\n") != std::string_view::npos) fail("the server wrote a bare CR or LF: '" + visible(link.partial) + "'");
        return true;
    }

    void drain(Link& link) {
        while (pull(link)) {
        }
    }

    // The next output line, pulled as needed.
    std::optional<std::string> next_line(Link& link) {
        while (link.lines.empty())
            if (!pull(link)) return std::nullopt;
        std::string line = std::move(link.lines.front());
        link.lines.pop_front();
        link.buffered -= line.size() + 2;
        return line;
    }

    bool matches(const std::string& pattern, const std::string& line) {
        Captures trial = captures_;
        if (!capture_match(substitute(pattern, captures_), line, trial)) return false;
        captures_ = std::move(trial);
        return true;
    }

    void expect(Link& link, const DialogueStep& step) {
        if (step.kind == "S") {
            auto got = next_line(link);
            if (!got) return fail("want '" + step.text + "', got nothing");
            if (!matches(step.text, *got)) fail("want '" + step.text + "', got '" + visible(*got) + "'");
            return;
        }
        while (auto got = next_line(link))
            if (matches(step.text, *got)) return;
        fail("want a line '" + step.text + "', none came");
    }

    void expect_any_order(Link& link, std::size_t begin, std::size_t end) {
        std::vector<bool> used(end - begin, false);
        for (std::size_t n = begin; n < end; ++n) {
            auto got = next_line(link);
            if (!got) return fail("want " + std::to_string(end - n) + " more S~ lines, got nothing");
            bool found = false;
            for (std::size_t k = begin; k < end && !found; ++k)
                if (!used[k - begin] && matches(dialogue_.steps[k].text, *got)) used[k - begin] = found = true;
            if (!found) fail("got '" + visible(*got) + "', which no S~ line left matches");
        }
    }

    void flush_others(int connection) {
        for (int k = 1; k <= 2; ++k)
            if (k != connection) flush(links_[k - 1]);
    }

    void flush_all() {
        for (auto& link : links_) flush(link);
    }

    // Sends the pending group of client lines, split as this run asks.
    void flush(Link& link) {
        if (link.group.empty()) return;
        drain(link);
        if (!link.lines.empty()) {
            fail("the client speaks while the server line '" + visible(link.lines.front()) + "' was not expected");
            link.group.clear();
            return;
        }
        std::string all;
        for (const auto& g : link.group) all += g;
        switch (split_) {
        case Split::lines:
            for (const auto& g : link.group) send(link, g);
            break;
        case Split::packet: send(link, all); break;
        case Split::bytes:
            for (char c : all) send(link, std::string(1, c));
            break;
        case Split::random:
            for (std::size_t i = 0; i < all.size();) {
                std::size_t n = std::uniform_int_distribution<std::size_t>(1, 13)(random_);
                send(link, all.substr(i, n));
                i += n;
            }
            break;
        }
        link.group.clear();
    }

    void send(Link& link, const std::string& bytes) {
        link.conversation->receive(bytes);
        run_jobs(link);
    }

    const Dialogue& dialogue_;
    Split split_;
    std::unique_ptr<DialogueAdapter> adapter_;
    DialogueStats* stats_;
    std::mt19937_64 random_;
    Link links_[2];
    Captures captures_;
    std::string failure_;
    int line_ = 0;
};

}  // namespace

std::vector<std::string> words(std::string_view text) {
    std::vector<std::string> out;
    std::istringstream in{std::string(text)};
    std::string w;
    while (in >> w) out.push_back(w);
    return out;
}

std::string visible(std::string_view text) {
    std::string out;
    for (unsigned char c : text) {
        if (c == '\r') out += "\\r";
        else if (c == '\n') out += "\\n";
        else if (c == '\t') out += "\\t";
        else if (c < 0x20 || c == 0x7f) {
            static constexpr char hex[] = "0123456789abcdef";
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 15];
        } else {
            out += static_cast<char>(c);
        }
    }
    return out;
}

const char* split_name(Split split) noexcept {
    switch (split) {
    case Split::lines: return "lines";
    case Split::packet: return "packet";
    case Split::bytes: return "bytes";
    case Split::random: return "random";
    }
    return "?";
}

std::string unescape(std::string_view text) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '\\') {
            out += text[i];
            continue;
        }
        if (++i >= text.size()) throw std::runtime_error("a '\\' ends the line");
        switch (text[i]) {
        case 'r': out += '\r'; break;
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case '\\': out += '\\'; break;
        case 'x': {
            auto digit = [&](std::size_t at) {
                char c = at < text.size() ? text[at] : '\0';
                if (c >= '0' && c <= '9') return c - '0';
                if (c >= 'a' && c <= 'f') return c - 'a' + 10;
                if (c >= 'A' && c <= 'F') return c - 'A' + 10;
                throw std::runtime_error("\\x needs two hex digits");
            };
            out += static_cast<char>(digit(i + 1) * 16 + digit(i + 2));
            i += 2;
            break;
        }
        default: throw std::runtime_error(std::string("unknown escape \\") + text[i]);
        }
    }
    return out;
}

bool glob_match(std::string_view pattern, std::string_view text) {
    // Iterative matching with one backtrack point: the last '*'.
    std::size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
    while (t < text.size()) {
        if (p < pattern.size() && pattern[p] == '*') {
            star = p++;
            mark = t;
        } else if (p < pattern.size() && pattern[p] == text[t]) {
            ++p;
            ++t;
        } else if (star != std::string_view::npos) {
            p = star + 1;
            t = ++mark;
        } else {
            return false;
        }
    }
    while (p < pattern.size() && pattern[p] == '*') ++p;
    return p == pattern.size();
}

Dialogue parse_dialogue(const std::string& text, const std::string& name) {
    Dialogue d;
    d.name = name;
    std::istringstream in(text);
    std::string line;
    int number = 0;
    while (std::getline(in, line)) {
        ++number;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        auto where = [&] { return name + ":" + std::to_string(number) + ": "; };
        if (number == 1) {
            if (!line.starts_with("# ") || line.size() < 4)
                throw std::runtime_error(where() + "the first line must be '# what this case proves'");
            d.purpose = line.substr(2);
            continue;
        }
        if (line.empty() || line.front() == '#') continue;
        DialogueStep step;
        step.line = number;
        if (line.front() == '@') {
            auto space = line.find(' ');
            step.kind = line.substr(0, space);
            step.text = space == std::string::npos ? "" : line.substr(space + 1);
            d.steps.push_back(step);
            continue;
        }
        // "C:" or "C2:": the side, an optional connection number, the mark.
        std::size_t at = 1;
        if (line.size() > 1 && line[1] == '2') {
            step.connection = 2;
            at = 2;
        }
        const char side = line.front();
        const char mark = line.size() > at ? line[at] : '\0';
        const std::string head = line.substr(0, at + 1);
        const std::string rest = line.size() > at + 2 ? line.substr(at + 2) : std::string();
        if (side == 'C' && mark == ':') {
            step.kind = "C";
            step.text = rest + "\r\n";
        } else if (side == 'C' && mark == '=') {
            step.kind = "C";
            step.text = unescape(rest);
        } else if (side == 'S' && (mark == ':' || mark == '+' || mark == '~')) {
            step.kind = mark == ':' ? "S" : std::string("S") + mark;
            step.text = rest;
        } else {
            throw std::runtime_error(where() + "unknown line '" + line + "'");
        }
        if (line.size() > at + 1 && line[at + 1] != ' ') throw std::runtime_error(where() + "a space must follow " + head);
        d.steps.push_back(step);
    }
    return d;
}

Dialogue load_dialogue(const std::filesystem::path& file, const std::filesystem::path& root) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + file.string());
    std::stringstream text;
    text << in.rdbuf();
    return parse_dialogue(text.str(), std::filesystem::relative(file, root).string());
}

std::vector<std::filesystem::path> find_dialogues(const std::filesystem::path& root) {
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(root))
        if (entry.is_regular_file() && entry.path().extension() == ".dlg") files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    return files;
}

std::string run_dialogue(const Dialogue& dialogue, Split split, const AdapterFactory& adapter, DialogueStats* stats) {
    return Engine(dialogue, split, adapter(), stats).run();
}

}  // namespace vpsmail::test
