#include "smtp/client_session.hpp"

#include "core/error.hpp"
#include "smtp/command.hpp"
#include "wire/base64.hpp"
#include "wire/data.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <utility>

namespace vpsmail::smtp {
namespace {

// A reply of more lines than this is not an SMTP server talking: the memory stays bounded.
constexpr std::size_t max_reply_lines = 128;

std::string upper(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return out;
}

std::vector<std::string_view> words(std::string_view s) {
    std::vector<std::string_view> out;
    std::size_t i = 0;
    while (i < s.size()) {
        while (i < s.size() && s[i] == ' ') ++i;
        std::size_t j = i;
        while (j < s.size() && s[j] != ' ') ++j;
        if (j > i) out.push_back(s.substr(i, j - i));
        i = j;
    }
    return out;
}

queue::RecipientOutcome outcome_of(int code, std::string_view status, std::string_view text, bool remote) {
    queue::RecipientOutcome o;
    o.kind = code >= 200 && code < 300 ? queue::RecipientOutcome::Kind::delivered
             : code >= 500             ? queue::RecipientOutcome::Kind::bounced
                                       : queue::RecipientOutcome::Kind::deferred;
    o.code = code;
    // RFC 3463 3: without an enhanced code from the server, the class alone ("5.0.0").
    o.status = !status.empty() ? std::string(status) : fmt::format("{}.0.0", code / 100);
    o.text = std::string(text);
    o.remote_reply = remote;
    return o;
}

queue::RecipientOutcome outcome_of(const Reply& reply) { return outcome_of(reply.code, reply.status, reply.text, true); }

std::string reply_text(const Reply& reply) {
    return reply.status.empty() ? fmt::format("{} {}", reply.code, reply.text)
                                : fmt::format("{} {} {}", reply.code, reply.status, reply.text);
}

}  // namespace

std::string_view describe(ClientPhase phase) noexcept {
    switch (phase) {
    case ClientPhase::greeting: return "while receiving the initial server greeting";
    case ClientPhase::ehlo: return "while performing the EHLO handshake";
    case ClientPhase::starttls: return "while starting TLS";
    case ClientPhase::auth: return "while authenticating";
    case ClientPhase::ready: return "between messages";
    case ClientPhase::mail: return "while sending MAIL FROM";
    case ClientPhase::rcpt: return "while sending RCPT TO";
    case ClientPhase::data_init: return "while sending DATA command";
    case ClientPhase::data_end: return "while sending the message text or awaiting its final reply";
    case ClientPhase::rset: return "while sending RSET";
    case ClientPhase::quit: return "while sending QUIT";
    case ClientPhase::done: return "after the session ended";
    }
    return "";
}

std::chrono::seconds timeout_for(ClientPhase phase, const ClientTimeouts& t, bool writing) noexcept {
    using std::chrono::seconds;
    switch (phase) {
    case ClientPhase::data_init: return std::min(t.command, seconds(120));  // RFC 5321 4.5.3.2.3
    case ClientPhase::data_end:
        if (writing) return std::min(t.command, seconds(180));  // RFC 5321 4.5.3.2.5: per TCP SEND
        return t.data;                                          // RFC 5321 4.5.3.2.6
    default: return t.command;  // RFC 5321 4.5.3.2.1, .2, .4, .7: 5 minutes
    }
}

std::optional<ReplyLine> parse_reply_line(std::string_view line) noexcept {
    // RFC 5321 4.2: Reply-code = %x32-35 %x30-35 %x30-39
    if (line.size() < 3) return std::nullopt;
    if (line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '5' || line[2] < '0' || line[2] > '9') return std::nullopt;
    ReplyLine r;
    r.code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    if (line.size() == 3) return r;
    if (line[3] == '-') r.last = false;
    else if (line[3] != ' ') return std::nullopt;
    r.text = line.substr(4);
    return r;
}

std::string take_enhanced_status(int code, std::string& text) {
    // RFC 3463 2: class "." subject "." detail, subject and detail of 1-3 digits.
    std::size_t i = 0;
    if (text.size() < 5 || text[0] != static_cast<char>('0' + code / 100) || text[1] != '.') return {};
    i = 2;
    for (int part = 0; part < 2; ++part) {
        std::size_t digits = 0;
        while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])) && digits < 4) ++i, ++digits;
        if (digits == 0 || digits > 3) return {};
        if (part == 0) {
            if (i >= text.size() || text[i] != '.') return {};
            ++i;
        }
    }
    if (i < text.size() && text[i] != ' ') return {};
    std::string status = text.substr(0, i);
    text.erase(0, std::min(text.size(), i + 1));
    return status;
}

