// vpsmail sendmail: the sendmail(8) command line that cron, PHP, mutt and git send-email call
// as /usr/sbin/sendmail. Parses sendmail's own flags (getopt style, not CLI11's), prepares the
// message (mime/submission) and delivers it: directly through server::deliver_message when this
// process may open the store and write the spool (root, which becomes [server] user first, or
// that user), else through the maildrop that `vpsmail serve` picks up (server/maildrop).
// -bs speaks SMTP on stdin/stdout through the server's own smtp::Session.
#include "commands.hpp"
#include "control.hpp"
#include "core/address.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "mime/submission.hpp"
#include "print.hpp"
#include "route/resolver.hpp"
#include "server/maildrop.hpp"
#include "server/peer.hpp"
#include "server/server.hpp"
#include "server/session_driver.hpp"
#include "server/smtp_service.hpp"
#include "smtp/received.hpp"
#include "smtp/session.hpp"
#include "store/store.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <fcntl.h>
#include <grp.h>
#include <optional>
#include <pwd.h>
#include <sys/random.h>
#include <sysexits.h>
#include <unistd.h>

namespace vpsmail::cli {
namespace {

enum class Mode { deliver, smtp_stdio, print_queue, verify, flush, newaliases };

struct Options {
    Mode mode = Mode::deliver;
    bool extract = false;        // -t
    bool dot_ends = true;        // cleared by -i / -oi
    std::optional<std::string> sender;  // -f / -r
    std::string full_name;       // -F
    std::vector<std::string> recipients;
};

[[noreturn]] void usage(const std::string& what) {
    throw Error(ErrorKind::usage, fmt::format("{} (see 'man vpsmail-sendmail')", what));
}

// getopt(3) style, as sendmail and Postfix parse: flags may be grouped (-ti), a flag's value
// may follow it in the same word (-fuser, -oi, -bs) or in the next one (-f user); the first
// word that is not a flag, or "--", starts the recipients.
Options parse_options(const std::vector<std::string>& args) {
    Options o;
    std::size_t i = 0;
    for (; i < args.size(); ++i) {
        const std::string& word = args[i];
        if (word == "--") {
            ++i;
            break;
        }
        if (word.size() < 2 || word[0] != '-') break;
        for (std::size_t k = 1; k < word.size(); ++k) {
            const char flag = word[k];
            // The flags that take a value: the rest of the word, or the next word.
            if (std::string_view("BCFfhLNOoRrVXbq").find(flag) != std::string_view::npos) {
                std::string value = word.substr(k + 1);
                // -q alone (run the queue) has no value; -q1h only an attached one.
                if (value.empty() && flag != 'q') {
                    if (i + 1 >= args.size()) usage(fmt::format("the flag -{} needs a value", flag));
                    value = args[++i];
                }
                switch (flag) {
                case 'f':
                case 'r': o.sender = value; break;
                case 'F': o.full_name = value; break;
                case 'o':
                    // -oi is -i. The other -o options of sendmail.cf (-odi -odb delivery mode,
                    // -oem -oee error reporting, -om "me too", -oA alias file, ...) tune
                    // sendmail's own queue and reporting, which vpsmail does its way: ignored.
                    if (value == "i") o.dot_ends = false;
                    break;
                case 'b':
                    if (value == "m") o.mode = Mode::deliver;
                    else if (value == "s") o.mode = Mode::smtp_stdio;
                    else if (value == "p") o.mode = Mode::print_queue;
                    else if (value == "v") o.mode = Mode::verify;
                    else if (value == "i") o.mode = Mode::newaliases;
                    else if (value == "d" || value == "D") usage("-bd: run 'vpsmail serve' for the daemon");
                    else usage(fmt::format("unknown mode -b{}", value));
                    break;
                case 'q':
                    // -q: try the queue now; -qINTERVAL (a queue daemon's period) is serve's business.
                    if (value.empty()) o.mode = Mode::flush;
                    else usage(fmt::format("-q{}: run 'vpsmail serve' for a queue daemon", value));
                    break;
                default:
                    // -B body type (8BITMIME is seen in the bytes), -C config (use --config before
                    // 'sendmail'), -h hop count, -L log label, -N/-R/-V DSN notify/ret/envid
                    // (no DSN requests from the command line), -O option, -X traffic log: ignored.
                    break;
                }
                break;  // the value took the rest of the word
            }
            switch (flag) {
            case 't': o.extract = true; break;
            case 'i': o.dot_ends = false; break;
            case 'I': o.mode = Mode::newaliases; break;
            // -n no aliasing, -v verbose, -U initial submission, -G gateway submission, -m me
            // too, -8 8-bit: accepted for the programs that pass them, no effect here.
            case 'n': case 'v': case 'U': case 'G': case 'm': case '8': break;
            default: usage(fmt::format("unknown flag -{}", flag));
            }
        }
    }
    for (; i < args.size(); ++i) o.recipients.push_back(args[i]);
    return o;
}

// The invoking user's login: the password entry of the real uid, else the number.
std::string login_name(uid_t uid) {
    if (struct passwd* pw = ::getpwuid(uid)) return pw->pw_name;
    return std::to_string(uid);
}

std::string random_hex(std::size_t bytes) {
    std::string out;
    unsigned char b[32];
    bytes = std::min(bytes, sizeof b);
    if (::getrandom(b, bytes, 0) != static_cast<ssize_t>(bytes))
        for (std::size_t i = 0; i < bytes; ++i) b[i] = static_cast<unsigned char>(::getpid() >> (i % 4 * 8));
    for (std::size_t i = 0; i < bytes; ++i) out += fmt::format("{:02x}", b[i]);
    return out;
}

Address parse_sender(const std::string& text) {
    try {
        return parse_address(text);
    } catch (const Error& e) {
        throw Error(ErrorKind::bad_data, fmt::format("invalid sender (-f): {}", e.what()));
    }
}

// Standard input, at most `limit` bytes (one more tells that it is too big).
std::string read_stdin(std::uint64_t limit) {
    std::string text;
    char buffer[65536];
    for (;;) {
        ssize_t n = ::read(STDIN_FILENO, buffer, sizeof buffer);
        if (n > 0) {
            text.append(buffer, static_cast<std::size_t>(n));
            if (limit != 0 && text.size() > limit)
                throw Error(ErrorKind::limit, fmt::format("the message is larger than the limit of {} bytes ([limits] max_message_size)", limit));
        } else if (n == 0) {
            return text;
        } else if (errno != EINTR) {
            throw Error(ErrorKind::temporary, "cannot read the message from standard input", errno_text("read", errno));
        }
    }
}

// As root, become [server] user before touching the store, the spool or a Maildir, so that
// what is written belongs to the server as if it had received the message. Nothing when not
// root, or when [server] user is empty, root or unknown.
void become_server_user(const Config& config) {
    if (::geteuid() != 0 || config.server.user.empty()) return;
    struct passwd* pw = ::getpwnam(config.server.user.c_str());
    if (pw == nullptr || pw->pw_uid == 0) return;
    if (::setgroups(1, &pw->pw_gid) != 0 || ::setgid(pw->pw_gid) != 0 || ::setuid(pw->pw_uid) != 0)
        throw Error(ErrorKind::permission, fmt::format("cannot become [server] user {}", config.server.user), errno_text("setuid", errno));
}

// May this process deliver directly: read and write the store, write the spool (or make it:
// the server never ran, and the Server made here creates it)?
bool may_deliver_directly(const std::string& db, const std::string& spool_dir) {
    if (::faccessat(AT_FDCWD, db.c_str(), R_OK | W_OK, AT_EACCESS) != 0) return false;
    return ::faccessat(AT_FDCWD, (spool_dir + "/msg").c_str(), W_OK | X_OK, AT_EACCESS) == 0 || errno == ENOENT;
}

// The library logs to stderr; a command's stderr is for its one error line (cron mails
// whatever it sees). While it lives, log lines go to <state_dir>/vpsmail.log (the detached
// server's log), or nowhere when that cannot be opened.
class LogToFile {
public:
    explicit LogToFile(const std::string& state_dir) {
        saved_ = ::dup(STDERR_FILENO);
        int fd = ::open((state_dir + "/vpsmail.log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0) fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (fd >= 0) {
            ::dup2(fd, STDERR_FILENO);
            ::close(fd);
        }
        log::set_timestamps(true);
    }
    ~LogToFile() {
        log::set_timestamps(false);
        if (saved_ >= 0) {
            ::dup2(saved_, STDERR_FILENO);
            ::close(saved_);
        }
    }
    LogToFile(const LogToFile&) = delete;
    LogToFile& operator=(const LogToFile&) = delete;

private:
    int saved_ = -1;
};

// Who submits: the real user, before any change of user.
struct Submitter {
    uid_t uid = ::getuid();
    std::string login = login_name(::getuid());
};

// ---- -bs: SMTP on standard input and output -------------------------------------------

void write_stdout(const std::string& bytes) {
    std::size_t done = 0;
    while (done < bytes.size()) {
        ssize_t n = ::write(STDOUT_FILENO, bytes.data() + done, bytes.size() - done);
        if (n > 0) done += static_cast<std::size_t>(n);
        else if (n < 0 && errno != EINTR) throw Error(ErrorKind::temporary, "cannot write to standard output", errno_text("write", errno));
    }
}

// The blocking driver of one Conversation: what net/ does with a socket, with stdin and stdout.
void run_stdio(server::Conversation& c) {
    auto pump = [&] {
        while (auto job = c.take_job()) (*job)()();
        for (std::string out = c.take_output(server::output_piece); !out.empty(); out = c.take_output(server::output_piece))
            write_stdout(out);
    };
    c.start();
    pump();
    char buffer[65536];
    std::string reason = "quit";
    while (!c.wants_close()) {
        ssize_t n = ::read(STDIN_FILENO, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            reason = n == 0 ? "eof" : "error: read";
            break;
        }
        c.receive(std::string_view(buffer, static_cast<std::size_t>(n)));
        pump();
    }
    c.closed(reason);
}

// Maildrop mode's Ports: any syntactically valid recipient (the server resolves it at
// pickup), any sender (like -f), relaying allowed (a local submission).
class DropPorts final : public smtp::Ports {
public:
    smtp::Verdict check_recipient(const smtp::RecipientQuery&) override { return smtp::Verdict::accept(); }
    smtp::Verdict check_sender(const std::string&, const smtp::MailFrom&) override { return smtp::Verdict::accept(); }
    bool may_relay(const std::string&) override { return true; }
    std::chrono::system_clock::time_point now() override { return std::chrono::system_clock::now(); }
};

// Maildrop mode's Conversation: the real smtp::Session, whose Deliver writes a maildrop file.
class DropConversation final : public server::SessionDriver<smtp::Session> {
public:
    DropConversation(const Config& config, std::string id)
        : SessionDriver(server::Peer{}, session_, server::ConnectionLog::none), config_(config),
          session_(session_config(config, std::move(id)), ports_) {}

