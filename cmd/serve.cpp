// vpsmail serve: prepares the state folders, the store and the TLS certificate, gives them to
// [server] user when started as root, and runs the listeners (net::serve) until SIGTERM, with
// [paths] pid_file written while it runs. Without --foreground it forks at once and logs to
// <state_dir>/vpsmail.log; the command returns once every listener is up.
#include "commands.hpp"
#include "control.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "mailstore/external.hpp"
#include "net/serve.hpp"
#include "server/queue_runner.hpp"
#include "server/maildrop.hpp"
#include "server/peer.hpp"
#include "server/server.hpp"
#include "server/smtp_service.hpp"
#include "store/store.hpp"

#include <fmt/format.h>

#include <algorithm>
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
#include <optional>
#include <sstream>
#include <sys/sysmacros.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <tuple>
#include <sysexits.h>
#include <unistd.h>

namespace vpsmail::cli {
namespace {

// Makes `path` and its missing parents, each new one 0700, and adds each one it made to
// `created`: what vpsmail made is what it may later give to [server] user.
void make_folder(const std::string& path, std::vector<std::string>& created) {
    for (std::size_t slash = path.find('/', 1); ; slash = path.find('/', slash + 1)) {
        const std::string part = slash == std::string::npos ? path : path.substr(0, slash);
        if (::mkdir(part.c_str(), 0700) == 0) {
            created.push_back(part);
        } else if (errno != EEXIST) {
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

std::string base_of(const std::string& path) { return path.substr(path.rfind('/') + 1); }

// `path` is `folder` or inside it.
bool within(const std::string& path, const std::string& folder) {
    return path == folder || path.rfind(folder + "/", 0) == 0;
}

// A descriptor closed when it goes out of scope.
struct Fd {
    int fd = -1;
    explicit Fd(int f) : fd(f) {}
    Fd(Fd&& other) noexcept : fd(other.fd) { other.fd = -1; }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
};

// docs/architecture.md section 10: root follows no path that an unprivileged user can change. Opens the
// folder `path` one component at a time with O_NOFOLLOW; a symbolic link is followed only when
// root owns it and the folder that holds it, and nobody else may write there (/var/run).
// Returns the descriptor, or -1 with errno set (ELOOP for a link not followed).
int open_folder(const std::string& path) {
    int fd = ::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    for (std::size_t pos = 1; fd >= 0 && pos < path.size();) {
        const std::size_t slash = path.find('/', pos);
        const std::string part = path.substr(pos, slash == std::string::npos ? std::string::npos : slash - pos);
        pos = slash == std::string::npos ? path.size() : slash + 1;
        if (part.empty() || part == ".") continue;
        int next = ::openat(fd, part.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0 && (errno == ELOOP || errno == ENOTDIR)) {
            struct stat holder {}, link {};
            if (::fstat(fd, &holder) == 0 && holder.st_uid == 0 && (holder.st_mode & 022) == 0 &&
                ::fstatat(fd, part.c_str(), &link, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(link.st_mode) && link.st_uid == 0)
                next = ::openat(fd, part.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            else
                errno = ELOOP;
        }
        const int err = errno;
        ::close(fd);
        fd = next;
        errno = err;
    }
    return fd;
}

// May [server] user create files in `folder` (write and search), by its mode bits?
bool writable_by(const std::string& folder, const struct passwd& pw) {
    struct stat st {};
    if (::stat(folder.c_str(), &st) != 0) return false;
    if (st.st_uid == pw.pw_uid) return (st.st_mode & 0300) == 0300;
    int count = 64;
    std::vector<gid_t> groups(static_cast<std::size_t>(count));
    if (::getgrouplist(pw.pw_name, pw.pw_gid, groups.data(), &count) < 0) {
        groups.resize(static_cast<std::size_t>(count));
        ::getgrouplist(pw.pw_name, pw.pw_gid, groups.data(), &count);
    }
    groups.resize(static_cast<std::size_t>(std::max(count, 0)));
    if (std::find(groups.begin(), groups.end(), st.st_gid) != groups.end()) return (st.st_mode & 0030) == 0030;
    return (st.st_mode & 0003) == 0003;
}

// As root, what serve needs is handed to [server] user before it drops to that user, and only
// what vpsmail itself made for that purpose (docs/architecture.md section 10): the state folder and all
// in it, the folders this start created (`created`), the store and its side files, the spool
// and the files root wrote there while no server ran (queue commands, sendmail), the TLS files
// serve made, the Maildir folders (two levels under mail_root: deliveries make them as [server]
// user, but an admin may have copied Maildirs in as root). Never the folder of a store or mail
// root elsewhere (/etc/vpsmail): start stops when [server] user cannot write there. Never
// anything inside the world-writable maildrop. Files of other owners than root are left alone;
// every folder is opened without following links (open_folder, openat + O_NOFOLLOW).
void give_to(const struct passwd& pw, const Config& c, const std::string& db, const std::vector<std::string>& created) {
    const uid_t uid = pw.pw_uid;
    const gid_t gid = pw.pw_gid;
    auto ours = [&](const std::string& folder) {
        return within(folder, c.paths.state_dir) || std::find(created.begin(), created.end(), folder) != created.end();
    };
    for (const auto& [folder, what, key] : {std::tuple{parent_of(db), "the store's folder", "[store] path"},
                                           std::tuple{c.paths.mail_root, "the mail root", "[paths] mail_root"}})
        if (!ours(folder) && !writable_by(folder, pw))
            throw Error(ErrorKind::config,
                        fmt::format("{} {} is not writable by [server] user {}, and vpsmail gives away no folder it did not make: "
                                    "point {} into a folder of vpsmail's own (the default is under {}), or make {} writable by {}",
                                    what, folder, pw.pw_name, key, c.paths.state_dir, folder, pw.pw_name));

    auto fail = [](const std::string& path, int err) {
        return Error(ErrorKind::permission, fmt::format("cannot give {} to [server] user", path), errno_text(path, err));
    };
    // The entry `name` of the folder `dir` (at `path`), when root owns it and it is a file or a folder.
    auto take_at = [&](int dir, const std::string& name, const std::string& path) {
        struct stat st {};
        if (::fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || st.st_uid != 0) return;
        if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) return;
        if (::fchownat(dir, name.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) != 0) throw fail(path, errno);
    };
    auto take_fd = [&](const Fd& folder, const std::string& path) {
        struct stat st {};
        if (folder.fd < 0 || ::fstat(folder.fd, &st) != 0 || st.st_uid != 0) return;
        if (::fchown(folder.fd, uid, gid) != 0) throw fail(path, errno);
    };
    // A folder by its path; an absent one is nothing to give.
    auto take_folder = [&](const std::string& path) {
        Fd folder(open_folder(path));
        if (folder.fd < 0 && errno != ENOENT) throw fail(path, errno);
        take_fd(folder, path);
        return folder;
    };
    auto sub = [](const Fd& dir, const char* name) {
        return Fd(dir.fd < 0 ? -1 : ::openat(dir.fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    };
    auto children = [](const Fd& dir) {
        std::vector<std::string> out;
        if (dir.fd < 0) return out;
        if (DIR* d = ::fdopendir(::dup(dir.fd))) {
            while (dirent* e = ::readdir(d)) {
                std::string name = e->d_name;
                if (name != "." && name != "..") out.push_back(name);
            }
            ::closedir(d);
        }
        return out;
    };

    take_folder(c.paths.state_dir);
    for (const auto& folder : created) take_folder(folder);
    {
        Fd store = ours(parent_of(db)) ? take_folder(parent_of(db)) : Fd(open_folder(parent_of(db)));
        for (const char* suffix : {"", "-wal", "-shm", "-gen"}) take_at(store.fd, base_of(db) + suffix, db + suffix);
    }
    Fd spool = take_folder(c.paths.spool_dir);
    take_at(spool.fd, "lock", c.paths.spool_dir + "/lock");
    for (const char* name : {"tmp", "msg", "env", "corrupt"}) {
        Fd folder = sub(spool, name);
        const std::string path = c.paths.spool_dir + "/" + name;
        take_fd(folder, path);
        for (const auto& file : children(folder)) take_at(folder.fd, file, path + "/" + file);
    }
    {
        // The maildrop folder only: its files are the local users' (and stay so).
        Fd maildrop = sub(spool, "maildrop");
        take_fd(maildrop, c.paths.spool_dir + "/maildrop");
        if (maildrop.fd >= 0) ::fchmod(maildrop.fd, 03733);  // setgid: new files get the server's group
    }
    // TLS files only where serve made them: a certificate elsewhere (/etc/letsencrypt/...)
    // keeps its owner, and must be readable by the user (or loaded before the drop: it is).
    for (const std::string& file : {c.tls.cert, c.tls.key})
        if (within(file, c.paths.state_dir)) {
            Fd folder = take_folder(parent_of(file));
            take_at(folder.fd, base_of(file), file);
        }
    Fd mail = ours(c.paths.mail_root) ? take_folder(c.paths.mail_root) : Fd(open_folder(c.paths.mail_root));
    for (const auto& domain : children(mail)) {
        const std::string domain_path = c.paths.mail_root + "/" + domain;
        Fd d = sub(mail, domain.c_str());
        take_fd(d, domain_path);
        for (const auto& box : children(d)) {
            const std::string box_path = domain_path + "/" + box;
            Fd m = sub(d, box.c_str());
            take_fd(m, box_path);
            for (const char* folder : {"cur", "new", "tmp"}) take_fd(sub(m, folder), box_path + "/" + folder);
        }
    }
}

// Every user may reach the maildrop (<spool_dir>/maildrop, mode 3733): the folders above the
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

// docs/architecture.md section 4: one listener per address of each listener kind.
std::vector<net::Listener> listeners_of(const Config& c, server::Server& server) {
    std::vector<net::Listener> out;
    for (const ListenerKind& kind : listener_kinds())
        for (const auto& a : listen_of(c, kind))
            out.push_back(net::Listener{std::string(kind.name), a.host, a.port, kind.implicit_tls, &server.service(kind.name)});
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

// The pid of the process holding an flock(2) on `path`, from /proc/locks, if any is known.
std::optional<long> flock_holder(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return std::nullopt;
    // "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF": the device as hex major:minor.
    const std::string file = fmt::format("{:02x}:{:02x}:{}", major(st.st_dev), minor(st.st_dev), st.st_ino);
    std::ifstream locks("/proc/locks");
    std::string line;
    while (std::getline(locks, line)) {
        std::istringstream words(line);
        std::string number, kind, mode, access, pid, where;
        if (words >> number >> kind >> mode >> access >> pid >> where && kind == "FLOCK" && where == file &&
            pid.find_first_not_of("0123456789") == std::string::npos && !pid.empty())
            return std::stol(pid);
    }
    return std::nullopt;
}

// One server per spool: the queue runner's lock, held for as long as we run. A queue command
// holds it for a moment, so we wait a little, saying at once for what and for whom.
queue::SpoolLock lock_spool(const queue::Spool& spool, const std::string& spool_dir, int caller_stderr) {
    if (auto lock = spool.try_lock()) return std::move(*lock);
    const std::string path = spool_dir + "/lock";
    const auto holder = flock_holder(path);
    const std::string who = holder ? fmt::format("pid {}", *holder) : std::string("another process");
    log::line("waiting", {{"lock", path}, {"holder", who}, {"for", "10s"}});
    if (caller_stderr >= 0)
        (void)!::dprintf(caller_stderr, "vpsmail: waiting up to 10 s for the spool lock %s, held by %s (another vpsmail serve, or a "
                         "queue command for a moment)\n", path.c_str(), who.c_str());
    if (auto lock = spool.try_lock(std::chrono::seconds(10))) return std::move(*lock);
    throw Error(ErrorKind::temporary, fmt::format("another vpsmail serve runs with the spool {} (its lock {} is held by {}; "
                                                  "stop it first, or give this one another [paths] spool_dir)",
                                                  spool_dir, path, who));
}

// [paths] pid_file: our pid, written once the listeners are up, as the user we run as, and
// removed at exit while it still names us. One left by a server that died is replaced: we hold
// the spool lock, so no other server of this spool runs.
class PidFile {
public:
    PidFile() = default;
    PidFile(const PidFile&) = delete;
    PidFile& operator=(const PidFile&) = delete;
    ~PidFile() {
        if (path_.empty()) return;
        std::ifstream in(path_);
        std::string text;
        if (std::getline(in, text) && text == std::to_string(::getpid())) ::unlink(path_.c_str());
    }

    /// Throws Error naming the file when it cannot be written.
    void write(const std::string& path) {
        const std::string tmp = fmt::format("{}.{}.tmp", path, ::getpid());
        const std::string text = fmt::format("{}\n", ::getpid());
        int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0) fail(path, errno);
        const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
        const int err = errno;
        ::close(fd);
        if (!written || ::rename(tmp.c_str(), path.c_str()) != 0) {
            const int e = written ? errno : err;
            ::unlink(tmp.c_str());
            fail(path, e);
        }
        path_ = path;
    }

private:
    [[noreturn]] static void fail(const std::string& path, int err) {
        throw Error(errno_kind(err),
                    fmt::format("cannot write [paths] pid_file {}: {} (its folder must be writable by the user serve runs as)",
                                path, std::strerror(err)),
                    errno_text(path, err));
    }
    std::string path_;
};

// serve() after the folders (and, detached, the fork): prepares the store and the certificate,
// drops to [server] user and runs the listeners until SIGTERM. `caller_stderr`: the terminal
// of a detaching caller, until we are up; -1 in the foreground.
int run_server(Context& ctx, const Config& config, const std::string& db, const std::vector<std::string>& created, bool foreground,
               int& caller_stderr) {
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

    // Programs from aliases and forwards must not run as the server's user, who owns the store,
    // the spool and every Maildir: a launcher forked now, while root and single-threaded,
    // runs them as [delivery] program_user. Not root: we cannot switch users, so they run as
    // this user, and the log says so.
    if (::geteuid() == 0) {
        mailstore::start_program_launcher(config.delivery.program_user);
    } else {
        const struct passwd* self = ::getpwuid(::geteuid());
        log::line("program_user", {{"user", config.delivery.program_user},
                                   {"result", fmt::format("not root: programs run as {}", self ? self->pw_name : std::to_string(::geteuid()))}});
    }
    server::Server server(config, db);
    open_path_to_maildrop(config);
    if (!run_as.empty()) {
        struct passwd* pw = ::getpwnam(run_as.c_str());
        give_to(*pw, config, db, created);
    }

    queue::SpoolLock spool_lock = lock_spool(server.spool(), config.paths.spool_dir, caller_stderr);
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
    // The maildrop of local users' sendmail, about once a second from the queue runner's loop
    // (which runs after the privilege drop: what it writes belongs to the server user); what it
    // refuses becomes a DSN to the sender.
    server::MaildropPickup pickup(server, [&server](const smtp::Envelope& envelope, const std::string& message,
                                                    const std::vector<server::Refusal>& refused) {
        std::vector<std::pair<smtp::Recipient, smtp::Reply>> list;
        for (const auto& r : refused) list.emplace_back(r.recipient, r.reply);
        const server::Peer peer = server::local_submission_peer(envelope.id);
        try {
            server::bounce_refused(server, envelope, message, list, peer);
        } catch (const Error& e) {
            log::line("queue_failed", {{"id", envelope.id}, {"error", e.what()}, {"detail", e.detail()}});
        }
    });
    runner.set_tick([&pickup] { pickup.run(); });
    PidFile pid_file;
    const std::string config_file = ctx.config_path();
    settings.on_bound = [&] {
        // After the privilege drop, as the user we run as; before the listening lines, so that
        // whoever reads them finds it.
        pid_file.write(config.paths.pid_file);
        log::line("pid_file", {{"path", config.paths.pid_file}, {"pid", std::to_string(::getpid())}});
        if (!config.source.empty() && ::access(config_file.c_str(), R_OK) != 0) {
            const std::string why = std::strerror(errno);
            log::line("config_unreadable", {{"config", config_file}, {"error", why},
                                            {"note", "SIGHUP cannot re-read it, nor sendmail of other users: chmod 0644 it"}});
        }
    };
    settings.on_ready = [&] {
        if (foreground) return;
        // Detached: the NUL byte tells the waiting parent that we are up; the caller's terminal
        // is let go.
        (void)!::write(STDOUT_FILENO, "", 1);
        int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (null >= 0) {
            ::dup2(null, STDOUT_FILENO);
            ::close(null);
        }
        ::close(caller_stderr);
        caller_stderr = -1;
    };
    net::serve(settings, [&] {
        // SIGHUP: the configuration again, from the file read at the start (whoever we are now).
        ctx.reload_config();
        for (const std::string& key : server.reload(ctx.config()))
            log::line("reload_kept", {{"key", key}, {"note", "a new value takes effect at the next start"}});
    });
    mailstore::stop_program_launcher();
    return 0;
}

}  // namespace

int serve(Context& ctx, bool foreground) {
    // Every path is resolved here, once, before the privilege drop: the configuration file
    // (which SIGHUP re-reads), the store and each default (docs/architecture.md section 8).
    Config config = ctx.config();
    const std::string db = ctx.db_path();
    std::vector<std::string> created;  // the folders made here: the only ones give_to may hand over
    for (const auto& folder : {config.paths.state_dir, config.paths.mail_root, config.paths.spool_dir, parent_of(config.tls.cert),
                               parent_of(config.tls.key), parent_of(db)})
        make_folder(folder, created);

    // Detached, every line goes to the log file from the fork on; the caller hears only the
    // listening lines (stdout, through the parent), a wait for the spool lock and a failure.
    int caller_stderr = -1;
    int ready[2] = {-1, -1};
    if (!foreground) {
        const std::string log_file = config.paths.state_dir + "/vpsmail.log";
        int log = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (log < 0) {
            const int err = errno;
            throw Error(errno_kind(err), fmt::format("cannot open the log file {}: {}", log_file, std::strerror(err)),
                        errno_text(log_file, err));
        }
        if (::pipe2(ready, O_CLOEXEC) != 0) throw Error(ErrorKind::temporary, "cannot detach", errno_text("pipe", errno));
        std::fflush(stdout);
        std::fflush(stderr);
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
        caller_stderr = ::fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
        ::dup2(log, STDERR_FILENO);
        ::close(log);
        log::set_timestamps(true);  // a file has no journald to add them
    }
    // A failure to start is also the caller's to hear (main() writes it to the log).
    try {
        return run_server(ctx, config, db, created, foreground, caller_stderr);
    } catch (const Error& e) {
        if (caller_stderr >= 0) (void)!::dprintf(caller_stderr, "vpsmail: %s\n", e.what());
        throw;
    } catch (const std::exception& e) {
        if (caller_stderr >= 0) (void)!::dprintf(caller_stderr, "vpsmail: internal error: %s\n", e.what());
        throw;
    }
}

}  // namespace vpsmail::cli
