// Delivery to the two targets that are not Maildirs, as sendmail's aliases and .forward files
// allow them ([delivery] allow_programs, allow_files): a program (`|command`, run by /bin/sh
// with the message on stdin) and a file (`/path`, appended in mbox format under a lock).
// Owns running and appending only; whether such a target is allowed is the resolver's call.
// Programs never run as the server's user, who owns the store, the spool and every Maildir:
// as root, `serve` starts a launcher before dropping privileges (start_program_launcher) that
// runs each program as [delivery] program_user.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace vpsmail::mailstore {

/// How an external delivery ended, with the SMTP reply that says so.
struct ExternalResult {
    enum class Kind { delivered, temporary, permanent } kind = Kind::delivered;
    int code = 250;
    std::string status = "2.0.0";
    std::string text;
    bool ok() const noexcept { return kind == Kind::delivered; }
};

struct ProgramOptions {
    std::chrono::seconds timeout{300};
    std::string sender;     ///< $SENDER for the program ("" for <>)
    std::string recipient;  ///< $RECIPIENT: the address that led to the program
    std::string run_as;     ///< when still root and no launcher runs: run it as this user (empty: nobody)
};

/// Forks the program launcher: a child that keeps this process's privileges (root) and does
/// one thing, run the programs run_program hands it as `user` (groups cleared), each in a
/// child of its own, for any thread, in parallel; it ends when this process closes its end.
/// Call as root, once, while the process is single-threaded and before it drops privileges:
/// the rest of the server then runs unprivileged, and what it can ask the launcher for is
/// running a shell command as `user`, which is less than what it may do itself.
/// Throws Error(config) when `user` does not exist or is root, Error(temporary) when the
/// launcher cannot be started.
void start_program_launcher(const std::string& user);

/// Closes the launcher's channel (it exits) and reaps it; run_program forks its programs
/// itself again. For the end of serve and for tests. Never throws.
void stop_program_launcher() noexcept;

/// Runs `command` with /bin/sh -c, the message on stdin, in its own process group, with a
/// minimal environment (PATH, SHELL, HOME=/, SENDER, RECIPIENT) and no descriptor but 0, 1
/// and 2: through the launcher when one runs, else forked here (as options.run_as when root,
/// else as this process's user). Exit 0: delivered; exit 75
/// (EX_TEMPFAIL), a signal or the timeout (the group is killed): temporary, 451 4.3.0; any
/// other exit code: permanent, 554 5.3.0 with the program's first output line. Never throws.
/// Any thread; blocks until the program ends.
ExternalResult run_program(const std::string& command, std::string_view message, const ProgramOptions& options);

/// Appends the message to the mbox file at `path` (created 0600 when missing): a
/// "From sender date" line, the message with LF line ends and ">From " quoting (mboxrd), an
/// empty line; under an fcntl write lock, then fsync'd. ENOSPC, EIO and lock timeouts are
/// temporary (452 4.3.1 / 451 4.3.0); permissions and a path that is no regular file are
/// permanent (550 5.7.1). Never throws. Any thread.
ExternalResult append_to_file(const std::string& path, std::string_view message, const std::string& sender);

}  // namespace vpsmail::mailstore
