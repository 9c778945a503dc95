"""Runs the real vpsmail binary in a private temporary world: its own store, config file,
XDG folders and mail root, so tests never touch the machine's configuration."""

import os
import shutil
import subprocess
import tempfile
import unittest

BIN = os.environ.get("VPSMAIL_BIN", "")
SOURCE = os.environ.get("VPSMAIL_SOURCE", os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

# A valid yescrypt hash (of "secret"), so tests need not pay for hashing.
HASH = "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$GmcwIgvdUC9qLWcKCi6gklUa1dM3ziD43YxYNURLKy0"
SHA512_HASH = "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1"


def as_nobody():
    """The argv prefix that runs a command as nobody when we are root ([] otherwise), or None
    when nobody cannot run the binary (a build folder it may not enter)."""
    if os.geteuid() != 0:
        return []
    if not shutil.which("setpriv"):
        return None
    prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    p = subprocess.run(prefix + [BIN, "--version"], capture_output=True)
    return prefix if p.returncode == 0 else None


def require_binary(test_case):
    if not BIN or not os.access(BIN, os.X_OK):
        raise unittest.SkipTest("VPSMAIL_BIN is not set to the built vpsmail binary")


class World:
    """A temporary folder with a store, a config file and a mail root."""

    def __init__(self, config=""):
        self.dir = tempfile.mkdtemp(prefix="vpsmail-cli-")
        self.db = os.path.join(self.dir, "state", "vpsmail.db")
        self.config_path = os.path.join(self.dir, "vpsmail.toml")
        self.mail_root = os.path.join(self.dir, "mail")
        self.write_config(config)

    def write_config(self, extra=""):
        with open(self.config_path, "w") as f:
            f.write('[paths]\nstate_dir = "%s"\nmail_root = "%s"\n' % (os.path.join(self.dir, "state"), self.mail_root))
            f.write(extra)

    def env(self):
        env = dict(os.environ)
        for k in ("VPSMAIL_DB", "VPSMAIL_CONFIG"):
            env.pop(k, None)
        env["XDG_STATE_HOME"] = os.path.join(self.dir, "xdg-state")
        env["XDG_CONFIG_HOME"] = os.path.join(self.dir, "xdg-config")
        env["HOME"] = self.dir
        return env

    def run(self, *args, stdin=None, db=True, config=True, env=None):
        argv = [BIN]
        if config:
            argv += ["--config", self.config_path]
        if db:
            argv += ["--db", self.db]
        argv += list(args)
        p = subprocess.run(argv, input=stdin, capture_output=True, text=True, env=env or self.env(), timeout=60)
        return p.returncode, p.stdout, p.stderr

    def ok(self, *args, stdin=None):
        rc, out, err = self.run(*args, stdin=stdin)
        if rc != 0:
            raise AssertionError("vpsmail %s: exit %d, stderr %r" % (" ".join(args), rc, err))
        return out

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


class CliTest(unittest.TestCase):
    """Base class: a fresh World per test."""

    config = ""

    def setUp(self):
        require_binary(self)
        self.w = World(self.config)

    def tearDown(self):
        self.w.close()

    def assertFails(self, args, code, *needles, stdin=None):
        """The command exits with `code`, prints nothing on stdout and one stderr line holding
        every needle."""
        rc, out, err = self.w.run(*args, stdin=stdin)
        self.assertEqual(rc, code, "vpsmail %s: got exit %d, want %d; stderr %r" % (" ".join(args), rc, code, err))
        self.assertEqual(out, "", "stdout should be empty on failure")
        lines = err.strip().splitlines()
        self.assertEqual(len(lines), 1, "want one stderr line, got %r" % err)
        for n in needles:
            self.assertIn(n, lines[0])
        return lines[0]

    def dump(self):
        """Everything in the store, for 'nothing changed' checks."""
        parts = []
        for args in (["domain", "list"], ["user", "list"], ["alias", "list"], ["vuser", "list"],
                     ["forward", "list"], ["catchall", "show"]):
            parts.append(self.w.ok("--json", *args))
        return parts
