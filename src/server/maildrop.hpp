// The maildrop: how `vpsmail sendmail` run by a user who may not read the store or write the
// spool (a cron job, PHP as www-data) hands a message to the server, like Postfix's postdrop
// and pickup. Owns the file format, the durable write with its per-user bound, the checks a
// local submission must pass (shared by sendmail and the pickup), and the pickup that delivers
// each file through deliver_message and then removes it. Does not prepare messages
// (mime/submission) and does not write bounces: refusals go to the caller's MaildropBounce.
//
//   <spool_dir>/maildrop/             mode 3733, the server user's and its group's (Spool::create):
//                                     anyone drops files in, nobody else lists them, and each
//                                     file gets the server's group (setgid folder)
//   <spool_dir>/maildrop/<uid>-<n>    one message of user <uid> (slot n < [limits]
//                                     max_maildrop_messages), mode 0640: envelope lines, "end",
//                                     then the message
//   <spool_dir>/maildrop/.tmp-<uid>-<random>   being written (tmp -> fsync -> rename, then fsync)
//   <spool_dir>/corrupt/maildrop.<random>      a quarantined file (the spool's own 0700 folder,
//                                     which no local user can write), with a log line each
#pragma once

#include "core/config.hpp"
#include "smtp/codes.hpp"
#include "smtp/ports.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vpsmail::server {

class Server;

/// One submitted message. Who submitted it is not in the file: it is the file's owner.
struct MaildropEntry {
    std::int64_t created = 0;  ///< unix seconds
    std::string sender;        ///< the envelope sender (-f or the default); empty: <>
    std::vector<std::string> recipients;  ///< as given: addresses or bare local names
    std::string message;       ///< CRLF line ends (check_local_message says whether it is fit)
};

/// The file's text, and back. parse_maildrop validates the envelope lines (sender and
/// recipients through core/address, at least one recipient) and throws Error(bad_data) naming
/// the first bad line; the message after "end" is taken as it is (check_local_message judges
/// it). The "uid" and "user" lines of older writers are read and ignored.
std::string format_maildrop(const MaildropEntry& entry);
MaildropEntry parse_maildrop(std::string_view text);

/// What every locally submitted message must satisfy before it is accepted: CRLF line ends
/// only (no bare CR or LF: docs/architecture.md section 10), no NUL byte, at most [limits]
/// max_message_size octets (as written: after LF -> CRLF and the added header fields), at most
/// [limits] max_recipients recipients. Returns the refusal (a permanent reply whose text names
/// the problem, fit for sendmail's error line and for a DSN), or nullopt when the message is
/// fit. sendmail refuses with it; the pickup bounces with it.
std::optional<smtp::Reply> check_local_message(std::string_view message, std::size_t recipients, const Config::Limits& limits);

/// Writes `entry` into <spool_dir>/maildrop durably as this process's user, in the first free
/// slot of that user (mode 0640: the folder's group, the server's, may read it). Returns the
/// file's name. Throws Error(temporary) when the user already has [limits]
/// max_maildrop_messages files or, with this one, more than max_maildrop_size bytes waiting
/// (naming the figures and the key), when the folder is missing (the server never ran), or on
/// ENOSPC and I/O errors; Error(permission) when the folder cannot be written.
std::string write_maildrop(const std::string& spool_dir, const MaildropEntry& entry, const Config::Limits& limits);

/// A recipient that delivery refused, with the reply that refused it.
struct Refusal {
    smtp::Recipient recipient;
    smtp::Reply reply;
};

/// Called for each picked-up message with refused recipients (permanently, or temporarily past
/// [queue] max_age), or refused whole (check_local_message, a file too large to read): the
/// envelope, the message as delivered (empty when it was not read), and the refusals. The
/// integrator connects it to the DSN generator (RFC 3464).
using MaildropBounce =
    std::function<void(const smtp::Envelope& envelope, const std::string& message, const std::vector<Refusal>& refused)>;

/// The pickup of `vpsmail serve`: delivers every file in the maildrop through deliver_message
/// (listener "sendmail", loopback peer, relaying allowed like any local submission), oldest
/// first. The submitter is the file's owner (fstat), whatever the file says; a file named for
/// another uid than its owner, not regular, with other links, or whose envelope does not parse
/// is moved to <spool_dir>/corrupt. A message that check_local_message refuses is bounced to
/// its sender. Local recipients that fail temporarily go to the queue (OnTemporaryFailure::
/// queue), which retries them with its backoff; a file that cannot be delivered at all for now
/// (the spool cannot be written) waits the queue's backoff (queue::backoff with [queue]
/// retry_min and retry_max) before its next try. Folders are opened with O_NOFOLLOW.
class MaildropPickup {
public:
    MaildropPickup(Server& server, MaildropBounce bounce);

    /// One pass at `now`. Returns the number of messages delivered (in full or in part) and
    /// removed. Never throws: errors are logged. Call from one thread at a time.
    std::size_t run(std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

private:
    struct Waiting {
        std::uint32_t attempts = 0;
        std::chrono::system_clock::time_point next;
    };
    Server& server_;
    MaildropBounce bounce_;
    std::map<std::string, Waiting> waiting_;  // file name -> its backoff after temporary failures
};

/// "Received: by HOST (vpsmail, from userid UID USER)\r\n\tid ID; DATE\r\n": the trace header
/// of a locally submitted message (RFC 5321 4.4; Postfix's pickup writes the same facts).
std::string format_local_received(std::string_view hostname, std::uint32_t uid, std::string_view user, std::string_view id,
                                  std::chrono::system_clock::time_point when);

}  // namespace vpsmail::server
