// The one place that makes the Peers that are not network clients (a local submission, the queue
// runner), and the policies that follow from a Peer's origin (docs/architecture.md section 4):
// relaying without AUTH, STARTTLS, the pipelining check. net/ fills network Peers itself (their
// origin is the default, Origin::network); nothing here reads a listener name.
#pragma once

#include "server/conversation.hpp"

#include <string>

namespace vpsmail::server {

/// A local submission: `vpsmail sendmail` (direct delivery or -bs) and the maildrop pickup.
/// Listener "sendmail" (logs only), loopback 127.0.0.1, session id `id`. Never throws but
/// std::bad_alloc.
Peer local_submission_peer(std::string id);

/// The queue runner delivering spooled local recipients: listener "queue" (logs only),
/// loopback 127.0.0.1, session id `id`.
Peer queue_peer(std::string id);

/// A local submission may relay without AUTH, like Postfix's pickup; a network client only from
/// [smtp] trusted_networks (the caller checks those).
constexpr bool relays_without_auth(Origin origin) noexcept { return origin == Origin::local_submission; }

/// STARTTLS is offered to network clients only (`sendmail -bs` speaks on a pipe).
constexpr bool offers_tls(Origin origin) noexcept { return origin == Origin::network; }

/// RFC 2920 pipelining rules are enforced (and violations logged) for network clients only: a
/// local script on `sendmail -bs` is trusted to write as it likes.
constexpr bool enforces_pipelining(Origin origin) noexcept { return origin == Origin::network; }

}  // namespace vpsmail::server