ClientSession::ClientSession(ClientConfig config) : config_(std::move(config)), tls_(config_.tls_active) {
    if (config_.tls_required) config_.tls_wanted = true;
    awaited_.push_back(Await::greeting);
}

std::string ClientSession::take_output() { return std::exchange(output_, {}); }

ClientPhase ClientSession::phase() const noexcept {
    switch (state_) {
    case State::ready: return ClientPhase::ready;
    case State::failed:
    case State::closed: return ClientPhase::done;
    default: break;
    }
    if (starttls_pending_) return ClientPhase::starttls;
    if (answering_) return phase_of(*answering_);
    if (awaited_.empty()) return ClientPhase::ready;
    return phase_of(awaited_.front());
}

ClientPhase ClientSession::phase_of(Await what) const noexcept {
    switch (what) {
    case Await::greeting: return ClientPhase::greeting;
    case Await::ehlo:
    case Await::helo: return ClientPhase::ehlo;
    case Await::starttls: return ClientPhase::starttls;
    case Await::auth: return ClientPhase::auth;
    case Await::mail: return ClientPhase::mail;
    case Await::rcpt: return ClientPhase::rcpt;
    case Await::data: return ClientPhase::data_init;
    case Await::data_end: return ClientPhase::data_end;
    case Await::bdat: return ClientPhase::data_end;
    case Await::rset: return ClientPhase::rset;
    case Await::quit: return ClientPhase::quit;
    }
    return ClientPhase::done;
}

void ClientSession::command(Await what, std::string line) {
    output_ += line;
    output_ += "\r\n";
    awaited_.push_back(what);
}

void ClientSession::receive(std::span<const char> bytes) {
    // RFC 3207 4.2: nothing the server sends between its 220 to STARTTLS and the handshake counts.
    if (starttls_pending_ || state_ == State::failed || state_ == State::closed) return;
    input_.append(bytes);
    pump();
}

void ClientSession::pump() {
    while (state_ != State::failed && state_ != State::closed && !starttls_pending_) {
        auto line = input_.read_line(config_.max_reply_line);
        if (!line) return;
        // Bare LF and bare CR are tolerated: a reply is read, not relayed.
        std::optional<ReplyLine> parsed;
        if (!line->too_long) parsed = parse_reply_line(line->text);
        if (!parsed || (!reply_lines_.empty() && parsed->code != reply_code_) || reply_lines_.size() >= max_reply_lines) {
            const std::string why = line->too_long ? "an over-long reply line" : "a malformed reply";
            fail(Reply{451, "4.5.0", fmt::format("the server sent {} {}", why, describe(phase()))}, false);
            return;
        }
        reply_code_ = parsed->code;
        reply_lines_.emplace_back(parsed->text);
        if (!parsed->last) continue;

        Reply reply;
        reply.code = reply_code_;
        for (std::size_t i = 0; i < reply_lines_.size(); ++i) {
            std::string text = reply_lines_[i];
            std::string status = take_enhanced_status(reply.code, text);
            if (i == 0) reply.status = status;
            if (!reply.text.empty() && !text.empty()) reply.text += ' ';
            reply.text += text;
        }
        take_reply(reply);
        reply_lines_.clear();
    }
}

void ClientSession::take_reply(const Reply& reply) {
    if (awaited_.empty()) {
        // RFC 5321 3.8: a server may announce 421 at any time and close.
        if (reply.code == 421) fail(reply, true);
        else fail(Reply{451, "4.5.0", "the server sent an unexpected reply: " + reply_text(reply)}, false);
        return;
    }
    const Await what = awaited_.front();
    awaited_.pop_front();
    answering_ = what;
    // RFC 5321 3.8: 421 answers this command and closes; no later reply will come.
    if (reply.code == 421 && what != Await::quit) fail(reply, true);
    else on_reply(what, reply);
    answering_.reset();
}

