// vpsmail's command line: the CLI11 command tree, global flags, and the mapping of
// vpsmail::Error to sysexits.h codes. The only file that includes CLI11 (it costs 10-20 s of
// compile time per file) and the only exit point; the handlers live in one file per noun.
#include "commands.hpp"
#include "core/error.hpp"
#include "core/paths.hpp"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <string_view>
#include <sysexits.h>
#include <utility>
#include <vector>

namespace {

using namespace vpsmail;
using namespace vpsmail::cli;

struct Tree {
    CLI::App& app;
    Context& ctx;
    int& rc;

    CLI::App* group(const char* name, const char* help) {
        CLI::App* g = app.add_subcommand(name, help);
        g->require_subcommand(1);
        return g;
    }
    CLI::App* command(CLI::App* parent, const char* name, const char* help, std::function<int()> run) {
        CLI::App* c = parent->add_subcommand(name, help);
        const bool writes = writes_store(parent->get_name(), name);
        c->callback([this, run, writes] {
            ctx.set_creates_store(writes);
            rc = run();
        });
        return c;
    }

    // The commands that change the store, and so may create a missing one; every other command
    // (lists, shows, route test, config check) answers that it does not exist.
    static bool writes_store(std::string_view group, std::string_view verb) {
        static constexpr std::pair<std::string_view, std::string_view> writers[] = {
            {"domain", "add"},    {"domain", "del"},      {"user", "add"},       {"user", "del"},
            {"user", "passwd"},   {"user", "enable"},     {"user", "disable"},   {"user", "quota"},
            {"alias", "add"},     {"alias", "del"},       {"vuser", "map"},      {"vuser", "unmap"},
            {"forward", "set"},   {"forward", "clear"},   {"catchall", "set"},   {"catchall", "unset"},
        };
        for (const auto& [g, v] : writers)
            if (g == group && v == verb) return true;
        return false;
    }
};

struct Args {
    std::string a, b, size;
    std::vector<std::string> list, more;
    std::vector<std::string> sendmail;  ///< the words after `sendmail`, parsed by sendmail.cpp
    bool flag = false;
    bool keep = false;
    UserAddArgs user;
    PasswordArgs password;
};

void build_domain(Tree& t, Args& x, CLI::App* domain) {
    Context& ctx = t.ctx;
    t.command(domain, "add", "Add a local domain", [&] { return domain_add(ctx, x.a); })
        ->add_option("DOMAIN", x.a, "Domain name (U-labels are stored as A-labels)")->required();
    auto* ddel = t.command(domain, "del", "Delete a domain (refused while it has users, aliases or maps)",
                           [&] { return domain_del(ctx, x.a, x.flag, x.keep); });
    ddel->add_option("DOMAIN", x.a, "Domain name")->required();
    ddel->add_flag("--force", x.flag, "Also delete its users and their mail, alias entries, vuser entries and catch-all");
    ddel->add_flag("--keep-mail", x.keep, "With --force: keep the users' Maildirs on disk");
    t.command(domain, "list", "List local domains", [&] { return domain_list(ctx); });
    t.command(domain, "show", "Show one domain", [&] { return domain_show(ctx, x.a); })
        ->add_option("DOMAIN", x.a, "Domain name")->required();
}

// Where user add and user passwd take the password from; at most one of them, else a prompt.
void add_password_options(CLI::App* command, PasswordArgs& p) {
    auto* pstdin = command->add_flag("--password-stdin", p.password_stdin, "Read the password from one line of standard input");
    auto* hstdin = command->add_flag("--password-hash-stdin", p.password_hash_stdin,
                                     "Read a crypt(3) hash to store from one line of standard input")
                       ->excludes(pstdin);
    command->add_option("--password-hash", p.password_hash,
                        "Store this crypt(3) hash ($y$, $2b$, $6$, $5$; $1$ and DES are rehashed at the next login; "
                        "visible in ps: prefer --password-hash-stdin)")
        ->excludes(pstdin)
        ->excludes(hstdin);
}

void build_user(Tree& t, Args& x, CLI::App* user) {
    Context& ctx = t.ctx;
    auto* uadd = t.command(user, "add", "Add an account (asks for its password on a terminal)",
                           [&] { return user_add(ctx, x.user); });
    uadd->add_option("ADDRESS", x.user.address, "Account address, local@domain")->required();
    add_password_options(uadd, x.user.password);
    uadd->add_option("--name", x.user.name, "Display name");
    uadd->add_option("--quota", x.user.quota, "Mailbox quota: 500M, 2G, 0 = none");
    auto* udel = t.command(user, "del", "Delete an account and its mail", [&] { return user_del(ctx, x.a, x.flag); });
    udel->add_option("ADDRESS", x.a, "Account address")->required();
    udel->add_flag("--keep-mail", x.flag, "Keep the account's Maildir on disk");
    auto* upw = t.command(user, "passwd", "Change an account's password, or set an imported hash",
                          [&] { return user_passwd(ctx, x.a, x.password); });
    upw->add_option("ADDRESS", x.a, "Account address")->required();
    add_password_options(upw, x.password);
    t.command(user, "list", "List accounts, of one domain or all", [&] { return user_list(ctx, x.a); })
        ->add_option("DOMAIN", x.a, "Only this domain");
    t.command(user, "show", "Show one account", [&] { return user_show(ctx, x.a); })
        ->add_option("ADDRESS", x.a, "Account address")->required();
    t.command(user, "enable", "Let an account receive mail and log in", [&] { return user_enable(ctx, x.a, true); })
        ->add_option("ADDRESS", x.a, "Account address")->required();
    t.command(user, "disable", "Refuse mail (550 5.2.1) and logins for an account", [&] { return user_enable(ctx, x.a, false); })
        ->add_option("ADDRESS", x.a, "Account address")->required();
    auto* uquota = t.command(user, "quota", "Set an account's quota", [&] { return user_quota(ctx, x.a, x.size); });
    uquota->add_option("ADDRESS", x.a, "Account address")->required();
    uquota->add_option("SIZE", x.size, "500M, 2G, 0 = none")->required();
    auto* usend = t.command(user, "sendas", "List, add or remove the addresses beyond its own an account may send as",
                            [&] { return user_sendas(ctx, x.a, x.list, x.more); });
    usend->add_option("ADDRESS", x.a, "Account address")->required();
    usend->add_option("--add", x.list, "Let the account use this MAIL FROM address (repeatable)")->allow_extra_args(false);
    usend->add_option("--del", x.more, "Remove this address from the account's list (repeatable)")->allow_extra_args(false);
}

void build_mailbox(Tree& t, Args& x, CLI::App* mailbox) {
    Context& ctx = t.ctx;
    t.command(mailbox, "list", "List an account's mailboxes with their attributes and subscriptions",
              [&] { return mailbox_list(ctx, x.a); })
        ->add_option("ADDRESS", x.a, "Account address")->required();
    auto* mcreate = t.command(mailbox, "create", "Create a mailbox folder (its parents stay implicit)",
                              [&] { return mailbox_create(ctx, x.a, x.b); });
    mcreate->add_option("ADDRESS", x.a, "Account address")->required();
    mcreate->add_option("NAME", x.b, "Mailbox name in UTF-8, '/' between levels (Archive/2026)")->required();
    auto* mdelete = t.command(mailbox, "delete", "Delete a mailbox and the messages in it (its children stay)",
                              [&] { return mailbox_delete(ctx, x.a, x.b); });
    mdelete->add_option("ADDRESS", x.a, "Account address")->required();
    mdelete->add_option("NAME", x.b, "Mailbox name (not INBOX)")->required();
    auto* mrename = t.command(mailbox, "rename", "Rename a mailbox and its children (INBOX: move its messages to NEW)",
                              [&] { return mailbox_rename(ctx, x.a, x.b, x.size); });
    mrename->add_option("ADDRESS", x.a, "Account address")->required();
    mrename->add_option("OLD", x.b, "The mailbox's name")->required();
    mrename->add_option("NEW", x.size, "Its new name")->required();
}

void build_alias(Tree& t, Args& x, CLI::App* alias) {
    Context& ctx = t.ctx;
    auto* aadd = t.command(alias, "add", "Add targets to an alias, creating it", [&] { return alias_add(ctx, x.a, x.list); });
    aadd->add_option("NAME", x.a, "Alias name (a local part)")->required();
    aadd->add_option("TARGET", x.list, "name, local@domain, remote address, \\user, |program, /file, :include:/path")
        ->required();
    auto* adel = t.command(alias, "del", "Delete an alias, or some of its targets", [&] { return alias_del(ctx, x.a, x.list); });
    adel->add_option("NAME", x.a, "Alias name")->required();
    adel->add_option("TARGET", x.list, "Only remove these targets");
    t.command(alias, "list", "List aliases", [&] { return alias_list(ctx, x.b); })
        ->add_option("--domain", x.b, "Only aliases with a target in this domain");
    t.command(alias, "show", "Show one alias", [&] { return alias_show(ctx, x.a); })
        ->add_option("NAME", x.a, "Alias name")->required();
}

void build_vuser(Tree& t, Args& x, CLI::App* vuser) {
    Context& ctx = t.ctx;
    auto* vmap = t.command(vuser, "map", "Map an address, user+*@domain or @domain to one target",
                           [&] { return vuser_map(ctx, x.a, x.b); });
    vmap->add_option("KEY", x.a, "user@domain, user+*@domain, user+detail@domain or @domain")->required();
    vmap->add_option("TARGET", x.b, "An address, a bare name, %1/%2/%3 forms, or error:CODE text")->required();
    t.command(vuser, "unmap", "Remove a virtusertable entry", [&] { return vuser_unmap(ctx, x.a); })
        ->add_option("KEY", x.a, "The key as mapped")->required();
    t.command(vuser, "list", "List virtusertable entries", [&] { return vuser_list(ctx, x.a); })
        ->add_option("DOMAIN", x.a, "Only this domain");
}

void build_forward(Tree& t, Args& x, CLI::App* forward) {
    Context& ctx = t.ctx;
    auto* fset = t.command(forward, "set", "Set (replace) an account's forward", [&] { return forward_set(ctx, x.a, x.list); });
    fset->add_option("ADDRESS", x.a, "Account address")->required();
    fset->add_option("TARGET", x.list, "Targets; \\user keeps a copy in the mailbox")->required();
    t.command(forward, "clear", "Remove an account's forward", [&] { return forward_clear(ctx, x.a); })
        ->add_option("ADDRESS", x.a, "Account address")->required();
    t.command(forward, "show", "Show an account's forward", [&] { return forward_show(ctx, x.a); })
        ->add_option("ADDRESS", x.a, "Account address")->required();
    t.command(forward, "list", "List all forwards", [&] { return forward_list(ctx); });
}

void build_catchall(Tree& t, Args& x, CLI::App* catchall) {
    Context& ctx = t.ctx;
    auto* cset = t.command(catchall, "set", "Set a domain's catch-all target", [&] { return catchall_set(ctx, x.a, x.b); });
    cset->add_option("DOMAIN", x.a, "Local domain")->required();
    cset->add_option("TARGET", x.b, "One target, like a vuser right side (%1 = local part)")->required();
    t.command(catchall, "unset", "Remove a domain's catch-all", [&] { return catchall_unset(ctx, x.a); })
        ->add_option("DOMAIN", x.a, "Local domain")->required();
    t.command(catchall, "show", "Show catch-alls, of one domain or all", [&] { return catchall_show(ctx, x.a); })
        ->add_option("DOMAIN", x.a, "Only this domain");
}

void build_route(Tree& t, Args& x, CLI::App* route) {
    Context& ctx = t.ctx;
    t.command(route, "test", "Resolve addresses as the server would and show every stage",
              [&] { return route_test(ctx, x.list); })
        ->add_option("ADDRESS", x.list, "Addresses or bare names")->required();
}

void build_config(Tree& t, Args&, CLI::App* config) {
    Context& ctx = t.ctx;
    t.command(config, "check", "Validate the configuration file and the store; warn about risky settings",
              [&] { return config_check(ctx); });
    t.command(config, "show", "Print the effective configuration, defaults included", [&] { return config_show(ctx); });
}

void build_queue(Tree& t, Args& x, CLI::App* queue) {
    Context& ctx = t.ctx;
    t.command(queue, "list", "List the messages waiting in the outbound spool, one line per recipient",
              [&] { return queue_list(ctx); });
    t.command(queue, "show", "Show one message: its envelope, each recipient's attempts, and its headers",
              [&] { return queue_show(ctx, x.a); })
        ->add_option("ID", x.a, "Queue id (from queue list)")->required();
    t.command(queue, "flush", "Try the given messages (default: all) now, through the running server",
              [&] { return queue_act(ctx, "flush", x.list); })
        ->add_option("ID", x.list, "Queue ids");
    t.command(queue, "retry", "Make the messages due now (also without a running server)",
              [&] { return queue_act(ctx, "retry", x.list); })
        ->add_option("ID", x.list, "Queue ids")->required();
    t.command(queue, "hold", "Stop trying the messages until they are released",
              [&] { return queue_act(ctx, "hold", x.list); })
        ->add_option("ID", x.list, "Queue ids")->required();
    t.command(queue, "release", "Try held messages again", [&] { return queue_act(ctx, "release", x.list); })
        ->add_option("ID", x.list, "Queue ids")->required();
    t.command(queue, "delete", "Remove the messages from the queue without a bounce",
              [&] { return queue_act(ctx, "delete", x.list); })
        ->add_option("ID", x.list, "Queue ids")->required();
    auto* bounce = t.command(queue, "bounce", "Give up on a message now and send its sender a bounce (DSN)",
                             [&] { return queue_bounce(ctx, x.a, x.b); });
    bounce->add_option("ID", x.a, "Queue id")->required();
    bounce->add_option("--reason", x.b, "The text the bounce gives (default: bounced by the administrator)");
}

// `serve` is a command of its own, not a group.
void build_serve(Tree& t, Args& x, CLI::App* serve) {
    serve->callback([&t, &x] {
        // docs/architecture.md section 8: the system's server, unless a user without a system installation
        // runs one of their own (or --config names the file).
        if (!t.ctx.config_is_explicit()) t.ctx.set_install(server_install());
        t.rc = vpsmail::cli::serve(t.ctx, x.flag);
    });
    serve->add_flag("--foreground", x.flag, "Stay in the foreground, logging to stderr (for systemd and terminals)");
}

// `sendmail` is a command of its own whose flags are sendmail(8)'s (-t -i -oi -f -F -bs ...),
// which CLI11 cannot parse: main() hands the words after it to sendmail.cpp, and the tree
// knows it only for --help and the documentation test.
void build_sendmail(Tree& t, Args& x, CLI::App* sendmail) {
    sendmail->callback([&t, &x] {
        t.ctx.set_creates_store(true);  // it delivers, as serve would
        t.rc = vpsmail::cli::sendmail(t.ctx, x.sendmail);
    });
    sendmail->add_option("ARGS", x.list,
                         "sendmail(8) flags and recipients: [-t] [-i|-oi] [-f SENDER] [-F NAME] [-bs|-bp|-bv] [RECIPIENT...] "
                         "(global options go before 'sendmail'; see 'man vpsmail-sendmail')");
}

// The command groups, in --help order. Only the group named on the command line gets its
// subcommands built: every vpsmail command is a short process, and building the whole CLI11
// tree was a measurable part of a `user add` in a shell loop.
struct Group {
    const char* name;
    const char* help;
    void (*build)(Tree&, Args&, CLI::App*);
    bool leaf = false;  ///< a command itself, with no subcommands
};
constexpr Group groups[] = {
    {"domain", "Add, delete, list and show local domains", build_domain},
    {"user", "Manage mail accounts", build_user},
    {"mailbox", "Manage an account's mailbox folders (Maildir++)", build_mailbox},
    {"alias", "Manage aliases (keyed on the local part, valid in every local domain)", build_alias},
    {"vuser", "Manage the virtusertable (virtual-user map)", build_vuser},
    {"forward", "Manage per-account forwards (.forward)", build_forward},
    {"catchall", "Manage per-domain catch-alls (after every other stage)", build_catchall},
    {"route", "Explain where mail goes", build_route},
    {"config", "Check and show the configuration", build_config},
    {"queue", "Show and steer the outbound queue", build_queue},
    {"serve", "Run the mail server: SMTP on the [smtp], [submission] and [submissions] listeners", build_serve, true},
    {"sendmail", "Submit a message like sendmail(8) (also run as sendmail, mailq, newaliases)", build_sendmail, true},
};

// The index of the first word that is not an option or an option's value: the group a
// command line names; 0 when there is none.
int named_group_index(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        std::string_view word = argv[i];
        if (word == "--") break;
        if (word.starts_with("-")) {
            if ((word == "--db" || word == "--config") && i + 1 < argc) ++i;
            continue;
        }
        return i;
    }
    return 0;
}

