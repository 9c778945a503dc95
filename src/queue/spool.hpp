// The outbound spool: accepted mail for remote (or temporarily undeliverable local) recipients,
// durable before the SMTP 250 that accepts it, until the queue runner delivers or bounces it.
// Owns the files, their format, the runner lock and the admin edits (hold, retry, bounce...);
// knows nothing of SMTP, DNS or when to retry (scheduler.hpp) and writes no DSN (dsn.hpp).
//
//   <spool_dir>/msg/<id>      the message, as received plus our Received: header; written once
//   <spool_dir>/env/<id>      its envelope (below); a message is queued iff this file exists
//   <spool_dir>/tmp/          files being written (tmp -> fsync -> rename, then the folder fsync)
//   <spool_dir>/corrupt/      quarantined files: <id>.env, <id>.msg and <id>.why (the reason)
//   <spool_dir>/lock          flock(2)ed by the process that runs the queue (the server)
//
// Envelope format "vpsmail-envelope 2" (version 1 files, which lack the attempt fields, are
// still read; every write is version 2). Text, one field per line, "name value"; values are
// escaped ('%', CR, LF and the other control bytes become %XX) so no value can forge a line.
// Unknown names are errors: a newer format is not guessed at. Fields at their default are left
// out. Message fields come first, then each recipient's "rcpt" line followed by its own fields:
//
//   vpsmail-envelope 2
//   created 1700000000            arrival, unix seconds (max_age and warnings count from it)
//   size 1234                     bytes of msg/<id>: a shorter or longer file is damaged
//   held 1                        the admin held it: no attempts until released
//   warned 1                      the delay DSN was sent
//   return-path ann@example.org   empty: the null sender <>
//   body 8BITMIME                 7BIT, 8BITMIME or BINARYMIME
//   smtputf8 1
//   envid ...  ret HDRS  from client.example [192.0.2.1]
//   rcpt deferred bob@remote.test state (pending, deferred, delivered, bounced) and address
//   local 1                       deliver locally (e.g. sendmail while a mailbox was full)
//   notify FAILURE,DELAY          DSN NOTIFY as given; orcpt rfc822;bob@remote.test
//   part program:|/usr/bin/x      the one program or file of a local recipient's expansion left to
//                                 do (server/delivery.hpp); only serve and root's sendmail write it
//   attempts 3                    failed or finished attempts so far
//   next-attempt 1700001200       unix seconds; absent or 0: now
//   last-attempt 1700000600
//   code 451  status 4.4.1        the last reply's code and enhanced status
//   remote-mta mx.remote.test [192.0.2.7]
//   remote-reply 1                code/error came from the remote server (DSN Diagnostic-Code)
//   error no answer               the last error text
//   dsn-passed-on 1               delivered to a DSN-capable server that reports from now on
//   dsn-sent failure,delay,success  DSNs already sent for this recipient (never twice)
//   history 1700000600 451 4.4.1 no answer    one per attempt, oldest first, the last 10 kept
//   end
//   <spool_dir>/maildrop/     mode 3733: messages of local users for the server (server/maildrop.hpp)
#pragma once

#include "core/sync_group.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vpsmail::queue {

enum class RecipientState { pending, deferred, delivered, bounced };

/// delivered and bounced are final: nothing more is attempted for that recipient.
bool is_final(RecipientState state) noexcept;

/// One attempt in a recipient's history.
struct Attempt {
    std::int64_t time = 0;  ///< unix seconds
    std::string result;     ///< one line: "451 4.4.1 connection refused"
    bool operator==(const Attempt&) const = default;
};

/// The DSNs already sent for a recipient (RFC 3461), so none is ever sent twice.
struct DsnSent {
    bool failure = false;
    bool delay = false;
    bool success = false;
    bool operator==(const DsnSent&) const = default;
};

/// How many attempts a recipient's history keeps.
inline constexpr std::size_t max_history = 10;

struct SpoolRecipient {
    std::string address;
    RecipientState state = RecipientState::pending;
    std::string notify;    ///< DSN NOTIFY (RFC 3461), as given; empty: not given
    std::string orcpt;     ///< DSN ORCPT, "addr-type;address" with the address xtext-decoded
    std::string last_error;
    bool local = false;              ///< the runner delivers it locally, not over SMTP
    /// With `local`: the program or file part of the address's expansion to run alone
    /// ("program:|cmd", "file:/path"), instead of resolving the address again; empty: none.
    std::string part;
    std::uint32_t attempts = 0;
    std::int64_t next_attempt = 0;   ///< unix seconds; 0: now
    std::int64_t last_attempt = 0;   ///< unix seconds; 0: never tried
    int code = 0;                    ///< the last reply's code; 0: none yet
    std::string status;              ///< the last reply's enhanced status ("4.4.1")
    std::string remote_mta;          ///< the host that gave the last reply; empty: none
    bool remote_reply = false;       ///< code/last_error came from the remote server
    bool dsn_passed_on = false;      ///< the remote server took over DSN duty (RFC 3461 4.1)
    DsnSent dsn_sent;
    std::vector<Attempt> history;    ///< oldest first, at most max_history
};

