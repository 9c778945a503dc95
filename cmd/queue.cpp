// vpsmail queue list: the outbound spool, read directly (the running server need not run).
#include "commands.hpp"
#include "json.hpp"
#include "print.hpp"
#include "queue/spool.hpp"

#include <fmt/format.h>

#include <chrono>

namespace vpsmail::cli {
namespace {

std::string age_of(std::int64_t created) {
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    const std::int64_t s = std::max<std::int64_t>(0, now - created);
    if (s < 120) return fmt::format("{}s", s);
    if (s < 7200) return fmt::format("{}m", s / 60);
    if (s < 172800) return fmt::format("{}h", s / 3600);
    return fmt::format("{}d", s / 86400);
}

}  // namespace

int queue_list(Context& ctx) {
    queue::Spool spool(ctx.config().paths.spool_dir);
    auto messages = spool.list();
    if (ctx.options.json) {
        JsonWriter j;
        j.begin_array();
        for (const auto& m : messages) {
            j.begin_object()
                .field("id", m.id)
                .field("created", format_time(m.envelope.created))
                .field("size", static_cast<std::uint64_t>(m.size))
                .field("sender", m.envelope.return_path);
            j.key("recipients").begin_array();
            for (const auto& r : m.envelope.recipients)
                j.begin_object()
                    .field("address", r.address)
                    .field("state", queue::recipient_state_name(r.state))
                    .field("last_error", r.last_error)
                    .end_object();
            j.end_array().end_object();
        }
        j.end_array();
        print(j.str());
        return 0;
    }
    // One line per recipient, so that `awk` sees every field in every row.
    Table t({"ID", "AGE", "SIZE", "SENDER", "RECIPIENT", "STATE", "LAST ERROR"});
    for (const auto& m : messages)
        for (const auto& r : m.envelope.recipients)
            t.add({m.id, age_of(m.envelope.created), std::to_string(m.size),
                   m.envelope.return_path.empty() ? "<>" : m.envelope.return_path, r.address,
                   queue::recipient_state_name(r.state), r.last_error});
    if (!messages.empty()) print(t.str());
    return 0;
}

}  // namespace vpsmail::cli
