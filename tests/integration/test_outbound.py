#!/usr/bin/env python3
"""The outbound transport alone: outbound_probe (net::Outbound around a fake Dispatcher)
against scripted SMTP servers (stdlib socketserver) on loopback, and dnsmasq for MX lookups.
Checks each recipient's outcome (delivered/deferred/bounced, codes), connection reuse, the
STARTTLS fallback, AUTH over TLS, BDAT with BINARYMIME (or a 5.6.3 bounce without it), and that
every taken message is reported exactly once."""

import base64
import os
import select
import shutil
import socket
import socketserver
import ssl
import subprocess
import tempfile
import threading
import time
import unittest

PROBE = os.environ.get("OUTBOUND_PROBE", "")
WAIT = 60.0

MESSAGE = "Subject: hi\\r\\n\\r\\nhello\\r\\n.leading dot\\r\\n"


class Handler(socketserver.BaseRequestHandler):
    """One scripted SMTP server connection; the server's attributes choose the script."""

    def handle(self):
        self.sock = self.request
        try:
            self.converse()
        except (OSError, ssl.SSLError):
            pass  # the client went away or failed TLS: what it did is what the test checks
        finally:
            if self.sock is not self.request:
                self.sock.close()

    def converse(self):
        srv = self.server
        with srv.lock:
            srv.connections += 1
        sock = self.request
        sock.settimeout(WAIT)
        if srv.mode == "hang":
            srv.stop_event.wait(WAIT)
            return
        rf = sock.makefile("rb")

        def send(text):
            sock.sendall(text.encode())

        send(srv.greeting + "\r\n")
        tls = authed = False
        txn = None
        while True:
            try:
                raw = rf.readline(4096)
            except (OSError, ssl.SSLError):
                return
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            verb = line.split(" ")[0].upper()
            if verb in ("EHLO", "HELO"):
                if srv.mode == "garbage":
                    send("HTTP/1.0 400 Bad Request\r\n")
                    continue
                caps = list(srv.caps)
                if srv.starttls and not tls:
                    caps.append("STARTTLS")
                if srv.auth and tls:
                    caps.append("AUTH PLAIN LOGIN")
                lines = ["fake.test"] + caps
                send("".join("250%s%s\r\n" % ("-" if i < len(lines) - 1 else " ", l) for i, l in enumerate(lines)))
            elif verb == "STARTTLS":
                send("220 2.0.0 go ahead\r\n")
                if srv.mode == "starttls_broken":
                    sock.sendall(b"this is not a TLS server hello\r\n" * 4)
                    return
                sock = self.sock = srv.tls.wrap_socket(sock, server_side=True)
                rf = sock.makefile("rb")
                tls = True
            elif verb == "AUTH":
                words = line.split(" ")
                want = base64.b64encode(b"\0" + srv.auth[0].encode() + b"\0" + srv.auth[1].encode()).decode()
                if len(words) == 3 and words[1].upper() == "PLAIN" and words[2] == want:
                    authed = True
                    send("235 2.7.0 ok\r\n")
                else:
                    send("535 5.7.8 bad credentials\r\n")
            elif verb == "MAIL":
                if srv.auth and not authed:
                    send("530 5.7.0 authentication required\r\n")
                    continue
                txn = {"from": line, "rcpts": [], "tls": tls, "auth": authed}
                send("250 2.1.0 ok\r\n")
            elif verb == "RCPT":
                address = line[line.index("<") + 1:line.index(">")]
                if txn is None:
                    send("503 5.5.1 need MAIL\r\n")
                elif address.startswith("reject"):
                    send("550 5.1.1 no such user\r\n")
                elif address.startswith("defer"):
                    send("450 4.2.0 greylisted\r\n")
                else:
                    txn["rcpts"].append(address)
                    send("250 2.1.5 ok\r\n")
            elif verb == "DATA":
                if not txn or not txn["rcpts"]:
                    send("554 5.5.1 no valid recipients\r\n")
                    continue
                send("354 go\r\n")
                text = b""
                while True:
                    data_line = rf.readline()
                    if not data_line:
                        return
                    if srv.mode == "drop_in_data":
                        return
                    if data_line == b".\r\n":
                        break
                    text += data_line[1:] if data_line.startswith(b".") else data_line
                txn["text"] = text
                with srv.lock:
                    srv.transactions.append(txn)
                txn = None
                send(srv.data_reply + "\r\n")
            elif verb == "BDAT" and "CHUNKING" in srv.caps:
                words = line.split(" ")  # RFC 3030 2: BDAT size [LAST]; the chunk follows at once
                chunk = rf.read(int(words[1]))
                if not txn or not txn["rcpts"]:
                    send("503 5.5.1 no valid recipients\r\n")
                    continue
                txn["text"] = txn.get("text", b"") + chunk
                if len(words) < 3 or words[2].upper() != "LAST":
                    send("250 2.0.0 %d octets\r\n" % len(chunk))
                    continue
                txn["bdat"] = True
                with srv.lock:
                    srv.transactions.append(txn)
                txn = None
                send(srv.data_reply + "\r\n")
            elif verb == "RSET":
                txn = None
                send("250 2.0.0 ok\r\n")
            elif verb == "QUIT":
                with srv.lock:
                    srv.quits += 1
                send("221 2.0.0 bye\r\n")
                return
            else:
                send("502 5.5.1 what\r\n")


