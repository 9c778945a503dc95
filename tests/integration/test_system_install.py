#!/usr/bin/env python3
"""The system installation at its default locations, as an admin sets it up: the config file at
/etc/vpsmail/vpsmail.toml, the state under /var/lib/vpsmail, no --config and no --db. Inside a
private mount namespace (unshare -m --propagation private) temp folders are bind-mounted over
/etc/vpsmail, /var/lib/vpsmail and /var/spool/vpsmail (a missing mount point is made in an
overlay of its parent, whose upper layer is a temp folder too), so nothing reaches the host's
folders. `serve` starts as root and drops to the system user `vpsmail` (added to an overlaid
/etc/passwd when the host has none); `sendmail` runs as nobody, as cron and PHP do. Skipped, with
the reason, when not root or when the kernel refuses the namespace or the mounts."""

import os
import pwd
import shutil
import signal
import smtplib
import subprocess
import sys
import tempfile
import unittest

from server import NO_DNS, ServeProcess, wait_for
from harness import BIN, HASH, as_nobody, require_binary

MARKER = "VPSMAIL_SYSTEM_INSTALL_NAMESPACE"
CONFIG = "/etc/vpsmail/vpsmail.toml"
STATE = "/var/lib/vpsmail"
LISTEN = ('[server]\nhostname = "mx.example.test"\n[smtp]\nlisten = ["127.0.0.1:0"]\n'
          '[submission]\nlisten = ["127.0.0.1:0"]\n[submissions]\nlisten = ["127.0.0.1:0"]\n' + NO_DNS)
NOBODY = 65534


def run(*argv, check=True):
    p = subprocess.run(list(argv), capture_output=True, text=True, timeout=60)
    if check and p.returncode != 0:
        raise OSError("%s: exit %d: %s" % (" ".join(argv), p.returncode, p.stderr.strip()))
    return p


def free_id(path, start=64999):
    """An id no line of /etc/passwd or /etc/group uses (field 3)."""
    with open(path) as f:
        used = {int(line.split(":")[2]) for line in f if line.count(":") >= 3}
    return next(i for i in range(start, 1000, -1) if i not in used)


class System:
    """The private folders and mounts, made once for every test (the namespace is this process's)."""

    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="vpsmail-system-")
        os.chmod(self.root, 0o755)  # nobody runs the links in bin/ and reads the config
        self.overlaid = set()
        self.mounts = []
        for target in ("/etc/vpsmail", STATE, "/var/spool/vpsmail"):
            self.private_folder(target)
        try:
            pwd.getpwnam("vpsmail")
        except KeyError:
            self.add_user("vpsmail")
        self.uid = pwd.getpwnam("vpsmail").pw_uid
        self.home = os.path.join(self.root, "home-root")  # root's $HOME: no XDG file may count
        os.mkdir(self.home)
        self.bin = os.path.join(self.root, "bin")
        os.mkdir(self.bin, 0o755)
        for name in ("sendmail", "mailq"):
            os.symlink(BIN, os.path.join(self.bin, name))

    def overlay(self, folder):
        """`folder` becomes an overlay whose changes land in our temp folder."""
        if folder in self.overlaid:
            return
        layer = os.path.join(self.root, "overlay" + folder.replace("/", "-"))
        os.makedirs(layer + "/upper")
        os.makedirs(layer + "/work")
        run("mount", "-t", "overlay", "overlay", "-o",
            "lowerdir=%s,upperdir=%s/upper,workdir=%s/work" % (folder, layer, layer), folder)
        self.overlaid.add(folder)
        self.mounts.append(folder)

    def private_folder(self, target):
        source = os.path.join(self.root, target.strip("/").replace("/", "-"))
        os.mkdir(source, 0o755)
        if not os.path.isdir(target):
            self.overlay(os.path.dirname(target))
            os.mkdir(target, 0o755)
        run("mount", "--bind", source, target)
        self.mounts.append(target)

    def add_user(self, name):
        self.overlay("/etc")
        uid = free_id("/etc/passwd")
        gid = free_id("/etc/group", uid)
        with open("/etc/group", "a") as f:
            f.write("%s:x:%d:\n" % (name, gid))
        with open("/etc/passwd", "a") as f:
            f.write("%s:x:%d:%d::%s:/usr/sbin/nologin\n" % (name, uid, gid, STATE))

    def env(self, **more):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VPSMAIL_", "XDG_"))}
        env["HOME"] = self.home
        env.update(more)
        return env

    def vpsmail(self, *args, stdin=None, prefix=(), env=None):
        p = subprocess.run(list(prefix) + [BIN] + list(args), input=stdin, capture_output=True, text=True,
                           env=env or self.env(), timeout=60)
        return p.returncode, p.stdout, p.stderr

    def close(self):
        for target in reversed(self.mounts):
            run("umount", "-l", target, check=False)
        shutil.rmtree(self.root, ignore_errors=True)