std::string_view named_group(int argc, char** argv) {
    const int i = named_group_index(argc, argv);
    return i == 0 ? std::string_view() : std::string_view(argv[i]);
}

// No group named (vpsmail --help, --version): the groups alone. An unknown word: all of
// them, so that the error can list what there is.
void build(Tree& t, Args& x, std::string_view only) {
    bool known = false;
    for (const Group& g : groups) known = known || only == g.name;
    const bool all = !only.empty() && !known;
    for (const Group& g : groups) {
        CLI::App* group = g.leaf ? t.app.add_subcommand(g.name, g.help) : t.group(g.name, g.help);
        if (all || only == g.name) g.build(t, x, group);
    }
}

// CLI11 says "A subcommand is required" for `vpsmail nosuch`; name the word it did not know.
std::string unknown_command(CLI::App& app, int argc, char** argv) {
    CLI::App* level = &app;
    std::string path;
    for (int i = 1; i < argc; ++i) {
        std::string word = argv[i];
        if (word == "--") break;
        if (word.starts_with("-")) {
            if ((word == "--db" || word == "--config") && i + 1 < argc) ++i;
            continue;
        }
        if (level->get_subcommands({}).empty()) break;
        CLI::App* next = nullptr;
        for (CLI::App* sub : level->get_subcommands({}))
            if (sub->get_name() == word) next = sub;
        path += path.empty() ? word : " " + word;
        if (!next) {
            std::string known;
            for (CLI::App* sub : level->get_subcommands({})) known += (known.empty() ? "" : ", ") + sub->get_name();
            return "unknown command '" + path + "' (commands: " + known + ")";
        }
        level = next;
    }
    return {};
}

