// The dialogue engine's adapter for the real services (docs/architecture.md section 12): a
// temporary store, Maildirs and spool, one server::Server, and each connection opened by the
// real service of its listener (server::SmtpService), so the real relay, quota, send-as and
// delivery rules are what the script meets. Both connections share that world.
//
// Its directives:
//   @listener smtp|submission|submissions   @peer ADDRESS   @loopback   @trusted CIDR
//   @max-size N      settings, before the first C:/S: line (the Server starts at the first)
//   @store domain D  @store user ADDRESS [PASSWORD] [quota=BYTES]  @store alias NAME TARGET...
//   @store quota ADDRESS BYTES   @store vuser KEY TARGET
//                    seed the store (any time; the server sees each change at once)
//   @maildir ADDRESS N   the account's Maildir holds N messages in new/
//   @maildir-text ADDRESS GLOB   its newest message, as one line with CRLF shown as \r\n
//   @spool N         the outbound spool holds N messages
#pragma once

#include "support/dialogue.hpp"

#include <memory>

namespace vpsmail::test {

/// A fresh adapter over a new temporary world (session ids S1, S2).
std::unique_ptr<DialogueAdapter> make_real_adapter();

}  // namespace vpsmail::test