class FakeSmtp(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, mode="normal", caps=("PIPELINING", "8BITMIME", "SIZE 100000"), greeting="220 fake.test ESMTP",
                 starttls=False, auth=None, tls=None, data_reply="250 2.0.0 queued as Q1", port=0):
        super().__init__(("127.0.0.1", port), Handler)
        self.mode, self.caps, self.greeting = mode, caps, greeting
        self.starttls, self.auth, self.tls, self.data_reply = starttls, auth, tls, data_reply
        self.lock = threading.Lock()
        self.connections = self.quits = 0
        self.transactions = []
        self.stop_event = threading.Event()
        self.port = self.server_address[1]
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.stop_event.set()
        self.shutdown()
        self.server_close()


def free_port(kind=socket.SOCK_STREAM):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run_probe(lines, args=(), timeout=WAIT):
    """Runs the probe; returns ({id: {rcpt: outcome}}, closed keys, untaken ids, stdout)."""
    proc = subprocess.run([PROBE, "--deadline", str(int(timeout)), *args], input="\n".join(lines) + "\n",
                          capture_output=True, text=True, timeout=timeout + 30)
    reports, closed, untaken = {}, [], []
    for line in proc.stdout.splitlines():
        f = line.split("\t")
        if f[0] == "report":
            reports.setdefault(f[1], {})[f[2]] = {
                "kind": f[3], "code": int(f[4]), "status": f[5], "remote": f[6] == "1", "dsn": f[7] == "1",
                "mta": f[8], "text": f[9]}
        elif f[0] == "closed":
            closed.append(f[1])
        elif f[0] == "untaken":
            untaken.append(f[1])
        elif f[0] == "error":
            raise AssertionError("probe: %s\nstderr:\n%s" % (line, proc.stderr))
    if proc.returncode != 0:
        raise AssertionError("probe exited %d\nstdout:\n%s\nstderr:\n%s" % (proc.returncode, proc.stdout, proc.stderr))
    return reports, closed, untaken, proc.stderr


def relay_lines(port, messages, key=None):
    """messages: (id, recipients) or (id, recipients, body, content as the probe escapes it)."""
    key = key or "relay:127.0.0.1:%d" % port
    out = ["dest\t%s\t-\t127.0.0.1\t%d" % (key, port)]
    for mid, rcpts, *rest in messages:
        body, content = rest or ("7BIT", MESSAGE)
        out.append("msg\t%s\t%s\tsender@example.org\t%s\t%s\t0\t%s" % (key, mid, ",".join(rcpts), body, content))
    return out


