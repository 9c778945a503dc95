"""A real `vpsmail serve --foreground` on ephemeral loopback ports, in a private World, for
the integration tests. Readiness is the "listening NAME ADDRESS" lines on stdout (read with a
deadline, no sleeps); stop() sends SIGTERM and checks the exit."""

import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cli"))
from harness import BIN, HASH, World, require_binary  # noqa: E402

READY_TIMEOUT = 30.0
# A name server that never answers: no test queries a real one, and mail for other domains
# stays deferred in the queue, where the tests look for it.
NO_DNS = '[dns]\nservers = ["127.0.0.1:1"]\n'


class ServeProcess:
    """A `vpsmail serve --foreground` run with the given argv and environment, its stderr in
    `log_path`. start() returns once the `listeners` listening lines are read."""

    def __init__(self, argv, env, log_path, listeners=3):
        self.argv = list(argv)
        self.env = env
        self.log_path = log_path
        self.listeners = listeners
        self.ports = {}
        self.proc = None

    def start(self):
        self.ports = {}  # a restart reads its listening lines anew
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, env=self.env)
        log.close()
        deadline = time.monotonic() + READY_TIMEOUT
        buffer = b""
        while len(self.ports) < self.listeners:
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                raise AssertionError("vpsmail serve did not listen in time; log:\n" + self.log())
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if not ready:
                continue
            chunk = os.read(self.proc.stdout.fileno(), 4096)
            if not chunk:
                self.proc.wait(timeout=10)
                raise AssertionError("vpsmail serve exited with %s; log:\n%s" % (self.proc.returncode, self.log()))
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                words = line.decode().split()
                if len(words) == 3 and words[0] == "listening":
                    self.ports[words[1]] = int(words[2].rsplit(":", 1)[1])
        return self

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def stop(self, timeout=20):
        """SIGTERM; returns the exit code."""
        if self.proc is None or self.proc.poll() is not None:
            self.kill()
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("vpsmail serve did not stop within %s s of SIGTERM" % timeout)
        finally:
            self.kill()

    def kill(self):
        """Ends the process if it still runs, and closes our end of its stdout."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        if self.proc.stdout is not None and not self.proc.stdout.closed:
            self.proc.stdout.close()


class Server(ServeProcess):
    """ServeProcess in a World: its config file (three ephemeral loopback listeners, no [server]
    user) and store, named with --config and --db."""

    def __init__(self, world, config="", ports=None, hostname="mx.example.test", smtp_config=""):
        """`ports`: listener name -> fixed port (a server restarted on the same ports); the
        others get ephemeral ports. `smtp_config`: more [smtp] keys. `config` without a [dns]
        table gets NO_DNS (TOML allows one [dns] table)."""
        super().__init__([BIN, "--config", world.config_path, "--db", world.db, "serve", "--foreground"], None,
                         os.path.join(world.dir, "serve.log"))
        self.world = world
        fixed = ports or {}
        world.write_config(
            '[server]\nhostname = "%s"\nuser = ""\n' % hostname +
            '[smtp]\nlisten = ["127.0.0.1:%d"]\n' % fixed.get("smtp", 0) + smtp_config +
            '[submission]\nlisten = ["127.0.0.1:%d"]\n' % fixed.get("submission", 0) +
            '[submissions]\nlisten = ["127.0.0.1:%d"]\n' % fixed.get("submissions", 0) + config +
            ("" if re.search(r"^\[dns\]", config, re.M) else NO_DNS))

    def start(self):
        self.env = self.world.env()
        return super().start()


def free_port(kind=socket.SOCK_STREAM):
    """A loopback port nobody listens on now (the kernel's pick; the caller binds it soon)."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout=30.0, what="condition"):
    """Polls `predicate` until it returns a true value (returned), or fails after `timeout` s."""
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(delay)  # polling interval, not a wait for readiness
        delay = min(delay * 2, 0.2)


def seeded_world():
    """example.test with bob and ann (password "secret"), as the tests expect."""
    w = World()
    w.ok("domain", "add", "example.test")
    for user in ("bob", "ann"):
        w.ok("user", "add", "%s@example.test" % user, "--password-hash", HASH)
    return w


def maildir_files(world, address, folder="new"):
    local, domain = address.split("@")
    path = os.path.join(world.mail_root, domain, local, folder)
    if not os.path.isdir(path):
        return []
    return sorted(os.path.join(path, name) for name in os.listdir(path))


class ServerTest(unittest.TestCase):
    """A real `vpsmail serve` on seeded_world(), started with the class's `config` text for each
    test and killed after it (its log printed with VPSMAIL_SHOW_LOG=1). Outbound delivery runs
    too; Server's name server never answers (NO_DNS): mail for other domains stays queued."""
    config = ""

    def setUp(self):
        require_binary(self)
        self.w = seeded_world()
        self.server = Server(self.w, self.config).start()

    def tearDown(self):
        try:
            self.server.kill()
            if os.environ.get("VPSMAIL_SHOW_LOG"):
                print(self.server.log())
        finally:
            self.w.close()