def maildir(address):
    local, domain = address.split("@")
    path = os.path.join(STATE, "mail", domain, local, "new")
    return sorted(os.listdir(path)) if os.path.isdir(path) else []


class SystemInstall(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        require_binary(cls)
        if os.geteuid() != 0:
            raise unittest.SkipTest("needs root: it mounts over /etc/vpsmail and /var/lib/vpsmail in a private namespace")
        if os.environ.get(MARKER) != "1":
            raise unittest.SkipTest("unshare -m --propagation private failed: no private mount namespace here")
        try:
            cls.system = System()
        except OSError as e:
            raise unittest.SkipTest("cannot set up the private mounts: %s" % e)
        cls.nobody = as_nobody()
        if cls.nobody is None:
            cls.system.close()
            raise unittest.SkipTest("nobody cannot run %s (a folder on its path is closed to other users)" % BIN)

    @classmethod
    def tearDownClass(cls):
        cls.system.close()

    def setUp(self):
        for folder in ("/etc/vpsmail", STATE):
            for name in os.listdir(folder):
                path = os.path.join(folder, name)
                shutil.rmtree(path) if os.path.isdir(path) and not os.path.islink(path) else os.unlink(path)
        self.server = None

    def tearDown(self):
        if self.server is not None:
            self.server.kill()

    def write_config(self, text, mode=0o644):
        with open(CONFIG, "w") as f:
            f.write(text)
        os.chmod(CONFIG, mode)

    def admin(self, *args, stdin=None):
        rc, out, err = self.system.vpsmail(*args, stdin=stdin)
        self.assertEqual(rc, 0, "vpsmail %s: exit %d, stderr %r" % (" ".join(args), rc, err))
        return out

    def start_server(self):
        self.server = ServeProcess([BIN, "serve", "--foreground"], self.system.env(),
                                   os.path.join(self.system.root, "serve.log")).start()
        return self.server

    def size(self):
        with smtplib.SMTP("127.0.0.1", self.server.ports["smtp"], local_hostname="client.test", timeout=30) as s:
            s.ehlo()
            return int(s.esmtp_features["size"])

    def log_count(self, event):
        return sum(1 for line in self.server.log().splitlines() if line.split(" ", 1)[0] == event)

    def test_server_and_sendmail_of_other_users_use_the_system_paths(self):
        self.write_config(LISTEN)
        self.admin("domain", "add", "example.test")
        self.admin("user", "add", "bob@example.test", "--password-hash", HASH)
        self.assertTrue(os.path.exists(os.path.join(STATE, "vpsmail.db")), "the admin CLI as root uses /var/lib/vpsmail")
        server = self.start_server()
        with open("/proc/%d/status" % server.proc.pid) as f:
            uid = next(line.split()[1] for line in f if line.startswith("Uid:"))
        self.assertEqual(int(uid), self.system.uid, "serve runs as [server] user vpsmail after binding")
        pid_file = os.path.join(STATE, "vpsmail.pid")
        with open(pid_file) as f:
            self.assertEqual(f.read().strip(), str(server.proc.pid))

        # As nobody, with nobody's own (useless) home: the system file and the system maildrop.
        env = self.system.env(HOME="/nonexistent")
        for argv0 in (os.path.join(self.system.bin, "sendmail"), None):
            argv = [argv0] if argv0 else [BIN, "sendmail"]
            p = subprocess.run(self.nobody + argv + ["bob@example.test"], input=b"Subject: as nobody\n\nhi\n",
                               capture_output=True, env=env, timeout=60)
            self.assertEqual(p.returncode, 0, "sendmail as nobody (%s): %r" % (argv[0], p.stderr))
            self.assertEqual(p.stderr, b"")
        files = wait_for(lambda: len(maildir("bob@example.test")) == 2 and maildir("bob@example.test"), what="the pickup")
        with open(os.path.join(STATE, "mail/example.test/bob/new", files[0]), "rb") as f:
            self.assertIn(b"Subject: as nobody", f.read())

        self.assertEqual(server.stop(), 0)
        self.assertFalse(os.path.exists(pid_file), "serve removes its pid file when it stops")
        self.assertFalse(os.path.exists(os.path.join(STATE, "control")), "serve removes its control socket when it stops")

    def test_sighup_rereads_the_file_serve_started_with(self):
        self.write_config(LISTEN + '[limits]\nmax_message_size = "2M"\n')
        self.start_server()
        self.assertEqual(self.size(), 2 << 20)

        # As [server] user now, with root's $HOME: still /etc/vpsmail/vpsmail.toml.
        self.write_config(LISTEN + '[limits]\nmax_message_size = "3M"\n')
        self.server.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: self.size() == 3 << 20, what="the new SIZE after SIGHUP; log:\n" + self.server.log())
        self.assertIn("reloaded", self.server.log())

        os.unlink(CONFIG)
        failures = self.log_count("reload_failed")
        self.server.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: self.log_count("reload_failed") > failures, what="reload_failed after the file was deleted")
        line = [l for l in self.server.log().splitlines() if l.startswith("reload_failed")][-1]
        self.assertIn(CONFIG, line)
        self.assertIn("No such file or directory", line)
        self.assertEqual(self.size(), 3 << 20, "the server keeps the configuration in force")
        self.assertEqual(self.server.stop(), 0)

    def test_sendmail_names_an_unreadable_system_config(self):
        self.write_config(LISTEN, mode=0o600)
        p = subprocess.run(self.nobody + [BIN, "sendmail", "bob@example.test"], input="Subject: x\n\nhi\n",
                           capture_output=True, text=True, env=self.system.env(HOME="/nonexistent"), timeout=60)
        self.assertEqual(p.returncode, 78, p.stderr)
        lines = p.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, p.stderr)
        self.assertIn(CONFIG, lines[0])
        self.assertIn("chmod 0644", lines[0])

    def test_serve_of_a_user_without_a_system_config_is_their_own(self):
        # No /etc/vpsmail/vpsmail.toml: a developer's serve, as nobody, on their XDG paths.
        home = os.path.join(self.system.root, "home-nobody")
        os.makedirs(home + "/config/vpsmail")
        with open(home + "/config/vpsmail/vpsmail.toml", "w") as f:
            f.write(LISTEN)
        for dirpath, _, names in os.walk(home):
            for name in [""] + names:
                os.chown(os.path.join(dirpath, name), NOBODY, NOBODY)
        env = self.system.env(HOME=home, XDG_CONFIG_HOME=home + "/config", XDG_STATE_HOME=home + "/state")
        self.server = ServeProcess(self.nobody + [BIN, "serve", "--foreground"], env,
                                   os.path.join(self.system.root, "serve-nobody.log")).start()
        self.assertTrue(os.path.exists(home + "/state/vpsmail/vpsmail.db"), self.server.log())
        self.assertTrue(os.path.exists(home + "/state/vpsmail/vpsmail.pid"))
        self.assertEqual(os.listdir(STATE), [], "a user's own server leaves the system's state alone")
        self.assertEqual(self.server.stop(), 0)


if __name__ == "__main__":
    if os.geteuid() == 0 and os.environ.get(MARKER) is None:
        # Into a private mount namespace: mounts made there end with this process and never
        # propagate to the host.
        os.environ[MARKER] = "0"
        if subprocess.run(["unshare", "-m", "--propagation", "private", "true"], capture_output=True).returncode == 0:
            os.environ[MARKER] = "1"
            os.execvp("unshare", ["unshare", "-m", "--propagation", "private", sys.executable] + sys.argv)
    unittest.main(verbosity=2)