void ClientSession::on_reply(Await what, const Reply& reply) {
    switch (what) {
    case Await::greeting:
        // A 4xx/5xx greeting: this host refuses mail now (RFC 5321 3.1); the driver tries the next.
        if (reply.code / 100 != 2) return fail(reply, true);
        return command(Await::ehlo, "EHLO " + config_.helo_name);
    case Await::ehlo:
        if (reply.code / 100 == 2) {
            capabilities_ = Capabilities{};
            capabilities_.esmtp = true;
            for (std::size_t i = 1; i < reply_lines_.size(); ++i) {
                auto w = words(reply_lines_[i]);
                if (w.empty()) continue;
                std::string keyword = upper(w[0]);
                std::vector<std::string_view> params(w.begin() + 1, w.end());
                // Some old servers write "AUTH=PLAIN LOGIN".
                if (keyword.starts_with("AUTH=")) {
                    params.insert(params.begin(), w[0].substr(5));
                    keyword = "AUTH";
                }
                if (keyword == "PIPELINING") capabilities_.pipelining = true;
                else if (keyword == "SIZE") {
                    capabilities_.size = true;
                    std::uint64_t n = 0;
                    bool digits = !params.empty() && params[0].size() <= 19;
                    if (digits)
                        for (char c : params[0]) {
                            if (c < '0' || c > '9') digits = false;
                            else n = n * 10 + static_cast<std::uint64_t>(c - '0');
                        }
                    capabilities_.max_size = digits ? n : 0;  // RFC 1870 4: 0 or absent: no fixed limit
                } else if (keyword == "8BITMIME") capabilities_.eightbitmime = true;
                else if (keyword == "CHUNKING") capabilities_.chunking = true;
                else if (keyword == "BINARYMIME") capabilities_.binarymime = true;
                else if (keyword == "SMTPUTF8") capabilities_.smtputf8 = true;
                else if (keyword == "STARTTLS") capabilities_.starttls = true;
                else if (keyword == "DSN") capabilities_.dsn = true;
                else if (keyword == "ENHANCEDSTATUSCODES") capabilities_.enhanced_status_codes = true;
                else if (keyword == "AUTH")
                    for (auto p : params) capabilities_.auth.push_back(upper(p));
            }
            return after_hello();
        }
        // RFC 5321 3.2: a server that does not know EHLO answers 5xx; fall back to HELO.
        if (reply.code / 100 == 5 && !helo_fallback_done_) {
            helo_fallback_done_ = true;
            return command(Await::helo, "HELO " + config_.helo_name);
        }
        return fail(reply, true);
    case Await::helo:
        if (reply.code / 100 != 2) return fail(reply, true);
        capabilities_ = Capabilities{};
        return after_hello();
    case Await::starttls:
        if (reply.code == 220) {
            starttls_pending_ = true;
            return;
        }
        if (config_.tls_required)
            return fail(Reply{451, "4.7.10", "TLS is required but the server refused STARTTLS: " + reply_text(reply)}, false);
        return start_auth();
    case Await::auth: return on_auth(reply);
    case Await::mail: return on_mail(reply);
    case Await::rcpt: return on_rcpt(reply);
    case Await::data: return on_data(reply);
    case Await::data_end: return on_data_end(reply);
    case Await::bdat:
        // RFC 3030 2: a refused BDAT fails the transaction; RSET then clears what the server holds.
        transaction_->text_sent = reply.code / 100 == 2;
        return on_data_end(reply);
    case Await::rset:
        if (reply.code / 100 != 2) return fail(reply, true);
        state_ = State::ready;
        return;
    case Await::quit: state_ = State::closed; return;
    }
}

void ClientSession::after_hello() {
    if (!tls_ && config_.tls_wanted && capabilities_.starttls) return command(Await::starttls, "STARTTLS");
    if (!tls_ && config_.tls_required)
        return fail(Reply{451, "4.7.10", "TLS is required but the server does not offer STARTTLS"}, false);
    start_auth();
}

void ClientSession::start_auth() {
    if (config_.username.empty() || authenticated_) {
        state_ = State::ready;
        return;
    }
    // RFC 4954 4: credentials in clear are not sent; we insist on TLS even where a server
    // would allow plaintext AUTH.
    if (!tls_) return fail(Reply{451, "4.7.10", "AUTH is configured but the connection is not encrypted"}, false);
    const auto& mechs = capabilities_.auth;
    auto offered = [&](std::string_view m) { return std::find(mechs.begin(), mechs.end(), m) != mechs.end(); };
    auth_step_ = 0;
    if (offered("PLAIN")) {
        auth_mechanism_ = "PLAIN";
        std::string response;
        response += '\0';
        response += config_.username;
        response += '\0';
        response += config_.password;
        // RFC 4954 4: the initial response saves a round trip (RFC 4616 2 for its form).
        return command(Await::auth, "AUTH PLAIN " + wire::encode_base64(response));
    }
    if (offered("LOGIN")) {
        auth_mechanism_ = "LOGIN";
        return command(Await::auth, "AUTH LOGIN");
    }
    fail(Reply{451, "4.7.0", "the server offers neither AUTH PLAIN nor AUTH LOGIN"}, false);
}

