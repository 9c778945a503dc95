// The maildrop: how `vpsmail sendmail` run by a user who may not read the store or write the
// spool (a cron job, PHP as www-data) hands a message to the server, like Postfix's postdrop
// and pickup. Owns the file format, the durable write, and the pickup that delivers each file
// through deliver_message and then removes it. Does not prepare messages (mime/submission) and
// does not write bounces: refused recipients go to the caller's MaildropBounce.
//
//   <spool_dir>/maildrop/            mode 1733, owned by the server user (Spool::create)
//   <spool_dir>/maildrop/<name>      one message: envelope lines, "end", then the message
//   <spool_dir>/maildrop/.tmp-<name> being written (tmp -> fsync -> rename, then the folder fsync)
//   <spool_dir>/maildrop/corrupt/    quarantined files, with a log line each
#pragma once

#include "smtp/codes.hpp"
#include "smtp/ports.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace vpsmail::server {

class Server;

/// One submitted message.
struct MaildropEntry {
    std::int64_t created = 0;  ///< unix seconds
    std::uint32_t uid = 0;     ///< the submitting user (checked against the file's owner)
    std::string user;          ///< its login name, for the logs and the Received header
    std::string sender;        ///< the envelope sender (-f or the default); empty: <>
    std::vector<std::string> recipients;  ///< as given: addresses or bare local names
    std::string message;       ///< CRLF line ends
};

/// The file's text, and back. parse_maildrop validates every field (sender and recipients
/// through core/address, at least one recipient, CRLF-only message without NUL bytes) and
/// throws Error(bad_data) naming the first bad line.
std::string format_maildrop(const MaildropEntry& entry);
MaildropEntry parse_maildrop(std::string_view text);

/// Writes `entry` into <spool_dir>/maildrop durably (mode 0644: the server user must read a
/// file another user owns; the folder is not listable by others and the name is random).
/// Returns the file's name. Throws Error(permission) when the folder cannot be written,
/// Error(temporary) when it is missing (the server never ran) or on ENOSPC and I/O errors.
std::string write_maildrop(const std::string& spool_dir, const MaildropEntry& entry);

/// A recipient that delivery refused, with the reply that refused it.
struct Refusal {
    smtp::Recipient recipient;
    smtp::Reply reply;
};

/// Called for each picked-up message with refused recipients (permanently, or temporarily for
/// longer than maildrop_lifetime): the envelope, the message as delivered, and the refusals.
/// The integrator connects it to the DSN generator (RFC 3464).
using MaildropBounce =
    std::function<void(const smtp::Envelope& envelope, const std::string& message, const std::vector<Refusal>& refused)>;

/// How long a message whose recipients only fail temporarily stays in the maildrop.
inline constexpr std::chrono::seconds maildrop_lifetime{5 * 24 * 3600};

/// Delivers every file in the maildrop through deliver_message (listener "sendmail", loopback
/// peer, relaying allowed like any local submission), oldest first. The file's owner is the
/// submitter: a file whose uid line differs from its owner (unless the owner is this process's
/// user, which writes retries) is quarantined, as are files that are not regular, have other
/// links, exceed [limits] max_message_size (plus the envelope) or do not parse. A file is
/// removed only after its delivery is durable; recipients refused temporarily are retried on a
/// later call (a new file with only them when others were delivered). Returns the number of
/// messages delivered (in full or in part) and removed. Never throws: errors are logged.
/// Call from one thread at a time.
std::size_t pickup_maildrop(Server& server, const MaildropBounce& bounce);

/// "Received: by HOST (vpsmail, from userid UID USER)\r\n\tid ID; DATE\r\n": the trace header
/// of a locally submitted message (RFC 5321 4.4; Postfix's pickup writes the same facts).
std::string format_local_received(std::string_view hostname, std::uint32_t uid, std::string_view user, std::string_view id,
                                  std::chrono::system_clock::time_point when);

}  // namespace vpsmail::server