class OutboundTest(unittest.TestCase):
    def setUp(self):
        if not PROBE or not os.access(PROBE, os.X_OK):
            self.skipTest("OUTBOUND_PROBE is not set")
        self.servers = []

    def tearDown(self):
        for s in self.servers:
            s.close()

    def server(self, **kw):
        s = FakeSmtp(**kw)
        self.servers.append(s)
        return s

    def check(self, outcome, kind, code, status=None, text=None):
        self.assertEqual(outcome["kind"], kind, outcome)
        self.assertEqual(outcome["code"], code, outcome)
        if status is not None:
            self.assertEqual(outcome["status"], status, outcome)
        if text is not None:
            self.assertIn(text, outcome["text"], outcome)

    def test_messages_share_one_connection(self):
        s = self.server()
        reports, closed, untaken, _ = run_probe(relay_lines(s.port, [
            ("m1", ["bob@x.test", "reject-me@x.test"]), ("m2", ["ann@x.test"]), ("m3", ["defer-me@x.test", "cy@x.test"])]))
        self.check(reports["m1"]["bob@x.test"], "delivered", 250, "2.0.0", "queued as Q1")
        self.assertEqual(reports["m1"]["bob@x.test"]["mta"], "[127.0.0.1]")
        self.assertTrue(reports["m1"]["bob@x.test"]["remote"])
        self.check(reports["m1"]["reject-me@x.test"], "bounced", 550, "5.1.1", "no such user")
        self.check(reports["m2"]["ann@x.test"], "delivered", 250)
        self.check(reports["m3"]["defer-me@x.test"], "deferred", 450, "4.2.0")
        self.check(reports["m3"]["cy@x.test"], "delivered", 250)
        self.assertEqual(s.connections, 1)
        self.assertEqual(s.quits, 1)
        self.assertEqual(len(s.transactions), 3)
        self.assertEqual(s.transactions[0]["text"], b"Subject: hi\r\n\r\nhello\r\n.leading dot\r\n")
        self.assertEqual(closed, ["relay:127.0.0.1:%d" % s.port])
        self.assertEqual(untaken, [])

    def test_nudge_starts_a_held_back_destination(self):
        a, b = self.server(), self.server()
        lines = relay_lines(a.port, [("m1", ["a@x.test"])]) + relay_lines(b.port, [("m2", ["b@x.test"])])
        reports, closed, _, _ = run_probe(lines, ["--late", "relay:127.0.0.1:%d" % b.port], timeout=30)
        self.check(reports["m1"]["a@x.test"], "delivered", 250)
        self.check(reports["m2"]["b@x.test"], "delivered", 250)
        self.assertEqual(closed, ["relay:127.0.0.1:%d" % a.port, "relay:127.0.0.1:%d" % b.port])

    def test_without_pipelining(self):
        s = self.server(caps=("8BITMIME",))
        reports, _, _, _ = run_probe(relay_lines(s.port, [("m1", ["reject-a@x.test", "b@x.test"]), ("m2", ["reject-c@x.test"])]))
        self.check(reports["m1"]["reject-a@x.test"], "bounced", 550, "5.1.1")
        self.check(reports["m1"]["b@x.test"], "delivered", 250)
        self.check(reports["m2"]["reject-c@x.test"], "bounced", 550)
        self.assertEqual(s.connections, 1)
        self.assertEqual(len(s.transactions), 1)

    # Binary text: a NUL, a 0xff, a bare CR before a dot line, a bare LF, no final CRLF.
    BINARY = "Subject: bin\\r\\n\\r\\n\\x00\\xff\\r.\\r\\n.\\r\\nx\\ny"
    BINARY_BYTES = b"Subject: bin\r\n\r\n\x00\xff\r.\r\n.\r\nx\ny"

    def test_binary_text_goes_with_bdat_byte_for_byte(self):
        for caps in (("PIPELINING", "8BITMIME", "BINARYMIME", "CHUNKING"), ("BINARYMIME", "CHUNKING")):
            with self.subTest(caps=caps):
                s = self.server(caps=caps)
                reports, _, untaken, _ = run_probe(relay_lines(s.port, [
                    ("m1", ["bob@x.test"], "BINARYMIME", self.BINARY),
                    ("m2", ["ann@x.test"], "8BITMIME", "Subject: bare\\r\\n\\r\\na\\nb\\r\\n"),
                    ("m3", ["cy@x.test"], "7BIT", MESSAGE)]))
                for mid, rcpt in (("m1", "bob@x.test"), ("m2", "ann@x.test"), ("m3", "cy@x.test")):
                    self.check(reports[mid][rcpt], "delivered", 250, "2.0.0", "queued as Q1")
                self.assertEqual(untaken, [])
                self.assertEqual(len(s.transactions), 3)
                binary, bare, plain = s.transactions
                self.assertEqual(binary["text"], self.BINARY_BYTES)
                self.assertTrue(binary.get("bdat"))
                self.assertIn("BODY=BINARYMIME", binary["from"])
                self.assertEqual(bare["text"], b"Subject: bare\r\n\r\na\nb\r\n")
                self.assertIn("BODY=BINARYMIME", bare["from"])
                # Text of CRLF lines still goes with DATA.
                self.assertFalse(plain.get("bdat"))
                self.assertEqual(plain["text"], b"Subject: hi\r\n\r\nhello\r\n.leading dot\r\n")

    def test_binary_text_without_binarymime_and_chunking_bounces_5_6_3(self):
        for caps in (("PIPELINING", "8BITMIME", "SIZE 100000"), ("8BITMIME", "CHUNKING"), ("8BITMIME", "BINARYMIME")):
            with self.subTest(caps=caps):
                s = self.server(caps=caps)
                reports, _, untaken, _ = run_probe(relay_lines(s.port, [
                    ("m1", ["bob@x.test"], "BINARYMIME", "Subject: b\\r\\n\\r\\nlines\\r\\n"),
                    ("m2", ["ann@x.test"], "8BITMIME", "Subject: smuggle\\r\\n\\r\\na\\r.\\r\\nb\\r\\n"),
                    ("m3", ["cy@x.test"], "7BIT", MESSAGE)]))
                self.check(reports["m1"]["bob@x.test"], "bounced", 554, "5.6.3", "conversion not allowed")
                self.check(reports["m2"]["ann@x.test"], "bounced", 554, "5.6.3", "conversion not allowed")
                self.assertFalse(reports["m1"]["bob@x.test"]["remote"])
                # The connection goes on with the next message.
                self.check(reports["m3"]["cy@x.test"], "delivered", 250)
                self.assertEqual(untaken, [])
                self.assertEqual([t["rcpts"] for t in s.transactions], [["cy@x.test"]])
                self.assertEqual(s.connections, 1)

    def test_final_reply_refused(self):
        s = self.server(data_reply="554 5.7.1 looks like spam")
        reports, _, _, _ = run_probe(relay_lines(s.port, [("m1", ["a@x.test"])]))
        self.check(reports["m1"]["a@x.test"], "bounced", 554, "5.7.1", "looks like spam")

    def test_greeting_554(self):
        s = self.server(greeting="554 5.7.1 no mail from you")
        reports, _, untaken, _ = run_probe(relay_lines(s.port, [("m1", ["a@x.test"]), ("m2", ["b@x.test"])]))
        for mid, rcpt in (("m1", "a@x.test"), ("m2", "b@x.test")):
            o = reports[mid][rcpt]
            self.check(o, "deferred", 554, "5.7.1", "no mail from you")
            self.assertTrue(o["remote"])
        self.assertEqual(untaken, [])
        self.assertEqual(s.connections, 1)

    def test_connection_refused(self):
        port = free_port()
        reports, closed, untaken, _ = run_probe(relay_lines(port, [("m1", ["a@x.test"]), ("m2", ["b@x.test"])]))
        for mid, rcpt in (("m1", "a@x.test"), ("m2", "b@x.test")):
            self.check(reports[mid][rcpt], "deferred", 451, "4.4.1", "connection refused by [127.0.0.1]")
        self.assertEqual(len(closed), 1)
        self.assertEqual(untaken, [])

    def test_drop_mid_data(self):
        s = self.server(mode="drop_in_data")
        reports, _, untaken, _ = run_probe(relay_lines(s.port, [("m1", ["a@x.test"]), ("m2", ["b@x.test"])]))
        self.check(reports["m1"]["a@x.test"], "deferred", 451, "4.4.2", "lost connection with [127.0.0.1]")
        self.assertNotIn("m2", reports)
        self.assertEqual(untaken, ["m2"])  # left in the queue for the next connection
        self.assertEqual(s.connections, 1)

    def test_garbage(self):
        s = self.server(mode="garbage")
        reports, _, _, _ = run_probe(relay_lines(s.port, [("m1", ["a@x.test"])]))
        self.check(reports["m1"]["a@x.test"], "deferred", 451, "4.5.0", "malformed reply")

    def test_hang_times_out(self):
        s = self.server(mode="hang")
        started = time.monotonic()
        reports, _, _, _ = run_probe(relay_lines(s.port, [("m1", ["a@x.test"])]), ["--command-timeout", "1"])
        self.check(reports["m1"]["a@x.test"], "deferred", 451, "4.4.2", "timed out while receiving the initial server greeting")
        self.assertLess(time.monotonic() - started, 20)

    def test_broken_starttls_falls_back_to_plaintext(self):
        # Opportunistic TLS (a smart host whose certificate is not checked, like any MX).
        s = self.server(mode="starttls_broken", starttls=True)
        reports, _, _, log = run_probe(relay_lines(s.port, [("m1", ["a@x.test"])]), ["--no-verify"])
        self.check(reports["m1"]["a@x.test"], "delivered", 250)
        self.assertEqual(s.connections, 2)
        self.assertFalse(s.transactions[0]["tls"])
        self.assertIn("outbound_tls_fallback", log)

    def test_broken_starttls_to_a_verified_smart_host_defers(self):
        # Breaking the handshake must not make us talk in clear to a host we verify.
        s = self.server(mode="starttls_broken", starttls=True)
        reports, _, _, log = run_probe(relay_lines(s.port, [("m1", ["a@x.test"])]))
        self.assertEqual(reports["m1"]["a@x.test"]["kind"], "deferred")
        self.assertEqual(s.connections, 1)
        self.assertNotIn("outbound_tls_fallback", log)

    def test_broken_starttls_with_tls_required_defers(self):
        s = self.server(mode="starttls_broken", starttls=True)
        reports, _, _, _ = run_probe(relay_lines(s.port, [("m1", ["a@x.test"])]), ["--require-tls"])
        self.check(reports["m1"]["a@x.test"], "deferred", 451, "4.7.5", "TLS handshake")
        self.assertEqual(s.connections, 1)

    def test_tls_required_but_not_offered(self):
        s = self.server()
        reports, _, _, _ = run_probe(relay_lines(s.port, [("m1", ["a@x.test"])]), ["--require-tls"])
        self.check(reports["m1"]["a@x.test"], "deferred", 451, "4.7.10")
        self.assertEqual(s.transactions, [])

    def test_starttls_and_auth(self):
        if not shutil.which("openssl"):
            self.skipTest("openssl is not installed")
        with tempfile.TemporaryDirectory() as d:
            cert, key = os.path.join(d, "c.pem"), os.path.join(d, "k.pem")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=relay.test",
                            "-days", "1", "-keyout", key, "-out", cert], check=True, capture_output=True)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)
            s = self.server(starttls=True, tls=ctx, auth=("u@example.org", "pw"))
            reports, _, _, log = run_probe(relay_lines(s.port, [("m1", ["a@x.test"]), ("m2", ["b@x.test"])]),
                                           ["--user", "u@example.org", "--password", "pw", "--no-verify"])
            self.check(reports["m1"]["a@x.test"], "delivered", 250)
            self.check(reports["m2"]["b@x.test"], "delivered", 250)
            self.assertTrue(all(t["tls"] and t["auth"] for t in s.transactions))
            self.assertEqual(s.connections, 1)
            self.assertIn("tls=TLSv1.3", log)
            # The same relay, verified against the system CA store: the self-signed certificate fails,
            # and there is no second connection in clear (the password never leaves encrypted).
            reports, _, _, log = run_probe(relay_lines(s.port, [("m3", ["c@x.test"])]),
                                           ["--user", "u@example.org", "--password", "pw"])
            self.check(reports["m3"]["c@x.test"], "deferred", 451, "4.7.5")
            self.assertNotIn("outbound_tls_fallback", log)
            self.assertEqual(s.connections, 2)
            self.assertEqual(len(s.transactions), 2)