// `vpsmail user`, `vpsmail` alone: a group named without one of its commands (and no unknown
// word). Its help lists them, on stderr with exit 64, as git does.
bool group_without_command(CLI::App& app) {
    CLI::App* level = &app;
    for (auto parsed = app.get_subcommands(); !parsed.empty(); parsed = level->get_subcommands()) level = parsed.front();
    return !level->get_subcommands({}).empty();
}

// `vpsmail help [GROUP]`: the help of vpsmail or of one group on stdout, exit 0.
int help(CLI::App& app, int argc, char** argv, int at) {
    if (argc - at > 2) {
        std::fprintf(stderr, "vpsmail: 'help' takes at most one group, not '%s' (see 'vpsmail --help')\n", argv[at + 2]);
        return EX_USAGE;
    }
    const std::string topic = argc - at == 2 ? argv[at + 1] : "";
    CLI::App* of = &app;
    if (!topic.empty()) {
        try {
            of = app.get_subcommand(topic);
        } catch (const CLI::OptionNotFound&) {
            std::string known;
            for (CLI::App* sub : app.get_subcommands({})) known += (known.empty() ? "" : ", ") + sub->get_name();
            std::fprintf(stderr, "vpsmail: unknown command '%s' (commands: %s)\n", topic.c_str(), known.c_str());
            return EX_USAGE;
        }
    }
    std::fputs(of == &app ? app.help().c_str() : of->help(app.get_name()).c_str(), stdout);
    return EX_OK;
}

