#include "support/dialogue.hpp"

#include "core/address.hpp"
#include "core/error.hpp"

#include <algorithm>
#include <cstdint>
#include <deque>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <stdexcept>

namespace vpsmail::test {
namespace {

using smtp::Reply;
using smtp::ReplyId;
using smtp::Verdict;

std::string lower(const std::string& s) { return lower_ascii(s); }

std::vector<std::string> words(std::string_view text) {
    std::vector<std::string> out;
    std::istringstream in{std::string(text)};
    std::string w;
    while (in >> w) out.push_back(w);
    return out;
}

// Shows bytes in messages: control bytes escaped so a CR or LF is visible.
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

std::uint64_t fnv1a(std::string_view text) {
    std::uint64_t h = 14695981039346656037ull;
    for (unsigned char c : text) {
        h ^= c;
        h *= 1099511628211ull;
    }
    return h;
}

std::string notify_text(const smtp::Notify& n) {
    std::string out;
    if (n.never) out = "NEVER";
    for (auto [on, name] : {std::pair{n.success, "SUCCESS"}, {n.failure, "FAILURE"}, {n.delay, "DELAY"}}) {
        if (!on) continue;
        if (!out.empty()) out += ',';
        out += name;
    }
    return out;
}

const char* body_name(smtp::Body body) {
    switch (body) {
    case smtp::Body::unspecified: return "";
    case smtp::Body::seven_bit: return "7BIT";
    case smtp::Body::eight_bit_mime: return "8BITMIME";
    case smtp::Body::binary_mime: return "BINARYMIME";
    }
    return "";
}

// The header lines at the top of `message` that belong to the first (Received) field.
std::size_t received_length(std::string_view message) {
    std::size_t pos = 0;
    while (true) {
        auto eol = message.find("\r\n", pos);
        if (eol == std::string_view::npos) return message.size();
        pos = eol + 2;
        if (pos >= message.size() || (message[pos] != '\t' && message[pos] != ' ')) return pos;
    }
}

// The directives that configure the session, so they come before it starts.
constexpr std::string_view session_settings[] = {"@mode", "@tls", "@loopback", "@peer", "@max-size",
                                                 "@max-recipients", "@max-bad-commands", "@strict-8bitmime", "@splits"};
// The directives that seed the fake ports, at any time.
constexpr std::string_view port_seeds[] = {"@store", "@relay", "@sender", "@password", "@deliver", "@free-space"};

class Runner {
public:
    Runner(const Dialogue& dialogue, Split split)
        : dialogue_(dialogue), split_(split), random_(fnv1a(dialogue.name)) {
        config_.hostname = "mx.example.org";
        config_.session_id = "S1";
        config_.peer_address = "192.0.2.1";
        config_.max_message_size = 10 * 1024 * 1024;
        config_.max_recipients = 100;
    }

    std::string run() {
        try {
            if (!in_splits()) return "";
            for (const auto& step : dialogue_.steps) {
                line_ = step.line;
                if (step.kind == "C") {
                    start_session();
                    group_.push_back(step.text);
                    continue;
                }
                // Settings wait for the session; seeds apply after the client's pending lines.
                bool setting = std::find(std::begin(session_settings), std::end(session_settings), step.kind) !=
                               std::end(session_settings);
                bool seed = std::find(std::begin(port_seeds), std::end(port_seeds), step.kind) != std::end(port_seeds);
                if (!setting && (!seed || session_)) {
                    start_session();
                    flush();
                }
                if (!configure(step)) perform(step);
                if (!failure_.empty()) return failure_;
            }
            start_session();
            flush();
            if (failure_.empty() && !lines_.empty())
                fail("the server said more than the script expects: '" + visible(lines_.front()) + "'");
        } catch (const std::exception& e) {
            fail(std::string("exception: ") + e.what());
        }
        return failure_;
    }

private:
    // The script's @splits name this run's split, or it has none.
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

