#include "server/peer.hpp"

#include <utility>

namespace vpsmail::server {
namespace {

Peer loopback_peer(Origin origin, std::string listener, std::string id) {
    Peer peer;
    peer.origin = origin;
    peer.listener = std::move(listener);
    peer.address = "127.0.0.1";
    peer.loopback = true;
    peer.id = std::move(id);
    return peer;
}

}  // namespace

Peer local_submission_peer(std::string id) { return loopback_peer(Origin::local_submission, "sendmail", std::move(id)); }

Peer queue_peer(std::string id) { return loopback_peer(Origin::queue, "queue", std::move(id)); }

}  // namespace vpsmail::server