    std::chrono::seconds idle_timeout() const override { return config_.limits.command_timeout; }
    bool busy() const override { return false; }

private:
    static smtp::SessionConfig session_config(const Config& config, std::string id) {
        smtp::SessionConfig c;
        c.hostname = config.server.hostname;
        c.mode = smtp::Mode::mx;
        c.tls_available = false;  // nothing to encrypt on a pipe
        c.peer_loopback = true;
        c.enforce_pipelining = false;  // a local script on a pipe may write ahead
        c.peer_address = "127.0.0.1";
        c.max_message_size = config.limits.max_message_size;
        c.max_recipients = static_cast<std::size_t>(config.limits.max_recipients);
        c.session_id = std::move(id);
        return c;
    }

    smtp::ActionResult run(const smtp::Action& action) override {
        if (std::holds_alternative<smtp::VerifyPassword>(action)) return smtp::PasswordResult::bad;  // no AUTH offered
        return drop(std::get<smtp::Deliver>(action));
    }

    smtp::DeliveryResult drop(const smtp::Deliver& action) {
        server::MaildropEntry entry;
        entry.created = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
        entry.sender = action.envelope.return_path ? action.envelope.return_path->str() : std::string();
        for (const auto& r : action.envelope.recipients) entry.recipients.push_back(r.address.str());
        entry.message = action.message;
        smtp::DeliveryResult result;
        // What the pickup would bounce is refused now, while the client can still hear it.
        if (auto refusal = server::check_local_message(entry.message, entry.recipients.size(), config_.limits)) {
            result.recipients.assign(entry.recipients.size(), smtp::Verdict::refuse(*refusal));
            return result;
        }
        try {
            server::write_maildrop(config_.paths.spool_dir, entry, config_.limits);
            result.recipients.assign(entry.recipients.size(), smtp::Verdict::accept());
        } catch (const Error& e) {
            result.recipients.assign(entry.recipients.size(), smtp::Verdict::refuse(smtp::Reply{451, "4.3.0", e.what()}));
        }
        return result;
    }