    // Session settings and port seeds; false for the steps that act on the session.
    bool configure(const DialogueStep& step) {
        const std::string& k = step.kind;
        auto args = words(step.text);
        auto arg = [&](std::size_t i) -> const std::string& {
            if (i >= args.size()) throw std::runtime_error(k + " needs more arguments");
            return args[i];
        };
        auto session_setting = [&] {
            if (session_) throw std::runtime_error(k + " must come before the first C: or S: line");
        };
        if (k == "@mode") {
            session_setting();
            const std::string& m = arg(0);
            if (m == "mx") config_.mode = smtp::Mode::mx;
            else if (m == "submission") config_.mode = smtp::Mode::submission;
            else if (m == "submissions") {  // implies @tls active
                config_.mode = smtp::Mode::submissions;
                config_.tls_active = true;
            } else throw std::runtime_error("unknown mode " + m);
        } else if (k == "@tls") {
            session_setting();
            const std::string& t = arg(0);
            config_.tls_available = t != "none";
            config_.tls_active = t == "active";
        } else if (k == "@loopback") {
            session_setting();
            config_.peer_loopback = true;
            config_.peer_address = "127.0.0.1";
        } else if (k == "@peer") {
            session_setting();
            config_.peer_address = arg(0);
            config_.peer_name = args.size() > 1 ? args[1] : "";
        } else if (k == "@max-size") {
            session_setting();
            config_.max_message_size = std::stoull(arg(0));
        } else if (k == "@max-recipients") {
            session_setting();
            config_.max_recipients = std::stoul(arg(0));
        } else if (k == "@max-bad-commands") {
            session_setting();
            config_.max_bad_commands = std::stoi(arg(0));
        } else if (k == "@strict-8bitmime") {
            session_setting();
            config_.strict_8bitmime = true;
        } else if (k == "@splits") {
            session_setting();  // read by in_splits()
        } else if (k == "@free-space") {
            ports_.free_space = std::stoull(arg(0));
        } else if (k == "@store") {
            if (arg(0) == "domain") ports_.domains.insert(lower(arg(1)));
            else if (arg(0) == "user") ports_.users[lower(arg(1))] = args.size() > 2 ? args[2] : "";
            else throw std::runtime_error("@store domain|user");
        } else if (k == "@relay") {
            ports_.relay = true;
        } else if (k == "@sender") {
            ports_.senders[lower(arg(0))].insert(lower(arg(1)));
        } else if (k == "@password") {
            ports_.password_temporary = arg(0) == "temporary";
        } else if (k == "@deliver") {
            if (arg(0) != "refuse") throw std::runtime_error("@deliver refuse ADDRESS CODE STATUS TEXT");
            std::string text;
            for (std::size_t i = 4; i < args.size(); ++i) text += (text.empty() ? "" : " ") + args[i];
            ports_.delivery_refusals[lower(arg(1))] = Reply{std::stoi(arg(2)), arg(3), text};
        } else {
            return false;
        }
        return true;
    }

    void start_session() {
        if (session_) return;
        session_ = std::make_unique<smtp::Session>(config_, ports_);
        session_->start();
        collect();
    }

    // Sends the pending group of client lines, split as this run asks.
    void flush() {
        if (group_.empty()) return;
        if (!lines_.empty()) {
            fail("the client speaks while the server line '" + visible(lines_.front()) + "' was not expected");
            group_.clear();
            return;
        }
        std::string all;
        for (const auto& g : group_) all += g;
        switch (split_) {
        case Split::lines:
            for (const auto& g : group_) send(g);
            break;
        case Split::packet: send(all); break;
        case Split::bytes:
            for (char c : all) send(std::string(1, c));
            break;
        case Split::random:
            for (std::size_t i = 0; i < all.size();) {
                std::size_t n = std::uniform_int_distribution<std::size_t>(1, 13)(random_);
                send(all.substr(i, n));
                i += n;
            }
            break;
        }
        group_.clear();
    }

    void send(const std::string& bytes) {
        session_->receive(std::span<const char>(bytes.data(), bytes.size()));
        collect();
    }