void ClientSession::on_auth(const Reply& reply) {
    if (reply.code == 235 || reply.code / 100 == 2) {
        authenticated_ = true;
        state_ = State::ready;
        return;
    }
    if (reply.code == 334 && auth_mechanism_ == "LOGIN" && auth_step_ < 2) {
        // The challenges are "Username:" and "Password:", in that order.
        const std::string& value = auth_step_ == 0 ? config_.username : config_.password;
        ++auth_step_;
        return command(Await::auth, wire::encode_base64(value));
    }
    if (reply.code == 334) {
        // A challenge we did not expect: RFC 4954 4, "*" cancels the exchange.
        output_ += "*\r\n";
        awaited_.push_back(Await::auth);
        return fail(Reply{451, "4.7.0", "unexpected AUTH challenge from the server"}, false);
    }
    fail(reply, true);
}

std::string ClientSession::mail_command(const queue::OutboundMessage& message, bool binary) const {
    std::string line = "MAIL FROM:<" + message.return_path + ">";
    if (capabilities_.size) line += fmt::format(" SIZE={}", message.content.size());  // RFC 1870 6
    // RFC 6152 3: BODY=8BITMIME only to a server that offers it. A 8-bit message to one that
    // does not is sent as is, as Postfix does: downgrading it (RFC 6152 3, RFC 1652) would
    // rewrite MIME structure, and servers take 8-bit text in practice. Binary text goes only to
    // a server that offers BINARYMIME (send() checked).
    if (binary) line += " BODY=BINARYMIME";  // RFC 3030 3
    else if (message.body == "8BITMIME" && capabilities_.eightbitmime) line += " BODY=8BITMIME";
    if (message.smtputf8) line += " SMTPUTF8";  // RFC 6531 3.4 (send() checked the offer)
    if (capabilities_.dsn) {                     // RFC 3461 4.3, 4.4
        if (!message.ret.empty()) line += " RET=" + message.ret;
        if (!message.envid.empty()) line += " ENVID=" + encode_xtext(message.envid);
    }
    return line;
}

std::string ClientSession::rcpt_command(const queue::OutboundRecipient& recipient) const {
    std::string line = "RCPT TO:<" + recipient.address + ">";
    if (capabilities_.dsn) {
        if (!recipient.notify.empty()) line += " NOTIFY=" + recipient.notify;  // RFC 3461 4.1
        // RFC 3461 4.2: ORCPT=addr-type;xtext; the spool keeps the address decoded.
        if (auto semi = recipient.orcpt.find(';'); semi != std::string::npos)
            line += " ORCPT=" + recipient.orcpt.substr(0, semi + 1) + encode_xtext(recipient.orcpt.substr(semi + 1));
    }
    return line;
}

