#include "smtp/session.hpp"

#include "core/error.hpp"
#include "smtp/received.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <vector>

namespace vpsmail::smtp {
namespace {

using State = Session::State;

constexpr unsigned bit(State s) { return 1u << static_cast<unsigned>(s); }
constexpr unsigned command_states = bit(State::fresh) | bit(State::greeted) | bit(State::mail) |
                                    bit(State::rcpt) | bit(State::bdat);

// RFC 4954 4: an AUTH line with an initial response may be up to 12288 octets; every other
// command line is held to 512 (RFC 5321 4.5.3.1.4) once its verb is known.
constexpr std::size_t max_auth_line = 12288;

// Row flags.
// RFC 3030 2: the chunk follows BDAT whatever the reply, so it is read before a sequence error
// is given.
constexpr unsigned takes_chunk = 1;
// RFC 2920 3.1: only last in a pipelined group; the client waits for the reply. HELO too: it
// answers without PIPELINING.
constexpr unsigned ends_group = 2;
// Run even when sent too early: QUIT changes nothing, and a client that waits for its 221
// (`printf 'EHLO x\r\nQUIT\r\n' | nc`) would otherwise wait for the timeout.
constexpr unsigned runs_early = 4;

// Postfix's hopcount_limit: more trace fields than this is a mail loop (RFC 5321 6.3).
constexpr std::size_t max_hops = 50;

bool has_8bit(std::string_view text) noexcept {
    return std::any_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
}

std::string_view first_word(std::string_view& text) {
    auto space = text.find(' ');
    std::string_view word = text.substr(0, space);
    text.remove_prefix(space == std::string_view::npos ? text.size() : space);
    while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
    return word;
}

}  // namespace

// One row per command (docs/architecture.md section 4): the states it is allowed in, the reply when it
// is out of sequence (after need_helo / need_mail / need_rcpt, which follow from the state),
// a check step that may refuse it, its handler, and its pipelining flags.
struct Session::Row {
    std::string_view name;
    unsigned states;
    ReplyId out_of_sequence;
    std::optional<Reply> (Session::*check)(const Command&);
    void (Session::*handle)(const Command&);
    unsigned flags = 0;  ///< takes_chunk, ends_group, runs_early
};

const Session::Row Session::table_[] = {
    {"EHLO", command_states, ReplyId::bad_sequence, &Session::check_none, &Session::cmd_ehlo, ends_group},
    {"HELO", command_states, ReplyId::bad_sequence, &Session::check_none, &Session::cmd_helo, ends_group},
    {"MAIL", bit(State::greeted), ReplyId::nested_mail, &Session::check_mail, &Session::cmd_mail},
    {"RCPT", bit(State::mail) | bit(State::rcpt), ReplyId::bad_sequence, &Session::check_none, &Session::cmd_rcpt},
    {"DATA", bit(State::rcpt), ReplyId::bad_sequence, &Session::check_none, &Session::cmd_data, ends_group},
    {"BDAT", bit(State::rcpt) | bit(State::bdat), ReplyId::bad_sequence, &Session::check_none, &Session::cmd_bdat, takes_chunk},
    {"RSET", command_states, ReplyId::bad_sequence, &Session::check_none, &Session::cmd_rset},
    {"NOOP", command_states, ReplyId::bad_sequence, &Session::check_none, &Session::cmd_noop, ends_group},
    {"QUIT", command_states, ReplyId::bad_sequence, &Session::check_none, &Session::cmd_quit, ends_group | runs_early},
    {"VRFY", command_states, ReplyId::bad_sequence, &Session::check_none, &Session::cmd_vrfy, ends_group},
    {"EXPN", command_states, ReplyId::bad_sequence, &Session::check_none, &Session::cmd_expn, ends_group},
    {"HELP", command_states, ReplyId::bad_sequence, &Session::check_none, &Session::cmd_help},
    // RFC 3207 4: STARTTLS ends a group.
    {"STARTTLS", bit(State::greeted), ReplyId::bad_sequence, &Session::check_starttls, &Session::cmd_starttls, ends_group},
    // RFC 4954 4: AUTH ends a group unless it completes in one step (PLAIN with an initial
    // response); after_command() tells by the 334.
    {"AUTH", bit(State::greeted), ReplyId::auth_in_transaction, &Session::check_auth, &Session::cmd_auth},
};

const Session::Row* Session::find_row(std::string_view verb) {
    for (const auto& row : table_)
        if (row.name == verb) return &row;
    return nullptr;
}

Session::Session(const SessionConfig& config, Ports& ports) : config_(config), ports_(ports), tls_(config.tls_active) {
    if (config_.mode == Mode::submissions && !config_.tls_active)
        throw Error(ErrorKind::config, "the submissions port (465) needs TLS active from the start");
}

void Session::start() {
    Reply greeting = reply(ReplyId::greeting);
    greeting.text = config_.hostname + " " + greeting.text;
    send(greeting);
}

void Session::receive(std::span<const char> bytes) {
    if (state_ == State::closed || starttls_pending_) return;  // RFC 3207 4.2: nothing before the handshake
    input_.append(bytes);
    pump();
}

std::string Session::take_output() {
    std::string out;
    out.swap(output_);
    return out;
}

std::optional<Action> Session::take_action() {
    std::optional<Action> action;
    action.swap(action_);
    return action;
}

void Session::complete(ActionResult result) {
    if (pending_ == Pending::none || action_)
        throw Error(ErrorKind::internal, "SMTP session: complete() without an outstanding action");
    Pending pending = pending_;
    bool password = std::holds_alternative<PasswordResult>(result);
    if (password != (pending == Pending::password))
        throw Error(ErrorKind::internal, "SMTP session: complete() with the result of another action");
    pending_ = Pending::none;
    if (state_ == State::closed) return;
    guarded([&] {
        if (password) finish_password(std::get<PasswordResult>(result));
        else finish_delivery(std::get<DeliveryResult>(result));
    });
    pump();
}

std::optional<PipeliningViolation> Session::take_pipelining_violation() {
    std::optional<PipeliningViolation> v;
    v.swap(violation_);
    return v;
}

void Session::tls_started() {
    if (!starttls_pending_) return;
    // RFC 3207 4.2: forget everything learnt from the client before TLS, EHLO included; and
    // plaintext pipelined after STARTTLS must not run as if it came over TLS (command injection).
    starttls_pending_ = false;
    tls_ = true;
    input_.clear();
    early_bytes_ = 0;
    reset_transaction();
    state_ = State::fresh;
    esmtp_ = false;
    helo_.clear();
    authenticated_ = false;
    user_.clear();
    sasl_.reset();
}

void Session::timeout() {
    if (state_ == State::closed) return;
    close(reply(ReplyId::timeout));
}

void Session::shutdown() {
    if (state_ == State::closed) return;
    close(reply(ReplyId::shutting_down));
}

template <class F>
void Session::guarded(F&& step) {
    // docs/architecture.md section 6: catch at the command boundary and go on; unexpected is 421.
    try {
        step();
    } catch (const Error& e) {
        send(reply_for(e));
    } catch (const std::exception&) {
        close(reply(ReplyId::internal_error));
    }
}

void Session::pump() {
    while (pending_ == Pending::none && !starttls_pending_ && state_ != State::closed) {
        const std::size_t unread = input_.size();
        // This step starts in bytes sent before a reply the client had to wait for.
        const bool early = early_bytes_ > 0;
        if (state_ == State::data) {
            if (early) early_text_ = true;
            guarded([&] { take_data(); });
            used(unread);
            if (state_ == State::data) return;  // all input used, the end not yet seen
            continue;
        }
        if (state_ == State::chunk) {
            guarded([&] { take_chunk(); });
            used(unread);
            if (state_ == State::chunk) return;
            continue;
        }
        auto line = input_.read_line(max_auth_line);
        used(unread);
        if (!line) return;
        if (state_ == State::auth) guarded([&] { take_sasl_line(*line, early); });
        else guarded([&] { take_line(*line, early); });
    }
}

void Session::used(std::size_t unread_before) noexcept {
    const std::size_t consumed = unread_before - input_.size();
    early_bytes_ -= std::min(early_bytes_, consumed);
}

void Session::after_command(std::string_view verb, bool ends_group, bool pipelining) {
    // A BDAT's chunk belongs to it; what follows the chunk is not told apart (BDAT ends no
    // group when the client has PIPELINING, and CHUNKING needs EHLO).
    if (!config_.enforce_pipelining) return;
    if (!ends_group || early_bytes_ > 0 || input_.size() == 0 || state_ == State::closed || state_ == State::chunk) return;
    // RFC 2920 3.1: the client had to wait for this reply, so what is here already came
    // before it.
    early_bytes_ = input_.size();
    violation_ = PipeliningViolation{std::string(verb), pipelining};
}

void Session::send(const Reply& r) {
    if (state_ == State::closed) return;
    output_ += format_reply(r);
    if (r.closes()) {
        state_ = State::closed;
        input_.clear();
        reset_transaction();  // a spilled text goes now, not when the driver drops the session
        // An effect not yet handed out must not run: no reply could report it (a message
        // delivered then would arrive twice when the client retries).
        if (action_) {
            action_.reset();
            pending_ = Pending::none;
        }
    }
}

void Session::send(ReplyId id, std::string_view detail) { send(reply(id, detail)); }

void Session::close(const Reply& r) {
    send(r);
    if (state_ != State::closed) {  // a reply that is not 421 (QUIT's 221)
        state_ = State::closed;
        input_.clear();
        reset_transaction();
    }
}

void Session::bad_command(const Reply& r) {
    send(r);
    if (++bad_commands_ >= config_.max_bad_commands) close(reply(ReplyId::too_many_errors));
}

void Session::auth_failure(const Reply& r) {
    send(r);
    if (++auth_failures_ >= config_.max_auth_failures) close(reply(ReplyId::too_many_auth_failures));
}

Reply Session::sequence_reply(const Row& row) const {
    switch (state_) {
    case State::fresh: return reply(ReplyId::need_helo);
    case State::greeted: return reply(ReplyId::need_mail);
    case State::mail:
        if (row.states & bit(State::rcpt)) return reply(ReplyId::need_rcpt);
        break;
    default: break;
    }
    return reply(row.out_of_sequence);
}

void Session::take_line(const wire::Line& line, bool early) {
    if (line.too_long) return bad_command(reply(ReplyId::line_too_long));
    // RFC 5321 2.3.8: a line ends with CRLF only; a bare CR or LF is refused, never guessed at.
    if (line.bare_lf || line.bare_cr) return bad_command(reply(ReplyId::bare_newline_command));
    Command command = parse_command(line.text);
    if (command.verb != "AUTH" && line.text.size() + 2 > wire::max_command_line)
        return bad_command(reply(ReplyId::line_too_long));
    const Row* row = find_row(command.verb);
    if (early && (row == nullptr || !(row->flags & (takes_chunk | runs_early))))
        return bad_command(reply(ReplyId::improper_pipelining));  // RFC 2920 3.1: sent too early, not run
    // Without PIPELINING (HELO, or no EHLO yet) every command ends its group (RFC 2920 3.1).
    const bool pipelining = esmtp_ && state_ != State::fresh;
    const bool ends = !pipelining || (row != nullptr && (row->flags & ends_group));
    run_command(row, command, early && (row->flags & takes_chunk));
    // Refused or not: text sent after a refused DATA must not run as commands either.
    after_command(command.verb, ends || state_ == State::auth, pipelining);  // RFC 4954 4: a 334 waits too
}

void Session::run_command(const Row* row, const Command& command, bool early_chunk) {
    if (row == nullptr) return bad_command(reply(ReplyId::unknown_command));
    chunk_refusal_.reset();
    if (early_chunk) {
        // The chunk is read all the same; inside a BDAT transaction it fails the transaction,
        // whose text would otherwise lack this chunk.
        if (state_ == State::bdat) bdat_error_ = reply(ReplyId::improper_pipelining);
        else chunk_refusal_ = reply(ReplyId::improper_pipelining);
    } else if (!(row->states & bit(state_))) {
        if (!(row->flags & takes_chunk)) return bad_command(sequence_reply(*row));
        chunk_refusal_ = sequence_reply(*row);
    } else if (auto refusal = (this->*row->check)(command)) {
        return bad_command(*refusal);
    }
    (this->*row->handle)(command);
}

// ---- checks

std::optional<Reply> Session::check_none(const Command&) { return std::nullopt; }

std::optional<Reply> Session::check_mail(const Command&) {
    // RFC 6409 4.3 / RFC 8314: submission ports take mail from authenticated users only.
    if (config_.mode != Mode::mx && !authenticated_) return reply(ReplyId::auth_required);
    return std::nullopt;
}

std::optional<Reply> Session::check_auth(const Command&) {
    if (authenticated_) return reply(ReplyId::already_authenticated);  // RFC 4954 4
    if (config_.mode == Mode::mx) return reply(ReplyId::not_implemented);
    // docs/architecture.md section 10: passwords travel only under TLS, or over loopback.
    if (!auth_offered()) return reply(ReplyId::auth_needs_tls);
    return std::nullopt;
}

std::optional<Reply> Session::check_starttls(const Command&) {
    if (tls_) return reply(ReplyId::tls_already_active);
    if (!config_.tls_available) return reply(ReplyId::tls_unavailable);
    return std::nullopt;
}

bool Session::auth_offered() const noexcept {
    return config_.mode != Mode::mx && (tls_ || config_.peer_loopback);
}

// ---- commands

bool Session::helo_accepted(const Command& command) {
    // RFC 5321 4.1.1.1: a domain or address literal. It goes into Received, so only printable
    // ASCII without spaces is taken.
    const std::string& name = command.argument;
    bool ok = !name.empty() && name.size() <= 255 && std::all_of(name.begin(), name.end(), [](char c) {
        return c > 0x20 && c < 0x7f;
    });
    if (!ok) bad_command(reply(ReplyId::syntax_error, fmt::format("(use {} hostname)", command.verb)));
    return ok;
}

void Session::cmd_ehlo(const Command& command) {
    if (!helo_accepted(command)) return;
    // RFC 5321 4.1.4: EHLO resets any transaction.
    reset_transaction();
    helo_ = command.argument;
    esmtp_ = true;
    state_ = State::greeted;
    std::vector<std::string> lines{config_.hostname,
                                   "PIPELINING",                                          // RFC 2920
                                   fmt::format("SIZE {}", config_.max_message_size),      // RFC 1870
                                   "8BITMIME",                                            // RFC 6152
                                   "BINARYMIME",                                          // RFC 3030
                                   "CHUNKING",                                            // RFC 3030
                                   "ENHANCEDSTATUSCODES",                                 // RFC 2034
                                   "SMTPUTF8",                                            // RFC 6531
                                   "DSN"};                                                // RFC 3461
    if (config_.tls_available && !tls_) lines.emplace_back("STARTTLS");  // RFC 3207
    if (auth_offered() && !authenticated_) lines.emplace_back("AUTH PLAIN LOGIN");  // RFC 4954
    output_ += format_reply_lines(reply(ReplyId::hello).code, "", lines);
}

void Session::cmd_helo(const Command& command) {
    if (!helo_accepted(command)) return;
    reset_transaction();
    helo_ = command.argument;
    esmtp_ = false;
    state_ = State::greeted;
    send(reply(ReplyId::hello, config_.hostname));
}

void Session::cmd_mail(const Command& command) {
    auto parsed = parse_mail_from(command.argument);
    if (auto* refusal = std::get_if<Reply>(&parsed)) return bad_command(*refusal);
    MailFrom& mail = std::get<MailFrom>(parsed);
    // RFC 6531 3.5: a non-ASCII address needs the SMTPUTF8 parameter (553 X.6.7).
    if (mail.non_ascii && !mail.smtputf8) return send(ReplyId::utf8_needed);
    // RFC 1870 6.1: refuse at MAIL a declared size over the limit.
    if (mail.size && config_.max_message_size != 0 && *mail.size > config_.max_message_size)
        return send(ReplyId::size_exceeded);
    // RFC 1870 6.1: 452 when the size could be taken some other time, but not now.
    if (mail.size) {
        Verdict room = ports_.check_space(*mail.size);
        if (!room.accepted()) return send(*room.refusal);
    }
    if (authenticated_) {
        Verdict verdict = ports_.check_sender(user_, mail);
        if (!verdict.accepted()) return send(*verdict.refusal);
    }
    reset_transaction();
    envelope_.return_path = mail.sender;
    envelope_.body = mail.body;
    envelope_.smtputf8 = mail.smtputf8;
    envelope_.ret = mail.ret;
    envelope_.envid = mail.envid;
    envelope_.id = fmt::format("{}.{}", config_.session_id, ++transactions_);
    state_ = State::mail;
    send(ReplyId::sender_ok);
}

void Session::cmd_rcpt(const Command& command) {
    auto parsed = parse_rcpt_to(command.argument);
    if (auto* refusal = std::get_if<Reply>(&parsed)) return bad_command(*refusal);
    RcptTo& rcpt = std::get<RcptTo>(parsed);
    // RFC 5321 4.5.3.1.10: 452 for recipients past the limit; the client sends them later.
    if (envelope_.recipients.size() >= config_.max_recipients) return send(ReplyId::too_many_recipients);
    if (rcpt.non_ascii && !envelope_.smtputf8) return send(ReplyId::utf8_needed);
    bool relay = authenticated_ || ports_.may_relay(config_.peer_address);
    RecipientQuery query{envelope_, authenticated_ ? &user_ : nullptr, rcpt.recipient, rcpt.source_route, relay};
    Verdict verdict = ports_.check_recipient(query);
    if (!verdict.accepted()) return send(*verdict.refusal);
    envelope_.recipients.push_back(Recipient{rcpt.recipient, rcpt.notify, rcpt.orcpt});
    state_ = State::rcpt;
    send(ReplyId::recipient_ok);
}

void Session::cmd_data(const Command& command) {
    if (!command.argument.empty()) return bad_command(reply(ReplyId::syntax_error, "(DATA takes no argument)"));
    if (envelope_.body == Body::binary_mime) return bad_command(reply(ReplyId::binarymime_needs_bdat));
    message_ = begin_message();
    decoder_.emplace(config_.max_message_size);
    state_ = State::data;
    send(ReplyId::start_data);
}

void Session::take_data() {
    // Decoded straight into message_ while the text is in memory (the small, common case);
    // once it is spilled, one piece at a time.
    const bool in_memory = !spill_ && !text_error_;
    std::string& out = in_memory ? message_ : piece_;
    if (!in_memory) piece_.clear();
    const std::size_t before = out.size();
    auto progress = decoder_->decode(input_.peek(), out);
    input_.consume(progress.consumed);
    add_text(std::string_view(out).substr(before), in_memory);
    if (!progress.done) return;
    // RFC 5321 4.1.1.4: read to the end of the data, then refuse what must be refused.
    bool bare = decoder_->bare_cr() || decoder_->bare_lf();
    bool too_big = decoder_->too_big();
    bool nul = decoder_->nul();
    decoder_.reset();
    finish_message(bare, too_big, nul);
}

// The text of the message, as it comes (`in_message`: already appended to message_): held in
// memory up to memory_limit, then handed to the port's sink (docs/architecture.md section 9). A sink that
// fails leaves the text to be read and refused.
void Session::add_text(std::string_view text, bool in_message) {
    if (!eight_bit_) eight_bit_ = has_8bit(text);
    hops_.scan(text);
    if (text_error_) return;
    try {
        if (spill_) return spill_->write(text);
        if (!in_message) message_.append(text);
        if (message_.size() <= config_.memory_limit || keep_in_memory_) return;
        spill_ = ports_.spill_body();
        if (!spill_) {
            keep_in_memory_ = true;
            return;
        }
        spill_->write(message_);
        std::string().swap(message_);  // the memory goes back, not only the bytes
    } catch (const Error& e) {
        text_error_ = reply_for(e);
        spill_.reset();
        std::string().swap(message_);
    }
}

void Session::cmd_bdat(const Command& command) {
    // RFC 3030 2: bdat-cmd = "BDAT" SP chunk-size [ SP end-marker ]
    std::string_view rest = command.argument;
    std::string_view size_text = first_word(rest);
    std::string_view marker = first_word(rest);
    std::uint64_t size = 0;
    auto [end, ec] = std::from_chars(size_text.data(), size_text.data() + size_text.size(), size);
    bool size_ok = !size_text.empty() && ec == std::errc() && end == size_text.data() + size_text.size() &&
                   std::all_of(size_text.begin(), size_text.end(), [](char c) { return c >= '0' && c <= '9'; });
    bool last = !marker.empty() && lower_ascii(marker) == "last";
    if (!size_ok || (!marker.empty() && !last) || !rest.empty()) {
        // Without a size the chunk cannot be skipped; what follows is read as commands.
        chunk_refusal_.reset();
        return bad_command(reply(ReplyId::syntax_error, "(use BDAT size [LAST])"));
    }
    chunk_left_ = size;
    chunk_last_ = last;
    chunk_size_ = size;
    chunk_return_ = state_;
    state_ = State::chunk;  // from here on the chunk is read whatever happens
    if (!chunk_refusal_ && chunk_return_ == State::rcpt) {
        chunk_total_ = 0;
        chunk_newlines_ = wire::NewlineCheck{};
        bdat_error_.reset();
        try {
            message_ = begin_message();
        } catch (const Error& e) {
            bdat_error_ = reply_for(e);
        }
    }
}

void Session::take_chunk() {
    std::string_view piece = input_.peek().substr(0, static_cast<std::size_t>(std::min<std::uint64_t>(chunk_left_, input_.size())));
    if (!chunk_refusal_ && !bdat_error_) {
        chunk_total_ += piece.size();
        // RFC 3030 2: a refused chunk fails the transaction; past the size limit that is
        // 552 5.3.4 as for SIZE (RFC 1870 6.1).
        if (config_.max_message_size != 0 && chunk_total_ > config_.max_message_size) {
            bdat_error_ = reply(ReplyId::size_exceeded);
        } else {
            chunk_newlines_.scan(piece);
            add_text(piece, false);
            if (text_error_) bdat_error_ = text_error_;
        }
    }
    chunk_left_ -= piece.size();
    input_.consume(piece.size());
    if (chunk_left_ == 0) end_chunk();
}

void Session::end_chunk() {
    if (chunk_refusal_) {
        Reply refusal = *chunk_refusal_;
        chunk_refusal_.reset();
        state_ = chunk_return_;
        return bad_command(refusal);
    }
    if (bdat_error_) {
        // A failed BDAT transaction answers every chunk with its error until LAST or RSET.
        Reply error = *bdat_error_;
        if (chunk_last_) {
            reset_transaction();
            state_ = State::greeted;
        } else {
            state_ = State::bdat;
        }
        return send(error);
    }
    if (!chunk_last_) {
        state_ = State::bdat;
        return send(ReplyId::chunk_ok, std::to_string(chunk_size_));
    }
    chunk_newlines_.finish();
    // BINARYMIME text may hold any octet (RFC 3030 3); other bodies must keep CRLF lines, so
    // that no later hop can read a bare LF as a line end (SMTP smuggling).
    bool bare = envelope_.body != Body::binary_mime && (chunk_newlines_.bare_cr() || chunk_newlines_.bare_lf());
    bool nul = envelope_.body != Body::binary_mime && chunk_newlines_.nul();
    finish_message(bare, false, nul);
}

void Session::cmd_rset(const Command& command) {
    if (!command.argument.empty()) return bad_command(reply(ReplyId::syntax_error, "(RSET takes no argument)"));
    reset_transaction();
    if (state_ != State::fresh) state_ = State::greeted;
    send(ReplyId::ok);
}

void Session::cmd_noop(const Command&) { send(ReplyId::ok); }  // RFC 5321 4.1.1.9: argument ignored

void Session::cmd_quit(const Command&) { close(reply(ReplyId::closing)); }

void Session::cmd_vrfy(const Command& command) {
    if (command.argument.empty()) return bad_command(reply(ReplyId::syntax_error, "(use VRFY address)"));
    send(ReplyId::cannot_vrfy);  // RFC 5321 7.3: 252, no account list for address harvesters
}

void Session::cmd_expn(const Command&) { send(ReplyId::not_implemented); }  // RFC 5321 7.3: 502

void Session::cmd_help(const Command&) {
    std::string names;
    for (const auto& row : table_) {
        if (row.handle == &Session::cmd_expn) continue;  // it answers 502: no topic to offer
        if (!names.empty()) names += ' ';
        names += row.name;
    }
    send(ReplyId::help, names);
}

void Session::cmd_starttls(const Command& command) {
    if (!command.argument.empty()) return bad_command(reply(ReplyId::syntax_error, "(STARTTLS takes no argument)"));
    send(ReplyId::tls_ready);
    starttls_pending_ = true;
}

void Session::cmd_auth(const Command& command) {
    // RFC 4954 4: AUTH mechanism [initial-response]
    std::string_view rest = command.argument;
    std::string_view name = first_word(rest);
    std::string_view initial = first_word(rest);
    if (name.empty() || !rest.empty())
        return bad_command(reply(ReplyId::syntax_error, "(use AUTH mechanism [initial-response])"));
    auto mechanism = sasl::find_mechanism(name);
    if (!mechanism) return bad_command(reply(ReplyId::auth_mechanism_unknown));
    sasl_.emplace(*mechanism);
    sasl_step(sasl_->start(initial.empty() ? std::nullopt : std::optional<std::string_view>(initial)));
}

void Session::take_sasl_line(const wire::Line& line, bool early) {
    if (early) {
        // RFC 4954 4: the response was sent before the 334 it answers; the exchange ends.
        state_ = State::greeted;
        sasl_.reset();
        return bad_command(reply(ReplyId::improper_pipelining));
    }
    if (line.too_long) {
        state_ = State::greeted;
        sasl_.reset();
        return auth_failure(reply(ReplyId::line_too_long));
    }
    if (line.bare_lf || line.bare_cr) {
        state_ = State::greeted;
        sasl_.reset();
        return auth_failure(reply(ReplyId::auth_malformed));
    }
    sasl_step(sasl_->respond(line.text));
    after_command("AUTH", state_ == State::auth, esmtp_);
}

void Session::sasl_step(const sasl::Step& step) {
    using Kind = sasl::Step::Kind;
    if (step.kind == Kind::challenge) {
        state_ = State::auth;
        return send(ReplyId::auth_challenge, step.challenge);
    }
    state_ = State::greeted;
    auto mechanism = sasl_->mechanism();
    sasl_.reset();
    switch (step.kind) {
    case Kind::done:
        pending_user_ = step.credentials.username;
        action_ = VerifyPassword{mechanism, step.credentials.username, step.credentials.password};
        pending_ = Pending::password;
        return;
    case Kind::cancelled: return send(ReplyId::auth_cancelled);  // RFC 4954 4: 501
    case Kind::malformed: return auth_failure(reply(ReplyId::auth_malformed));
    case Kind::refused: return auth_failure(reply(ReplyId::auth_failed));
    case Kind::challenge: return;
    }
}

void Session::finish_password(PasswordResult result) {
    switch (result) {
    case PasswordResult::ok:
        authenticated_ = true;
        user_ = std::move(pending_user_);
        return send(ReplyId::auth_ok);
    case PasswordResult::bad: return auth_failure(reply(ReplyId::auth_failed));
    case PasswordResult::temporary_failure: return send(ReplyId::auth_temporary);
    }
}

// ---- the message

std::string Session::begin_message() {
    Trace trace;
    trace.helo = helo_;
    trace.peer_name = config_.peer_name;
    trace.peer_address = config_.peer_address;
    trace.hostname = config_.hostname;
    trace.esmtp = esmtp_;
    trace.tls = tls_;
    trace.authenticated = authenticated_;
    trace.smtputf8 = envelope_.smtputf8;
    trace.id = envelope_.id;
    if (envelope_.recipients.size() == 1) trace.recipient = envelope_.recipients.front().address.str();
    trace.when = ports_.now();
    return format_received(trace);
}

void Session::finish_message(bool bare_newline, bool too_big, bool nul) {
    // RFC 6152 3: octets >= 0x80 need BODY=8BITMIME (BINARYMIME and SMTPUTF8 allow them too).
    const bool declared = envelope_.body == Body::eight_bit_mime || envelope_.body == Body::binary_mime || envelope_.smtputf8;
    const bool undeclared_8bit = eight_bit_ && !declared;
    hops_.finish();
    std::size_t hops = 0;
    for (const auto& r : envelope_.recipients) hops = std::max(hops, hops_.delivered_to(r.address.str()));
    hops += hops_.received();
    std::optional<Reply> refusal;
    if (early_text_) {
        // RFC 2920 3.1: text sent before the 354 is no message. Its end mark is where the
        // client stands again: what follows it may be pipelined after content.
        refusal = reply(ReplyId::improper_pipelining);
        early_bytes_ = 0;
    } else if (bare_newline) {
        refusal = reply(ReplyId::bare_newline_data);  // RFC 5321 2.3.8, docs/architecture.md section 10: SMTP smuggling
    } else if (nul) {
        refusal = reply(ReplyId::nul_data);  // a NUL ends the text early for some readers: smuggling too
    } else if (too_big) {
        refusal = reply(ReplyId::size_exceeded);
    } else if (undeclared_8bit && config_.strict_8bitmime) {
        refusal = reply(ReplyId::undeclared_8bit);
    } else if (text_error_) {
        refusal = text_error_;
    } else if (hops > max_hops) {
        // RFC 5321 6.3: a loop is refused before anything is stored; Received fields count
        // the hops, and a Delivered-To naming a recipient a delivery to it that came back.
        refusal = reply(ReplyId::too_many_hops);
    }
    if (refusal) {
        reset_transaction();
        state_ = State::greeted;
        return send(*refusal);
    }
    Deliver deliver;
    deliver.envelope = envelope_;
    // Postfix, Exim and mox take such mail from broken senders; it goes on labelled as what it
    // is, so a relay declares BODY=8BITMIME for it.
    if (eight_bit_ && (envelope_.body == Body::unspecified || envelope_.body == Body::seven_bit))
        deliver.envelope.body = Body::eight_bit_mime;
    deliver.undeclared_8bit = undeclared_8bit;
    deliver.message = std::move(message_);
    deliver.spilled = std::move(spill_);
    if (authenticated_) deliver.authenticated_user = user_;
    message_.clear();
    spill_.reset();
    action_ = std::move(deliver);
    pending_ = Pending::delivery;
}

void Session::finish_delivery(const DeliveryResult& result) {
    // RFC 5321 3.3 gives SMTP one reply for the message, and 6.1 makes a 250 a promise to
    // deliver or bounce: so 250 when any recipient took it (the server bounces the others,
    // ports.hpp), else the first refusal. Per-recipient replies are LMTP's (RFC 2033 4.2).
    std::optional<Reply> answer;
    if (result.recipients.size() != envelope_.recipients.size()) {
        answer = reply(ReplyId::temporary_failure);
    } else {
        bool any = std::any_of(result.recipients.begin(), result.recipients.end(),
                               [](const Verdict& v) { return v.accepted(); });
        if (any) answer = reply(ReplyId::queued, envelope_.id);
        else answer = *result.recipients.front().refusal;
    }
    reset_transaction();
    state_ = State::greeted;
    send(*answer);
}

void Session::reset_transaction() {
    envelope_ = Envelope{};
    message_.clear();
    spill_.reset();  // the sink's file goes with it
    keep_in_memory_ = false;
    text_error_.reset();
    std::string().swap(piece_);
    hops_ = HopCounter{};
    decoder_.reset();
    chunk_left_ = 0;
    chunk_last_ = false;
    chunk_total_ = 0;
    chunk_refusal_.reset();
    bdat_error_.reset();
    eight_bit_ = false;
    early_text_ = false;
}

}  // namespace vpsmail::smtp
