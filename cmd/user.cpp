#include "auth/password.hpp"
#include "commands.hpp"
#include "core/address.hpp"
#include "core/error.hpp"
#include "core/safe_name.hpp"
#include "core/size.hpp"
#include "json.hpp"
#include "mailstore/maildir.hpp"
#include "print.hpp"
#include "terminal.hpp"

#include <fmt/format.h>

namespace vpsmail::cli {
namespace {

// An account's address: local part lower case, never quoted, usable as a folder name.
Address account_address(const std::string& text) {
    Address a = parse_address(text);
    if (a.quoted)
        throw Error(ErrorKind::bad_data, fmt::format("invalid account '{}': a quoted local part cannot be an account", text));
    if (a.domain.front() == '[')
        throw Error(ErrorKind::bad_data, fmt::format("invalid account '{}': an address literal is not a local domain", text));
    a.local = lower_ascii(a.local);
    check_safe_name(a.local, "local part");
    return a;
}

std::string not_found(const Address& a) {
    return fmt::format("no such user '{}' (see 'vpsmail user list {}')", a.str(), a.domain);
}

// The hash to store: the given crypt(3) hash checked, or a yescrypt hash of a new password.
std::string new_password_hash(const PasswordArgs& args) {
    if (args.password_hash_stdin) return auth::normalize_password_hash(read_password_hash_stdin());
    if (!args.password_hash.empty()) return auth::normalize_password_hash(args.password_hash);
    if (args.password_stdin) return auth::hash_password(read_password_stdin());
    if (!stdin_is_terminal())
        throw Error(ErrorKind::usage,
                    "standard input is not a terminal: give --password-stdin, --password-hash-stdin or --password-hash");
    return auth::hash_password(prompt_new_password());
}

std::string scheme_of(const std::string& hash) {
    if (hash.size() > 1 && hash[0] == '$') {
        auto end = hash.find('$', 1);
        if (end != std::string::npos) return hash.substr(0, end + 1);
    }
    return "des";
}

void write_user_json(JsonWriter& j, const store::User& u, const std::optional<store::Forward>& forward,
                     const std::string& maildir, const std::vector<std::string>* send_as = nullptr) {
    j.begin_object()
        .field("address", u.address())
        .field("name", u.name)
        .field("enabled", u.enabled)
        .field("quota", u.quota)
        .field("password_scheme", scheme_of(u.password_hash))
        .field("created", format_time(u.created))
        .field("updated", format_time(u.updated))
        .field("maildir", maildir);
    if (forward) j.field_strings("forward", forward->targets);
    if (send_as) j.field_strings("send_as", *send_as);
    j.end_object();
}

}  // namespace

int user_add(Context& ctx, const UserAddArgs& args) {
    Address a = account_address(args.address);
    const Config& config = ctx.config();
    if (config.routing.plus_detail && a.local.find(config.routing.detail_delimiter) != std::string::npos)
        throw Error(ErrorKind::bad_data,
                    fmt::format("invalid account '{}': the local part contains the detail delimiter '{}' "
                                "([routing] detail_delimiter), so mail could never reach it",
                                args.address, config.routing.detail_delimiter));
    store::NewUser user;
    user.local = a.local;
    user.domain = a.domain;
    user.name = args.name;
    for (unsigned char c : user.name)
        if (c < 0x20 || c == 0x7f)
            throw Error(ErrorKind::bad_data, "invalid --name: it contains a control character");
    if (!args.quota.empty()) user.quota = parse_size(args.quota);
    store::Store& store = ctx.store();
    // Check before asking for a password, so a typo does not cost a prompt.
    if (!store.is_local_domain(a.domain))
        throw Error(ErrorKind::no_such_domain,
                    fmt::format("domain '{}' is not a local domain; add it first with 'vpsmail domain add {}'", a.domain, a.domain));
    if (store.find_user(a.local, a.domain))
        throw Error(ErrorKind::exists, fmt::format("user '{}' exists already", a.str()));
    std::string maildir = mailstore::maildir_path(config.paths.mail_root, a.domain, a.local);
    user.password_hash = new_password_hash(args.password);
    // The Maildir is made by its first delivery, as Postfix's virtual(8) and Dovecot do: by the
    // server's user, so that nothing made here as root has to be handed over to it.
    store.create_user(user);
    ctx.note(fmt::format("added user {} (Maildir {}, made at its first delivery)", a.str(), maildir));
    return 0;
}

int user_del(Context& ctx, const std::string& address, bool keep_mail) {
    Address a = account_address(address);
    std::string maildir = mailstore::maildir_path(ctx.config().paths.mail_root, a.domain, a.local);
    ctx.store().remove_user(a.local, a.domain);
    if (keep_mail) {
        ctx.note(fmt::format("deleted user {}; kept its mail in {}", a.str(), maildir));
    } else {
        mailstore::remove_maildir(maildir);
        ctx.note(fmt::format("deleted user {} and its mail", a.str()));
    }
    return 0;
}

int user_passwd(Context& ctx, const std::string& address, const PasswordArgs& password) {
    Address a = account_address(address);
    store::Store& store = ctx.store();
    if (!store.find_user(a.local, a.domain)) throw Error(ErrorKind::no_such_user, not_found(a));
    store.set_password_hash(a.local, a.domain, new_password_hash(password));
    ctx.note(fmt::format("changed the password of {}", a.str()));
    return 0;
}

int user_list(Context& ctx, const std::string& domain) {
    std::string name;
    if (!domain.empty()) {
        name = ctx.get_domain(domain).name;
    }
    auto users = ctx.store().list_users(name);
    if (ctx.options.json) {
        JsonWriter j;
        j.begin_array();
        for (const auto& u : users)
            write_user_json(j, u, std::nullopt, mailstore::maildir_path(ctx.config().paths.mail_root, u.domain, u.local));
        j.end_array();
        print(j.str());
        return 0;
    }
    Table t({"ADDRESS", "ENABLED", "QUOTA", "CREATED", "NAME"});
    for (const auto& u : users)
        t.add({u.address(), u.enabled ? "yes" : "no", format_size(u.quota), format_time(u.created), u.name});
    print(t.str());
    return 0;
}

int user_show(Context& ctx, const std::string& address) {
    Address a = account_address(address);
    auto u = ctx.store().find_user(a.local, a.domain);
    if (!u) throw Error(ErrorKind::no_such_user, not_found(a));
    auto forward = ctx.store().find_forward(a.local, a.domain);
    const std::vector<std::string> send_as = ctx.store().list_send_as(a.local, a.domain);
    std::string maildir = mailstore::maildir_path(ctx.config().paths.mail_root, a.domain, a.local);
    if (ctx.options.json) {
        JsonWriter j;
        write_user_json(j, *u, forward, maildir, &send_as);
        print(j.str());
        return 0;
    }
    Fields f;
    f.add("address", u->address());
    f.add("name", u->name);
    f.add("enabled", u->enabled ? "yes" : "no");
    f.add("quota", format_size(u->quota));
    f.add("password", scheme_of(u->password_hash));
    f.add("maildir", maildir);
    f.add("forward", forward ? join(forward->targets) : "");
    f.add("sendas", join(send_as));
    f.add("created", format_time(u->created));
    f.add("updated", format_time(u->updated));
    print(f.str());
    return 0;
}

int user_sendas(Context& ctx, const std::string& address, const std::vector<std::string>& add,
                const std::vector<std::string>& del) {
    Address a = account_address(address);
    // Every FROM is checked before anything is written: a typo changes nothing.
    auto sender_of = [](const std::string& text) {
        Address from = parse_address(text);
        if (from.quoted)
            throw Error(ErrorKind::bad_data, fmt::format("invalid send-as address '{}': a quoted local part cannot be a sender "
                                                         "here", text));
        from.local = lower_ascii(from.local);
        return from.str();
    };
    std::vector<std::string> adding, removing;
    for (const auto& text : add) adding.push_back(sender_of(text));
    for (const auto& text : del) removing.push_back(sender_of(text));
    store::Store& store = ctx.store();
    if (!store.find_user(a.local, a.domain)) throw Error(ErrorKind::no_such_user, not_found(a));
    if (adding.empty() && removing.empty()) {
        const std::vector<std::string> list = store.list_send_as(a.local, a.domain);
        if (ctx.options.json) {
            JsonWriter j;
            j.begin_array();
            for (const auto& from : list) j.value(from);
            j.end_array();
            print(j.str());
        } else {
            std::string out;
            for (const auto& from : list) out += from + "\n";
            print(out);
        }
        return 0;
    }
    store.write_batch([&] {
        for (const auto& from : removing) store.remove_send_as(a.local, a.domain, from);
        for (const auto& from : adding) store.add_send_as(a.local, a.domain, from);
    });
    for (const auto& from : removing) ctx.note(fmt::format("{} may no longer send as {}", a.str(), from));
    for (const auto& from : adding) ctx.note(fmt::format("{} may send as {}", a.str(), from));
    return 0;
}

int user_enable(Context& ctx, const std::string& address, bool enabled) {
    Address a = account_address(address);
    ctx.store().set_enabled(a.local, a.domain, enabled);
    ctx.note(fmt::format("{} user {}", enabled ? "enabled" : "disabled", a.str()));
    return 0;
}

int user_quota(Context& ctx, const std::string& address, const std::string& size) {
    Address a = account_address(address);
    std::uint64_t bytes = parse_size(size);
    ctx.store().set_quota(a.local, a.domain, bytes);
    ctx.note(fmt::format("set the quota of {} to {}", a.str(), format_size(bytes)));
    return 0;
}

}  // namespace vpsmail::cli
