#include "support/smtp_dialogue.hpp"

#include "core/address.hpp"
#include "core/error.hpp"
#include "server/session_driver.hpp"

#include <algorithm>
#include <stdexcept>

namespace vpsmail::test {
namespace {

using smtp::Reply;
using smtp::ReplyId;
using smtp::Verdict;

std::string lower(const std::string& s) { return lower_ascii(s); }

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

constexpr std::string_view settings[] = {"@mode", "@tls", "@loopback", "@peer", "@max-size",
                                         "@max-recipients", "@max-bad-commands", "@strict-8bitmime"};
constexpr std::string_view seeds[] = {"@store", "@relay", "@sender", "@password", "@deliver", "@free-space"};
constexpr std::string_view checks[] = {"@deliveries", "@envelope", "@received", "@body"};

bool in(std::string_view k, std::span<const std::string_view> list) { return std::find(list.begin(), list.end(), k) != list.end(); }

// One connection: smtp::Session over the shared FakePorts, driven as the SMTP service is.
class FakeConversation final : public server::SessionDriver<smtp::Session> {
public:
    FakeConversation(const smtp::SessionConfig& config, FakePorts& ports, std::optional<smtp::Deliver>& last)
        : SessionDriver(server::Peer{}, session_, server::ConnectionLog::none), ports_(ports), last_(last), session_(config, ports) {}
    std::chrono::seconds idle_timeout() const override { return std::chrono::seconds(300); }
    bool busy() const override { return false; }

private:
    smtp::ActionResult run(const smtp::Action& action) override {
        if (auto* d = std::get_if<smtp::Deliver>(&action)) last_ = *d;
        return ports_.run(action);
    }

    FakePorts& ports_;
    std::optional<smtp::Deliver>& last_;
    smtp::Session session_;
};

class SmtpAdapter final : public DialogueAdapter {
public:
    SmtpAdapter() {
        config_.hostname = "mx.example.org";
        config_.peer_address = "192.0.2.1";
        config_.max_message_size = 10 * 1024 * 1024;
        config_.max_recipients = 100;
    }

    Directive classify(const std::string& k) const override {
        if (in(k, settings)) return Directive::setting;
        if (in(k, seeds)) return Directive::seed;
        if (in(k, checks)) return Directive::check;
        return Directive::unknown;
    }

    void apply(const std::string& k, const std::vector<std::string>& args) override {
        auto arg = [&](std::size_t i) -> const std::string& {
            if (i >= args.size()) throw std::runtime_error(k + " needs more arguments");
            return args[i];
        };
        auto& ports_ = ports;
        if (k == "@mode") {
            const std::string& m = arg(0);
            if (m == "mx") config_.mode = smtp::Mode::mx;
            else if (m == "submission") config_.mode = smtp::Mode::submission;
            else if (m == "submissions") {  // implies @tls active
                config_.mode = smtp::Mode::submissions;
                config_.tls_active = true;
            } else throw std::runtime_error("unknown mode " + m);
        } else if (k == "@tls") {
            const std::string& t = arg(0);
            config_.tls_available = t != "none";
            config_.tls_active = t == "active";
        } else if (k == "@loopback") {
            config_.peer_loopback = true;
            config_.peer_address = "127.0.0.1";
        } else if (k == "@peer") {
            config_.peer_address = arg(0);
            config_.peer_name = args.size() > 1 ? args[1] : "";
        } else if (k == "@max-size") {
            config_.max_message_size = std::stoull(arg(0));
        } else if (k == "@max-recipients") {
            config_.max_recipients = std::stoul(arg(0));
        } else if (k == "@max-bad-commands") {
            config_.max_bad_commands = std::stoi(arg(0));
        } else if (k == "@strict-8bitmime") {
            config_.strict_8bitmime = true;
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
            throw std::runtime_error("unknown directive " + k);
        }
    }

    std::string check(const std::string& k, const std::string& text) override {
        std::string failure_;
        auto fail = [&](const std::string& what) {
            failure_ = what;
            return failure_;
        };
        auto& ports_ = ports;
        auto& last_delivery_ = last;
        const DialogueStep step{0, 1, k, text};
        if (false) {
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
        }
        return failure_;
    }

    std::unique_ptr<server::Conversation> open(int connection) override {
        smtp::SessionConfig c = config_;
        c.session_id = "S" + std::to_string(connection);
        return std::make_unique<FakeConversation>(c, ports, last);
    }

private:
    smtp::SessionConfig config_;
    FakePorts ports;
    std::optional<smtp::Deliver> last;
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

std::unique_ptr<DialogueAdapter> make_smtp_adapter() { return std::make_unique<SmtpAdapter>(); }

}  // namespace vpsmail::test
