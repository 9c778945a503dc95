#include "server/server.hpp"

#include "core/error.hpp"
#include "server/queue_runner.hpp"
#include "server/smtp_service.hpp"
#include "store/store.hpp"

#include <fmt/format.h>

namespace vpsmail::server {
namespace {

// The service of each listener kind (core/config's listener_kinds(), docs/architecture.md
// section 4): a protocol's listeners are one row here.
using ServiceFactory = std::unique_ptr<Service> (*)(Server&);
const std::pair<std::string_view, ServiceFactory> service_factories[] = {
    {"smtp", [](Server& s) -> std::unique_ptr<Service> { return std::make_unique<SmtpService>(s, smtp::Mode::mx); }},
    {"submission", [](Server& s) -> std::unique_ptr<Service> { return std::make_unique<SmtpService>(s, smtp::Mode::submission); }},
    {"submissions", [](Server& s) -> std::unique_ptr<Service> { return std::make_unique<SmtpService>(s, smtp::Mode::submissions); }},
};

}  // namespace

Server::Server(Config config, std::string db_path)
    : db_path_(std::move(db_path)),
      config_(std::make_shared<const Config>(std::move(config))),
      index_(store::RoutingIndex::open(db_path_)),
      throttle_(config_->auth.max_failures, config_->auth.lockout),
      spool_(config_->paths.spool_dir) {
    spool_.create();
    for (const auto& [name, make] : service_factories) services_.emplace(std::string(name), make(*this));
    for (const ListenerKind& kind : listener_kinds())
        if (!services_.count(std::string(kind.name)))
            throw Error(ErrorKind::internal, fmt::format("no service for the listener kind {}", kind.name));
}

Server::~Server() = default;

std::vector<std::string> Server::reload(Config config) {
    std::vector<std::string> kept;
    auto keep = [&kept](auto& value, const auto& start, const char* key) {
        if (value == start) return;
        kept.push_back(key);
        value = start;
    };
    {
        const auto start = this->config();
        keep(config.store.path, start->store.path, "store.path");
        keep(config.server.user, start->server.user, "server.user");
        keep(config.paths.state_dir, start->paths.state_dir, "paths.state_dir");
        keep(config.paths.mail_root, start->paths.mail_root, "paths.mail_root");
        keep(config.paths.spool_dir, start->paths.spool_dir, "paths.spool_dir");
        keep(config.paths.pid_file, start->paths.pid_file, "paths.pid_file");
        for (const ListenerKind& kind : listener_kinds()) {
            const std::string key = std::string(kind.name) + ".listen";
            keep(kind.listen(config), listen_of(*start, kind), key.c_str());
        }
        keep(config.tls.cert, start->tls.cert, "tls.cert");
        keep(config.tls.key, start->tls.key, "tls.key");
    }
    auto next = std::make_shared<const Config>(std::move(config));
    throttle_.configure(next->auth.max_failures, next->auth.lockout);
    std::lock_guard lock(mutex_);
    config_ = std::move(next);
    return kept;
}

std::shared_ptr<const Config> Server::config() const {
    std::lock_guard lock(mutex_);
    return config_;
}

route::Options Server::route_options() const {
    auto c = config();
    route::Options o;
    o.plus_detail = c->routing.plus_detail;
    o.detail_delimiter = c->routing.detail_delimiter;
    o.postmaster = c->routing.postmaster;
    o.primary_domain = c->server.primary_domain;
    o.allow_programs = c->delivery.allow_programs;
    o.allow_files = c->delivery.allow_files;
    o.allow_includes = c->delivery.allow_includes;
    o.trace = false;
    return o;
}

store::Store& Server::thread_store() {
    // One connection per worker thread, opened on first use, for as long as the thread lives.
    thread_local std::unique_ptr<store::Store> store;
    thread_local std::string path;
    if (!store || path != db_path_) {
        store = store::Store::open(db_path_, store::OpenMode::read_only);
        path = db_path_;
    }
    return *store;
}

QueueRunner& Server::start_queue() {
    if (!runner_) runner_ = std::make_unique<QueueRunner>(*this);
    return *runner_;
}

std::string Server::enqueue(const queue::Envelope& envelope, std::string_view message) {
    std::string id = spool_.add(envelope, message);
    if (runner_) runner_->added(id, envelope, message.size());
    return id;
}

std::string Server::enqueue_file(const queue::Envelope& envelope, const std::string& path, std::uint64_t size) {
    std::string id = spool_.add_file(envelope, path);
    if (runner_) runner_->added(id, envelope, size);
    return id;
}

Service& Server::service(std::string_view listener) {
    auto it = services_.find(listener);
    if (it == services_.end()) throw Error(ErrorKind::internal, fmt::format("no service for the listener {}", listener));
    return *it->second;
}

Service& Server::smtp_service(const std::string& listener) {
    if (auto it = services_.find(listener); it != services_.end()) return *it->second;
    return service("smtp");  // "sendmail": sendmail -bs is an SMTP session like port 25's
}

}  // namespace vpsmail::server
