// The outbound spool: accepted mail for remote recipients, durable before the SMTP 250 that
// accepts it, until the queue runner (issue 4) delivers or bounces it. Owns the files and
// their format; knows nothing of SMTP, DNS or scheduling.
//
//   <spool_dir>/msg/<id>   the message, as received plus our Received: header
//   <spool_dir>/env/<id>   its envelope (format below); a message is queued iff this exists
//   <spool_dir>/tmp/       files being written (tmp -> fsync -> rename, then the folder fsync)
//   <spool_dir>/maildrop/  mode 1733: messages of local users for the server (server/maildrop.hpp)
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace vpsmail::queue {

enum class RecipientState { pending, deferred, delivered, bounced };

struct SpoolRecipient {
    std::string address;
    RecipientState state = RecipientState::pending;
    std::string notify;    ///< DSN NOTIFY (RFC 3461), as given; empty: not given
    std::string orcpt;     ///< DSN ORCPT, as given (addr-type;xtext)
    std::string last_error;
};

struct Envelope {
    std::string return_path;  ///< empty: the null sender <>
    std::vector<SpoolRecipient> recipients;
    std::string body = "7BIT";  ///< 7BIT, 8BITMIME, BINARYMIME
    bool smtputf8 = false;
    std::string envid;  ///< DSN ENVID, as given
    std::string ret;    ///< DSN RET: FULL, HDRS or empty
    std::string received_from;  ///< the client: "ehlo-name [ip]", for the logs and DSNs
    std::int64_t created = 0;   ///< unix seconds
};

struct SpooledMessage {
    std::string id;
    Envelope envelope;
    std::uint64_t size = 0;  ///< bytes of msg/<id>
};

class Spool {
public:
    /// The spool at `dir`; its folders (0700; the spool itself 0711 and maildrop/ 1733) are
    /// made by create().
    explicit Spool(std::string dir) : dir_(std::move(dir)) {}

    /// Makes the spool's folders when missing and sets the modes of the spool folder and the
    /// maildrop. Throws Error(permission/temporary) naming them.
    void create() const;

    /// Writes the message and its envelope durably (both fsync'd, renamed, folders fsync'd)
    /// and returns the new id. Throws Error(temporary) on ENOSPC and I/O errors, leaving
    /// nothing behind in msg/ or env/. Thread-safe.
    std::string add(const Envelope& envelope, std::string_view message) const;

    /// Every queued message, oldest first. A damaged envelope is skipped with no error (the
    /// queue runner quarantines it). Throws Error(...) when the folder cannot be read.
    std::vector<SpooledMessage> list() const;

    /// One message's envelope, or nullopt when no such id is queued.
    std::optional<SpooledMessage> find(const std::string& id) const;

    const std::string& dir() const noexcept { return dir_; }

private:
    std::string dir_;
};

/// The envelope file's text, and back. parse_envelope throws Error(bad_data) naming the line.
std::string format_envelope(const Envelope& envelope);
Envelope parse_envelope(std::string_view text);

const char* recipient_state_name(RecipientState state) noexcept;

}  // namespace vpsmail::queue