    // Runs actions as the driver does, then splits the output into lines.
    void collect() {
        while (auto action = session_->take_action()) {
            if (auto* d = std::get_if<smtp::Deliver>(&*action)) last_delivery_ = *d;
            session_->complete(ports_.run(*action));
        }
        pending_output_ += session_->take_output();
        std::size_t pos;
        while ((pos = pending_output_.find("\r\n")) != std::string::npos) {
            lines_.push_back(pending_output_.substr(0, pos));
            pending_output_.erase(0, pos + 2);
        }
        if (pending_output_.find('\n') != std::string::npos || pending_output_.find('\r') != std::string::npos)
            fail("the server wrote a bare CR or LF: '" + visible(pending_output_) + "'");
    }

    void perform(const DialogueStep& step) {
        const std::string& k = step.kind;
        if (k == "S") {
            if (lines_.empty()) return fail("want '" + step.text + "', got nothing");
            std::string got = lines_.front();
            lines_.pop_front();
            if (!glob_match(step.text, got)) fail("want '" + step.text + "', got '" + visible(got) + "'");
        } else if (k == "S+") {
            while (!lines_.empty()) {
                std::string got = lines_.front();
                lines_.pop_front();
                if (glob_match(step.text, got)) return;
            }
            fail("want a line '" + step.text + "', none came");
        } else if (k == "@timeout") {
            session_->timeout();
            collect();
        } else if (k == "@starttls") {
            if (!session_->wants_starttls()) return fail("want wants_starttls(), the session does not");
            session_->tls_started();
            collect();
        } else if (k == "@closed") {
            if (!session_->wants_close()) fail("want wants_close(), the session stays open");
        } else if (k == "@open") {
            if (session_->wants_close()) fail("want an open session, it wants to close");
        } else if (k == "@deliveries") {
            auto want = std::stoul(step.text);
            if (ports_.deliveries.size() != want)
                fail("want " + std::to_string(want) + " deliveries, got " + std::to_string(ports_.deliveries.size()));
        } else if (k == "@envelope" || k == "@received" || k == "@body") {
            if (!last_delivery_) return fail("want " + k + ", nothing was delivered");
            const std::string& message = last_delivery_->message;
            std::size_t header = received_length(message);
            if (k == "@envelope") {
                std::string got = describe_envelope(*last_delivery_);
                if (!glob_match(step.text, got)) fail("want envelope '" + step.text + "', got '" + got + "'");
            } else if (k == "@received") {
                std::string got = message.substr(0, header);
                if (got.ends_with("\r\n")) got.resize(got.size() - 2);
                std::string unfolded;
                for (std::size_t i = 0; i < got.size(); ++i) {
                    if (got.compare(i, 3, "\r\n\t") == 0) {
                        unfolded += ' ';
                        i += 2;
                    } else {
                        unfolded += got[i];
                    }
                }
                if (!glob_match(step.text, unfolded)) fail("want Received '" + step.text + "', got '" + visible(unfolded) + "'");
            } else {
                std::string want = unescape(step.text);
                std::string got = message.substr(header);
                if (got != want) fail("want body '" + visible(want) + "', got '" + visible(got) + "'");
            }
        } else {
            throw std::runtime_error("unknown directive " + k);
        }
    }