struct Envelope {
    std::string return_path;  ///< empty: the null sender <>
    std::vector<SpoolRecipient> recipients;
    std::string body = "7BIT";  ///< 7BIT, 8BITMIME, BINARYMIME
    bool smtputf8 = false;
    std::string envid;  ///< DSN ENVID, xtext-decoded
    std::string ret;    ///< DSN RET: FULL, HDRS or empty
    std::string received_from;  ///< the client: "ehlo-name [ip]", for the logs and DSNs
    std::int64_t created = 0;   ///< unix seconds: the arrival date (DSN Arrival-Date, max_age)
    bool held = false;          ///< no attempts until released
    bool warned = false;        ///< the delay DSN was sent
    /// Bytes of msg/<id>; Spool::add sets it. nullopt: unknown (a version 1 file).
    std::optional<std::uint64_t> size;
};

struct SpooledMessage {
    std::string id;
    Envelope envelope;
    std::uint64_t size = 0;  ///< bytes of msg/<id>
};

/// A spool entry that cannot be used: quarantine it (Spool::quarantine).
struct DamagedEntry {
    std::string id;
    std::string reason;  ///< "envelope line 3: ...", "message file missing", "orphan message file"
};

/// What Spool::scan() found.
struct ScanResult {
    std::vector<SpooledMessage> messages;  ///< the good ones, oldest first
    std::vector<DamagedEntry> damaged;
};

/// The exclusive runner lock (flock on <dir>/lock): held by the process that runs the queue.
/// Released when destroyed. Move-only.
class SpoolLock {
public:
    explicit SpoolLock(int fd) noexcept : fd_(fd) {}
    ~SpoolLock();
    SpoolLock(SpoolLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
    SpoolLock& operator=(SpoolLock&& other) noexcept;
    SpoolLock(const SpoolLock&) = delete;
    SpoolLock& operator=(const SpoolLock&) = delete;

private:
    int fd_ = -1;
};

class Spool {
public:
    /// fsync(2) or, in tests, a replacement: 0, or -1 with errno set.
    using FsyncFunction = vpsmail::FsyncFunction;

    /// Figures for tests and benchmarks: folder fsyncs asked for and made (group commit).
    using SyncCounters = SyncGroup::Counters;

    /// The spool at `dir`; its folders (0700; the spool itself 0711 and maildrop/ 3733) are
    /// made by create(). Copies share one group commit of folder fsyncs. `fsync` empty means
    /// ::fsync (used for folders only).
    explicit Spool(std::string dir, FsyncFunction fsync = {});

    /// Makes the spool's folders when missing and sets the modes of the spool folder and the
    /// maildrop. Throws Error(permission/no_space/temporary) naming them.
    void create() const;

    /// Writes the message and its envelope durably (both fsync'd, renamed, folders fsync'd)
    /// and returns the new id. The stored envelope's size is message.size(). Throws
    /// Error(no_space) on ENOSPC/EDQUOT and Error(temporary) on other I/O errors, leaving
    /// nothing behind in msg/ or env/. Thread-safe.
    std::string add(const Envelope& envelope, std::string_view message) const;

    /// As add(), with the message in the file at `path` in this spool's tmp/ (a big message
    /// the SMTP session spilled there): fsync'd and hard-linked as msg/<id>, not copied, so
    /// the file must never change again; it stays at `path` for its owner to remove.
    std::string add_file(const Envelope& envelope, const std::string& path) const;

    /// Every queued message that can be read, oldest first; damaged entries are skipped (see
    /// scan()). Never throws for one bad file; throws Error(...) when env/ cannot be read.
    std::vector<SpooledMessage> list() const;

    /// The good messages and the damaged entries: an envelope that does not parse, a message
    /// file missing or of the wrong size, a message file with no envelope modified more than
    /// an hour before `now` (younger ones are an add() or remove() in progress). Changes
    /// nothing. Throws Error(...) only when env/ or msg/ cannot be read.
    ScanResult scan(std::chrono::system_clock::time_point now = std::chrono::system_clock::now()) const;

