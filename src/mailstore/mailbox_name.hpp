// Mailbox (folder) names of an account: the validated name, IMAP's modified UTF-7 (RFC 3501
// 5.1.3) and the one-way mapping to a Maildir++ folder under the account's Maildir.
// Owns names and their file names only: making, listing, renaming folders is folders.hpp's;
// messages, UIDs and flags inside a folder are not this file's.
#pragma once

#include <compare>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vpsmail::mailstore {

/// The most levels a name may have ("A/B/C" has 3).
inline constexpr std::size_t max_mailbox_depth = 16;
/// The longest Maildir++ folder file name (".A.B" in modified UTF-7): one path component.
inline constexpr std::size_t max_folder_file_name = 255;

/// A valid mailbox name, in one canonical form: UTF-8, '/' between levels, and "INBOX" spelt
/// so in any case when it is the first level ("inbox/x" is "INBOX/x", RFC 3501 5.1). Every
/// value maps to a folder inside the account's Maildir (folder_path): no empty level, no "."
/// or "..", no '.' at all (Maildir++ separates levels with it), no control bytes, valid
/// UTF-8, at most max_mailbox_depth levels and a folder file name of at most
/// max_folder_file_name bytes. Default-constructed: INBOX.
class MailboxName {
public:
    MailboxName() : name_("INBOX") {}

    /// The name given in UTF-8 (RFC 9051 and UTF8=ACCEPT clients, the CLI). Throws
    /// Error(bad_data) "invalid mailbox name '<name escaped>': <why>" for any of the
    /// refusals above, the depth and length limits included.
    static MailboxName from_utf8(std::string_view text);
    /// The name as IMAP4rev1 clients send it, in modified UTF-7. Throws as from_utf8(), and
    /// Error(bad_data) for invalid modified UTF-7 (decode_modified_utf7).
    static MailboxName from_utf7(std::string_view wire);

    /// The canonical UTF-8 form.
    const std::string& str() const noexcept { return name_; }
    /// The modified UTF-7 form, for IMAP4rev1 clients.
    std::string utf7() const;
    bool is_inbox() const noexcept { return name_ == "INBOX"; }
    /// The levels, outermost first ("A/B" -> {"A", "B"}).
    std::vector<std::string> levels() const;
    /// The name one level up, or nullopt for a top-level name.
    std::optional<MailboxName> parent() const;
    /// True when `other` is below this name at any depth (not when it is this name).
    bool is_ancestor_of(const MailboxName& other) const noexcept;
    /// This name with its leading part `from` (this name or an ancestor of it) replaced by
    /// `to`: what a rename makes of it. Throws Error(bad_data) when this name does not start
    /// with `from` or when the result is over the limits.
    MailboxName rebased(const MailboxName& from, const MailboxName& to) const;

    friend bool operator==(const MailboxName&, const MailboxName&) = default;
    friend std::strong_ordering operator<=>(const MailboxName&, const MailboxName&) = default;

private:
    explicit MailboxName(std::string canonical) : name_(std::move(canonical)) {}
    std::string name_;
};

/// `utf8` in modified UTF-7 (RFC 3501 5.1.3): printable ASCII as is, '&' as "&-", every run of
/// other characters as '&' + modified base64 of its UTF-16 + '-'. The shortest, and only,
/// encoding decode_modified_utf7 accepts. Throws Error(bad_data) for invalid UTF-8.
std::string encode_modified_utf7(std::string_view utf8);

/// The UTF-8 text of modified UTF-7 `text`. Throws Error(bad_data) naming the text for bytes
/// outside printable ASCII, an unterminated '&', a bad base64 character, leftover bits that
/// are not zero or make a whole character, an encoded printable ASCII character, two encoded
/// runs in a row, an unpaired surrogate: every encoding but the one encode_modified_utf7 makes.
std::string decode_modified_utf7(std::string_view text);

/// The Maildir++ folder file name in the Maildir root: "" for INBOX (the root itself),
/// ".Sent" for Sent, ".A.B" for A/B, non-ASCII in modified UTF-7 as Dovecot and Courier store
/// it. Never contains '/', never "." or "..". Pure.
std::string folder_file_name(const MailboxName& name);

/// The folder's path: `account_maildir` for INBOX, else account_maildir + "/" +
/// folder_file_name(name). Always `account_maildir` or one component below it. Pure.
std::string folder_path(const std::string& account_maildir, const MailboxName& name);

/// The mailbox a file name in the Maildir root is the folder of (".A.B" -> A/B), or nullopt
/// when it is none: no leading '.', "." and "..", bad modified UTF-7, a name that would not map
/// back to exactly this file name (".INBOX", ".inbox.x", non-minimal encodings), foreign
/// junk. Never throws but std::bad_alloc.
std::optional<MailboxName> find_folder_name(std::string_view file_name);

}  // namespace vpsmail::mailstore
