// vpsmail queue: the outbound spool. list and show read it directly; the other verbs ask the
// running server through its control socket, and act on the spool themselves (under the
// runner lock) when no server runs.
#include "commands.hpp"
#include "control.hpp"
#include "json.hpp"
#include "print.hpp"
#include "queue/spool.hpp"

#include "core/error.hpp"

#include <fmt/format.h>

#include <chrono>

namespace vpsmail::cli {
namespace {

std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string span_text(std::int64_t s) {
    s = std::max<std::int64_t>(0, s);
    if (s < 120) return fmt::format("{}s", s);
    if (s < 7200) return fmt::format("{}m", s / 60);
    if (s < 172800) return fmt::format("{}h", s / 3600);
    return fmt::format("{}d", s / 86400);
}

// When the recipient is tried next: "now", "in 4m", "held", or "-" once final.
std::string next_text(const queue::SpooledMessage& m, const queue::SpoolRecipient& r, std::int64_t now) {
    if (queue::is_final(r.state)) return "-";
    if (m.envelope.held) return "held";
    if (r.next_attempt <= now) return "now";
    return "in " + span_text(r.next_attempt - now);
}

void recipient_json(JsonWriter& j, const queue::SpooledMessage& m, const queue::SpoolRecipient& r, std::int64_t now,
                    bool history) {
    j.begin_object()
        .field("address", r.address)
        .field("state", queue::recipient_state_name(r.state))
        .field("next", next_text(m, r, now))
        .field("attempts", static_cast<std::uint64_t>(r.attempts))
        .field("next_attempt", r.next_attempt == 0 || queue::is_final(r.state) ? std::string() : format_time(r.next_attempt))
        .field("last_error", r.last_error)
        .field("status", r.status)
        .field("remote_mta", r.remote_mta)
        .field("notify", r.notify)
        .field("orcpt", r.orcpt);
    if (history) {
        j.key("history").begin_array();
        for (const auto& a : r.history) j.begin_object().field("time", format_time(a.time)).field("result", a.result).end_object();
        j.end_array();
    }
    j.end_object();
}

void message_json(JsonWriter& j, const queue::SpooledMessage& m, std::int64_t now, bool history) {
    j.begin_object()
        .field("id", m.id)
        .field("created", format_time(m.envelope.created))
        .field("size", static_cast<std::uint64_t>(m.size))
        .field("sender", m.envelope.return_path)
        .field("held", m.envelope.held);
    j.key("recipients").begin_array();
    for (const auto& r : m.envelope.recipients) recipient_json(j, m, r, now, history);
    j.end_array();
    if (history) {
        j.field("body", m.envelope.body)
            .field("smtputf8", m.envelope.smtputf8)
            .field("envid", m.envelope.envid)
            .field("ret", m.envelope.ret)
            .field("received_from", m.envelope.received_from)
            .field("warned", m.envelope.warned);
    }
}

// The header block of a message: everything before the first empty line.
std::string header_block(const std::string& content) {
    auto end = content.find("\r\n\r\n");
    std::string h = end == std::string::npos ? content : content.substr(0, end + 2);
    std::string out;
    for (char c : h)
        if (c != '\r') out += c;
    return out;
}

ErrorKind kind_from_name(std::string_view name) {
    for (ErrorKind k : {ErrorKind::usage, ErrorKind::bad_data, ErrorKind::no_such_user, ErrorKind::no_such_domain, ErrorKind::not_found,
                        ErrorKind::exists, ErrorKind::temporary, ErrorKind::no_space, ErrorKind::in_use, ErrorKind::over_quota,
                        ErrorKind::permission, ErrorKind::config, ErrorKind::limit, ErrorKind::internal})
        if (name == kind_name(k)) return k;
    return ErrorKind::internal;
}

// The server's "error KIND text" reply, as the Error it reports.
void check_reply(const std::string& reply) {
    std::string line = reply.substr(0, reply.find('\n'));
    if (line == "ok") return;
    if (line.starts_with("error ")) {
        std::string rest = line.substr(6);
        auto space = rest.find(' ');
        throw Error(kind_from_name(rest.substr(0, space)), space == std::string::npos ? rest : rest.substr(space + 1));
    }
    throw Error(ErrorKind::temporary, fmt::format("the server's control socket answered '{}'", line));
}

// Runs `edit` on the spool with the runner lock held: no server runs meanwhile.
template <typename Edit>
void offline(Context& ctx, Edit edit) {
    queue::Spool spool(ctx.config().paths.spool_dir);
    auto lock = spool.try_lock();
    if (!lock)
        throw Error(ErrorKind::temporary, fmt::format("a server holds the queue in {} but does not answer on {}; try again",
                                                      spool.dir(), control_socket_path(ctx.config())));
    edit(spool);
}

}  // namespace

int queue_list(Context& ctx) {
    queue::Spool spool(ctx.config().paths.spool_dir);
    auto messages = spool.list();
    const std::int64_t now = unix_now();
    if (ctx.options.json) {
        JsonWriter j;
        j.begin_array();
        for (const auto& m : messages) {
            message_json(j, m, now, false);
            j.end_object();
        }
        j.end_array();
        print(j.str());
        return 0;
    }
    // One line per recipient, so that `awk` sees every field in every row.
    Table t({"ID", "AGE", "SIZE", "SENDER", "RECIPIENT", "STATE", "NEXT", "LAST ERROR"});
    for (const auto& m : messages)
        for (const auto& r : m.envelope.recipients)
            t.add({m.id, span_text(now - m.envelope.created), std::to_string(m.size),
                   m.envelope.return_path.empty() ? "<>" : m.envelope.return_path, r.address,
                   queue::recipient_state_name(r.state), next_text(m, r, now), r.last_error});
    if (!messages.empty()) print(t.str());
    return 0;
}

int queue_show(Context& ctx, const std::string& id) {
    queue::Spool spool(ctx.config().paths.spool_dir);
    queue::SpooledMessage m = spool.get(id);
    std::string headers;
    try {
        headers = header_block(spool.read_content(m));
    } catch (const Error& e) {
        ctx.warn(fmt::format("message {}: {}", id, e.what()));
    }
    const std::int64_t now = unix_now();
    if (ctx.options.json) {
        JsonWriter j;
        message_json(j, m, now, true);
        j.field("headers", headers).end_object();
        print(j.str());
        return 0;
    }
    const queue::Envelope& e = m.envelope;
    std::string out;
    out += fmt::format("id:            {}\n", m.id);
    out += fmt::format("arrived:       {} ({} ago)\n", format_time(e.created), span_text(now - e.created));
    out += fmt::format("size:          {}\n", m.size);
    out += fmt::format("sender:        {}\n", e.return_path.empty() ? "<>" : e.return_path);
    out += fmt::format("from client:   {}\n", e.received_from);
    out += fmt::format("body:          {}{}\n", e.body, e.smtputf8 ? " SMTPUTF8" : "");
    if (!e.envid.empty() || !e.ret.empty()) out += fmt::format("dsn:           ENVID={} RET={}\n", e.envid, e.ret);
    if (e.held) out += "held:          yes (vpsmail queue release " + m.id + ")\n";
    for (const auto& r : e.recipients) {
        out += fmt::format("\nrecipient:     {}\n", r.address);
        out += fmt::format("  state:       {} (next: {}, attempts: {})\n", queue::recipient_state_name(r.state), next_text(m, r, now),
                           r.attempts);
        if (!r.notify.empty() || !r.orcpt.empty()) out += fmt::format("  dsn:         NOTIFY={} ORCPT={}\n", r.notify, r.orcpt);
        if (!r.remote_mta.empty()) out += fmt::format("  remote mta:  {}\n", r.remote_mta);
        if (!r.last_error.empty()) out += fmt::format("  last error:  {}\n", r.last_error);
        for (const auto& a : r.history) out += fmt::format("  {}  {}\n", format_time(a.time), a.result);
    }
    out += "\n" + headers;
    print(out);
    return 0;
}

int queue_act(Context& ctx, const std::string& verb, const std::vector<std::string>& ids) {
    for (const auto& id : ids) queue::check_queue_id(id);
    std::string request = verb;
    for (const auto& id : ids) request += " " + id;
    if (auto reply = ask_server(ctx.config(), request)) {
        check_reply(*reply);
        ctx.note(fmt::format("{}: done by the running server", verb));
        return 0;
    }
    // No server: the same edit on the spool, for the next start to act on.
    offline(ctx, [&](queue::Spool& spool) {
        std::vector<std::string> targets = ids;
        if (targets.empty())
            for (const auto& m : spool.list()) targets.push_back(m.id);
        for (const auto& id : targets) {
            if (verb == "flush" || verb == "retry") spool.retry(id);
            else if (verb == "hold") spool.hold(id);
            else if (verb == "release") spool.release(id);
            else if (verb == "delete") spool.remove(id);
        }
    });
    if (verb == "flush" || verb == "retry" || verb == "release")
        ctx.warn("no server is running: the messages are due and go when vpsmail serve starts");
    return 0;
}

int queue_bounce(Context& ctx, const std::string& id, const std::string& reason) {
    queue::check_queue_id(id);
    for (char c : reason)
        if (static_cast<unsigned char>(c) < 0x20)
            throw Error(ErrorKind::bad_data, "--reason must be one line of text without control characters");
    const std::string text = reason.empty() ? "bounced by the administrator" : reason;
    if (auto reply = ask_server(ctx.config(), "bounce " + id + " " + text)) {
        check_reply(*reply);
        return 0;
    }
    offline(ctx, [&](queue::Spool& spool) { spool.bounce(id, text); });
    ctx.warn("no server is running: the bounce is sent when vpsmail serve starts");
    return 0;
}

}  // namespace vpsmail::cli
