#!/usr/bin/env python3
"""bench/smtp_idle: memory of idle SMTP connections in a real `vpsmail serve` (issue 3, section 6).

  smtp_idle.py --bin build/vpsmail [--connections 1000] [--keep]

Starts the server on an ephemeral loopback port in a temporary folder (one domain in a fresh
store), reads its resident memory (/proc/PID/status VmRSS), opens --connections idle SMTP
connections to the MX port (each read up to its 220 greeting), reads VmRSS again and prints the
memory added per connection. Then the same on a fresh server with connections that did EHLO
and STARTTLS (the TLS cost). Each server is stopped with SIGTERM and must exit 0.
Target: under 64 KB per idle plaintext connection. Loopback only; stdlib only."""

import argparse
import os
import resource
import select
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time

READY_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0
IO_TIMEOUT = 30.0
WARM_UP = 20  # connections opened and closed first, so one-time allocations are not counted


class Server:
    def __init__(self, binary, work):
        self.bin = binary
        self.work = work
        self.config = os.path.join(work, "vpsmail.toml")
        self.db = os.path.join(work, "state", "vpsmail.db")
        self.log_path = os.path.join(work, "serve.log")
        self.env = dict(os.environ, HOME=work, XDG_STATE_HOME=os.path.join(work, "xdg-state"),
                        XDG_CONFIG_HOME=os.path.join(work, "xdg-config"))
        self.env.pop("VPSMAIL_DB", None)
        self.env.pop("VPSMAIL_CONFIG", None)
        with open(self.config, "w") as f:
            f.write('[paths]\nstate_dir = "%s"\nmail_root = "%s"\n' % (os.path.join(work, "state"), os.path.join(work, "mail")))
            f.write('[server]\nhostname = "mx.bench.test"\nuser = ""\n'
                    '[smtp]\nlisten = ["127.0.0.1:0"]\n[submission]\nlisten = []\n[submissions]\nlisten = []\n'
                    '[limits]\nmax_connections = 2000\nmax_connections_per_ip = 2000\n')
        self.cli("domain", "add", "bench.test")
        self.proc = None
        self.port = None

    def cli(self, *args):
        p = subprocess.run([self.bin, "--config", self.config, "--db", self.db] + list(args), env=self.env,
                           capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            raise SystemExit("vpsmail %s: exit %d: %s" % (" ".join(args), p.returncode, p.stderr))

    def start(self):
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([self.bin, "--config", self.config, "--db", self.db, "serve", "--foreground"],
                                         stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, env=self.env)
        deadline = time.monotonic() + READY_TIMEOUT
        buffer = b""
        while self.port is None:
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                raise SystemExit("vpsmail serve did not listen within %.0f s; log:\n%s" % (READY_TIMEOUT, self.log()))
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if not ready:
                continue
            chunk = os.read(self.proc.stdout.fileno(), 4096)
            if not chunk:
                self.kill()
                raise SystemExit("vpsmail serve exited before listening; log:\n" + self.log())
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                words = line.decode().split()
                if len(words) == 3 and words[:2] == ["listening", "smtp"]:
                    self.port = int(words[2].rsplit(":", 1)[1])
        return self

    def status(self, key):
        """A field of /proc/PID/status, in kB ("VmRSS") or as a number ("Threads")."""
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
        raise SystemExit("no %s in /proc/%d/status" % (key, self.proc.pid))

    def smaps(self):
        """/proc/PID/smaps_rollup: field -> kB."""
        out = {}
        with open("/proc/%d/smaps_rollup" % self.proc.pid) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 3 and parts[2] == "kB":
                    out[parts[0].rstrip(":")] = int(parts[1])
        return out

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            raise SystemExit("vpsmail serve did not stop within %.0f s of SIGTERM" % STOP_TIMEOUT)
        self.proc.stdout.close()
        if code != 0:
            raise SystemExit("vpsmail serve exited %d after SIGTERM; log:\n%s" % (code, self.log()))

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()[-4000:]


def read_reply(sock, what):
    """One whole SMTP reply (all its lines), as text."""
    data = b""
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            raise SystemExit("%s: the server closed the connection" % what)
        data += chunk
        lines = data.split(b"\r\n")
        if len(lines) > 1 and any(len(l) >= 4 and l[3:4] == b" " or len(l) == 3 for l in lines[:-1]):
            return data.decode(errors="replace")


def expect(sock, code, what):
    reply = read_reply(sock, what)
    if not reply.startswith(str(code)):
        raise SystemExit("%s: expected %d, got %r" % (what, code, reply))
    return reply


def plain(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
    expect(s, 220, "greeting")
    return s


def starttls(port, context):
    s = plain(port)
    s.sendall(b"EHLO client.test\r\n")
    if "STARTTLS" not in expect(s, 250, "EHLO"):
        raise SystemExit("the server does not offer STARTTLS on the MX port")
    s.sendall(b"STARTTLS\r\n")
    expect(s, 220, "STARTTLS")
    return context.wrap_socket(s, server_hostname="mx.bench.test")  # handshake done on return


def measure(binary, work, label, count, connect):
    server = Server(binary, work).start()
    try:
        for _ in range(WARM_UP):
            connect(server.port).close()
        before_rss, before = server.status("VmRSS"), server.smaps()
        conns = []
        t0 = time.monotonic()
        for i in range(count):
            conns.append(connect(server.port))
        opened = time.monotonic() - t0
        after_rss, after = server.status("VmRSS"), server.smaps()
        threads = server.status("Threads")
        per = (after_rss - before_rss) / count
        print("%-22s %5d connections: VmRSS %6.1f MB -> %6.1f MB = %5.1f KB per connection "
              "(anonymous %5.1f KB, opened in %.1f s, %d server threads)" % (
                  label, count, before_rss / 1024, after_rss / 1024, per,
                  (after.get("Anonymous", 0) - before.get("Anonymous", 0)) / count, opened, threads))
        for c in conns:
            c.close()
        return per
    finally:
        try:
            server.stop()
        finally:
            server.kill()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--connections", type=int, default=1000)
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (logs)")
    args = ap.parse_args()
    binary = os.path.abspath(args.bin)

    # Our sockets and the server's (which inherits the limit): count + warm-up + store + slack.
    need = args.connections + WARM_UP + 200
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            raise SystemExit("open files limited to %d (hard); need %d" % (hard, need))
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE

    root = tempfile.mkdtemp(prefix="vpsmail-smtp-idle-")
    try:
        results = []
        for name, label, connect in (("plain", "idle (220 read)", plain),
                                     ("tls", "idle after STARTTLS", lambda port: starttls(port, context))):
            work = os.path.join(root, name)
            os.mkdir(work)
            results.append(measure(binary, work, label, args.connections, connect))
        print("TLS adds %.1f KB per connection; target < 64 KB per idle plaintext connection: %s" % (
            results[1] - results[0], "met" if results[0] < 64 else "MISSED"))
    finally:
        if args.keep:
            print("kept %s" % root)
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
