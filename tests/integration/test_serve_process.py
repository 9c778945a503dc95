#!/usr/bin/env python3
"""`vpsmail serve` as a process: a second serve of the same spool says at once that it waits and
for whom; a detached serve logs to its file from the start and leaves the caller's stderr alone
(but for a failure); [paths] pid_file is written once the listeners are up, a stale one is
replaced, and the pid file and the control socket are gone when serve stops."""

import os
import select
import signal
import socket
import subprocess
import time
import unittest

from server import Server, seeded_world, wait_for
from harness import BIN, require_binary


def running(pid):
    """True while `pid` is a process that has not ended (a zombie has)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


class ServeProcess(unittest.TestCase):
    def setUp(self):
        require_binary(self)
        self.w = seeded_world()
        self.state = os.path.join(self.w.dir, "state")
        self.pid_file = os.path.join(self.state, "vpsmail.pid")
        self.control = os.path.join(self.state, "control")
        self.cleanup = []

    def tearDown(self):
        for step in reversed(self.cleanup):
            step()
        self.w.close()

    def serve(self, *more):
        return [BIN, "--config", self.w.config_path, "--db", self.w.db, "serve"] + list(more)

    def test_a_second_serve_says_at_once_that_it_waits_and_for_whom(self):
        first = Server(self.w).start()
        self.cleanup.append(first.kill)
        second = subprocess.Popen(self.serve("--foreground"), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, env=self.w.env())
        self.cleanup.append(lambda: second.poll() is None and (second.kill(), second.wait()))
        # The lock wait is 10 s: the line must come well before that.
        deadline = time.monotonic() + 5
        text = b""
        while b"\n" not in text and time.monotonic() < deadline:
            ready, _, _ = select.select([second.stderr], [], [], max(0, deadline - time.monotonic()))
            if ready:
                chunk = os.read(second.stderr.fileno(), 4096)
                if not chunk:
                    break
                text += chunk
        line = text.decode().split("\n")[0]
        self.assertTrue(line.startswith("waiting "), "want a 'waiting' line at once, got %r" % text)
        self.assertIsNone(second.poll(), "it says so while it waits")
        self.assertIn(os.path.join(self.state, "spool", "lock"), line)
        self.assertIn("pid %d" % first.proc.pid, line)
        self.assertEqual(second.wait(timeout=30), 75)
        rest = (text + second.stderr.read()).decode().strip().splitlines()
        self.assertIn("another vpsmail serve runs with the spool", rest[-1])
        self.assertIn("pid %d" % first.proc.pid, rest[-1])
        second.stderr.close()
        with open(self.pid_file) as f:
            self.assertEqual(f.read().strip(), str(first.proc.pid), "the second serve leaves the pid file alone")
        self.assertEqual(first.stop(), 0)

    def test_a_detached_serve_logs_to_its_file_and_writes_its_pid_file(self):
        Server(self.w)  # writes the configuration
        p = subprocess.run(self.serve(), capture_output=True, text=True, env=self.w.env(), timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stderr, "", "the start-up lines go to the log file, not to the caller")
        self.assertEqual([l.split()[:2] for l in p.stdout.splitlines()],
                         [["listening", "smtp"], ["listening", "submission"], ["listening", "submissions"]])
        with open(self.pid_file) as f:
            pid = int(f.read().strip())
        self.cleanup.append(lambda: running(pid) and os.kill(pid, signal.SIGKILL))
        self.assertTrue(running(pid))
        self.assertTrue(os.path.exists(self.control))
        with open(os.path.join(self.state, "vpsmail.log")) as f:
            log = f.read()
        for event in ("control", "listening", "pid_file"):
            self.assertRegex(log, r"(?m)^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ %s " % event)

        os.kill(pid, signal.SIGTERM)
        wait_for(lambda: not running(pid), what="the detached serve to stop")
        self.assertFalse(os.path.exists(self.pid_file), "the pid file is removed at exit")
        self.assertFalse(os.path.exists(self.control), "the control socket is removed at exit")
        with open(os.path.join(self.state, "vpsmail.log")) as f:
            self.assertRegex(f.read(), r"(?m) stopped$")

    def test_a_detached_serve_that_cannot_start_tells_the_caller(self):
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            Server(self.w, ports={"smtp": port})
            p = subprocess.run(self.serve(), capture_output=True, text=True, env=self.w.env(), timeout=60)
        self.assertEqual(p.returncode, 75, p.stderr)
        lines = p.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, p.stderr)
        self.assertIn("cannot listen on 127.0.0.1:%d" % port, lines[0])
        self.assertFalse(os.path.exists(self.pid_file))
        with open(os.path.join(self.state, "vpsmail.log")) as f:
            self.assertIn("cannot listen on 127.0.0.1:%d" % port, f.read())

    def test_a_stale_pid_file_is_replaced_and_removed_at_exit(self):
        gone = subprocess.Popen(["true"])
        gone.wait()
        os.makedirs(self.state, exist_ok=True)
        with open(self.pid_file, "w") as f:
            f.write("%d\n" % gone.pid)
        server = Server(self.w).start()
        self.cleanup.append(server.kill)
        with open(self.pid_file) as f:
            self.assertEqual(f.read(), "%d\n" % server.proc.pid)
        self.assertEqual(server.stop(), 0)
        self.assertFalse(os.path.exists(self.pid_file))
        self.assertFalse(os.path.exists(self.control))


if __name__ == "__main__":
    unittest.main(verbosity=2)
