// Where a session or a delivery comes from, as a type: every policy that differs between a
// network client, a local submission (`sendmail`, the maildrop pickup) and the queue runner reads
// this, never the listener's name, which stays for the logs. The Peers that carry an origin
// other than `network` are made in server/peer.hpp only.
#pragma once

namespace vpsmail::server {

enum class Origin {
    network,           ///< a client of a listener (smtp, submission, submissions)
    local_submission,  ///< `vpsmail sendmail` (direct, -bs) and the maildrop pickup: a local user
    queue,             ///< the queue runner delivering a spooled local recipient or part
};

/// "network", "local_submission", "queue": for logs and tests.
constexpr const char* origin_name(Origin origin) noexcept {
    switch (origin) {
    case Origin::network: return "network";
    case Origin::local_submission: return "local_submission";
    case Origin::queue: return "queue";
    }
    return "network";
}

}  // namespace vpsmail::server