void ClientSession::send(const queue::OutboundMessage& message) {
    if (state_ != State::ready || outcome_)
        throw Error(ErrorKind::internal, "ClientSession::send while not ready or an outcome is not taken");
    const std::size_t n = message.recipients.size();
    auto refuse_all = [&](int code, std::string_view status, std::string text) {
        queue::MessageOutcome outcome;
        for (std::size_t i = 0; i < n; ++i) outcome.recipients.push_back(outcome_of(code, status, text, false));
        outcome_ = std::move(outcome);
    };
    // RFC 1870 6: a message larger than the server's declared limit is not offered.
    if (capabilities_.size && capabilities_.max_size != 0 && message.content.size() > capabilities_.max_size)
        return refuse_all(552, "5.3.4",
                          fmt::format("message size {} exceeds the server's limit of {}", message.content.size(),
                                      capabilities_.max_size));
    // RFC 6531 3.2: an SMTPUTF8 message to a server without SMTPUTF8 is refused (we do not downgrade).
    if (message.smtputf8 && !capabilities_.smtputf8)
        return refuse_all(553, "5.6.7", "the server does not support SMTPUTF8 (RFC 6531)");
    // RFC 3030 3: binary text only with BDAT to a server that offers BINARYMIME and CHUNKING.
    // Text with a bare CR, bare LF or NUL is binary whatever its label: over DATA a later hop
    // could read a line end or an end of data that is not there (SMTP smuggling). Converting
    // it would change what the sender signed and sent: it is bounced instead (RFC 3463 5.6.3).
    wire::NewlineCheck check;
    check.scan(message.content);
    check.finish();
    const bool binary = message.body == "BINARYMIME" || !check.lines_only();
    if (binary && !(capabilities_.chunking && capabilities_.binarymime))
        return refuse_all(554, "5.6.3",
                          message.body == "BINARYMIME"
                              ? "conversion not allowed: the message is BODY=BINARYMIME and the server does not offer "
                                "BINARYMIME and CHUNKING (RFC 3030)"
                              : "conversion not allowed: the message has a bare CR, a bare LF or a NUL, which only BDAT "
                                "with BODY=BINARYMIME carries, and the server does not offer them (RFC 3030)");
    if (n == 0) return refuse_all(0, "", "");

    Transaction t;
    t.outcomes.resize(n);
    t.accepted.assign(n, false);
    t.dsn = capabilities_.dsn;
    for (const auto& r : message.recipients) t.rcpt_commands.push_back(rcpt_command(r));
    t.bdat = binary;
    t.text = binary ? message.content : wire::stuff_data(message.content);
    transaction_ = std::move(t);
    state_ = State::sending;
    command(Await::mail, mail_command(message, binary));
    if (capabilities_.pipelining) {
        // RFC 2920 3.1: MAIL, the RCPTs and DATA in one group, DATA last. BDAT has no 354 to
        // wait for: it waits for the RCPT replies instead, so that the text is not sent when
        // no recipient was accepted.
        for (auto& line : transaction_->rcpt_commands) command(Await::rcpt, line);
        transaction_->next_rcpt = n;
        if (!binary) {
            transaction_->data_sent = true;
            command(Await::data, "DATA");
        }
    }
}

void ClientSession::next_rcpt() {
    Transaction& t = *transaction_;
    command(Await::rcpt, t.rcpt_commands[t.next_rcpt++]);
}

void ClientSession::on_mail(const Reply& reply) {
    Transaction& t = *transaction_;
    if (reply.code / 100 == 2) {
        t.mail_ok = true;
        if (!capabilities_.pipelining) next_rcpt();
        return;
    }
    if (reply.code / 100 != 4 && reply.code / 100 != 5)
        return fail(Reply{451, "4.5.0", "unexpected reply to MAIL FROM: " + reply_text(reply)}, false);
    for (auto& o : t.outcomes) o = outcome_of(reply);
    // Without PIPELINING nothing else was sent; with it, the RCPT and DATA replies follow.
    if (!capabilities_.pipelining) finish_transaction();
}

void ClientSession::on_rcpt(const Reply& reply) {
    Transaction& t = *transaction_;
    const std::size_t i = t.rcpt_replies++;
    if (i >= t.outcomes.size()) return fail(Reply{451, "4.5.0", "internal error: a reply to a RCPT not sent"}, false);
    if (t.mail_ok) {
        if (reply.code / 100 == 2) t.accepted[i] = true;
        else if (reply.code / 100 == 4 || reply.code / 100 == 5) t.outcomes[i] = outcome_of(reply);
        else return fail(Reply{451, "4.5.0", "unexpected reply to RCPT TO: " + reply_text(reply)}, false);
    }
    if (capabilities_.pipelining && !t.bdat) return;  // DATA went with the group
    if (t.rcpt_replies < t.rcpt_commands.size()) {
        if (t.next_rcpt < t.rcpt_commands.size()) next_rcpt();
        return;
    }
    if (std::find(t.accepted.begin(), t.accepted.end(), true) != t.accepted.end()) {
        t.data_sent = true;
        if (!t.bdat) return command(Await::data, "DATA");
        // RFC 3030 2: bdat-cmd = "BDAT" SP chunk-size [ SP end-marker ]; one chunk, the last.
        command(Await::bdat, fmt::format("BDAT {} LAST", t.text.size()));
        output_ += t.text;
        t.text.clear();
        t.text.shrink_to_fit();
        return;
    }
    // No recipient accepted: no DATA (RFC 5321 3.3); RSET ends the transaction.
    finish_transaction();
}