    const Dialogue& dialogue_;
    Split split_;
    std::mt19937_64 random_;
    smtp::SessionConfig config_;
    FakePorts ports_;
    std::unique_ptr<smtp::Session> session_;
    std::vector<std::string> group_;
    std::string pending_output_;
    std::deque<std::string> lines_;
    std::optional<smtp::Deliver> last_delivery_;
    std::string failure_;
    int line_ = 0;
};

}  // namespace

smtp::Verdict FakePorts::check_recipient(const smtp::RecipientQuery& query) {
    const Address& a = query.recipient;
    if (a.bare()) return Verdict::accept();  // only <Postmaster> parses without a domain
    if (domains.count(a.domain)) {
        if (users.count(lower(a.str()))) return Verdict::accept();
        return Verdict::refuse(smtp::reply(ReplyId::recipient_unknown));
    }
    if (query.source_route) return Verdict::refuse(smtp::reply(ReplyId::relay_denied, "(source route)"));
    if (query.relay_allowed) return Verdict::accept();
    return Verdict::refuse(smtp::reply(ReplyId::relay_denied));
}

smtp::Verdict FakePorts::check_sender(const std::string& user, const smtp::MailFrom& mail) {
    if (!mail.sender) return Verdict::accept();
    std::string address = lower(mail.sender->str());
    auto extra = senders.find(lower(user));
    if (address == lower(user) || (extra != senders.end() && extra->second.count(address))) return Verdict::accept();
    return Verdict::refuse(smtp::reply(ReplyId::sender_not_owned));
}

bool FakePorts::may_relay(const std::string&) { return relay; }

smtp::Verdict FakePorts::check_space(std::uint64_t size) {
    if (free_space && size > *free_space) return Verdict::refuse(smtp::reply(ReplyId::insufficient_storage));
    return Verdict::accept();
}

std::chrono::system_clock::time_point FakePorts::now() {
    return std::chrono::system_clock::time_point(std::chrono::seconds(1704164645));  // 2024-01-02 03:04:05 UTC
}

smtp::ActionResult FakePorts::run(const smtp::Action& action) {
    if (auto* verify = std::get_if<smtp::VerifyPassword>(&action)) {
        if (password_temporary) return smtp::PasswordResult::temporary_failure;
        auto user = users.find(lower(verify->username));
        bool ok = user != users.end() && user->second == verify->password;
        return ok ? smtp::PasswordResult::ok : smtp::PasswordResult::bad;
    }
    const auto& deliver = std::get<smtp::Deliver>(action);
    deliveries.push_back(deliver);
    smtp::DeliveryResult result;
    for (const auto& r : deliver.envelope.recipients) {
        auto refusal = delivery_refusals.find(lower(r.address.str()));
        result.recipients.push_back(refusal == delivery_refusals.end() ? Verdict::accept() : Verdict::refuse(refusal->second));
    }
    return result;
}

std::string describe_envelope(const smtp::Deliver& deliver) {
    const auto& e = deliver.envelope;
    std::string out = "from=<" + (e.return_path ? e.return_path->str() : "") + ">";
    std::string to;
    for (const auto& r : e.recipients) to += (to.empty() ? "" : ",") + ("<" + r.address.str() + ">");
    out += " to=" + to;
    for (const auto& r : e.recipients) {
        if (r.notify) out += " notify(" + r.address.str() + ")=" + notify_text(*r.notify);
        if (r.orcpt) out += " orcpt(" + r.address.str() + ")=" + r.orcpt->type + ";" + r.orcpt->address;
    }
    if (e.body != smtp::Body::unspecified) out += std::string(" body=") + body_name(e.body);
    if (deliver.undeclared_8bit) out += " undeclared_8bit";
    if (e.smtputf8) out += " smtputf8";
    if (e.ret == smtp::Ret::full) out += " ret=FULL";
    if (e.ret == smtp::Ret::headers) out += " ret=HDRS";
    if (!e.envid.empty()) out += " envid=" + e.envid;
    if (!deliver.authenticated_user.empty()) out += " user=" + deliver.authenticated_user;
    out += " id=" + e.id;
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
        auto rest = [&](std::size_t n) { return line.size() > n ? line.substr(n + 1) : std::string(); };
        if (line.starts_with("C:")) {
            step.kind = "C";
            step.text = rest(2) + "\r\n";
        } else if (line.starts_with("C=")) {
            step.kind = "C";
            step.text = unescape(rest(2));
        } else if (line.starts_with("S+")) {
            step.kind = "S+";
            step.text = rest(2);
        } else if (line.starts_with("S:")) {
            step.kind = "S";
            step.text = rest(2);
        } else if (line.front() == '@') {
            auto space = line.find(' ');
            step.kind = line.substr(0, space);
            step.text = space == std::string::npos ? "" : line.substr(space + 1);
        } else {
            throw std::runtime_error(where() + "unknown line '" + line + "'");
        }
        if ((step.kind == "C" || step.kind == "S" || step.kind == "S+") && line.size() > 2 && line[2] != ' ')
            throw std::runtime_error(where() + "a space must follow " + line.substr(0, 2));
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

std::string run_dialogue(const Dialogue& dialogue, Split split) { return Runner(dialogue, split).run(); }

}  // namespace vpsmail::test
