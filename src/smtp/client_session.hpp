// The SMTP client session, sans I/O (docs/architecture.md section 4): server replies in through receive(),
// command bytes out through take_output(). Owns the client side of RFC 5321 with PIPELINING
// (RFC 2920), STARTTLS (RFC 3207), AUTH PLAIN/LOGIN (RFC 4954), SIZE (RFC 1870), 8BITMIME
// (RFC 6152), SMTPUTF8 (RFC 6531), DSN parameters (RFC 3461) and BDAT with BINARYMIME
// (RFC 3030) for text that DATA cannot carry, and turns replies into
// per-recipient outcomes. Knows no sockets, DNS, TLS library or clock: src/net drives it.
#pragma once

#include "queue/transport.hpp"
#include "smtp/codes.hpp"
#include "wire/line.hpp"

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace vpsmail::smtp {

struct ClientConfig {
    std::string helo_name;      ///< our name in EHLO/HELO
    bool tls_wanted = true;     ///< STARTTLS when the server offers it (opportunistic TLS)
    bool tls_required = false;  ///< no TLS, no mail: the session fails instead of going on in clear
    bool tls_active = false;    ///< TLS from the start (implicit TLS, port 465)
    /// AUTH credentials; empty username: no AUTH. Never sent without TLS.
    std::string username;
    std::string password;
    /// Longest reply line accepted, CRLF included. RFC 5321 4.5.3.1.5 says 512, but real servers
    /// send longer texts: be lenient in what we accept (RFC 5321 4.5.3.1 "should be avoided").
    std::size_t max_reply_line = 2048;
};

/// What the server answered EHLO with (RFC 5321 4.1.1.1), keywords upper-cased.
struct Capabilities {
    bool esmtp = false;               ///< EHLO succeeded (false after a HELO fallback)
    bool pipelining = false;          ///< RFC 2920
    bool size = false;                ///< RFC 1870
    std::uint64_t max_size = 0;       ///< SIZE's value; 0: no fixed limit
    bool eightbitmime = false;        ///< RFC 6152
    bool chunking = false;            ///< RFC 3030 BDAT
    bool binarymime = false;          ///< RFC 3030 BODY=BINARYMIME (needs CHUNKING too)
    bool smtputf8 = false;            ///< RFC 6531
    bool starttls = false;            ///< RFC 3207
    bool dsn = false;                 ///< RFC 3461
    bool enhanced_status_codes = false;  ///< RFC 2034
    std::vector<std::string> auth;    ///< RFC 4954 mechanisms, upper case
};

/// The command whose reply is awaited (or the bytes being written): the driver picks the
/// timeout from it (timeout_for) and names it in errors (describe).
enum class ClientPhase {
    greeting,    ///< waiting for the 220 greeting
    ehlo,        ///< EHLO or HELO
    starttls,    ///< STARTTLS, and the handshake after it
    auth,        ///< AUTH exchange
    ready,       ///< idle: send() or quit() may be called
    mail,        ///< MAIL FROM
    rcpt,        ///< RCPT TO
    data_init,   ///< DATA, waiting for 354
    data_end,    ///< message text written (after DATA's 354, or BDAT), waiting for the final reply
    rset,        ///< RSET after a transaction that did not reach the final dot
    quit,        ///< QUIT
    done,        ///< closed, or failed: nothing more will be sent
};

/// "while sending RCPT TO", for "lost connection with HOST while ..." texts.
std::string_view describe(ClientPhase phase) noexcept;

struct ClientTimeouts {
    std::chrono::seconds connect{30};
    std::chrono::seconds command{300};  ///< RFC 5321 4.5.3.2: 5 minutes for most replies
    std::chrono::seconds data{600};     ///< RFC 5321 4.5.3.2.6: 10 minutes after the final dot
};

/// How long to wait in `phase` (RFC 5321 4.5.3.2): the greeting and most commands get
/// `command`; DATA's 354 min(command, 2 min); the final reply `data`. `writing` with phase
/// data_end is the time for each piece of message text written (min(command, 3 min)).
std::chrono::seconds timeout_for(ClientPhase phase, const ClientTimeouts& timeouts, bool writing = false) noexcept;

/// A reply line's parse for the fuzz target and the session: nullopt when `line` is not
/// "ddd", "ddd text" or "ddd-text" with a reply code 2xx-5xx (RFC 5321 4.2).
struct ReplyLine {
    int code = 0;
    bool last = true;  ///< "ddd " or "ddd": the last line of the reply
    std::string_view text;
};
std::optional<ReplyLine> parse_reply_line(std::string_view line) noexcept;

/// Splits an enhanced status code ("5.1.1 ") off the front of `text` when it is there and
/// its class matches `code` (RFC 2034 3); returns it, and leaves the rest in `text`.
std::string take_enhanced_status(int code, std::string& text);

/// Why a session failed before or outside a transaction (greeting refused, EHLO refused, TLS
/// required but unavailable, AUTH refused, a garbled reply): the driver tries the next host or
/// defers with this text.
struct ClientFailure {
    Reply reply;              ///< the server's reply, or ours (451 4.x.x) when it gave none
    bool remote = false;      ///< reply came from the server
    ClientPhase phase = ClientPhase::greeting;
};

/// One outbound SMTP connection. Not thread-safe: one thread at a time calls it.
/// receive() never throws; send() and quit() throw Error(internal) when not ready.
class ClientSession {
public:
    enum class State {
        opening,   ///< greeting, EHLO, STARTTLS, AUTH in progress
        ready,     ///< between transactions: send() or quit()
        sending,   ///< a transaction is in flight, or the RSET after one
        quitting,  ///< QUIT sent
        failed,    ///< the session cannot go on (see failure()); close the connection
        closed,    ///< QUIT answered, or closed() was called
    };

    explicit ClientSession(ClientConfig config);

    /// Takes server bytes in any split. Replies are matched to commands in order.
    void receive(std::span<const char> bytes);

    /// The command bytes queued so far; empties the queue.
    std::string take_output();

    /// The server accepted STARTTLS: write take_output() (nothing), do the TLS handshake, then
    /// call tls_started(). A failed handshake: call closed().
    bool wants_starttls() const noexcept { return starttls_pending_; }

    /// The handshake succeeded: buffered plaintext is dropped, what EHLO said is forgotten and
    /// EHLO is sent again (RFC 3207 4.2).
    void tls_started();

    /// Starts one transaction (state ready). A message the server cannot take (larger than its
    /// SIZE, SMTPUTF8 needed but not offered, binary text without BINARYMIME and CHUNKING) is
    /// refused at once without sending a byte: its outcome is ready and the state stays ready.
    /// Binary text (BODY=BINARYMIME, or any bare CR, bare LF or NUL) goes as one "BDAT n LAST"
    /// chunk with BODY=BINARYMIME after the RCPT replies, never over DATA (RFC 3030 3);
    /// elsewhere DATA.
    void send(const queue::OutboundMessage& message);

    /// The outcome of the transaction last sent, once every recipient has one: after the final
    /// reply, a refusal, or closed(). Handed out once.
    std::optional<queue::MessageOutcome> take_outcome();

    /// Queues QUIT (state ready); the state becomes closed when it is answered.
    void quit();

    /// The connection ended or timed out: every recipient of the transaction in flight without
    /// an outcome is deferred, 451 4.4.2 `text` ("lost connection with mx [ip] while sending
    /// RCPT TO"); the state becomes closed (or failed when the session was still opening).
    void closed(std::string_view text);

    State state() const noexcept { return state_; }
    ClientPhase phase() const noexcept;
    const Capabilities& capabilities() const noexcept { return capabilities_; }
    bool tls_active() const noexcept { return tls_; }
    bool authenticated() const noexcept { return authenticated_; }
    /// Why the state is failed; nullopt otherwise.
    const std::optional<ClientFailure>& failure() const noexcept { return failure_; }

private:
    enum class Await { greeting, ehlo, helo, starttls, auth, mail, rcpt, data, data_end, bdat, rset, quit };
    struct Transaction;

    void pump();
    void take_reply(const Reply& reply);
    void on_reply(Await what, const Reply& reply);
    void after_hello();
    void start_auth();
    void on_auth(const Reply& reply);
    void on_mail(const Reply& reply);
    void on_rcpt(const Reply& reply);
    void on_data(const Reply& reply);
    void on_data_end(const Reply& reply);
    void next_rcpt();
    void finish_transaction();
    void command(Await what, std::string line);
    void fail(Reply reply, bool remote);
    void settle_open(int code, std::string_view status, std::string_view text, bool remote);
    ClientPhase phase_of(Await what) const noexcept;
    std::string mail_command(const queue::OutboundMessage& message, bool binary) const;
    std::string rcpt_command(const queue::OutboundRecipient& recipient) const;

    ClientConfig config_;
    wire::LineReader input_;
    std::string output_;
    State state_ = State::opening;
    std::deque<Await> awaited_;  ///< commands sent, replies pending, oldest first
    std::optional<Await> answering_;  ///< the command whose reply is being acted on
    Capabilities capabilities_;
    bool tls_ = false;
    bool authenticated_ = false;
    bool starttls_pending_ = false;
    bool helo_fallback_done_ = false;
    int auth_step_ = 0;          ///< AUTH LOGIN: 334 challenges answered
    std::string auth_mechanism_;
    std::optional<ClientFailure> failure_;

    // The reply being read: its lines so far.
    std::vector<std::string> reply_lines_;
    int reply_code_ = 0;

    struct Transaction {
        std::vector<std::optional<queue::RecipientOutcome>> outcomes;
        std::vector<std::string> rcpt_commands;
        std::vector<bool> accepted;
        std::string text;          ///< dot-stuffed message text, or the BDAT chunk as it is
        bool bdat = false;         ///< the text goes with BDAT (BODY=BINARYMIME), not DATA
        std::size_t next_rcpt = 0;  ///< without PIPELINING: the next RCPT to send
        std::size_t rcpt_replies = 0;
        bool mail_ok = false;
        bool dsn = false;          ///< DSN parameters were sent
        bool data_sent = false;    ///< DATA or BDAT command sent
        bool text_sent = false;    ///< the final dot was sent, or BDAT LAST was taken
    };
    std::optional<Transaction> transaction_;
    std::optional<queue::MessageOutcome> outcome_;
};

}  // namespace vpsmail::smtp
