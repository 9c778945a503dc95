// The dialogue engine's SMTP adapter over fake ports (docs/architecture.md section 12): each
// connection is smtp::Session in the SMTP service's SessionDriver shape, asking FakePorts, which
// the script's "@" lines seed, and whose Actions run at once against them.
//
// Its directives:
//   @mode mx|submission|submissions (TLS active)   @tls none|available|active   @loopback
//   @peer address [name]   @max-size N   @max-recipients N   @max-bad-commands N
//   @strict-8bitmime
//                    session settings, before the first C:/S: line
//   @store domain D  @store user ADDRESS [PASSWORD]  @relay  @sender USER ADDRESS
//   @password temporary   @deliver refuse ADDRESS CODE STATUS TEXT...
//   @free-space N    seed the fake ports (any time); MAIL SIZE= over N octets gets 452 4.3.1
//   @deliveries N    N messages were handed to Deliver so far
//   @envelope GLOB   the last Deliver's envelope, as one line (see describe_envelope)
//   @received GLOB   the last Deliver's Received header, unfolded to one line
//   @body TEXT       the last Deliver's text after the Received header, exactly (escapes)
#pragma once

#include "smtp/ports.hpp"
#include "smtp/session.hpp"
#include "support/dialogue.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace vpsmail::test {

/// Ports answering from in-memory tables, as the script seeds them.
class FakePorts : public smtp::Ports {
public:
    std::set<std::string> domains;                           ///< local domains
    std::map<std::string, std::string> users;                ///< address (lower case) -> password
    std::map<std::string, std::set<std::string>> senders;    ///< user -> further MAIL FROM addresses
    std::map<std::string, smtp::Reply> delivery_refusals;    ///< recipient (lower case) -> reply
    bool relay = false;
    bool password_temporary = false;
    std::optional<std::uint64_t> free_space;                 ///< absent: room for anything
    std::vector<smtp::Deliver> deliveries;

    /// Local domain: known users are accepted, others 550 5.1.1; <Postmaster> is accepted;
    /// remote: accepted when relay_allowed and no source route, else 550 5.7.1.
    smtp::Verdict check_recipient(const smtp::RecipientQuery& query) override;
    /// The user's own address, <>, and the addresses @sender gave.
    smtp::Verdict check_sender(const std::string& user, const smtp::MailFrom& mail) override;
    bool may_relay(const std::string& peer_address) override;
    /// Always 2024-01-02 03:04:05 UTC.
    std::chrono::system_clock::time_point now() override;
    /// 452 4.3.1 for a size over free_space.
    smtp::Verdict check_space(std::uint64_t size) override;

    /// Runs an Action as the server would, at once.
    smtp::ActionResult run(const smtp::Action& action);
};

/// "from=<a@b> to=<c@d>,<e@f> notify(c@d)=SUCCESS,FAILURE orcpt(c@d)=rfc822;x@y body=8BITMIME
/// undeclared_8bit smtputf8 ret=HDRS envid=X user=U id=I": the fields that are set, in this
/// order.
std::string describe_envelope(const smtp::Deliver& deliver);

/// A fresh SMTP adapter over fake ports (session ids S1, S2 for the two connections).
std::unique_ptr<DialogueAdapter> make_smtp_adapter();

}  // namespace vpsmail::test