class MxTest(unittest.TestCase):
    """MX delivery through dnsmasq."""

    def setUp(self):
        if not PROBE or not os.access(PROBE, os.X_OK):
            self.skipTest("OUTBOUND_PROBE is not set")
        dnsmasq = shutil.which("dnsmasq") or ("/usr/sbin/dnsmasq" if os.path.exists("/usr/sbin/dnsmasq") else None)
        if not dnsmasq:
            self.skipTest("dnsmasq is not installed")
        self.smtp = FakeSmtp()
        self.dns_port = free_port(socket.SOCK_DGRAM)
        args = [dnsmasq, "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
                "--listen-address=127.0.0.1", "--bind-interfaces", "--port=%d" % self.dns_port, "--log-facility=-",
                "--pid-file=", "--local=/nx.test/", "--local=/implicit.test/",
                "--mx-host=mx.test,mx1.mx.test,10", "--mx-host=mx.test,mx2.mx.test,20",
                "--host-record=mx1.mx.test,127.0.0.2", "--host-record=mx2.mx.test,127.0.0.1",
                "--host-record=implicit.test,127.0.0.1"]
        if os.geteuid() == 0:
            args.append("--user=root")
        self.dns = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 20
        buffer = b""
        while b"started" not in buffer:
            left = deadline - time.monotonic()
            if left <= 0 or self.dns.poll() is not None:
                self.tearDown()
                raise AssertionError("dnsmasq did not start: %s" % buffer.decode(errors="replace"))
            ready, _, _ = select.select([self.dns.stderr], [], [], left)
            if ready:
                buffer += os.read(self.dns.stderr.fileno(), 4096)

    def tearDown(self):
        if getattr(self, "dns", None) and self.dns.poll() is None:
            self.dns.terminate()
            self.dns.wait(timeout=10)
        if getattr(self, "dns", None):
            self.dns.stderr.close()
        self.smtp.close()

    def probe(self, domain, rcpt):
        key = "mx:" + domain
        lines = ["dest\t%s\t%s\t-\t0" % (key, domain),
                 "msg\t%s\tm1\tsender@example.org\t%s\t7BIT\t0\t%s" % (key, rcpt, MESSAGE)]
        reports, _, _, _ = run_probe(lines, ["--port", str(self.smtp.port), "--dns", "127.0.0.1:%d" % self.dns_port,
                                             "--connect-timeout", "5"])
        return reports["m1"][rcpt]

    def test_mx_by_preference_with_fallback(self):
        # mx1 (127.0.0.2) has nothing listening on the port: mx2 takes the message.
        o = self.probe("mx.test", "a@mx.test")
        self.assertEqual(o["kind"], "delivered", o)
        self.assertEqual(o["mta"], "mx2.mx.test [127.0.0.1]")
        self.assertEqual(self.smtp.connections, 1)

    def test_implicit_mx(self):
        o = self.probe("implicit.test", "a@implicit.test")
        self.assertEqual(o["kind"], "delivered", o)
        self.assertEqual(o["mta"], "implicit.test [127.0.0.1]")

    def test_nxdomain_bounces(self):
        o = self.probe("nx.test", "a@nx.test")
        self.assertEqual((o["kind"], o["code"], o["status"]), ("bounced", 550, "5.1.2"), o)
        self.assertEqual(self.smtp.connections, 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
