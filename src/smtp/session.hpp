// The SMTP server session, sans I/O (docs/architecture.md section 4): bytes in through receive(), reply
// bytes out through take_output(), slow effects out through take_action() and back through
// complete(). Owns the protocol state machine, its limits and the Received header; asks the
// server through Ports (ports.hpp) everything about recipients, senders and relaying.
// Knows no sockets, TLS library, clock source, store or Maildir; src/net drives it.
#pragma once

#include "sasl/exchange.hpp"
#include "smtp/codes.hpp"
#include "smtp/command.hpp"
#include "smtp/hops.hpp"
#include "smtp/ports.hpp"
#include "wire/data.hpp"
#include "wire/line.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

namespace vpsmail::smtp {

enum class Mode {
    mx,           ///< port 25: mail for local recipients (and trusted relays); no AUTH
    submission,   ///< port 587: STARTTLS, then AUTH before MAIL (RFC 6409)
    submissions,  ///< port 465: implicit TLS, AUTH before MAIL (RFC 8314)
};

struct SessionConfig {
    std::string hostname;             ///< this server's name, in the greeting and Received
    Mode mode = Mode::mx;
    bool tls_available = false;       ///< STARTTLS can be offered
    bool tls_active = false;          ///< TLS from the start (port 465)
    bool peer_loopback = false;       ///< AUTH without TLS is allowed only on loopback
    std::string peer_address;         ///< for Received and may_relay()
    std::string peer_name;            ///< reverse DNS of the peer; empty when unknown
    std::uint64_t max_message_size = 0;  ///< octets as received; 0 = no limit
    std::size_t max_recipients = 100;
    int max_bad_commands = 10;        ///< then 421 and close
    int max_auth_failures = 3;        ///< then 421 and close
    /// Refuse 8-bit text that MAIL did not declare (554 5.6.0) instead of taking it as 8BITMIME.
    bool strict_8bitmime = false;
    /// Refuse commands sent before a reply the client had to wait for (RFC 2920 3.1). Off for
    /// `sendmail -bs` on a pipe: a local program's script may write ahead, and every command
    /// is still run in order (Postfix enforces this only when told to).
    bool enforce_pipelining = true;
    std::string session_id;           ///< for logs, Received ids and queue ids
    /// Message octets held in memory; past them the text goes to Ports::spill_body()
    /// (docs/architecture.md section 9). 256 KiB: a 2 KB message never touches a file.
    std::size_t memory_limit = 256 * 1024;
};

/// A client that sent bytes before a reply it had to wait for (RFC 2920 3.1), for the log.
struct PipeliningViolation {
    std::string after;        ///< the command whose reply it did not wait for ("DATA")
    bool negotiated = false;  ///< the client had PIPELINING (EHLO) when it sent that command
};

/// One SMTP server connection. Not thread-safe: one thread at a time calls it; the Action it
/// hands out may run anywhere, and its result comes back through complete() on the session's
/// thread. receive() and timeout() never throw: a failing port gives a reply (reply_for).
class Session {
public:
    /// Throws Error(config) when mode is submissions without tls_active.
    Session(const SessionConfig& config, Ports& ports);

    /// Queues the 220 greeting. Call once, first.
    void start();

    /// Takes bytes as they arrived, in any split. Pipelined commands are buffered and
    /// answered in order; while an Action is outstanding nothing is acted upon (the driver
    /// should stop reading until complete()). Bytes after a STARTTLS reply and before
    /// tls_started(), and after close, are dropped.
    ///
    /// RFC 2920 3.1: after a command that must end a pipelined group (EHLO, HELO, DATA, VRFY,
    /// EXPN, NOOP, QUIT, STARTTLS, an AUTH step that gets a 334; any command when the client
    /// has no PIPELINING), the client waits for the reply. Bytes that are already buffered
    /// when such a command is answered were sent too early: each command among them but QUIT
    /// gets 503 5.5.0 and is not run (a BDAT's chunk is read and dropped), and DATA text among
    /// them is read to its end and refused with 503 5.5.0 (never delivered). Only bytes in the
    /// same buffer can be told apart, so what arrives in a later receive() is taken as sent in
    /// time.
    void receive(std::span<const char> bytes);

    /// The reply bytes queued so far; empties the queue.
    std::string take_output();

    /// The slow effect to run, at most once per Action; nullopt when none is waiting.
    std::optional<Action> take_action();

    /// The result of the Action last taken; the session resumes with the buffered input.
    /// Throws Error(internal) when no Action is outstanding or the result is of another kind.
    void complete(ActionResult result);

    /// STARTTLS was accepted: write take_output(), then do the TLS handshake and call
    /// tls_started(). Until then receive() drops everything (RFC 3207 4.2).
    bool wants_starttls() const noexcept { return starttls_pending_; }

    /// The handshake succeeded: the session starts over, unauthenticated, with TLS, and waits
    /// for EHLO without a new greeting (RFC 3207 4.2). Plaintext buffered before is discarded.
    void tls_started();

    /// The session is over: write take_output(), then close. An Action not yet taken is
    /// dropped when the session closes.
    bool wants_close() const noexcept { return state_ == State::closed; }

    /// The last pipelining violation since the previous call, for the driver's log; nullopt
    /// when none.
    std::optional<PipeliningViolation> take_pipelining_violation();

