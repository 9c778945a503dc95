// The command handlers, one file per noun (domain.cpp, user.cpp, ...). Each parses its
// arguments, calls into src/, and prints through print.hpp. cmd/main.cpp binds them to the
// CLI11 command tree, so that only main.cpp pays for including CLI11.
#pragma once

#include "context.hpp"

#include <string>
#include <vector>

namespace vpsmail::cli {

// domain.cpp
int domain_add(Context&, const std::string& domain);
int domain_del(Context&, const std::string& domain, bool force, bool keep_mail);
int domain_list(Context&);
int domain_show(Context&, const std::string& domain);

// user.cpp
/// How a command gets the account's password: a prompt, a line of stdin, or a crypt(3) hash
/// (from argv or from a line of stdin, so that it stays out of `ps`).
struct PasswordArgs {
    bool password_stdin = false;
    std::string password_hash;
    bool password_hash_stdin = false;
};
struct UserAddArgs {
    std::string address;
    PasswordArgs password;
    std::string name;
    std::string quota;
};
int user_add(Context&, const UserAddArgs&);
int user_del(Context&, const std::string& address, bool keep_mail);
int user_passwd(Context&, const std::string& address, const PasswordArgs& password);
int user_list(Context&, const std::string& domain);
int user_show(Context&, const std::string& address);
int user_enable(Context&, const std::string& address, bool enabled);
int user_quota(Context&, const std::string& address, const std::string& size);
/// Lists the account's send-as addresses, or removes `del` and adds `add` in one transaction.
int user_sendas(Context&, const std::string& address, const std::vector<std::string>& add,
                const std::vector<std::string>& del);

// mailbox.cpp: an account's folders (ADDRESS is the account; NAME in UTF-8, '/' between levels).
// status, reindex and expunge belong here too once the index exists.
int mailbox_list(Context&, const std::string& address);
int mailbox_create(Context&, const std::string& address, const std::string& name);
int mailbox_delete(Context&, const std::string& address, const std::string& name);
int mailbox_rename(Context&, const std::string& address, const std::string& from, const std::string& to);

// alias.cpp
int alias_add(Context&, const std::string& name, const std::vector<std::string>& targets);
int alias_del(Context&, const std::string& name, const std::vector<std::string>& targets);
int alias_list(Context&, const std::string& domain);
int alias_show(Context&, const std::string& name);

// vuser.cpp
int vuser_map(Context&, const std::string& key, const std::string& target);
int vuser_unmap(Context&, const std::string& key);
int vuser_list(Context&, const std::string& domain);

// forward.cpp
int forward_set(Context&, const std::string& address, const std::vector<std::string>& targets);
int forward_clear(Context&, const std::string& address);
int forward_show(Context&, const std::string& address);
int forward_list(Context&);

// catchall.cpp
int catchall_set(Context&, const std::string& domain, const std::string& target);
int catchall_unset(Context&, const std::string& domain);
int catchall_show(Context&, const std::string& domain);

// route.cpp
int route_test(Context&, const std::vector<std::string>& addresses);
/// Warns on stderr about each loop that resolving `address` meets (after a routing change).
/// `shown` names what was changed in the warning when `address` is only a probe that reaches
/// it (a vuser pattern, a catch-all); empty: `address` itself.
void warn_loops(Context&, const std::string& address, const std::string& shown = {});
/// Warns on stderr about each of `targets` (entries of `what`, e.g. "alias webmaster", as
/// the admin typed them) that goes nowhere (reaches no mailbox, address, program or file) when resolved
/// in `domain`, with what `route test` answers for it. error: entries are meant to fail; a right side with %1/%2/%3 depends on the
/// address (`substitutes`): neither is checked.
void warn_dead_targets(Context&, const std::string& what, const std::vector<std::string>& targets,
                       const std::string& domain, bool substitutes = false);

// config.cpp
int config_check(Context&);
int config_show(Context&);

// queue.cpp
int queue_list(Context&);
int queue_show(Context&, const std::string& id);
/// flush, retry, hold, release, delete: through the running server's control socket, else on
/// the spool directly. `ids` empty: flush every message.
int queue_act(Context&, const std::string& verb, const std::vector<std::string>& ids);
int queue_bounce(Context&, const std::string& id, const std::string& reason);

// serve.cpp
int serve(Context&, bool foreground);

// sendmail.cpp: sendmail(8) compatibility. `args` are the words after `sendmail` (its own
// flags, parsed there: they are not CLI11's kind). Returns a sysexits code; throws Error.
int sendmail(Context&, const std::vector<std::string>& args);
/// `newaliases`: prints that vpsmail needs none and returns 0.
int newaliases();


}  // namespace vpsmail::cli
