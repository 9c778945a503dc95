#include "commands.hpp"
#include "core/address.hpp"
#include "core/error.hpp"
#include "json.hpp"
#include "print.hpp"
#include "route/targets.hpp"

#include <fmt/format.h>

namespace vpsmail::cli {
namespace {

Address forward_owner(const std::string& text) {
    Address a = parse_address(text);
    a.local = lower_ascii(a.local);
    return a;
}

void write_forward_json(JsonWriter& j, const store::Forward& f) {
    j.begin_object().field("address", f.address).field_strings("targets", f.targets).end_object();
}

}  // namespace

int forward_set(Context& ctx, const std::string& address, const std::vector<std::string>& targets) {
    Address a = forward_owner(address);
    std::vector<std::string> stored;  // normalised, as every lookup spells them
    for (const auto& t : targets) stored.push_back(route::check_forward_target(t));
    ctx.store().set_forward(a.local, a.domain, stored);
    ctx.note(fmt::format("forward {} -> {}", a.str(), join(stored)));
    warn_dead_targets(ctx, fmt::format("forward {}", a.str()), targets, a.domain);
    warn_loops(ctx, a.str());
    return 0;
}

int forward_clear(Context& ctx, const std::string& address) {
    Address a = forward_owner(address);
    ctx.store().clear_forward(a.local, a.domain);
    ctx.note(fmt::format("cleared the forward of {}", a.str()));
    return 0;
}

int forward_show(Context& ctx, const std::string& address) {
    Address a = forward_owner(address);
    auto f = ctx.store().find_forward(a.local, a.domain);
    if (!f) {
        // A missing account is the user's error (67); an account without a forward is not (66).
        if (!ctx.store().find_user(a.local, a.domain))
            throw Error(ErrorKind::no_such_user, fmt::format("no such user '{}' (see 'vpsmail user list')", a.str()));
        throw Error(ErrorKind::not_found, fmt::format("'{}' has no forward (see 'vpsmail forward list')", a.str()));
    }
    if (ctx.options.json) {
        JsonWriter j;
        write_forward_json(j, *f);
        print(j.str());
        return 0;
    }
    Fields fields;
    fields.add("address", f->address);
    for (const auto& t : f->targets) fields.add("target", t);
    print(fields.str());
    return 0;
}

int forward_list(Context& ctx) {
    auto forwards = ctx.store().list_forwards();
    if (ctx.options.json) {
        JsonWriter j;
        j.begin_array();
        for (const auto& f : forwards) write_forward_json(j, f);
        j.end_array();
        print(j.str());
        return 0;
    }
    Table t({"ADDRESS", "TARGETS"});
    for (const auto& f : forwards) t.add({f.address, join(f.targets)});
    print(t.str());
    return 0;
}

}  // namespace vpsmail::cli