    const Config& config_;
    DropPorts ports_;
    smtp::Session session_;
};

// ---- the modes ------------------------------------------------------------------------

int verify(Context& ctx, const Options& o) {
    if (o.recipients.empty()) usage("-bv: no recipients given");
    const route::Options options = ctx.route_options();
    std::string out;
    bool all = true;
    for (const auto& address : o.recipients) {
        route::Resolution r = route::resolve(ctx.store(), address, options);
        if (r.outcome == route::Outcome::deliver) {
            std::vector<std::string> targets;
            for (const auto& t : r.targets) targets.push_back(fmt::format("{} {}", route::target_kind_name(t.kind), t.value));
            out += fmt::format("{}: deliverable: {}\n", address, join(targets));
            continue;
        }
        all = false;
        if (r.failures.empty()) out += fmt::format("{}: undeliverable: {}\n", address, route::outcome_name(r.outcome));
        else {
            const auto& f = r.failures.front();
            out += fmt::format("{}: undeliverable: {} {} {}\n", address, f.code, f.status, f.text);
        }
    }
    print(out);
    return all ? EX_OK : EX_NOUSER;
}

int smtp_stdio(Context& ctx) {
    const Config config = ctx.config();
    const std::string id = fmt::format("sendmail.{}", random_hex(6));
    become_server_user(config);
    const std::string db = ctx.db_path();
    if (may_deliver_directly(db, config.paths.spool_dir)) {
        LogToFile log(config.paths.state_dir);
        ctx.store();  // created and migrated, as serve would
        server::Server server(config, db);
        auto conversation = server.smtp_service("sendmail").open(server::local_submission_peer(id));
        run_stdio(*conversation);
        request_nudge(config);
        return EX_OK;
    }
    DropConversation conversation(config, id);
    run_stdio(conversation);
    return EX_OK;
}

// Writes the message for the server to pick up (its owner, this process's user, is the
// submitter). Throws Error.
void drop(const Config& config, const std::optional<Address>& sender, const std::vector<Address>& recipients,
          const std::string& message) {
    server::MaildropEntry entry;
    entry.created = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    entry.sender = sender ? sender->str() : std::string();
    for (const auto& r : recipients) entry.recipients.push_back(r.str());
    entry.message = message;
    server::write_maildrop(config.paths.spool_dir, entry, config.limits);
}

int deliver(Context& ctx, const Options& o, const Submitter& who) {
    if (!o.extract && o.recipients.empty()) usage("no recipients given (name them, or use -t to read them from the message)");
    const Config config = ctx.config();
    const auto now = std::chrono::system_clock::now();
    const std::string id = fmt::format("{:x}.{}", std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count(),
                                       random_hex(6));

    // -f "" and -f "<>" give the null sender (RFC 5321 4.5.5), as for bounces.
    std::optional<Address> sender;
    if (!o.sender) sender = parse_sender(who.login + "@" + config.server.hostname);
    else if (*o.sender != "" && *o.sender != "<>") {
        std::string text = *o.sender;
        if (text.size() > 2 && text.front() == '<' && text.back() == '>') text = text.substr(1, text.size() - 2);
        // A bare login, as sendmail takes it: in this host's name.
        if (text.find('@') == std::string::npos) text += "@" + config.server.hostname;
        sender = parse_sender(text);
    }
    std::vector<Address> recipients;
    for (const auto& r : o.recipients) {
        try {
            recipients.push_back(parse_recipient(r));
        } catch (const Error& e) {
            throw Error(ErrorKind::bad_data, fmt::format("invalid recipient: {}", e.what()));
        }
    }

    mime::SubmitOptions so;
    so.dot_ends = o.dot_ends;
    so.extract_recipients = o.extract;
    so.from_address = sender ? sender->str() : who.login + "@" + config.server.hostname;
    so.from_name = o.full_name;
    so.date = smtp::format_date(now);
    so.message_id = fmt::format("<{}@{}>", id, config.server.hostname);
    so.max_size = config.limits.max_message_size;
    mime::Submission submission = mime::prepare_submission(read_stdin(config.limits.max_message_size), so);
    // Postfix: with -t, the command line's recipients are added to the header's.
    for (auto& r : recipients) {
        bool seen = false;
        for (const auto& s : submission.recipients) seen = seen || lower_ascii(s.str()) == lower_ascii(r.str());
        if (!seen) submission.recipients.push_back(std::move(r));
    }
    if (submission.recipients.empty())
        throw Error(ErrorKind::bad_data, "-t: the message has no recipient in its To, Cc or Bcc fields");
    // The pickup's own checks, so that what is accepted here never bounces there.
    if (auto refusal = server::check_local_message(submission.message, submission.recipients.size(), config.limits))
        throw Error(ErrorKind::bad_data, refusal->text);

    become_server_user(config);
    const std::string db = ctx.db_path();
    if (!may_deliver_directly(db, config.paths.spool_dir)) {
        drop(config, sender, submission.recipients, submission.message);
        request_nudge(config);
        return EX_OK;
    }

    smtp::Deliver action;
    action.envelope.id = id;
    action.envelope.return_path = sender;
    bool utf8 = false, eight_bit = false;
    for (const auto& r : submission.recipients) {
        action.envelope.recipients.push_back(smtp::Recipient{r, std::nullopt, std::nullopt});
        for (unsigned char c : r.str()) utf8 = utf8 || c >= 0x80;
    }
    for (unsigned char c : submission.message) eight_bit = eight_bit || c >= 0x80;
    action.envelope.smtputf8 = utf8;
    action.envelope.body = eight_bit ? smtp::Body::eight_bit_mime : smtp::Body::seven_bit;
    action.message = server::format_local_received(config.server.hostname, static_cast<std::uint32_t>(who.uid), who.login, id, now) +
                     submission.message;

    smtp::DeliveryResult result;
    {
        LogToFile log(config.paths.state_dir);
        ctx.store();  // created and migrated, as serve would
        server::Server server(config, db);
        log::line("sendmail", {{"id", id}, {"uid", std::to_string(who.uid)}, {"user", who.login},
                               {"from", sender ? sender->str() : std::string()},
                               {"recipients", std::to_string(action.envelope.recipients.size())}});
        // Local mailboxes that fail for now are queued: the queue runner retries them.
        result = server::deliver_message(server, action, server::local_submission_peer("sendmail." + id), server::OnTemporaryFailure::queue);
    }

    // Refusals are the caller's to hear about, one line each; temporary ones (not even the
    // queue could take them) make it try again later.
    std::vector<std::string> refused;
    bool temporary = false;
    for (std::size_t i = 0; i < result.recipients.size() && i < action.envelope.recipients.size(); ++i) {
        const auto& v = result.recipients[i];
        if (v.accepted()) continue;
        temporary = temporary || v.refusal->temporary();
        refused.push_back(fmt::format("{}: {} {} {}", action.envelope.recipients[i].address.str(), v.refusal->code,
                                      v.refusal->status, v.refusal->text));
    }
    if (refused.size() < result.recipients.size()) request_nudge(config);
    if (refused.empty()) return EX_OK;
    for (std::size_t i = 0; i + 1 < refused.size(); ++i) std::fprintf(stderr, "vpsmail: %s\n", refused[i].c_str());
    throw Error(temporary ? ErrorKind::temporary : ErrorKind::no_such_user, refused.back());
}

}  // namespace

int newaliases() {
    print("vpsmail needs no newaliases: aliases take effect at once ('vpsmail alias add')\n");
    return EX_OK;
}

int sendmail(Context& ctx, const std::vector<std::string>& args) {
    const Options o = parse_options(args);
    const Submitter who;
    switch (o.mode) {
    case Mode::print_queue: return queue_list(ctx);
    case Mode::newaliases: return newaliases();
    case Mode::verify: return verify(ctx, o);
    case Mode::flush: request_flush(ctx.config()); return EX_OK;
    case Mode::smtp_stdio: return smtp_stdio(ctx);
    case Mode::deliver: break;
    }
    return deliver(ctx, o, who);
}

}  // namespace vpsmail::cli