    /// One message's envelope, or nullopt when no such id is queued (or it is damaged, or
    /// `id` is not a queue id).
    std::optional<SpooledMessage> find(const std::string& id) const;

    /// As find(), but throws Error(bad_data) for a malformed id and Error(not_found)
    /// naming the id when it is not queued.
    SpooledMessage get(const std::string& id) const;

    /// The message's bytes. Throws Error(bad_data) when msg/<id> is missing or its size is
    /// not the envelope's, Error(temporary) on I/O errors.
    std::string read_content(const SpooledMessage& message) const;
    std::string read_content(const std::string& id) const;

    /// Rewrites env/<id> durably (tmp -> fsync -> rename -> group fsync of env/). Throws
    /// Error(not_found) when the message is no longer queued (removed meanwhile: it is not
    /// brought back), Error(temporary) on I/O errors. Thread-safe; calls for different ids
    /// share folder fsyncs; two concurrent calls for one id are the caller's to avoid.
    void update(const SpooledMessage& message) const;

    /// Removes the message: env/<id> first (it stops being queued), then msg/<id>, then the
    /// group fsync of both folders. Throws Error(not_found) when it is not queued.
    void remove(const std::string& id) const;

    /// Moves env/<id> and msg/<id> (whichever exist) into corrupt/ as <id>.env and <id>.msg,
    /// with <id>.why holding `reason`, durably, and logs a "spool_quarantine" line. Throws
    /// Error(bad_data) for a malformed id, Error(temporary/permission) on I/O errors.
    void quarantine(const std::string& id, std::string_view reason) const;

    /// Deletes files in tmp/ modified more than `min_age` before `now`: leftovers of a crash.
    /// Returns how many. Younger ones may belong to an add() of another process (sendmail).
    std::size_t remove_stale_tmp(std::chrono::system_clock::time_point now = std::chrono::system_clock::now(),
                                 std::chrono::seconds min_age = std::chrono::hours(1)) const;

    /// The runner lock, or nullopt when another process still holds it after `wait` (0:
    /// do not wait). Throws Error(temporary/permission) when <dir>/lock cannot be opened.
    std::optional<SpoolLock> try_lock(std::chrono::milliseconds wait = std::chrono::milliseconds(0)) const;

    // Admin operations (CLI and control socket). Each reads the envelope, edits it with the
    // function of the same name below and update()s it; returns the message as written. They
    // throw Error(bad_data) for a malformed id and Error(not_found) when it is not queued.

    SpooledMessage hold(const std::string& id) const;
    SpooledMessage release(const std::string& id) const;
    SpooledMessage retry(const std::string& id) const;
    /// `reason` becomes the bounced recipients' error (and the DSN's diagnostic).
    SpooledMessage bounce(const std::string& id, std::string_view reason,
                          std::chrono::system_clock::time_point now = std::chrono::system_clock::now()) const;

    SyncCounters sync_counters() const;

    const std::string& dir() const noexcept { return dir_; }

private:
    void sync_folders(bool env, bool msg) const;
    std::string add_envelope(const std::string& id, const Envelope& envelope, std::uint64_t size) const;

    std::string dir_;
    FsyncFunction fsync_;
    std::shared_ptr<SyncGroup> syncs_;  // shared by the copies
};

// The same edits on an envelope in memory (the runner applies them to the copy it holds).

/// held = true.
void hold(Envelope& envelope) noexcept;
/// held = false.
void release(Envelope& envelope) noexcept;
/// Every recipient not final is due now (next_attempt = 0); held stays as it is.
void retry(Envelope& envelope) noexcept;
/// Every recipient not final becomes bounced, status 5.0.0, error `reason`, not from a remote
/// server; the runner then sends the failure DSN. Returns how many changed.
std::size_t bounce(Envelope& envelope, std::string_view reason, std::int64_t now);

/// Appends to the recipient's history, keeping the last max_history entries.
void add_history(SpoolRecipient& recipient, std::int64_t time, std::string result);

/// Throws Error(bad_data) naming `id` unless it can be a queue id (lower-case hex, no '/').
void check_queue_id(std::string_view id);

/// The envelope file's text, and back. parse_envelope throws Error(bad_data) naming the line.
std::string format_envelope(const Envelope& envelope);
Envelope parse_envelope(std::string_view text);

const char* recipient_state_name(RecipientState state) noexcept;

}  // namespace vpsmail::queue