void ClientSession::on_data(const Reply& reply) {
    Transaction& t = *transaction_;
    const bool any = std::find(t.accepted.begin(), t.accepted.end(), true) != t.accepted.end();
    if (reply.code == 354) {
        // RFC 2920 3.1: a server that says 354 although no RCPT succeeded gets an empty message.
        output_ += any ? t.text : std::string(".\r\n");
        t.text.clear();
        t.text.shrink_to_fit();
        t.text_sent = true;
        awaited_.push_back(Await::data_end);
        return;
    }
    if (reply.code / 100 != 4 && reply.code / 100 != 5)
        return fail(Reply{451, "4.5.0", "unexpected reply to DATA: " + reply_text(reply)}, false);
    for (std::size_t i = 0; i < t.outcomes.size(); ++i)
        if (t.accepted[i] && !t.outcomes[i]) t.outcomes[i] = outcome_of(reply);
    finish_transaction();
}

void ClientSession::on_data_end(const Reply& reply) {
    Transaction& t = *transaction_;
    if (reply.code / 100 < 2 || reply.code / 100 == 3)
        return fail(Reply{451, "4.5.0", "unexpected reply to the end of data: " + reply_text(reply)}, false);
    for (std::size_t i = 0; i < t.outcomes.size(); ++i) {
        if (!t.accepted[i] || t.outcomes[i]) continue;
        auto o = outcome_of(reply);
        // RFC 3461 5.2.2: a server that offers DSN reports from now on.
        o.dsn_passed_on = o.kind == queue::RecipientOutcome::Kind::delivered && t.dsn;
        t.outcomes[i] = std::move(o);
    }
    finish_transaction();
}

void ClientSession::finish_transaction() {
    Transaction& t = *transaction_;
    // MAIL was accepted but the transaction never reached the final dot: RSET clears it
    // (RFC 5321 4.1.1.5) so that the connection can carry the next message.
    const bool rset = t.mail_ok && !t.text_sent;
    queue::MessageOutcome outcome;
    for (auto& o : t.outcomes)
        outcome.recipients.push_back(o ? std::move(*o) : outcome_of(451, "4.5.0", "no reply for this recipient", false));
    outcome_ = std::move(outcome);
    transaction_.reset();
    if (rset) return command(Await::rset, "RSET");
    state_ = State::ready;
}

void ClientSession::settle_open(int code, std::string_view status, std::string_view text, bool remote) {
    if (!transaction_) return;
    for (auto& o : transaction_->outcomes)
        if (!o) o = outcome_of(code, status, text, remote);
    // A transaction cut short leaves no RSET to send: the connection is over.
    transaction_->mail_ok = false;
    finish_transaction();
}

void ClientSession::fail(Reply reply, bool remote) {
    const ClientPhase at = phase();
    // RFC 5321 3.8, 4.5.4.1: whatever the server did not answer is not delivered; a 5xx
    // reply that fails the whole session (never a per-recipient verdict) only defers.
    if (transaction_) {
        if (reply.code >= 500) settle_open(451, "4.5.0", reply_text(reply), remote);
        else settle_open(reply.code, reply.status.empty() ? "4.0.0" : reply.status, reply.text, remote);
    }
    failure_ = ClientFailure{std::move(reply), remote, at};
    awaited_.clear();
    starttls_pending_ = false;
    state_ = State::failed;
}

void ClientSession::tls_started() {
    if (!starttls_pending_) throw Error(ErrorKind::internal, "ClientSession::tls_started without STARTTLS");
    starttls_pending_ = false;
    tls_ = true;
    input_.clear();
    reply_lines_.clear();
    // RFC 3207 4.2: the client must discard what it knew from the server and say EHLO again.
    capabilities_ = Capabilities{};
    helo_fallback_done_ = false;
    command(Await::ehlo, "EHLO " + config_.helo_name);
}

std::optional<queue::MessageOutcome> ClientSession::take_outcome() {
    std::optional<queue::MessageOutcome> out;
    out.swap(outcome_);
    return out;
}

void ClientSession::quit() {
    if (state_ != State::ready) throw Error(ErrorKind::internal, "ClientSession::quit while not ready");
    state_ = State::quitting;
    command(Await::quit, "QUIT");
}

void ClientSession::closed(std::string_view text) {
    if (state_ == State::closed || state_ == State::failed) return;
    if (state_ == State::opening) return fail(Reply{451, "4.4.2", std::string(text)}, false);
    // RFC 5321 6.1: when the final dot went out but its reply did not come, the message may
    // have been delivered; deferring risks a duplicate, which 6.1 prefers to a loss.
    settle_open(451, "4.4.2", text, false);
    awaited_.clear();
    starttls_pending_ = false;
    state_ = State::closed;
}

}  // namespace vpsmail::smtp
