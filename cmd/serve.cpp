// vpsmail serve: prepares the state folders, the store and the TLS certificate, gives them to
// [server] user when started as root, and runs the listeners (net::serve) until SIGTERM.
// Without --foreground it detaches once every listener is up, logging to <state_dir>/vpsmail.log.
#include "commands.hpp"
#include "control.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "net/serve.hpp"
#include "server/queue_runner.hpp"
#include "server/maildrop.hpp"
#include "server/server.hpp"
#include "server/smtp_service.hpp"
#include "store/store.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <cstring>
#include <csignal>
#include <cstdio>
#include <dirent.h>
#include <fcntl.h>
#include <fstream>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

namespace vpsmail::cli {
namespace {

void make_folder(const std::string& path) {
    // Parents first; each new one 0700.
    for (std::size_t slash = path.find('/', 1); ; slash = path.find('/', slash + 1)) {
        const std::string part = slash == std::string::npos ? path : path.substr(0, slash);
        if (::mkdir(part.c_str(), 0700) != 0 && errno != EEXIST) {
            const int err = errno;
            throw Error(errno_kind(err), fmt::format("cannot create folder {}", part), errno_text(part, err));
        }
        if (slash == std::string::npos) break;
    }
}

std::string parent_of(const std::string& path) {
    auto slash = path.rfind('/');
    return slash == std::string::npos || slash == 0 ? std::string("/") : path.substr(0, slash);
}

// As root, the files serve needs are handed to [server] user before it drops to that user:
// the state folder, the store and its side files, the spool, the TLS files, and the Maildir
// folders (two levels under mail_root: deliveries make them as [server] user, but an admin
// may have copied Maildirs in as root, or an older vpsmail made them at `user add`). Files of
// other owners than root are left alone.
void give_to(uid_t uid, gid_t gid, const Config& c, const std::string& db) {
    auto take = [&](const std::string& path) {
        struct stat st {};
        if (::lstat(path.c_str(), &st) == 0 && st.st_uid == 0 && !S_ISLNK(st.st_mode) && ::lchown(path.c_str(), uid, gid) != 0)
            throw Error(ErrorKind::permission, fmt::format("cannot give {} to [server] user", path), errno_text(path, errno));
    };
    auto children = [](const std::string& dir) {
        std::vector<std::string> out;
        if (DIR* d = ::opendir(dir.c_str())) {
            while (dirent* e = ::readdir(d)) {
                std::string name = e->d_name;
                if (name != "." && name != "..") out.push_back(dir + "/" + name);
            }
            ::closedir(d);
        }
        return out;
    };
    take(c.paths.state_dir);
    take(parent_of(db));
    for (const char* suffix : {"", "-wal", "-shm", "-gen"}) take(db + suffix);
    take(c.paths.spool_dir);
    take(c.paths.spool_dir + "/lock");
    // Files root wrote while no server ran (queue commands, sendmail) too.
    for (const char* sub : {"/tmp", "/msg", "/env", "/corrupt", "/maildrop", "/maildrop/corrupt"}) {
        take(c.paths.spool_dir + sub);
        for (const auto& file : children(c.paths.spool_dir + sub)) take(file);
    }
    // TLS files only where serve made them: a certificate elsewhere (/etc/letsencrypt/...)
    // keeps its owner, and must be readable by the user (or loaded before the drop: it is).
    const std::string mine = c.paths.state_dir + "/";
    for (const std::string& file : {c.tls.cert, c.tls.key})
        if (file.rfind(mine, 0) == 0) {
            take(parent_of(file));
            take(file);
        }
    take(c.paths.mail_root);
    for (const auto& domain : children(c.paths.mail_root)) {
        take(domain);
        for (const auto& maildir : children(domain)) {
            take(maildir);
            for (const char* sub : {"/cur", "/new", "/tmp"}) take(maildir + sub);
        }
    }
}

// Every user may reach the maildrop (<spool_dir>/maildrop, mode 1733): the folders above the
// spool that serve made (the state folder by default) get the search bit for all; listing
// them stays the server user's. Folders of other owners keep their modes.
void open_path_to_maildrop(const Config& c) {
    const std::string spool = c.paths.spool_dir;
    const std::string top = spool.rfind(c.paths.state_dir + "/", 0) == 0 ? c.paths.state_dir : spool;
    for (std::string dir = parent_of(spool); dir.size() >= top.size() && dir != "/"; dir = parent_of(dir)) {
        struct stat st {};
        if (::stat(dir.c_str(), &st) == 0 && st.st_uid == ::geteuid() && (st.st_mode & 0011) != 0011)
            ::chmod(dir.c_str(), (st.st_mode & 07777) | 0011);
        if (dir == top) break;
    }
}

std::vector<net::Listener> listeners_of(const Config& c, server::Server& server) {
    std::vector<net::Listener> out;
    auto add = [&](const char* name, const std::vector<ListenAddress>& list, bool implicit_tls) {
        for (const auto& a : list) out.push_back(net::Listener{name, a.host, a.port, implicit_tls, &server.smtp_service(name)});
    };
    add("smtp", c.smtp.listen, false);
    add("submission", c.submission.listen, false);
    add("submissions", c.submissions.listen, true);
    return out;
}

// The parent of a detaching serve: copies the child's stdout (the listening lines) until the
// NUL byte that says it is ready, then exits 0; when the pipe ends without it, the child failed
// to start, and the parent exits with the child's code.
[[noreturn]] void detach_parent(pid_t child, int ready_fd) {
    char buffer[4096];
    for (;;) {
        ssize_t n = ::read(ready_fd, buffer, sizeof buffer);
        if (n > 0) {
            const char* end = static_cast<const char*>(std::memchr(buffer, '\0', static_cast<std::size_t>(n)));
            (void)::fwrite(buffer, 1, end ? static_cast<std::size_t>(end - buffer) : static_cast<std::size_t>(n), stdout);
            if (end) {
                std::fflush(stdout);
                std::_Exit(0);
            }
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        break;
    }
    std::fflush(stdout);
    int status = 0;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    std::_Exit(WIFEXITED(status) ? WEXITSTATUS(status) : EX_SOFTWARE);
}

net::OutboundSettings outbound_settings(const Config& config) {
    net::OutboundSettings o;
    o.port = static_cast<std::uint16_t>(config.outbound.port);
    o.helo_name = config.outbound.helo_name.empty() ? config.server.hostname : config.outbound.helo_name;
    o.dns_servers = config.dns.servers;
    o.dns_timeout = config.dns.timeout;
    o.require_tls = config.relay.require_tls;
    o.relay_tls_verify = config.relay.tls_verify;
    o.connect_timeout = config.outbound.connect_timeout;
    o.command_timeout = config.outbound.command_timeout;
    o.data_timeout = config.outbound.data_timeout;
    if (!config.relay.username.empty()) {
        // Read now, as root when started so: the file need not be readable by [server] user.
        std::ifstream in(config.relay.password_file);
        if (!in)
            throw Error(ErrorKind::config, fmt::format("cannot read [relay] password_file {}: {}", config.relay.password_file,
                                                       std::strerror(errno)));
        std::getline(in, o.password);
        if (!o.password.empty() && o.password.back() == '\r') o.password.pop_back();
        if (o.password.empty())
            throw Error(ErrorKind::config, fmt::format("[relay] password_file {} is empty", config.relay.password_file));
        o.username = config.relay.username;
    }
    return o;
}

}  // namespace

int serve(Context& ctx, bool foreground) {
    Config config = ctx.config();
    const std::string db = ctx.db_path();
    for (const auto& folder : {config.paths.state_dir, config.paths.mail_root, config.paths.spool_dir, parent_of(config.tls.cert),
                               parent_of(config.tls.key), parent_of(db)})
        make_folder(folder);
    store::Store::open(db, store::OpenMode::read_write);  // created and migrated before anyone reads it
    if (net::ensure_certificate(config.tls.cert, config.tls.key, config.server.hostname))
        log::line("certificate_created", {{"cert", config.tls.cert}, {"key", config.tls.key}, {"hostname", config.server.hostname}});

    std::string run_as = config.server.user;
    if (::geteuid() == 0 && !run_as.empty()) {
        struct passwd* pw = ::getpwnam(run_as.c_str());
        if (pw == nullptr)
            throw Error(ErrorKind::config, fmt::format("[server] user '{}' does not exist (create it with 'useradd --system "
                                                       "--home-dir {} --shell /usr/sbin/nologin {}', or set [server] user)",
                                                       run_as, config.paths.state_dir, run_as));
        if (pw->pw_uid == 0) run_as.clear();
    } else {
        run_as.clear();
    }

    int ready[2] = {-1, -1};
    if (!foreground) {
        if (::pipe(ready) != 0) throw Error(ErrorKind::temporary, "cannot detach", errno_text("pipe", errno));
        std::fflush(stdout);
        pid_t child = ::fork();
        if (child < 0) throw Error(ErrorKind::temporary, "cannot detach", errno_text("fork", errno));
        if (child > 0) {
            ::close(ready[1]);
            detach_parent(child, ready[0]);
        }
        ::close(ready[0]);
        ::setsid();
        ::dup2(ready[1], STDOUT_FILENO);  // the listening lines reach the parent
        ::close(ready[1]);
        int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (null >= 0) {
            ::dup2(null, STDIN_FILENO);
            ::close(null);
        }
    }

    server::Server server(config, db);
    open_path_to_maildrop(config);
    if (!run_as.empty()) {
        struct passwd* pw = ::getpwnam(run_as.c_str());
        give_to(pw->pw_uid, pw->pw_gid, config, db);
    }

    // One server per spool: the queue runner's lock, held for as long as we run.
    auto spool_lock = server.spool().try_lock(std::chrono::seconds(10));
    if (!spool_lock)
        throw Error(ErrorKind::temporary, fmt::format("another vpsmail serve runs with the spool {}", config.paths.spool_dir));
    server::QueueRunner& runner = server.start_queue();

    net::Settings settings;
    settings.listeners = listeners_of(config, server);
    settings.dispatcher = &runner;
    settings.outbound = outbound_settings(config);
    settings.on_outbound = [&runner](std::function<void()> nudge) { runner.set_wakeup(std::move(nudge)); };
    settings.control_path = control_socket_path(config);
    settings.on_control = [&runner](std::string_view request) { return runner.control(request); };
    settings.cert_file = config.tls.cert;
    settings.key_file = config.tls.key;
    settings.max_connections = static_cast<std::size_t>(config.limits.max_connections);
    settings.max_connections_per_ip = static_cast<std::size_t>(config.limits.max_connections_per_ip);
    settings.run_as = run_as;
    const std::string log_file = config.paths.state_dir + "/vpsmail.log";
    // The maildrop of local users' sendmail, about once a second from the queue runner's loop
    // (which runs after the privilege drop: what it writes belongs to the server user); what it
    // refuses becomes a DSN to the sender.
    server::MaildropPickup pickup(server, [&server](const smtp::Envelope& envelope, const std::string& message,
                                                    const std::vector<server::Refusal>& refused) {
        std::vector<std::pair<smtp::Recipient, smtp::Reply>> list;
        for (const auto& r : refused) list.emplace_back(r.recipient, r.reply);
        server::Peer peer;
        peer.listener = "sendmail";
        peer.address = "127.0.0.1";
        peer.loopback = true;
        peer.id = envelope.id;
        try {
            server::bounce_refused(server, envelope, message, list, peer);
        } catch (const Error& e) {
            log::line("queue_failed", {{"id", envelope.id}, {"error", e.what()}, {"detail", e.detail()}});
        }
    });
    runner.set_tick([&pickup] { pickup.run(); });
    settings.on_ready = [&] {
        if (foreground) return;
        // Detached: the log goes to a file, with times (journald adds its own), and the NUL
        // byte tells the waiting parent that we are up.
        int log = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (log >= 0) {
            ::dup2(log, STDERR_FILENO);
            ::close(log);
        }
        log::set_timestamps(true);
        (void)!::write(STDOUT_FILENO, "", 1);
        int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (null >= 0) {
            ::dup2(null, STDOUT_FILENO);
            ::close(null);
        }
    };
    net::serve(settings, [&] {
        // SIGHUP: the configuration again, from the same file.
        ctx.reload_config();
        server.reload(ctx.config());
    });
    return 0;
}

}  // namespace vpsmail::cli
