// `vpsmail mailbox list|create|delete|rename`: an account's Maildir++ folders, through
// mailstore::Folders. The account is looked up in the store; its folders are on disk only.
#include "commands.hpp"
#include "core/address.hpp"
#include "core/error.hpp"
#include "json.hpp"
#include "mailstore/folders.hpp"
#include "mailstore/maildir.hpp"
#include "print.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

namespace vpsmail::cli {
namespace {

// The Maildir of a local account, given by its address. Throws Error(bad_data) for a
// malformed address, Error(no_such_user) for one that is no account.
std::string account_maildir(Context& ctx, const std::string& text) {
    Address a = parse_address(text);
    a.local = lower_ascii(a.local);
    if (a.quoted || a.domain.front() == '[' || !ctx.store().find_user(a.local, a.domain))
        throw Error(ErrorKind::no_such_user, fmt::format("no such user '{}' (see 'vpsmail user list')", text));
    return mailstore::maildir_path(ctx.config().paths.mail_root, a.domain, a.local);
}

// docs/architecture.md section 10: the server's user owns the Maildirs, and root does not work
// in a folder that user may change. As root, the command becomes the owner of the Maildir (or of
// the nearest folder above it that exists) before it touches it, so that what it makes belongs
// to that user and no path is followed with root's rights. Closes the store first.
void become_maildir_owner(Context& ctx, const std::string& maildir) {
    if (::geteuid() != 0) return;
    ctx.close_store();
    std::filesystem::path path(maildir);
    struct stat st {};
    while (::stat(path.c_str(), &st) != 0) {
        const int err = errno;
        if (err != ENOENT || !path.has_parent_path() || path.parent_path() == path)
            throw Error(errno_kind(err), fmt::format("cannot look at {}: {}", path.string(), std::strerror(err)));
        path = path.parent_path();
    }
    if (st.st_uid == 0) return;
    if (::setgroups(1, &st.st_gid) != 0 || ::setgid(st.st_gid) != 0 || ::setuid(st.st_uid) != 0)
        throw Error(ErrorKind::permission,
                    fmt::format("cannot become the owner (uid {}) of {}: {}", st.st_uid, path.string(), std::strerror(errno)));
}

mailstore::MailboxName mailbox_name(const std::string& text) { return mailstore::MailboxName::from_utf8(text); }

}  // namespace

int mailbox_list(Context& ctx, const std::string& address) {
    const std::string maildir = account_maildir(ctx, address);
    become_maildir_owner(ctx, maildir);
    const auto entries = mailstore::Folders(maildir).list();
    if (ctx.options.json) {
        JsonWriter j;
        j.begin_array();
        for (const auto& e : entries) {
            j.begin_object()
                .field("name", e.name.str())
                .field("utf7", e.name.utf7())
                .field_strings("attributes", mailstore::folder_attributes(e))
                .field("selectable", e.selectable)
                .field("subscribed", e.subscribed)
                .end_object();
        }
        j.end_array();
        print(j.str());
        return 0;
    }
    // The name last: it may hold spaces.
    Table t({"SUBSCRIBED", "ATTRIBUTES", "NAME"});
    for (const auto& e : entries) t.add({e.subscribed ? "yes" : "no", join(mailstore::folder_attributes(e), ","), e.name.str()});
    print(t.str());
    return 0;
}

int mailbox_create(Context& ctx, const std::string& address, const std::string& name) {
    const auto mailbox = mailbox_name(name);
    const std::string maildir = account_maildir(ctx, address);
    become_maildir_owner(ctx, maildir);
    mailstore::Folders(maildir).create(mailbox);
    ctx.note(fmt::format("created mailbox {} of {}", mailbox.str(), address));
    return 0;
}

int mailbox_delete(Context& ctx, const std::string& address, const std::string& name) {
    const auto mailbox = mailbox_name(name);
    const std::string maildir = account_maildir(ctx, address);
    become_maildir_owner(ctx, maildir);
    mailstore::Folders(maildir).remove(mailbox);
    ctx.note(fmt::format("deleted mailbox {} of {} and the messages in it", mailbox.str(), address));
    return 0;
}

int mailbox_rename(Context& ctx, const std::string& address, const std::string& from, const std::string& to) {
    const auto old_name = mailbox_name(from);
    const auto new_name = mailbox_name(to);
    const std::string maildir = account_maildir(ctx, address);
    become_maildir_owner(ctx, maildir);
    mailstore::Folders(maildir).rename(old_name, new_name);
    ctx.note(fmt::format("renamed mailbox {} of {} to {}", old_name.str(), address, new_name.str()));
    return 0;
}

}  // namespace vpsmail::cli
