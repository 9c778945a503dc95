#include "commands.hpp"
#include "core/error.hpp"
#include "json.hpp"
#include "print.hpp"
#include "route/resolver.hpp"
#include "route/targets.hpp"

#include <fmt/format.h>

#include <sysexits.h>

namespace vpsmail::cli {
namespace {

using route::Resolution;

std::string format_human(const Resolution& r) {
    std::string out = r.address + "\n  steps:\n";
    for (const auto& s : r.steps) {
        std::string indent(4 + 2 * static_cast<std::size_t>(s.depth), ' ');
        out += fmt::format("{}{:<11}{} {} {}\n", indent, s.stage, s.key, s.matched ? "->" : "--", s.result);
    }
    if (!r.targets.empty()) {
        out += "  targets:\n";
        for (const auto& t : r.targets) {
            out += fmt::format("    {:<11}{}", route::target_kind_name(t.kind), t.value);
            if (!t.detail.empty()) out += fmt::format(" (detail {})", t.detail);
            out += "\n";
        }
    }
    if (!r.failures.empty()) {
        out += "  failures:\n";
        for (const auto& f : r.failures) out += fmt::format("    {}: {} {} {}\n", f.target, f.code, f.status, f.text);
    }
    out += fmt::format("  outcome: {}\n", route::outcome_name(r.outcome));
    return out;
}

void write_json(JsonWriter& j, const Resolution& r) {
    j.begin_object().field("address", r.address).field("outcome", route::outcome_name(r.outcome));
    j.key("targets").begin_array();
    for (const auto& t : r.targets) {
        j.begin_object().field("kind", route::target_kind_name(t.kind));
        switch (t.kind) {
        case route::TargetKind::mailbox:
            j.field("address", t.value);
            if (!t.detail.empty()) j.field("detail", t.detail);
            break;
        case route::TargetKind::remote: j.field("address", t.value); break;
        case route::TargetKind::program: j.field("command", t.value); break;
        case route::TargetKind::file: j.field("path", t.value); break;
        }
        j.end_object();
    }
    j.end_array();
    j.key("failures").begin_array();
    for (const auto& f : r.failures)
        j.begin_object().field("target", f.target).field("code", f.code).field("status", f.status).field("text", f.text).end_object();
    j.end_array();
    j.key("steps").begin_array();
    for (const auto& s : r.steps)
        j.begin_object()
            .field("stage", s.stage)
            .field("key", s.key)
            .field("result", s.result)
            .field("matched", s.matched)
            .field("depth", s.depth)
            .end_object();
    j.end_array();
    j.field_strings("loops", r.loops);
    j.end_object();
}

bool has_permanent_failure(const Resolution& r) {
    for (const auto& f : r.failures)
        if (!f.temporary()) return true;
    return false;
}

}  // namespace

int route_test(Context& ctx, const std::vector<std::string>& addresses) {
    route::Options options = ctx.route_options();
    std::vector<Resolution> results;
    for (const auto& address : addresses) results.push_back(route::resolve(ctx.store(), address, options));
    int code = EX_OK;
    bool permanent = false;
    for (const auto& r : results) {
        if (r.outcome == route::Outcome::deliver) continue;
        if (r.outcome == route::Outcome::bounce || has_permanent_failure(r)) permanent = true;
        code = EX_TEMPFAIL;
    }
    if (permanent) code = EX_NOUSER;  // docs/routing.md: 67 when any address has a permanent failure
    if (ctx.options.json) {
        JsonWriter j;
        j.begin_array();
        for (const auto& r : results) write_json(j, r);
        j.end_array();
        print(j.str());
    } else {
        std::string out;
        for (std::size_t i = 0; i < results.size(); ++i) {
            if (i) out += "\n";
            out += format_human(results[i]);
        }
        print(out);
    }
    return code;
}

void warn_loops(Context& ctx, const std::string& address, const std::string& shown) {
    std::vector<std::string> loops;
    const std::string& name = shown.empty() ? address : shown;
    try {
        loops = route::find_loops(ctx.store(), address, ctx.route_options());
    } catch (const Error& e) {
        ctx.note(fmt::format("could not check {} for loops: {}", name, e.what()));
        return;
    }
    for (auto loop : loops) {
        if (!shown.empty())  // the probe address is ours, not the admin's: show what it stands for
            for (auto at = loop.find(address); at != std::string::npos; at = loop.find(address, at + shown.size()))
                loop.replace(at, address.size(), shown);
        ctx.warn(fmt::format("this change makes a loop for {}: {}", name, loop));
    }
}

void warn_dead_targets(Context& ctx, const std::string& what, const std::vector<std::string>& targets,
                       const std::string& domain, bool substitutes) {
    const route::Options options = ctx.route_options();
    for (const auto& target : targets) {
        route::Entry entry = route::parse_entry(target);
        if (entry.kind == route::EntryKind::error) continue;
        if (substitutes && (target.find("%1") != std::string::npos || target.find("%2") != std::string::npos ||
                            target.find("%3") != std::string::npos))
            continue;
        route::Resolution r;
        try {
            r = route::resolve_entry(ctx.store(), target, domain, options);
        } catch (const Error& e) {
            ctx.note(fmt::format("could not check the target '{}' of {}: {}", target, what, e.what()));
            continue;
        }
        if (!r.targets.empty()) continue;  // it reaches something; a failing member further down is its own entry's
        for (const auto& f : r.failures) {
            if (f.status == "5.4.6") continue;  // a loop: warn_loops says it, with the ring
            ctx.warn(fmt::format("{}: the target '{}' goes nowhere: route test answers {} {} {}{}", what, target, f.code,
                                 f.status, f.text, f.target == target ? "" : fmt::format(" (for {})", f.target)));
        }
    }
}

}  // namespace vpsmail::cli
