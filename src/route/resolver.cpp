#include "route/resolver.hpp"

#include "core/address.hpp"
#include "core/error.hpp"
#include "route/targets.hpp"
#include "store/index.hpp"
#include "store/store.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <unordered_set>

namespace vpsmail::route {
namespace {

// An address (or include) whose alias, forward or :include: expansion led to the entry being
// resolved (docs/routing.md rule 14). `local` is empty for an include.
struct PathNode {
    std::string key;     // lower-case local@domain, or ":include:/path"
    std::string local;   // account local part to try when rescuing a loop
    std::string domain;
};

using Path = std::vector<PathNode>;
using ReplacementChain = std::vector<std::string>;  // virtusertable/catch-all replacements (rule 14)

// Rule 13: the same failure is reported once, whatever path reached it.
std::string failure_key(const Failure& f) {
    return fmt::format("{}\n{}\n{}\n{}", lower_ascii(f.target), f.code, f.status, f.text);
}

std::string join(const std::vector<std::string>& items, std::string_view sep = ", ") {
    std::string out;
    for (const auto& item : items) {
        if (!out.empty()) out += sep;
        out += item;
    }
    return out;
}

class Resolver {
public:
    Resolver(store::RoutingSource& store, const Options& options, Resolution& result)
        : store_(store), options_(options), result_(result) {}

    void run(std::string_view address);
    void run_entry(std::string_view entry, const std::string& domain);

private:
    void resolve_address(const Address& a, int stage, Path& path, ReplacementChain chain, int depth);
    void resolve_stages(const Address& a, int stage, Path& path, ReplacementChain& chain, int depth);
    void replace(const std::string& target, const Address& a, const std::string& key, bool exact,
                 Path& path, ReplacementChain& chain, int depth);
    void expand(const std::vector<std::string>& entries, const std::string& domain, Path& path, int depth);
    void expand_entry(const std::string& text, const std::string& domain, Path& path, int depth);
    void resolve_backslash(const std::string& name, const std::string& domain, int depth);
    void drop_loop(const std::string& key, const std::string& local, const std::string& domain,
                   const std::string& entry, const Path& path, int depth);
    bool deliver_if_account(const std::string& local, const std::string& domain, int depth);
    std::string account_local(const std::string& lower_local) const;
    bool depth_exceeded(const Path& path, const std::string& what, int depth);

    void mailbox(const std::string& local, const std::string& domain, const std::string& detail);
    void add(Target target, const std::string& key);
    void fail(const std::string& target, int code, const char* status, const std::string& text);
    void fail(const std::string& target, const ErrorReply& reply);
    void step(const char* stage, std::string key, std::string result, bool matched, int depth);