    /// The peer was idle too long (RFC 5321 4.5.3.2): queues 421 4.4.2 and closes.
    void timeout();

    /// The server is stopping (RFC 5321 3.8): queues 421 4.3.2 and closes. The driver calls it
    /// between transactions; a transaction in flight is let finish first.
    void shutdown();

    /// The protocol state (for logs and tests).
    enum class State {
        fresh,     ///< before EHLO/HELO (also after STARTTLS)
        greeted,   ///< EHLO/HELO done, no transaction
        mail,      ///< MAIL accepted
        rcpt,      ///< at least one RCPT accepted
        data,      ///< reading DATA text
        bdat,      ///< a BDAT transaction between chunks
        chunk,     ///< reading the bytes of one BDAT chunk
        auth,      ///< waiting for a SASL response line
        closed,
    };
    State state() const noexcept { return state_; }
    bool authenticated() const noexcept { return authenticated_; }

private:
    struct Row;
    static const Row table_[];
    static const Row* find_row(std::string_view verb);
    enum class Pending { none, password, delivery };

    template <class F>
    void guarded(F&& step);
    void pump();
    void take_line(const wire::Line& line, bool early);
    void run_command(const Row* row, const Command& command, bool early_chunk);
    void take_sasl_line(const wire::Line& line, bool early);
    void after_command(std::string_view verb, bool ends_group, bool pipelining);
    void used(std::size_t unread_before) noexcept;
    void take_data();
    void add_text(std::string_view text, bool in_message);
    void take_chunk();
    void end_chunk();
    Reply sequence_reply(const Row& row) const;

    std::optional<Reply> check_none(const Command&);
    std::optional<Reply> check_mail(const Command&);
    std::optional<Reply> check_auth(const Command&);
    std::optional<Reply> check_starttls(const Command&);

    void cmd_ehlo(const Command&);
    void cmd_helo(const Command&);
    void cmd_mail(const Command&);
    void cmd_rcpt(const Command&);
    void cmd_data(const Command&);
    void cmd_bdat(const Command&);
    void cmd_rset(const Command&);
    void cmd_noop(const Command&);
    void cmd_quit(const Command&);
    void cmd_vrfy(const Command&);
    void cmd_expn(const Command&);
    void cmd_help(const Command&);
    void cmd_starttls(const Command&);
    void cmd_auth(const Command&);

    void send(const Reply& reply);
    void send(ReplyId id, std::string_view detail = {});
    void close(const Reply& reply);
    void bad_command(const Reply& reply);
    void auth_failure(const Reply& reply);
    void sasl_step(const sasl::Step& step);
    void finish_password(PasswordResult result);
    std::string begin_message();
    void finish_message(bool bare_newline, bool too_big, bool nul);
    void finish_delivery(const DeliveryResult& result);
    void reset_transaction();
    bool auth_offered() const noexcept;
    bool helo_accepted(const Command& command);

    SessionConfig config_;
    Ports& ports_;
    wire::LineReader input_;
    std::string output_;
    State state_ = State::fresh;

    bool tls_ = false;
    bool esmtp_ = false;          ///< EHLO rather than HELO
    bool authenticated_ = false;
    bool starttls_pending_ = false;
    Pending pending_ = Pending::none;  ///< an Action is outstanding (taken or not)
    std::optional<Action> action_;     ///< the Action not yet taken
    std::string helo_;
    std::string user_;                 ///< the authenticated user
    std::string pending_user_;         ///< the user whose password is being verified
    int bad_commands_ = 0;
    int auth_failures_ = 0;
    std::uint64_t transactions_ = 0;
    std::optional<sasl::Exchange> sasl_;
    /// The first unread input bytes that were there when a command that ends a pipelined group
    /// was answered: sent before its reply (RFC 2920 3.1).
    std::size_t early_bytes_ = 0;
    std::optional<PipeliningViolation> violation_;

    // The mail transaction (RFC 5321 3.3).
    Envelope envelope_;
    std::string message_;                  ///< Received header, then the text so far (unless spilled)
    std::shared_ptr<BodySink> spill_;      ///< the message past memory_limit; message_ is then empty
    bool keep_in_memory_ = false;          ///< spill_body() said no: the text stays in message_
    std::optional<Reply> text_error_;      ///< spilling failed: the text is read and refused with this
    std::string piece_;                    ///< DATA text decoded from the latest input, once spilled
    HopCounter hops_;                      ///< trace fields of the text (RFC 5321 6.3)
    std::optional<wire::DotDecoder> decoder_;
    wire::NewlineCheck chunk_newlines_;
    std::uint64_t chunk_left_ = 0;         ///< octets of the current chunk still to read
    std::uint64_t chunk_size_ = 0;
    bool chunk_last_ = false;
    State chunk_return_ = State::fresh;    ///< the state a refused chunk returns to
    std::uint64_t chunk_total_ = 0;        ///< BDAT octets of this message so far
    std::optional<Reply> chunk_refusal_;   ///< this chunk's sequence error, given once it is read
    std::optional<Reply> bdat_error_;      ///< a failed BDAT transaction's reply, until LAST
    bool eight_bit_ = false;               ///< the text holds an octet >= 0x80
    bool early_text_ = false;              ///< DATA text came before its 354 (RFC 2920 3.1)
};

}  // namespace vpsmail::smtp