// The end of a command: `rc` is its exit status. A command is a short process: after the store
// is closed and the output flushed, nothing left in memory needs its destructor (the command
// tree, the configuration, libraries' static state), and running them all was 3 % of a `user
// add`, so the process ends at once, as compilers and ninja do. `serve` ends the ordinary way
// (its threads and listeners have their own shutdown), and so does every command under
// AddressSanitizer, whose leak check runs at exit.
int finish(vpsmail::cli::Context& ctx, [[maybe_unused]] std::string_view group, int rc) {
    ctx.close_store();
    if (std::fflush(stdout) != 0 && rc == 0) {
        std::fprintf(stderr, "vpsmail: cannot write the output\n");
        rc = EX_IOERR;
    }
#if !defined(__SANITIZE_ADDRESS__)
    if (group != "serve") {
        std::fflush(stderr);
        std::_Exit(rc);
    }
#endif
    return rc;
}

}  // namespace

int main(int argc, char** argv) {
    // Installed as /usr/sbin/sendmail, mailq or newaliases (links to vpsmail), the binary
    // behaves as those programs: `vpsmail sendmail ...`, `vpsmail queue list`, nothing.
    std::vector<std::string> words(argv, argv + argc);
    const std::string invoked = words.empty() ? std::string() : words[0].substr(words[0].rfind('/') + 1);
    if (invoked == "newaliases") return vpsmail::cli::newaliases();
    if (invoked == "sendmail") words.insert(words.begin() + 1, "sendmail");
    if (invoked == "mailq") words = {"vpsmail", "queue", "list"};  // mailq's own flags select nothing here
    Args args;
    {
        std::vector<char*> pointers;
        for (auto& w : words) pointers.push_back(w.data());
        const int at = named_group_index(static_cast<int>(pointers.size()), pointers.data());
        // The words after `sendmail` are sendmail's, except a lone --help for CLI11's help.
        if (at > 0 && words[at] == "sendmail") {
            args.sendmail.assign(words.begin() + at + 1, words.end());
            if (args.sendmail != std::vector<std::string>{"--help"}) words.resize(static_cast<std::size_t>(at) + 1);
        }
    }
    std::vector<char*> pointers;
    for (auto& w : words) pointers.push_back(w.data());
    pointers.push_back(nullptr);
    argc = static_cast<int>(words.size());
    argv = pointers.data();

    Context ctx;
    // docs/architecture.md section 8: sendmail and mailq are system entry points (cron, PHP as www-data):
    // whoever runs them, they mean the system installation, its file and its defaults.
    if (invoked == "mailq" || named_group(argc, argv) == "sendmail") ctx.set_install(Install::system);
    int rc = 0;
    CLI::App app{"vpsmail: the mail server for your VPS, and its administration", "vpsmail"};
    app.fallthrough();  // global options are accepted after the subcommand too
    app.require_subcommand(1);
    app.set_version_flag("--version", std::string("vpsmail ") + VPSMAIL_VERSION);
    app.add_option("--db", ctx.options.db, "Store database file (default: $VPSMAIL_DB, [store] path, state folder)");
    app.add_option("--config", ctx.options.config, "Configuration file (default: $VPSMAIL_CONFIG, /etc/vpsmail/vpsmail.toml)");
    app.add_flag("--json", ctx.options.json, "Machine-readable JSON output");
    app.add_flag("-q,--quiet", ctx.options.quiet, "No warnings");
    app.add_flag("-v,--verbose", ctx.options.verbose, "Say what was done; show error details");
    app.footer("Exit status: 0 ok, 64 usage, 65 bad data, 66 not found (mailbox), 67 no such user (route test: a permanent failure), "
               "68 no such domain, 70 internal error, 73 exists, 74 output error, 75 temporary (route test: only "
               "temporary failures), 77 permission, 78 configuration.");

    Tree tree{app, ctx, rc};
    const std::string_view group = named_group(argc, argv);
    if (group == "help") {
        const int at = named_group_index(argc, argv);
        build(tree, args, at + 1 < argc ? std::string_view(argv[at + 1]) : std::string_view());
        return finish(ctx, group, help(app, argc, argv, at));
    }
    build(tree, args, group);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
        std::string unknown = unknown_command(app, argc, argv);
        if (unknown.empty() && group_without_command(app)) {
            std::fputs(app.help().c_str(), stderr);  // the selected group's help (CLI11 delegates)
            return EX_USAGE;
        }
        std::fprintf(stderr, "vpsmail: %s (see 'vpsmail --help')\n", unknown.empty() ? e.what() : unknown.c_str());
        return EX_USAGE;
    } catch (const vpsmail::Error& e) {
        std::fprintf(stderr, "vpsmail: %s\n", e.what());
        if (ctx.options.verbose && !e.detail().empty()) std::fprintf(stderr, "vpsmail: detail: %s\n", e.detail().c_str());
        return vpsmail::exit_code(e.kind());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "vpsmail: internal error: %s\n", e.what());
        return EX_SOFTWARE;
    }
    return finish(ctx, group, rc);
}