    store::RoutingSource& store_;
    const Options& options_;
    Resolution& result_;
    std::unordered_set<std::string> seen_targets_;
    std::unordered_set<std::string> seen_failures_;
    std::size_t reached_ = 0;  // targets reached, duplicates included (rule 11's "would fail")
    bool in_postmaster_ = false;
};

void Resolver::step(const char* stage, std::string key, std::string result, bool matched, int depth) {
    if (!options_.trace) return;
    result_.steps.push_back(Step{stage, std::move(key), std::move(result), matched, depth});
}

void Resolver::add(Target target, const std::string& key) {
    ++reached_;
    // Rule 13: one copy per final target.
    if (!seen_targets_.insert(key).second) return;
    result_.targets.push_back(std::move(target));
}

void Resolver::mailbox(const std::string& local, const std::string& domain, const std::string& detail) {
    std::string address = local + "@" + domain;
    add(Target{TargetKind::mailbox, address, detail}, "mailbox:" + address);
}

void Resolver::fail(const std::string& target, int code, const char* status, const std::string& text) {
    Failure failure{target, code, status, text};
    if (!seen_failures_.insert(failure_key(failure)).second) return;
    result_.failures.push_back(std::move(failure));
}

void Resolver::fail(const std::string& target, const ErrorReply& reply) {
    fail(target, reply.code, reply.status.c_str(), reply.text);
}

std::string Resolver::account_local(const std::string& lower_local) const {
    if (!options_.plus_detail) return lower_local;
    return split_detail(lower_local, options_.detail_delimiter).user;
}

bool Resolver::depth_exceeded(const Path& path, const std::string& what, int depth) {
    if (static_cast<int>(path.size()) < options_.max_depth) return false;
    // RFC 5321 6.1 / docs/routing.md rule 14: a chain of 10 expansions works, the 11th fails.
    fail(what, 554, "5.4.6", "too many aliases deep");
    step("loop", what, "too many aliases deep", false, depth);
    result_.loops.push_back(fmt::format("{}: more than {} expansions deep", what, options_.max_depth));
    return true;
}

void Resolver::run(std::string_view address) {
    result_.address = std::string(address);
    // Rule 12: a program, file or :include: given directly is refused before any stage.
    std::string_view content = address;
    if (content.size() >= 2 && content.front() == '"') {
        auto close = content.find('"', 1);
        if (close != std::string_view::npos) content = content.substr(1, close - 1);
    }
    const char* direct = nullptr;
    if (content.starts_with('|')) direct = "programs";
    else if (content.starts_with('/')) direct = "files";
    else if (lower_ascii(content.substr(0, 9)) == ":include:") direct = ":include:s";
    if (direct) {
        std::string text = fmt::format("Cannot mail directly to {}", direct);
        fail(std::string(address), 550, "5.7.1", text);
        step("direct", std::string(address), text, false, 0);
    } else {
        Address a = parse_recipient(address, Backslash::allow);
        Path path;
        if (a.bare()) {
            // A recipient without a domain is a bare name in the primary domain.
            std::string primary = options_.primary_domain;
            if (primary.empty()) primary = store_.first_domain().value_or("");
            if (primary.empty()) {
                fail(a.str(), 550, "5.1.1", "user unknown (there is no local domain)");
                step("bounce", a.str(), "550 5.1.1 user unknown (there is no local domain)", false, 0);
            } else if (a.backslash) {
                resolve_backslash(a.local, primary, 0);
            } else {
                a.domain = primary;
                resolve_address(a, 2, path, {}, 0);
            }
        } else if (a.backslash) {
            a.backslash = false;
            resolve_backslash(a.str(), a.domain, 0);  // rule 8: the mailbox itself
        } else {
            resolve_address(a, 1, path, {}, 0);
        }
    }
    result_.outcome = compute_outcome(result_.targets, result_.failures);
}

void Resolver::run_entry(std::string_view entry, const std::string& domain) {
    result_.address = std::string(entry);
    Path path;
    expand_entry(result_.address, domain, path, 0);
    result_.outcome = compute_outcome(result_.targets, result_.failures);
}

void Resolver::resolve_address(const Address& a, int stage, Path& path, ReplacementChain chain, int depth) {
    if (!store_.is_local_domain(a.domain)) {
        // Rule 16: a local domain's rules may send mail anywhere; route test is a trusted sender.
        add(Target{TargetKind::remote, a.str(), {}}, "remote:" + lower_ascii(a.str()));
        step("remote", a.str(), "remote delivery", true, depth);
        return;
    }
    if (options_.postmaster.empty() || in_postmaster_ || lower_ascii(a.local) != "postmaster") {
        resolve_stages(a, stage, path, chain, depth);
        return;
    }
    // Rule 11 (vpsmail): postmaster@d that would fail goes to [routing] postmaster instead.
    std::size_t reached = reached_;
    std::size_t failures = result_.failures.size();
    resolve_stages(a, stage, path, chain, depth);
    if (reached_ != reached || result_.failures.size() == failures) return;
    for (std::size_t i = failures; i < result_.failures.size(); ++i) seen_failures_.erase(failure_key(result_.failures[i]));
    result_.failures.resize(failures);
    step("postmaster", a.str(), options_.postmaster, true, depth);
    Address pm = parse_recipient(options_.postmaster);
    int pm_stage = 1;
    if (pm.bare()) {
        pm.domain = options_.primary_domain.empty() ? store_.first_domain().value_or(a.domain) : options_.primary_domain;
        pm_stage = 2;
    }
    in_postmaster_ = true;
    resolve_address(pm, pm_stage, path, {}, depth + 1);
    in_postmaster_ = false;
}

void Resolver::resolve_stages(const Address& a, int stage, Path& path, ReplacementChain& chain, int depth) {
    const char delim = options_.detail_delimiter;
    const std::string& domain = a.domain;
    const std::string lower_local = lower_ascii(a.local);
    const std::string key = lower_local + "@" + domain;
    const DetailSplit split = split_detail(a.local, delim);

    // Stage 1: virtusertable (rule 4).
    if (stage <= 1) {
        std::vector<std::string> keys;
        if (a.quoted) {
            keys = {"@" + domain};  // rule 3: a quoted local part matches only the @d key
        } else if (!split.has_delimiter) {
            keys = {key, "@" + domain};
        } else {
            std::string user = lower_ascii(split.user);
            std::string d(1, delim);
            keys.push_back(key);
            if (!split.detail.empty()) keys.push_back(user + d + d + "@" + domain);
            keys.push_back(user + d + "*@" + domain);
            keys.push_back(user + "@" + domain);
            if (!split.detail.empty()) keys.push_back(d + d + "@" + domain);
            keys.push_back(d + "*@" + domain);
            keys.push_back("@" + domain);
        }
        if (auto hit = store_.find_first_vuser(keys)) {
            const auto& [index, target] = *hit;
            step("vuser", keys[index], target, true, depth);
            replace(target, a, key, index == 0 && !a.quoted, path, chain, depth);
            return;
        }
        step("vuser", join(keys), "not found", false, depth);
    }

    // Stages 2-4 match nothing for a local part that stays quoted (rule 3).
    if (!a.quoted) {
        // Stage 2: aliases (rules 7, 8, 9).
        std::vector<std::string> names;
        if (options_.plus_detail && split.has_delimiter) {
            std::string user = lower_ascii(split.user);
            if (!split.detail.empty()) names.push_back(lower_local);
            names.push_back(user + delim + "*");
            names.push_back(user);
        } else {
            names.push_back(lower_local);
        }
        for (const auto& name : names) {
            auto alias = store_.find_alias(name);
            if (!alias) continue;
            step("alias", name, join(alias->targets), true, depth);
            std::string node = name + "@" + domain;
            if (depth_exceeded(path, a.str(), depth)) return;
            path.push_back(PathNode{node, account_local(name), domain});
            expand(alias->targets, domain, path, depth + 1);  // an alias passes no detail on (rule 9)
            path.pop_back();
            return;
        }
        step("alias", join(names), "not found", false, depth);

        // Stage 3: the account's forward (rule 10), then stage 4: the account (rule 11).
        std::string local = account_local(lower_local);
        std::string account_key = local + "@" + domain;
        std::optional<store::Account> account;
        if (!local.empty()) account = store_.find_account(local, domain);
        if (account && !account->forward.empty()) {
            step("forward", account_key, join(account->forward), true, depth);
            if (depth_exceeded(path, a.str(), depth)) return;
            path.push_back(PathNode{account_key, local, domain});
            expand(account->forward, domain, path, depth + 1);  // a forward drops the detail
            path.pop_back();
            return;
        }
        step("forward", account_key, account ? "none" : "no account", false, depth);
        if (account) {
            if (!account->enabled) {
                fail(a.str(), 550, "5.2.1", "mailbox disabled");
                step("user", account_key, "550 5.2.1 mailbox disabled", false, depth);
                return;
            }
            std::string detail = options_.plus_detail && split.has_delimiter ? split.detail : std::string();
            mailbox(local, domain, detail);
            step("user", account_key, detail.empty() ? "mailbox" : fmt::format("mailbox (detail {})", detail), true, depth);
            return;
        }
        step("user", account_key, "not found", false, depth);
    }

    // A bare name has no catch-all (see "Full addresses and bare names").
    if (stage <= 1) {
        // Stage 5: catch-all, resolved like a virtusertable right side (rule 5).
        if (auto target = store_.find_catchall(domain)) {
            step("catchall", domain, *target, true, depth);
            replace(*target, a, key, false, path, chain, depth);
            return;
        }
        step("catchall", domain, "not set", false, depth);
    }
    // Stage 6: bounce.
    fail(a.str(), 550, "5.1.1", "user unknown");
    step("bounce", a.str(), "550 5.1.1 user unknown", false, depth);
}

void Resolver::replace(const std::string& target, const Address& a, const std::string& key, bool exact,
                       Path& path, ReplacementChain& chain, int depth) {
    Entry entry;
    try {
        entry = parse_entry(target);
    } catch (const Error& e) {
        fail(a.str(), 554, "5.3.5", fmt::format("malformed routing entry: {}", e.what()));
        return;
    }
    if (entry.kind == EntryKind::error) {
        fail(a.str(), entry.error);
        step("error", a.str(), fmt::format("{} {} {}", entry.error.code, entry.error.status, entry.error.text), false, depth + 1);
        return;
    }
    // Rule 14: a chain of replacements that comes back to an address it replaced is a loop.
    for (std::size_t i = 0; i < chain.size(); ++i) {
        if (chain[i] != key) continue;
        std::vector<std::string> ring(chain.begin() + static_cast<std::ptrdiff_t>(i), chain.end());
        ring.push_back(key);
        std::string text = fmt::format("virtusertable loop: {}", join(ring, " -> "));
        result_.loops.push_back(text);
        fail(a.str(), 554, "5.4.6", text);
        step("loop", a.str(), text, false, depth + 1);
        return;
    }
    chain.push_back(key);

    std::string substituted;
    if (entry.kind == EntryKind::address || entry.kind == EntryKind::bare || entry.kind == EntryKind::backslash) {
        // Rule 5: %1 local part (whole when the exact key matched), %2 detail, %3 +detail.
        DetailSplit split = split_detail(a.local, options_.detail_delimiter);
        std::string p1 = exact || a.quoted ? a.local : split.user;
        std::string p2 = exact || a.quoted ? std::string() : split.detail;
        std::string p3 = p2.empty() ? std::string() : options_.detail_delimiter + p2;
        for (std::size_t i = 0; i < target.size(); ++i) {
            if (target[i] == '%' && i + 1 < target.size() && target[i + 1] >= '1' && target[i + 1] <= '3') {
                substituted += target[i + 1] == '1' ? p1 : target[i + 1] == '2' ? p2 : p3;
                ++i;
            } else {
                substituted += target[i];
            }
        }
        if (substituted != target) {
            try {
                entry = parse_entry(substituted);
            } catch (const Error& e) {
                fail(a.str(), 554, "5.3.5", fmt::format("substitution gave a malformed address: {}", e.what()));
                return;
            }
        }
    }
    switch (entry.kind) {
    case EntryKind::bare:
        resolve_address(Address{entry.value, a.domain, false}, 2, path, chain, depth + 1);
        break;
    case EntryKind::address:
        resolve_address(parse_recipient(entry.value), 1, path, chain, depth + 1);
        break;
    case EntryKind::backslash:
        resolve_backslash(entry.value, a.domain, depth + 1);
        break;
    default:
        // vuser map and catchall set refuse these; a store edited by other means gets this.
        fail(a.str(), 554, "5.3.5", "programs, files and :include: are not allowed in the virtusertable or a catch-all");
        break;
    }
}

void Resolver::expand(const std::vector<std::string>& entries, const std::string& domain, Path& path, int depth) {
    for (const auto& text : entries) expand_entry(text, domain, path, depth);
}

void Resolver::expand_entry(const std::string& text, const std::string& domain, Path& path, int depth) {
    Entry entry;
    try {
        entry = parse_entry(text);
    } catch (const Error& e) {
        fail(text, 554, "5.3.5", fmt::format("malformed routing entry: {}", e.what()));
        return;
    }
    switch (entry.kind) {
    case EntryKind::error:
        fail(text, entry.error);
        step("error", text, fmt::format("{} {} {}", entry.error.code, entry.error.status, entry.error.text), false, depth);
        return;
    case EntryKind::program:
        if (!options_.allow_programs) {
            fail(entry.text, 550, "5.7.1", "delivery to programs is disabled (set [delivery] allow_programs = true)");
            step("program", entry.value, "disabled", false, depth);
            return;
        }
        add(Target{TargetKind::program, entry.value, {}}, "program:" + entry.value);
        step("program", entry.value, "program", true, depth);
        return;
    case EntryKind::file:
        if (!options_.allow_files) {
            fail(entry.text, 550, "5.7.1", "delivery to files is disabled (set [delivery] allow_files = true)");
            step("file", entry.value, "disabled", false, depth);
            return;
        }
        add(Target{TargetKind::file, entry.value, {}}, "file:" + entry.value);
        step("file", entry.value, "file", true, depth);
        return;
    case EntryKind::include: {
        if (!options_.allow_includes) {
            fail(entry.text, 550, "5.7.1", "delivery to :include: files is disabled (set [delivery] allow_includes = true)");
            step("include", entry.value, "disabled", false, depth);
            return;
        }
        std::string key = ":include:" + entry.value;
        for (const auto& node : path)
            if (node.key == key) return drop_loop(key, {}, domain, entry.text, path, depth);
        if (depth_exceeded(path, entry.text, depth)) return;
        std::ifstream in(entry.value, std::ios::binary);
        if (!in) {
            std::string why = fmt::format("cannot open include file {}: {}", entry.value, std::strerror(errno));
            fail(entry.text, 550, "5.2.4", why);
            step("include", entry.value, why, false, depth);
            return;
        }
        std::stringstream buffer;
        buffer << in.rdbuf();
        std::vector<std::string> members = split_include(buffer.str());
        if (members.empty()) {
            fail(entry.text, 550, "5.1.1", fmt::format("include file {} has no entries", entry.value));
            step("include", entry.value, "no entries", false, depth);
            return;
        }
        step("include", entry.value, join(members), true, depth);
        path.push_back(PathNode{key, {}, domain});
        expand(members, domain, path, depth + 1);
        path.pop_back();
        return;
    }
    case EntryKind::backslash:
        resolve_backslash(entry.value, domain, depth);
        return;
    case EntryKind::bare:
    case EntryKind::address: {
        Address a = parse_recipient(entry.value);
        int stage = 1;
        if (a.bare()) {
            a.domain = domain;  // a bare name means that name in the current domain
            stage = 2;
        }
        if (store_.is_local_domain(a.domain)) {
            std::string key = lower_ascii(a.local) + "@" + a.domain;
            for (const auto& node : path)
                if (node.key == key) return drop_loop(key, account_local(lower_ascii(a.local)), a.domain, entry.text, path, depth);
        }
        resolve_address(a, stage, path, {}, depth);
        return;
    }
    }
}

void Resolver::resolve_backslash(const std::string& name, const std::string& domain, int depth) {
    // Rule 8: \name skips every stage but users and means the mailbox itself.
    Address a = parse_recipient(name);
    if (a.bare()) a.domain = domain;
    if (!store_.is_local_domain(a.domain)) {
        add(Target{TargetKind::remote, a.str(), {}}, "remote:" + lower_ascii(a.str()));
        step("remote", a.str(), "remote delivery", true, depth);
        return;
    }
    std::string local = account_local(lower_ascii(a.local));
    auto account = store_.find_account(local, a.domain);
    std::string key = "\\" + local + "@" + a.domain;
    if (!account) {
        fail("\\" + a.str(), 550, "5.1.1", "user unknown");
        step("user", key, "550 5.1.1 user unknown", false, depth);
    } else if (!account->enabled) {
        fail("\\" + a.str(), 550, "5.2.1", "mailbox disabled");
        step("user", key, "550 5.2.1 mailbox disabled", false, depth);
    } else {
        mailbox(local, a.domain, {});
        step("user", key, "mailbox", true, depth);
    }
}

bool Resolver::deliver_if_account(const std::string& local, const std::string& domain, int depth) {
    if (local.empty()) return false;
    auto account = store_.find_account(local, domain);
    if (!account || !account->enabled) return false;
    mailbox(local, domain, {});
    step("user", local + "@" + domain, "mailbox (loop kept a copy)", true, depth);
    return true;
}

void Resolver::drop_loop(const std::string& key, const std::string& local, const std::string& domain,
                         const std::string& entry, const Path& path, int depth) {
    std::vector<std::string> ring;
    bool in_ring = false;
    for (const auto& node : path) {
        if (node.key == key) in_ring = true;
        if (in_ring) ring.push_back(node.key);
    }
    ring.push_back(key);
    std::string text = join(ring, " -> ");
    // Rule 14: (a) the named address's own mailbox, (b) the nearest account back along the path.
    bool kept = deliver_if_account(local, domain, depth);
    // An account's forward or alias naming the account itself (`forward set bob@d bob x@y`,
    // `bob: bob, x@y`) is the idiom for keeping a copy (rule 10), not a loop to warn about.
    bool keeps_own_copy = kept && ring.size() == 2;
    if (!keeps_own_copy) result_.loops.push_back(fmt::format("loop: {}", text));
    step("loop", entry, keeps_own_copy ? "names itself: its own mailbox" : fmt::format("dropped: {}", text), false, depth);
    for (auto node = path.rbegin(); node != path.rend(); ++node) {
        if (deliver_if_account(node->local, node->domain, depth)) {
            kept = true;
            break;
        }
    }
    if (!kept) fail(entry, 554, "5.4.6", fmt::format("mail loop: {}", text));
}

}  // namespace

Resolution resolve(store::Store& store, std::string_view address, const Options& options) {
    Resolution result;
    // One read lock for the whole resolution: consistent, and far cheaper than one per lookup.
    auto snapshot = store.read_snapshot();
    Resolver(store, options, result).run(address);
    return result;
}

Resolution resolve(store::RoutingIndex& index, std::string_view address, const Options& options) {
    Resolution result;
    auto view = index.view();  // one consistent state of the index for the whole resolution
    Resolver(view, options, result).run(address);
    return result;
}

Resolution resolve_entry(store::Store& store, std::string_view entry, std::string_view domain, const Options& options) {
    Resolution result;
    auto snapshot = store.read_snapshot();
    Resolver(store, options, result).run_entry(entry, std::string(domain));
    return result;
}

std::vector<std::string> find_loops(store::Store& store, std::string_view address, const Options& options) {
    Options quiet = options;
    quiet.trace = false;
    return resolve(store, address, quiet).loops;
}

}  // namespace vpsmail::route
