#include "commands.hpp"
#include "core/address.hpp"
#include "core/error.hpp"
#include "json.hpp"
#include "mailstore/maildir.hpp"
#include "print.hpp"

#include <fmt/format.h>

#include <unistd.h>

namespace vpsmail::cli {
namespace {

void write_domain_json(JsonWriter& j, const store::Domain& d) {
    j.begin_object()
        .field("domain", d.name)
        .field("created", format_time(d.created))
        .field("users", d.users)
        .field("vusers", d.vusers);
    j.key("catchall");
    if (d.catchall) j.value(*d.catchall);
    else j.null();
    j.end_object();
}

}  // namespace

int domain_add(Context& ctx, const std::string& domain) {
    std::string name = normalize_domain(domain);
    ctx.store().create_domain(name);
    ctx.note(fmt::format("added domain {}", name));
    return 0;
}

int domain_del(Context& ctx, const std::string& domain, bool force, bool keep_mail) {
    std::string name = normalize_domain(domain);
    if (keep_mail && !force) throw Error(ErrorKind::usage, "--keep-mail goes with --force (a domain without users has no mail)");
    std::vector<std::string> maildirs;
    for (const auto& u : ctx.store().list_users(name))
        maildirs.push_back(mailstore::maildir_path(ctx.config().paths.mail_root, name, u.local));
    ctx.store().remove_domain(name, force);
    ctx.note(fmt::format("deleted domain {}", name));
    if (keep_mail) return 0;
    // Like `user del`: the accounts are gone, so is their mail (the domain folder if empty).
    for (const auto& m : maildirs) mailstore::remove_maildir(m);
    ::rmdir((ctx.config().paths.mail_root + "/" + name).c_str());
    return 0;
}

int domain_list(Context& ctx) {
    auto domains = ctx.store().list_domains();
    if (ctx.options.json) {
        JsonWriter j;
        j.begin_array();
        for (const auto& d : domains) write_domain_json(j, d);
        j.end_array();
        print(j.str());
        return 0;
    }
    Table t({"DOMAIN", "USERS", "VUSERS", "CREATED", "CATCHALL"});
    for (const auto& d : domains)
        t.add({d.name, std::to_string(d.users), std::to_string(d.vusers), format_time(d.created), d.catchall.value_or("")});
    print(t.str());
    return 0;
}

int domain_show(Context& ctx, const std::string& domain) {
    auto d = ctx.get_domain(domain);
    if (ctx.options.json) {
        JsonWriter j;
        write_domain_json(j, d);
        print(j.str());
        return 0;
    }
    Fields f;
    f.add("domain", d.name);
    f.add("created", format_time(d.created));
    f.add("users", std::to_string(d.users));
    f.add("vusers", std::to_string(d.vusers));
    f.add("catchall", d.catchall.value_or(""));
    print(f.str());
    return 0;
}

}  // namespace vpsmail::cli
