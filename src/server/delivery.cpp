#include "server/delivery.hpp"

#include "core/error.hpp"
#include "core/log.hpp"
#include "mailstore/delivery.hpp"
#include "mailstore/external.hpp"
#include "mailstore/index_pool.hpp"
#include "mailstore/sqlite_index.hpp"
#include "mailstore/maildir.hpp"
#include "mailstore/quota.hpp"
#include "queue/spool.hpp"
#include "route/resolver.hpp"
#include "route/targets.hpp"
#include "server/body_file.hpp"
#include "server/server.hpp"
#include "smtp/codes.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

namespace vpsmail::server {
namespace {

// Inside, a refusal is an SMTP-style reply (code, RFC 3463 status, text), as DSNs need it; the
// public outcome types carry the same three facts.
using smtp::Reply;
using smtp::ReplyId;
using smtp::Verdict;

Reply reply_of(const route::Failure& f) { return Reply{f.code, f.status, f.text}; }

// The first permanent failure, else the first one (a recipient that only fails temporarily
// gets a 4xx and the client tries again).
Reply refusal_of(const route::Resolution& r) {
    for (const auto& f : r.failures)
        if (!f.temporary()) return reply_of(f);
    if (!r.failures.empty()) return reply_of(r.failures.front());
    return smtp::reply(ReplyId::recipient_unknown);
}


// "local@domain" of a mailbox target.
std::pair<std::string, std::string> split_mailbox(const std::string& value) {
    auto at = value.rfind('@');
    return {value.substr(0, at), value.substr(at + 1)};
}

std::string notify_text(const std::optional<DsnNotify>& n) {
    if (!n) return {};
    std::string out;
    auto add = [&](bool on, const char* word) {
        if (on) out += (out.empty() ? "" : ",") + std::string(word);
    };
    add(n->never, "NEVER");
    add(n->success, "SUCCESS");
    add(n->failure, "FAILURE");
    add(n->delay, "DELAY");
    return out;
}

queue::Envelope spool_envelope(const DeliveryRequest& request) {
    queue::Envelope spooled;
    spooled.return_path = request.return_path;
    spooled.body = request.body;
    spooled.smtputf8 = request.smtputf8;
    spooled.envid = request.envid;
    spooled.ret = request.ret;
    spooled.received_from = request.peer.address;
    spooled.created = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    return spooled;
}

queue::SpoolRecipient spool_recipient(const DeliveryRecipient& r, std::string address) {
    queue::SpoolRecipient out;
    out.address = std::move(address);
    out.notify = notify_text(r.notify);
    out.orcpt = r.orcpt;
    return out;
}

std::string reply_text(const Reply& reply) { return fmt::format("{} {} {}", reply.code, reply.status, reply.text); }

// A recipient of a report entry whose failure DSN the queue runner sends.
queue::SpoolRecipient bounced_recipient(const DeliveryRecipient& rcpt, const Reply& reply) {
    queue::SpoolRecipient r = spool_recipient(rcpt, rcpt.address.str());
    r.state = queue::RecipientState::bounced;
    r.local = true;
    r.code = reply.code;
    r.status = reply.status;
    r.last_error = reply_text(reply);
    return r;
}

// A local recipient of a report entry that the queue runner delivers later.
queue::SpoolRecipient retry_recipient(const DeliveryRecipient& rcpt, const Reply& reply) {
    queue::SpoolRecipient r = spool_recipient(rcpt, rcpt.address.str());
    r.local = true;
    r.last_error = reply_text(reply);
    return r;
}

// One mailbox of an accepted recipient's expansion that did not get the message: bounced
// (`reply` permanent: a full mailbox) or retried by the queue runner as that mailbox alone,
// `\bob@d` (docs/routing.md rule 8), so the parts already delivered get no second copy. The DSN
// names the mailbox, and the address the client gave as its original recipient (RFC 3461 4.2).
queue::SpoolRecipient mailbox_part(const DeliveryRecipient& rcpt, const std::string& mailbox, const Reply& reply) {
    queue::SpoolRecipient r = spool_recipient(rcpt, reply.temporary() ? "\\" + mailbox : mailbox);
    if (rcpt.orcpt.empty()) r.orcpt = "rfc822;" + rcpt.address.str();
    r.local = true;
    r.last_error = reply_text(reply);
    if (!reply.temporary()) {
        r.state = queue::RecipientState::bounced;
        r.code = reply.code;
        r.status = reply.status;
    }
    return r;
}

// A program or file of an accepted recipient's expansion that failed for now: retried by the
// queue runner as that part alone (its `part` field), run as it was here, so the parts already
// delivered get no second copy (docs/architecture.md section 9). When the queue gives up, the
// DSN names the recipient, as its original recipient too (RFC 3461 4.2).
queue::SpoolRecipient external_part(const DeliveryRecipient& rcpt, const route::Target& part, const Reply& reply) {
    queue::SpoolRecipient r = spool_recipient(rcpt, rcpt.address.str());
    if (rcpt.orcpt.empty()) r.orcpt = "rfc822;" + rcpt.address.str();
    r.local = true;
    r.part = format_part(part);
    r.last_error = reply_text(reply);
    return r;
}

Reply reply_of(const DeliveryOutcome& o) { return Reply{o.code, o.status, o.text}; }

DeliveryOutcome outcome_of(const smtp::Verdict& v) {
    if (v.accepted()) return DeliveryOutcome::accept();
    return DeliveryOutcome::refuse(v.refusal->code, v.refusal->status, v.refusal->text);
}

}  // namespace

void bounce_refused(Server& server, const DeliveryRequest& request,
                    const std::vector<std::pair<DeliveryRecipient, DeliveryOutcome>>& refused) {
    const std::string& return_path = request.return_path;
    if (return_path.empty() || refused.empty()) return;  // RFC 5321 4.5.5: no report about a report
    queue::Envelope report = spool_envelope(request);
    for (const auto& [rcpt, outcome] : refused) report.recipients.push_back(bounced_recipient(rcpt, reply_of(outcome)));
    const std::string id = server.enqueue(report, request.text);
    log::line("queued", {{"session", request.peer.id}, {"id", request.id}, {"queue_id", id}, {"from", return_path}, {"reason", "dsn"}});
}

bool over_quota(Server& server, const std::string& mailbox, std::uint64_t adding) {
    auto [local, domain] = split_mailbox(mailbox);
    auto account = server.index().view().find_account(local, domain);
    if (!account || account->quota == 0) return false;
    const std::string maildir = mailstore::maildir_path(server.config()->paths.mail_root, domain, local);
    // One read of the account's index (docs/architecture.md section 9); a scan only before its first delivery.
    const auto usage = mailstore::find_pooled_usage(maildir);
    return (usage ? usage->bytes : mailstore::maildir_usage(maildir)) + adding > account->quota;
}

std::string format_part(const route::Target& part) {
    return std::string(route::target_kind_name(part.kind)) + ":" + part.value;
}

route::Target parse_part(std::string_view text) {
    route::Target t;
    const auto colon = text.find(':');
    const std::string_view kind = text.substr(0, colon == std::string_view::npos ? 0 : colon);
    if (kind == route::target_kind_name(route::TargetKind::program)) t.kind = route::TargetKind::program;
    else if (kind == route::target_kind_name(route::TargetKind::file)) t.kind = route::TargetKind::file;
    else throw Error(ErrorKind::bad_data, fmt::format("'{}' is not a program or file part", text));
    t.value = std::string(text.substr(colon + 1));
    if (t.value.empty()) throw Error(ErrorKind::bad_data, fmt::format("'{}' is not a program or file part", text));
    return t;
}

namespace {

// The text of a request: in memory, or in the BodyFile it was spilled to.
class Text {
public:
    explicit Text(const DeliveryRequest& request) noexcept : memory_(request.text), file_(request.spilled.get()) {}
    std::uint64_t size() const noexcept { return file_ != nullptr ? file_->size() : memory_.size(); }
    void write_to(mailstore::Delivery& delivery) const {
        if (file_ == nullptr) delivery.write(memory_);
        else file_->read([&](std::string_view piece) { delivery.write(piece); });
    }
    void append_to(std::string& out) const {
        if (file_ == nullptr) out.append(memory_);
        else file_->read([&](std::string_view piece) { out.append(piece); });
    }
    // A file is linked into the spool, not copied (Spool::add_file).
    std::string enqueue(Server& server, const queue::Envelope& envelope) const {
        if (file_ == nullptr) return server.enqueue(envelope, memory_);
        file_->flush();
        return server.enqueue_file(envelope, file_->path(), file_->size());
    }

private:
    std::string_view memory_;
    BodyFile* file_;
};

}  // namespace

std::vector<DeliveryOutcome> deliver(Server& server, const DeliveryRequest& request, OnTemporaryFailure temporary) {
    const auto config = server.config();
    const route::Options options = server.route_options();
    const Peer& peer = request.peer;
    const std::string& return_path = request.return_path;
    const std::size_t count = request.recipients.size();
    const std::string_view undeclared_8bit = request.undeclared_8bit ? "yes" : "no";
    // What a recipient whose Maildir or spool write failed hears: 452 4.3.1 for a full disk.
    Reply write_failure = smtp::reply(ReplyId::temporary_failure);
    const Text text(request);

    std::vector<Verdict> verdicts(count, Verdict::refuse(smtp::reply(ReplyId::temporary_failure)));
    std::vector<std::vector<std::string>> mailboxes(count);  // per recipient: its mailbox targets
    std::vector<std::vector<std::string>> remotes(count);
    std::vector<std::vector<route::Target>> externals(count);  // programs and files ([delivery] allows them)
    std::vector<std::optional<Reply>> failure(count);        // the reason when nothing delivers

    for (std::size_t i = 0; i < count; ++i) {
        const Address& rcpt = request.recipients[i].address;
        // A part the queue runner retries: that program or file alone, if still allowed.
        if (const auto& part = request.recipients[i].part) {
            const bool allowed = part->kind == route::TargetKind::program ? options.allow_programs
                                 : part->kind == route::TargetKind::file  ? options.allow_files
                                                                          : false;
            if (allowed) externals[i].push_back(*part);
            else failure[i] = Reply{550, "5.7.1", fmt::format("delivery to {} is disabled by [delivery]", format_part(*part))};
            continue;
        }
        bool local = rcpt.bare() || server.index().view().is_local_domain(rcpt.domain);
        if (!local) {
            remotes[i].push_back(rcpt.str());
            continue;
        }
        route::Resolution r = route::resolve(server.index(), rcpt.str(), options);
        if (!r.failures.empty()) failure[i] = refusal_of(r);
        for (const auto& t : r.targets) {
            if (t.kind == route::TargetKind::mailbox) mailboxes[i].push_back(t.value);
            else if (t.kind == route::TargetKind::remote) remotes[i].push_back(t.value);
            else externals[i].push_back(t);
        }
    }

    // Local mailboxes: one file, linked into each Maildir; a mailbox gets the message once.
    const std::string header = fmt::format("Return-Path: <{}>\r\n", return_path);
    const std::uint64_t size = header.size() + text.size();
        std::map<std::string, bool> stored;  // mailbox -> delivered
    std::set<std::string> full;
    std::map<std::string, Reply> unwritable;  // mailbox -> why its Maildir could not be added
    {
        std::vector<mailstore::IndexLease> indexes;  // outlive the Delivery's commit
        mailstore::Delivery delivery(&server.sync_group());
        std::vector<std::string> added;
        for (std::size_t i = 0; i < count; ++i)
            for (const auto& mailbox : mailboxes[i]) {
                if (stored.count(mailbox) || full.count(mailbox)) continue;
                if (over_quota(server, mailbox, size)) {
                    full.insert(mailbox);
                    continue;
                }
                stored[mailbox] = false;
            }
        // One Maildir that cannot be used fails its own mailbox, not the others: add() leaves
        // the Delivery as it was when it throws.
        for (auto& [mailbox, done] : stored) {
            auto [local, domain] = split_mailbox(mailbox);
            try {
                const std::string maildir = mailstore::maildir_path(config->paths.mail_root, domain, local);
                // docs/architecture.md section 9: the index is updated by the delivery's own commit.
                mailstore::IndexedDelivery indexed;
                indexed.index = indexes.emplace_back(mailstore::borrow_index(maildir)).get();
                delivery.add(maildir, std::move(indexed));
                added.push_back(mailbox);
            } catch (const Error& e) {
                unwritable.emplace(mailbox, e.kind() == ErrorKind::no_space ? smtp::reply_for(e) : smtp::reply(ReplyId::temporary_failure));
                log::line("delivery_failed", {{"session", peer.id}, {"id", request.id}, {"mailbox", mailbox}, {"kind", kind_name(e.kind())},
                                              {"error", e.what()}, {"detail", e.detail()}});
            }
        }
        try {
            if (!added.empty()) {
                delivery.write(header);
                text.write_to(delivery);
                auto files = delivery.commit();
                for (std::size_t k = 0; k < files.size() && k < added.size(); ++k) {
                    stored[added[k]] = true;
                    log::line("delivered", {{"session", peer.id}, {"id", request.id}, {"from", return_path},
                                            {"mailbox", added[k]}, {"file", files[k].name}, {"undeclared_8bit", undeclared_8bit}});
                }
            }
        } catch (const Error& e) {
            if (e.kind() == ErrorKind::no_space) write_failure = smtp::reply_for(e);
            log::line("delivery_failed", {{"session", peer.id}, {"id", request.id}, {"kind", kind_name(e.kind())},
                                          {"error", e.what()}, {"detail", e.detail()}});
        }
    }

    // Programs and files, each once per message. Programs run as [delivery] program_user
    // (through the launcher serve started as root, or forked as it when still root); files are
    // written as the server's user.
    std::map<std::string, mailstore::ExternalResult> external_results;
    // They take the message whole: a spilled text is read back once, for all of them.
    std::string message;
    std::optional<mailstore::ExternalResult> unreadable;
    if (std::any_of(externals.begin(), externals.end(), [](const auto& e) { return !e.empty(); })) {
        try {
            message = header;
            text.append_to(message);
        } catch (const Error& e) {
            unreadable = mailstore::ExternalResult{mailstore::ExternalResult::Kind::temporary, 451, "4.3.0", e.what()};
        }
    }
    for (std::size_t i = 0; i < count; ++i)
        for (const auto& t : externals[i]) {
            const std::string key = format_part(t);
            if (external_results.count(key)) continue;
            if (unreadable) {
                external_results.emplace(key, *unreadable);
                continue;
            }
            mailstore::ExternalResult r;
            if (t.kind == route::TargetKind::program) {
                mailstore::ProgramOptions o;
                o.sender = return_path;
                o.recipient = request.recipients[i].address.str();
                o.run_as = config->delivery.program_user;
                std::string command = t.value.starts_with("|") ? t.value.substr(1) : t.value;
                r = mailstore::run_program(command, message, o);
            } else {
                r = mailstore::append_to_file(t.value, message, return_path);
            }
            log::line(r.ok() ? "delivered" : "delivery_failed",
                      {{"session", peer.id}, {"id", request.id}, {"from", return_path},
                       {t.kind == route::TargetKind::program ? "program" : "file", t.value},
                       {"result", r.ok() ? "ok" : fmt::format("{} {} {}", r.code, r.status, r.text)}});
            external_results.emplace(key, std::move(r));
        }

    // Remote targets: one spool entry for all of them.
    std::vector<std::size_t> remote_owner;
    queue::Envelope spooled = spool_envelope(request);
    for (std::size_t i = 0; i < count; ++i)
        for (const auto& address : remotes[i]) {
            spooled.recipients.push_back(spool_recipient(request.recipients[i], address));
            remote_owner.push_back(i);
        }
    std::vector<bool> remote_ok(count, false);
    if (!spooled.recipients.empty()) {
        try {
            std::string id = text.enqueue(server, spooled);
            for (std::size_t owner : remote_owner) remote_ok[owner] = true;
            for (const auto& r : spooled.recipients)
                log::line("queued", {{"session", peer.id}, {"id", request.id}, {"queue_id", id}, {"from", return_path},
                                     {"to", r.address}, {"undeclared_8bit", undeclared_8bit}});
        } catch (const Error& e) {
            if (e.kind() == ErrorKind::no_space) write_failure = smtp::reply_for(e);
            log::line("queue_failed", {{"session", peer.id}, {"id", request.id}, {"kind", kind_name(e.kind())},
                                       {"error", e.what()}, {"detail", e.detail()}});
        }
    }

    // What the queue runner must still do: DSNs for recipients accepted although part of their
    // expansion failed, or delivered here with NOTIFY=SUCCESS; for sendmail, local recipients
    // whose delivery failed for now; and, beside an accepted recipient after SMTP DATA, every
    // refused one.
    queue::Envelope report = spool_envelope(request);
    std::vector<std::size_t> retried;  // accepted only because the report entry retries them
    std::set<std::string> parts;       // mailboxes that missed the message, reported once
    std::set<std::string> external_parts;  // programs and files to retry, reported once
    std::vector<std::size_t> with_parts;  // accepted recipients with such a mailbox
    for (std::size_t i = 0; i < count; ++i) {
        bool any = remote_ok[i];
        bool any_local = false;
        bool any_full = false;
        std::optional<Reply> unwritable_reply;
        std::optional<Reply> external_failure;
        std::optional<Reply> permanent_external;  // the first program or file that failed for good
        for (const auto& t : externals[i]) {
            const auto& r = external_results.at(format_part(t));
            if (r.ok()) any = any_local = true;
            else if (!external_failure || (external_failure->temporary() && r.kind == mailstore::ExternalResult::Kind::permanent))
                external_failure = Reply{r.code, r.status, r.text};
            if (r.kind == mailstore::ExternalResult::Kind::permanent && !permanent_external)
                permanent_external = Reply{r.code, r.status, r.text};
        }
        for (const auto& mailbox : mailboxes[i]) {
            if (auto it = stored.find(mailbox); it != stored.end() && it->second) any = any_local = true;
            if (full.count(mailbox)) any_full = true;
            if (auto it = unwritable.find(mailbox); it != unwritable.end() && !unwritable_reply) unwritable_reply = it->second;
        }
        // A program or file that failed for now is retried alone, below; the others are reported.
        const std::optional<Reply> part_failure = failure[i] ? failure[i] : permanent_external;
        const DeliveryRecipient& rcpt = request.recipients[i];
        if (any) {
            // RFC 5321 6.1, docs/architecture.md section 9: the recipient is accepted, so a mailbox of its
            // expansion that missed the message is ours: bounced when full, else retried.
            for (const auto& mailbox : mailboxes[i]) {
                if (auto it = stored.find(mailbox); (it != stored.end() && it->second) || !parts.insert(mailbox).second) continue;
                Reply why = full.count(mailbox)                       ? Reply{552, "5.2.2", "mailbox full"}
                            : unwritable.count(mailbox)               ? unwritable.at(mailbox)
                                                                      : write_failure;
                log::line("not_delivered", {{"session", peer.id}, {"id", request.id}, {"rcpt", rcpt.address.str()}, {"mailbox", mailbox},
                                            {"reply", reply_text(why)},
                                            {"then", why.temporary() ? "retry" : return_path.empty() ? "dropped, no DSN to <>" : "dsn"}});
                if (why.temporary() || !return_path.empty()) {
                    report.recipients.push_back(mailbox_part(rcpt, mailbox, why));
                    with_parts.push_back(i);
                }
            }
            // docs/architecture.md section 9: so is a program or file of it that failed for now
            // (EX_TEMPFAIL, a signal, the timeout, a full disk): retried alone by the queue runner.
            for (const auto& t : externals[i]) {
                const auto& r = external_results.at(format_part(t));
                if (r.kind != mailstore::ExternalResult::Kind::temporary || !external_parts.insert(format_part(t)).second) continue;
                const Reply why{r.code, r.status, r.text};
                log::line("not_delivered", {{"session", peer.id}, {"id", request.id}, {"rcpt", rcpt.address.str()},
                                            {t.kind == route::TargetKind::program ? "program" : "file", t.value},
                                            {"reply", reply_text(why)}, {"then", "retry"}});
                report.recipients.push_back(external_part(rcpt, t, why));
                with_parts.push_back(i);
            }
        }
        if (any && part_failure) {
            log::line("not_delivered", {{"session", peer.id}, {"id", request.id}, {"rcpt", rcpt.address.str()},
                                        {"reply", reply_text(*part_failure)}});
            if (!part_failure->temporary()) report.recipients.push_back(bounced_recipient(rcpt, *part_failure));
        }
        if (any_local && rcpt.notify && rcpt.notify->success) {
            queue::SpoolRecipient r = spool_recipient(rcpt, rcpt.address.str());
            r.state = queue::RecipientState::delivered;
            r.local = true;
            r.code = 250;
            r.status = "2.0.0";
            report.recipients.push_back(std::move(r));
        }
        if (any) verdicts[i] = Verdict::accept();
        else if (any_full && mailboxes[i].size() == 1 && remotes[i].empty()) verdicts[i] = Verdict::refuse(Reply{552, "5.2.2", "mailbox full"});
        else if (mailboxes[i].empty() && remotes[i].empty() && external_failure)
            verdicts[i] = Verdict::refuse(*external_failure);
        else if (mailboxes[i].empty() && remotes[i].empty() && failure[i]) verdicts[i] = Verdict::refuse(*failure[i]);
        else if (unwritable_reply && remotes[i].empty()) verdicts[i] = Verdict::refuse(*unwritable_reply);
        else verdicts[i] = Verdict::refuse(write_failure);  // a write or spool error; the client retries
        if (temporary == OnTemporaryFailure::queue && !verdicts[i].accepted() && verdicts[i].refusal->temporary()) {
            report.recipients.push_back(retry_recipient(rcpt, *verdicts[i].refusal));
            verdicts[i] = Verdict::accept();  // once the report entry is durable, below
            retried.push_back(i);
        }
    }
    // RFC 5321 6.1, docs/architecture.md section 9: the client hears 250 when one recipient is accepted,
    // so from here on each refused one is ours: retried by the queue runner when its failure is
    // temporary, else bounced with a DSN (none to the null sender, RFC 5321 4.5.5).
    std::vector<std::size_t> owned;
    const bool accepted = std::any_of(verdicts.begin(), verdicts.end(), [](const Verdict& v) { return v.accepted(); });
    if (temporary == OnTemporaryFailure::queue_beside_accepted && accepted) {
        for (std::size_t i = 0; i < count; ++i) {
            if (verdicts[i].accepted()) continue;
            const Reply& refusal = *verdicts[i].refusal;
            const DeliveryRecipient& rcpt = request.recipients[i];
            const bool retry = refusal.temporary();
            log::line("not_delivered", {{"session", peer.id}, {"id", request.id}, {"rcpt", rcpt.address.str()},
                                        {"reply", reply_text(refusal)},
                                        {"then", retry ? "retry" : return_path.empty() ? "dropped, no DSN to <>" : "dsn"}});
            if (retry) report.recipients.push_back(retry_recipient(rcpt, refusal));
            else if (!return_path.empty()) report.recipients.push_back(bounced_recipient(rcpt, refusal));
            owned.push_back(i);
        }
    }
    const bool retries = std::any_of(report.recipients.begin(), report.recipients.end(), [](const auto& r) {
        return r.state == queue::RecipientState::pending;
    });
    if (!report.recipients.empty() && (!return_path.empty() || retries)) {
        try {
            std::string id = text.enqueue(server, report);
            log::line("queued", {{"session", peer.id}, {"id", request.id}, {"queue_id", id}, {"from", return_path},
                                 {"reason", "dsn or retry"}});
        } catch (const Error& e) {
            log::line("queue_failed", {{"session", peer.id}, {"id", request.id}, {"error", e.what()}, {"detail", e.detail()}});
            // Only the retries depend on this entry: those recipients are not accepted after all.
            for (std::size_t i : retried) verdicts[i] = Verdict::refuse(smtp::reply_for(e));
            // The refused recipients beside an accepted one would be lost after a 250: the
            // client hears 4xx and sends again, a second copy for the others (RFC 5321 6.1:
            // the message must not be lost).
            if (!owned.empty() || (temporary == OnTemporaryFailure::queue_beside_accepted && !with_parts.empty()))
                for (auto& v : verdicts) v = Verdict::refuse(smtp::reply_for(e));
            // The queue runner and the pickup try such a recipient again, whole.
            for (std::size_t i : with_parts) verdicts[i] = Verdict::refuse(smtp::reply_for(e));
        }
    }
    std::vector<DeliveryOutcome> outcomes;
    outcomes.reserve(count);
    for (const Verdict& v : verdicts) outcomes.push_back(outcome_of(v));
    return outcomes;
}

}  // namespace vpsmail::server
