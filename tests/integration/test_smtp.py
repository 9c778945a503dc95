#!/usr/bin/env python3
"""vpsmail serve with real SMTP clients (Python's smtplib and ssl, swaks) on loopback:
MX delivery into Maildirs, submission with STARTTLS and AUTH, implicit TLS, relay refusal,
bad input, limits, timeouts, CLI changes seen at once, SIGTERM and crash safety."""

import email
import email.policy
import errno
import json
import os
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import time
import unittest

from server import HASH, Server, ServerTest, maildir_files, seeded_world, wait_for
from harness import BIN, World, require_binary

MESSAGE = (b"From: Ann <ann@remote.test>\r\nTo: bob@example.test\r\nSubject: hello\r\n"
           b"Message-ID: <1@remote.test>\r\n\r\nHello Bob.\r\n.leading dot\r\n")


def tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the self-signed certificate of the first start
    return ctx


class ServeTest(ServerTest):

    def smtp(self, listener="smtp"):
        return smtplib.SMTP("127.0.0.1", self.server.ports[listener], local_hostname="client.test", timeout=30)

    def submit(self, listener="submission", user="bob@example.test", password="secret"):
        if listener == "submissions":
            s = smtplib.SMTP_SSL("127.0.0.1", self.server.ports[listener], local_hostname="client.test",
                                 context=tls_context(), timeout=30)
        else:
            s = self.smtp(listener)
            s.starttls(context=tls_context())
        s.login(user, password)
        return s

    def read(self, path):
        with open(path, "rb") as f:
            return f.read()


class MxDelivery(ServeTest):
    def test_ehlo_offers_the_extensions(self):
        with self.smtp() as s:
            code, _ = s.ehlo()
            self.assertEqual(code, 250)
            for ext in ("pipelining", "size", "8bitmime", "enhancedstatuscodes", "starttls", "smtputf8", "chunking", "dsn"):
                self.assertTrue(s.has_extn(ext), ext)
            self.assertFalse(s.has_extn("auth"), "no AUTH on the MX port: users submit on 587 and 465")

    def test_message_lands_in_the_maildir_with_headers(self):
        with self.smtp() as s:
            refused = s.sendmail("ann@remote.test", ["bob@example.test"], MESSAGE)
        self.assertEqual(refused, {})
        files = maildir_files(self.w, "bob@example.test")
        self.assertEqual(len(files), 1)
        name = os.path.basename(files[0])
        data = self.read(files[0])
        self.assertRegex(name, r",S=%d,W=%d,VU=1$" % (len(data), len(data)))  # size, CRLF size, UID (the index)
        self.assertTrue(data.startswith(b"Return-Path: <ann@remote.test>\r\nReceived: from client.test"), data[:200])
        self.assertIn(b"by mx.example.test", data)
        self.assertIn(b"\r\n\r\nHello Bob.\r\n.leading dot\r\n", data)  # dot-stuffing undone
        self.assertEqual(maildir_files(self.w, "bob@example.test", "tmp"), [])

    def test_mutt_lists_the_delivered_message(self):
        if not shutil.which("mutt") or not shutil.which("script"):
            self.skipTest("mutt or script is not installed")
        with self.smtp() as s:
            s.sendmail("ann@remote.test", ["bob@example.test"], MESSAGE)
        maildir = os.path.dirname(os.path.dirname(maildir_files(self.w, "bob@example.test")[0]))
        rc = os.path.join(self.w.dir, "muttrc")
        with open(rc, "w") as f:
            f.write('set wait_key=no\nset quit=yes\nset move=no\nset mbox_type=Maildir\n'
                    'set folder="%s"\nset spoolfile="%s"\nset header_cache=""\npush "<quit>"\n' % (self.w.dir, maildir))
        # mutt wants a terminal: script(1) gives it one; it draws its index, then quits.
        p = subprocess.run(["script", "-qec", "mutt -n -F %s -R -f %s" % (rc, maildir), "/dev/null"],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=60,
                           env=dict(self.w.env(), TERM="xterm"))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(b"Msgs:1 New:1", p.stdout)
        self.assertIn(b"hello", p.stdout)  # the index line shows the subject

    def test_unknown_recipient_is_refused_at_rcpt(self):
        with self.smtp() as s:
            s.ehlo()
            s.mail("ann@remote.test")
            code, text = s.rcpt("nobody@example.test")
            self.assertEqual(code, 550)
            self.assertTrue(text.startswith(b"5.1.1"), text)
            code, _ = s.rcpt("bob@example.test")
            self.assertEqual(code, 250)

    def test_no_relaying_for_strangers(self):
        with self.smtp() as s:
            s.ehlo()
            s.mail("ann@remote.test")
            for rcpt in ("someone@elsewhere.test", "@example.test:someone@elsewhere.test"):
                code, text = s.docmd("RCPT TO:<%s>" % rcpt)  # smtplib would rewrite the route
                self.assertIn(code, (550, 554), rcpt)
                self.assertIn(b"5.7.1", text)
        self.assertEqual(self.w.ok("--json", "queue", "list").strip(), "[]")

    def test_percent_hack_and_bang_path_are_not_relayed(self):
        with self.smtp() as s:
            s.ehlo()
            s.mail("ann@remote.test")
            for rcpt in ("someone%elsewhere.test@example.test", "elsewhere.test!someone@example.test"):
                code, _ = s.rcpt(rcpt)
                self.assertEqual(code, 550, rcpt)
        self.assertEqual(self.w.ok("--json", "queue", "list").strip(), "[]")

    def test_backslash_recipient_is_the_mailbox_itself(self):
        # docs/routing.md rule 8, as sendmail takes it from SMTP: <\bob@d> skips the alias that hides
        # bob's account (it was refused as bad syntax); it never makes a relay.
        self.w.ok("alias", "add", "bob", "ann")
        with self.smtp() as s:
            s.ehlo()
            s.mail("x@remote.test")
            code, text = s.docmd("RCPT TO:<\\ghost@example.test>")
            self.assertEqual(code, 550, text)
            self.assertTrue(text.startswith(b"5.1.1"), text)
            code, text = s.docmd("RCPT TO:<\\someone@elsewhere.test>")
            self.assertEqual(code, 550, text)
            self.assertIn(b"5.7.1", text)
            code, text = s.docmd("RCPT TO:<\\Bob@Example.test>")
            self.assertEqual(code, 250, text)
            code, text = s.data(MESSAGE)
            self.assertEqual(code, 250, text)
        self.assertEqual(len(maildir_files(self.w, "bob@example.test")), 1)
        self.assertEqual(maildir_files(self.w, "ann@example.test"), [])
        self.assertEqual(self.w.ok("--json", "queue", "list").strip(), "[]")

    def test_alias_to_two_mailboxes_stores_one_copy_each(self):
        self.w.ok("alias", "add", "team", "bob", "ann")
        with self.smtp() as s:
            s.sendmail("x@remote.test", ["team@example.test", "bob@example.test"], MESSAGE)
        bob = maildir_files(self.w, "bob@example.test")
        ann = maildir_files(self.w, "ann@example.test")
        self.assertEqual((len(bob), len(ann)), (1, 1))
        self.assertEqual(os.stat(bob[0]).st_ino, os.stat(ann[0]).st_ino)  # one file, linked

    def test_cli_changes_apply_to_the_next_rcpt(self):
        with self.smtp() as s:
            s.ehlo()
            s.mail("ann@remote.test")
            self.assertEqual(s.rcpt("carl@example.test")[0], 550)
            self.w.ok("user", "add", "carl@example.test", "--password-hash", HASH)
            self.assertEqual(s.rcpt("carl@example.test")[0], 250)
            self.w.ok("user", "disable", "carl@example.test")
            code, text = s.rcpt("carl@example.test")
            self.assertEqual(code, 550)
            self.assertIn(b"5.2.1", text)

    def test_bare_lf_in_data_is_refused_and_the_session_goes_on(self):
        with self.smtp() as s:
            s.ehlo()
            s.mail("ann@remote.test")
            s.rcpt("bob@example.test")
            code, _ = s.docmd("DATA")
            self.assertEqual(code, 354)
            s.send(b"Subject: x\r\n\r\nsmuggled\n.\nMAIL FROM:<evil@x>\r\n.\r\n")
            code, text = s.getreply()
            self.assertGreaterEqual(code, 550)
            self.assertEqual(s.noop()[0], 250)
        self.assertEqual(maildir_files(self.w, "bob@example.test"), [])

    def test_pipelined_transaction_with_swaks(self):
        if not shutil.which("swaks"):
            self.skipTest("swaks is not installed")
        p = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(self.server.ports["smtp"]),
                            "--from", "ann@remote.test", "--to", "bob@example.test", "--pipeline",
                            "--helo", "client.test", "--body", "via swaks"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        files = maildir_files(self.w, "bob@example.test")
        self.assertEqual(len(files), 1)
        self.assertIn(b"via swaks", self.read(files[0]))

    def test_chunking_with_bdat(self):
        with self.smtp() as s:
            s.ehlo()
            s.mail("ann@remote.test")
            s.rcpt("bob@example.test")
            body = b"Subject: chunks\r\n\r\none\r\n"
            s.send(b"BDAT %d\r\n" % len(body) + body)
            self.assertEqual(s.getreply()[0], 250)
            s.send(b"BDAT 5 LAST\r\ntwo\r\n")
            self.assertEqual(s.getreply()[0], 250)
        data = self.read(maildir_files(self.w, "bob@example.test")[0])
        self.assertTrue(data.endswith(b"\r\n\r\none\r\ntwo\r\n"), data)


class Submission(ServeTest):
    def test_submission_requires_auth_before_mail(self):
        with self.smtp("submission") as s:
            s.ehlo()
            self.assertTrue(s.has_extn("starttls"))
            code, text = s.mail("bob@example.test")
            self.assertEqual(code, 530)
            self.assertTrue(text.startswith(b"5.7.0"), text)

    def test_starttls_auth_and_relay_to_the_spool(self):
        with self.submit() as s:
            s.sendmail("bob@example.test", ["friend@remote.test", "ann@example.test"], MESSAGE)
        queued = json.loads(self.w.ok("--json", "queue", "list"))
        self.assertEqual(len(queued), 1)
        self.assertEqual(queued[0]["sender"], "bob@example.test")
        self.assertEqual([r["address"] for r in queued[0]["recipients"]], ["friend@remote.test"])
        # Queued, not sent: the runner may already have tried it (the test's name server never
        # answers, so the try was deferred).
        self.assertIn(queued[0]["recipients"][0]["state"], ("pending", "deferred"))
        self.assertEqual(len(maildir_files(self.w, "ann@example.test")), 1)
        table = self.w.ok("queue", "list")
        self.assertIn("friend@remote.test", table)
        received = self.read(maildir_files(self.w, "ann@example.test")[0])
        self.assertIn(b"with ESMTPSA", received)  # RFC 3848: TLS and AUTH

    def test_implicit_tls_on_submissions(self):
        with self.submit("submissions") as s:
            s.sendmail("bob@example.test", ["ann@example.test"], MESSAGE)
        self.assertEqual(len(maildir_files(self.w, "ann@example.test")), 1)

    def test_wrong_password_gets_535(self):
        with self.smtp("submission") as s:
            s.starttls(context=tls_context())
            with self.assertRaises(smtplib.SMTPAuthenticationError) as e:
                s.login("bob@example.test", "wrong")
            self.assertEqual(e.exception.smtp_code, 535)
            s.login("bob@example.test", "secret")  # the session goes on

    def test_sender_must_be_the_users_own(self):
        with self.submit() as s:
            s.ehlo()
            code, text = s.mail("ann@example.test")
            self.assertEqual(code, 553)
            self.assertIn(b"5.7.1", text)
            self.w.ok("vuser", "map", "sales@example.test", "bob")
            code, _ = s.mail("sales@example.test")  # routes to bob: his to use
            self.assertEqual(code, 250)

    def test_auth_not_offered_before_tls_except_on_loopback(self):
        # Loopback clients may AUTH without TLS (RFC 4954 4: by configuration); the test
        # client is on loopback, so AUTH is offered there.
        with self.smtp("submission") as s:
            s.ehlo()
            self.assertTrue(s.has_extn("auth"))


class LimitsAndFaults(ServeTest):
    config = ('[limits]\nmax_message_size = "4K"\nmax_connections_per_ip = 3\ncommand_timeout = "2s"\n'
              '[auth]\nmax_failures = 2\nlockout = "1h"\n')

    def test_size_limit(self):
        with self.smtp() as s:
            s.ehlo()
            self.assertEqual(s.esmtp_features.get("size"), "4096")
            code, text = s.mail("ann@remote.test", ["SIZE=100000"])
            self.assertEqual(code, 552)
            # Without SIZE the limit applies to the data as it arrives.
            self.assertEqual(s.docmd("MAIL FROM:<ann@remote.test>")[0], 250)
            self.assertEqual(s.rcpt("bob@example.test")[0], 250)
            code, text = s.data(MESSAGE + b"x" * 8000 + b"\r\n")
            self.assertEqual(code, 552)
            self.assertTrue(text.startswith(b"5.3.4"), text)
            self.assertEqual(s.noop()[0], 250)
        self.assertEqual(maildir_files(self.w, "bob@example.test"), [])

    def test_quota_at_end_of_data(self):
        self.w.ok("user", "quota", "bob@example.test", "1K")
        with self.smtp() as s:
            with self.assertRaises(smtplib.SMTPDataError) as e:
                s.sendmail("ann@remote.test", ["bob@example.test"], MESSAGE + b"y" * 2000 + b"\r\n")
            self.assertEqual(e.exception.smtp_code, 552)
            self.assertIn(b"5.2.2", e.exception.smtp_error)

    def test_too_many_connections_from_one_address(self):
        clients = [self.smtp() for _ in range(3)]
        try:
            with self.assertRaises(smtplib.SMTPConnectError) as e:
                self.smtp()
            self.assertEqual(e.exception.smtp_code, 421)
        finally:
            for c in clients:
                c.close()

    def test_idle_client_gets_421_and_is_closed(self):
        sock = socket.create_connection(("127.0.0.1", self.server.ports["smtp"]), timeout=30)
        data = b""
        sock.settimeout(30)
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        sock.close()
        self.assertTrue(data.startswith(b"220 "), data)
        self.assertIn(b"421 4.4.2", data)

    def test_login_lockout_after_max_failures(self):
        with self.smtp("submission") as s:
            s.starttls(context=tls_context())
            for _ in range(2):
                with self.assertRaises(smtplib.SMTPAuthenticationError):
                    s.login("bob@example.test", "wrong")
        with self.smtp("submission") as s:
            s.starttls(context=tls_context())
            with self.assertRaises(smtplib.SMTPAuthenticationError) as e:
                s.login("bob@example.test", "secret")  # right, but locked out
            self.assertEqual(e.exception.smtp_code, 454)
            self.assertIn(b"4.7.0", e.exception.smtp_error)

    def test_garbage_does_not_stop_the_server(self):
        sock = socket.create_connection(("127.0.0.1", self.server.ports["smtp"]), timeout=30)
        sock.recv(4096)
        sock.sendall(b"\x00\xff\xfe garbage\r\n" + b"A" * 5000 + b"\r\nQUIT\r\n")
        sock.close()
        with self.smtp() as s:
            self.assertEqual(s.noop()[0], 250)


class RefusedAfterData(ServeTest):
    """RFC 5321 6.1: after the 250 for DATA, a recipient refused at end of data beside an
    accepted one is the server's: bounced with a DSN, or queued and retried."""
    config = '[queue]\nretry_min = "1s"\nretry_max = "2s"\n'

    def setUp(self):
        super().setUp()
        self.w.ok("user", "add", "alice@example.test", "--password-hash", HASH)

    def test_quota_crossed_beside_an_accepted_recipient_bounces_with_a_dsn(self):
        self.w.ok("user", "quota", "bob@example.test", "1K")
        with self.smtp() as s:
            refused = s.sendmail("ann@example.test", ["alice@example.test", "bob@example.test"], MESSAGE + b"y" * 3000 + b"\r\n")
        self.assertEqual(refused, {})
        self.assertEqual(len(maildir_files(self.w, "alice@example.test")), 1)
        self.assertEqual(maildir_files(self.w, "bob@example.test"), [])
        self.assertRegex(self.server.log(), r'not_delivered .*rcpt=bob@example\.test reply="552 5\.2\.2 .*then=dsn')
        # ann is local: the queue runner delivers her DSN (RFC 3464) to her Maildir.
        files = wait_for(lambda: maildir_files(self.w, "ann@example.test"), what="the DSN for ann; log:\n" + self.server.log())
        dsn = email.message_from_bytes(self.read(files[0]), policy=email.policy.compat32)
        self.assertEqual(dsn.get_content_type(), "multipart/report")
        status = [p for p in dsn.get_payload() if p.get_content_type() == "message/delivery-status"][0]
        recipients = status.get_payload()[1:]
        self.assertEqual(len(recipients), 1)
        self.assertEqual(recipients[0]["Final-Recipient"].lower(), "rfc822; bob@example.test")
        self.assertEqual(recipients[0]["Action"], "failed")
        self.assertEqual(recipients[0]["Status"], "5.2.2")
        wait_for(lambda: json.loads(self.w.ok("--json", "queue", "list")) == [], what="the queue to drain")

    def test_maildir_error_beside_an_accepted_recipient_is_queued_and_retried(self):
        # bob's Maildir cannot be made: a file is in its way, a temporary failure.
        bob = os.path.join(self.w.mail_root, "example.test", "bob")
        os.makedirs(os.path.dirname(bob), exist_ok=True)
        with open(bob, "w") as f:
            f.write("in the way")
        with self.smtp() as s:
            refused = s.sendmail("ann@remote.test", ["alice@example.test", "bob@example.test"], MESSAGE)
        self.assertEqual(refused, {})
        self.assertEqual(len(maildir_files(self.w, "alice@example.test")), 1)
        log = self.server.log()
        self.assertRegex(log, r"delivery_failed .*mailbox=bob@example\.test")
        self.assertRegex(log, r'not_delivered .*rcpt=bob@example\.test reply="451 4\.3\.0 .*then=retry')
        queued = json.loads(self.w.ok("--json", "queue", "list"))
        self.assertEqual([r["address"] for m in queued for r in m["recipients"]], ["bob@example.test"])
        os.remove(bob)
        files = wait_for(lambda: maildir_files(self.w, "bob@example.test"), what="bob's retried copy; log:\n" + self.server.log())
        self.assertIn(b"Hello Bob.", self.read(files[0]))
        self.assertIn(b"Return-Path: <ann@remote.test>", self.read(files[0]))
        self.assertEqual(len(maildir_files(self.w, "alice@example.test")), 1)  # no second copy for alice
        wait_for(lambda: json.loads(self.w.ok("--json", "queue", "list")) == [], what="the queue to drain")

    def test_full_member_of_an_accepted_alias_bounces_with_a_dsn(self):
        # One recipient, an alias: alice gets it, bob's part (over quota) is bounced, not dropped.
        self.w.ok("user", "quota", "bob@example.test", "1K")
        self.w.ok("alias", "add", "team", "alice", "bob")
        with self.smtp() as s:
            self.assertEqual(s.sendmail("ann@example.test", ["team@example.test"], MESSAGE + b"y" * 3000 + b"\r\n"), {})
        self.assertEqual(len(maildir_files(self.w, "alice@example.test")), 1)
        self.assertEqual(maildir_files(self.w, "bob@example.test"), [])
        self.assertRegex(self.server.log(), r'not_delivered .*rcpt=team@example\.test mailbox=bob@example\.test reply="552 5\.2\.2 .*then=dsn')
        files = wait_for(lambda: maildir_files(self.w, "ann@example.test"), what="the DSN for ann; log:\n" + self.server.log())
        dsn = email.message_from_bytes(self.read(files[0]), policy=email.policy.compat32)
        status = [p for p in dsn.get_payload() if p.get_content_type() == "message/delivery-status"][0]
        recipients = status.get_payload()[1:]
        self.assertEqual(len(recipients), 1)
        self.assertEqual(recipients[0]["Original-Recipient"].lower(), "rfc822; team@example.test")
        self.assertEqual(recipients[0]["Final-Recipient"].lower(), "rfc822; bob@example.test")
        self.assertEqual(recipients[0]["Status"], "5.2.2")
        wait_for(lambda: json.loads(self.w.ok("--json", "queue", "list")) == [], what="the queue to drain")

    def test_unwritable_member_of_an_accepted_alias_is_retried_alone(self):
        bob = os.path.join(self.w.mail_root, "example.test", "bob")
        os.makedirs(os.path.dirname(bob), exist_ok=True)
        with open(bob, "w") as f:
            f.write("in the way")
        self.w.ok("alias", "add", "team", "alice", "bob")
        with self.smtp() as s:
            self.assertEqual(s.sendmail("ann@remote.test", ["team@example.test"], MESSAGE), {})
        self.assertEqual(len(maildir_files(self.w, "alice@example.test")), 1)
        self.assertRegex(self.server.log(), r'not_delivered .*rcpt=team@example\.test mailbox=bob@example\.test reply="451 4\.3\.0 .*then=retry')
        queued = json.loads(self.w.ok("--json", "queue", "list"))
        self.assertEqual([r["address"] for m in queued for r in m["recipients"]], ["\\bob@example.test"])
        os.remove(bob)
        files = wait_for(lambda: maildir_files(self.w, "bob@example.test"), what="bob's retried copy; log:\n" + self.server.log())
        self.assertIn(b"Hello Bob.", self.read(files[0]))
        self.assertEqual(len(maildir_files(self.w, "alice@example.test")), 1)  # the alias is not expanded again
        wait_for(lambda: json.loads(self.w.ok("--json", "queue", "list")) == [], what="the queue to drain")


class BigMessages(ServeTest):
    """docs/architecture.md section 9: a message past 256 KiB waits in a file in the spool's tmp/, not in
    memory, and that file goes on every path."""

    def tmp_files(self):
        return os.listdir(os.path.join(self.w.dir, "state", "spool", "tmp"))

    def test_big_message_is_delivered_whole_and_its_file_removed(self):
        body = b"".join(b"line %d of a big message\r\n" % i for i in range(40000))  # about 1 MB
        message = b"Subject: big\r\n\r\n" + body
        with self.smtp() as s:
            self.assertEqual(s.sendmail("ann@remote.test", ["bob@example.test"], message), {})
        # BDAT too, in three chunks, for a local and a relayed recipient.
        with self.submit() as s:
            self.assertEqual(s.mail("bob@example.test")[0], 250)
            self.assertEqual(s.rcpt("ann@example.test")[0], 250)
            self.assertEqual(s.rcpt("carl@remote.test")[0], 250)
            for n, part in enumerate((message[:300000], message[300000:700000], message[700000:])):
                last = " LAST" if n == 2 else ""
                s.send(b"BDAT %d%s\r\n" % (len(part), last.encode()) + part)
                self.assertEqual(s.getreply()[0], 250)
        for rcpt in ("bob@example.test", "ann@example.test"):
            files = maildir_files(self.w, rcpt)
            self.assertEqual(len(files), 1)
            self.assertTrue(self.read(files[0]).endswith(b"\r\n" + message), rcpt)
        queued = json.loads(self.w.ok("--json", "queue", "list"))
        self.assertEqual([r["address"] for m in queued for r in m["recipients"]], ["carl@remote.test"])
        msg = os.path.join(self.w.dir, "state", "spool", "msg", queued[0]["id"])
        self.assertTrue(self.read(msg).endswith(b"\r\n" + message))
        wait_for(lambda: self.tmp_files() == [], what="the spool's tmp/ to be empty: %s" % self.tmp_files())

    def test_client_vanishing_mid_data_leaves_no_file(self):
        sock = socket.create_connection(("127.0.0.1", self.server.ports["smtp"]), timeout=30)
        f = sock.makefile("rb")
        f.readline()
        sock.sendall(b"EHLO c.test\r\n")
        while not f.readline().startswith(b"250 "):
            pass
        sock.sendall(b"MAIL FROM:<ann@remote.test>\r\nRCPT TO:<bob@example.test>\r\n")
        f.readline()
        f.readline()
        sock.sendall(b"DATA\r\n")
        self.assertTrue(f.readline().startswith(b"354"))
        sock.sendall(b"Subject: cut\r\n\r\n" + b"x" * 998 + b"\r\n" + b"y" * 500000)
        wait_for(lambda: any(n.startswith("body.") for n in self.tmp_files()), what="the spilled text in tmp/")
        f.close()
        sock.close()
        wait_for(lambda: self.tmp_files() == [], what="the spool's tmp/ to be empty: %s" % self.tmp_files())
        self.assertEqual(maildir_files(self.w, "bob@example.test"), [])


class ProgramsAndFiles(ServeTest):
    config = '[delivery]\nallow_programs = true\nallow_files = true\n'

    def setUp(self):
        super().setUp()
        os.chmod(self.w.dir, 0o755)  # programs run as nobody, who must reach the output folder
        self.out = os.path.join(self.w.dir, "out")
        os.mkdir(self.out)
        os.chmod(self.out, 0o777)

    def test_alias_to_a_program_and_a_file(self):
        box = os.path.join(self.out, "archive.mbox")
        seen = os.path.join(self.out, "seen")
        self.w.ok("alias", "add", "archive", box, "|cat > %s" % seen)
        with self.smtp() as s:
            self.assertEqual(s.sendmail("ann@remote.test", ["archive@example.test"], MESSAGE), {})
        self.assertIn(b"Hello Bob.", self.read(seen))
        self.assertTrue(self.read(seen).startswith(b"Return-Path: <ann@remote.test>\r\n"))
        mbox = self.read(box)
        self.assertTrue(mbox.startswith(b"From ann@remote.test "), mbox[:80])
        self.assertIn(b"\n\nHello Bob.\n", mbox)

    def test_failing_program_bounces_at_end_of_data(self):
        self.w.ok("alias", "add", "broken", "|echo no such list; exit 67")
        with self.smtp() as s:
            with self.assertRaises(smtplib.SMTPDataError) as e:
                s.sendmail("ann@remote.test", ["broken@example.test"], MESSAGE)
            self.assertEqual(e.exception.smtp_code, 554)
            self.assertIn(b"no such list", e.exception.smtp_error)


class ProgramsNotAllowed(ServeTest):
    def test_program_alias_is_refused_at_rcpt(self):
        self.w.ok("alias", "add", "runner", "|/bin/true")
        with self.smtp() as s:
            s.ehlo()
            s.mail("ann@remote.test")
            code, text = s.rcpt("runner@example.test")
            self.assertEqual(code, 550)
            self.assertIn(b"5.7.1", text)


class Robustness(ServeTest):
    def test_openssl_s_client_starttls(self):
        if not shutil.which("openssl"):
            self.skipTest("openssl is not installed")
        p = subprocess.run(["openssl", "s_client", "-starttls", "smtp", "-connect",
                            "127.0.0.1:%d" % self.server.ports["submission"], "-quiet", "-verify_quiet"],
                           input=b"EHLO client.test\r\nQUIT\r\n", capture_output=True, timeout=60)
        self.assertIn(b"AUTH PLAIN LOGIN\r\n", p.stdout)
        self.assertNotIn(b"STARTTLS", p.stdout)  # not offered again inside TLS
        self.assertIn(b"221 2.0.0", p.stdout)

    def test_tls_garbage_and_a_client_vanishing_mid_data(self):
        sock = socket.create_connection(("127.0.0.1", self.server.ports["submissions"]), timeout=30)
        sock.sendall(os.urandom(3000))
        try:
            while sock.recv(4096):
                pass
        except (ConnectionResetError, socket.timeout):
            pass
        sock.close()
        sock = socket.create_connection(("127.0.0.1", self.server.ports["smtp"]), timeout=30)
        sock.recv(4096)
        sock.sendall(b"EHLO x\r\nMAIL FROM:<a@remote.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n"
                     b"Subject: cut\r\n\r\nhalf a mess")
        sock.recv(4096)
        sock.close()
        with self.smtp() as s:
            self.assertEqual(s.noop()[0], 250)  # still serving
        self.assertEqual(maildir_files(self.w, "bob@example.test"), [])
        self.assertEqual(maildir_files(self.w, "bob@example.test", "tmp"), [])

    def test_nul_bytes_are_refused_in_data_and_delivered_as_sent_with_binarymime(self):
        # RFC 2045 2.7, 2.8: no NUL in 7bit or 8bit text, so none over DATA (a smuggling probe);
        # only BODY=BINARYMIME with BDAT (RFC 3030) carries it.
        text = b"Subject: nul\r\n\r\na\x00b\r\n"
        with self.smtp() as s:
            with self.assertRaises(smtplib.SMTPDataError) as refused:
                s.sendmail("ann@remote.test", ["bob@example.test"], text)
            self.assertEqual(refused.exception.smtp_code, 550)
            self.assertTrue(refused.exception.smtp_error.startswith(b"5.6.0"), refused.exception.smtp_error)
            self.assertEqual(maildir_files(self.w, "bob@example.test"), [])
            self.assertEqual(s.mail("ann@remote.test", ["BODY=BINARYMIME"])[0], 250)
            self.assertEqual(s.rcpt("bob@example.test")[0], 250)
            s.send(b"BDAT %d LAST\r\n" % len(text) + text)
            self.assertEqual(s.getreply()[0], 250)
        self.assertTrue(self.read(maildir_files(self.w, "bob@example.test")[0]).endswith(text))


def read_replies(sock, count, timeout=30):
    """The next `count` replies (multi-line ones whole) from a raw socket, as lines of text;
    fails when they do not come within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    data = b""
    replies = []
    while len(replies) < count:
        while b"\r\n" not in data:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("want %d replies, got %r" % (count, replies))
            sock.settimeout(left)
            chunk = sock.recv(4096)
            if not chunk:
                raise AssertionError("the server closed the connection after %r" % replies)
            data += chunk
        line, data = data.split(b"\r\n", 1)
        text = line.decode("latin-1")
        if len(text) < 4 or text[3] != "-":
            replies.append(text)
    return replies


def set_smtp_key(world, line):
    """Adds `line` to the [smtp] section of the world's config file (Server writes that
    section itself, and TOML has no second [smtp])."""
    with open(world.config_path) as f:
        text = f.read()
    with open(world.config_path, "w") as f:
        f.write(text.replace("[smtp]\n", "[smtp]\n%s\n" % line, 1))


EIGHT_BIT = b"From: ann@remote.test\r\nSubject: caf\xc3\xa9\r\n\r\nna\xefve \xff\r\n"


class EightBitAndPipelining(ServeTest):
    def test_undeclared_8bit_is_accepted_and_labelled_8bitmime(self):
        with self.smtp() as s:
            s.ehlo()
            self.assertEqual(s.mail("ann@remote.test")[0], 250)  # no BODY=8BITMIME
            self.assertEqual(s.rcpt("bob@example.test")[0], 250)
            self.assertEqual(s.data(EIGHT_BIT)[0], 250)
        data = self.read(maildir_files(self.w, "bob@example.test")[0])
        self.assertTrue(data.endswith(EIGHT_BIT), data)  # stored as sent
        self.assertRegex(self.server.log(), r"delivered .*mailbox=bob@example.test .*undeclared_8bit=yes")
        # Relayed: the spooled envelope says 8BITMIME, so the relay declares it.
        with self.smtp("submission") as s:
            s.login("bob@example.test", "secret")  # loopback: AUTH without TLS
            s.mail("bob@example.test")
            s.rcpt("friend@remote.test")
            self.assertEqual(s.data(EIGHT_BIT)[0], 250)
        env = os.path.join(self.w.dir, "state", "spool", "env")
        names = os.listdir(env)
        self.assertEqual(len(names), 1)
        with open(os.path.join(env, names[0])) as f:
            self.assertIn("body 8BITMIME\n", f.read())
        self.assertRegex(self.server.log(), r"queued .*to=friend@remote.test .*undeclared_8bit=yes")

    def test_declared_and_7bit_messages_are_not_marked(self):
        with self.smtp() as s:
            s.sendmail("ann@remote.test", ["bob@example.test"], MESSAGE)
            s.sendmail("ann@remote.test", ["bob@example.test"], EIGHT_BIT, mail_options=["BODY=8BITMIME"])
        self.assertEqual(len(maildir_files(self.w, "bob@example.test")), 2)
        self.assertNotIn("undeclared_8bit=yes", self.server.log())
        self.assertEqual(self.server.log().count("undeclared_8bit=no"), 2)

    def test_helo_client_that_pipelines_gets_503_and_goes_on(self):
        # Two commands in one write: the server reads them together (raw socket, loopback).
        with socket.create_connection(("127.0.0.1", self.server.ports["smtp"]), timeout=30) as sock:
            self.assertTrue(read_replies(sock, 1)[0].startswith("220 "))
            sock.sendall(b"HELO client.test\r\nMAIL FROM:<ann@remote.test>\r\n")
            helo, mail = read_replies(sock, 2)
            self.assertTrue(helo.startswith("250 "), helo)
            self.assertTrue(mail.startswith("503 5.5.0 "), mail)
            for command, want in ((b"MAIL FROM:<ann@remote.test>", "250 "), (b"RCPT TO:<bob@example.test>", "250 "),
                                  (b"DATA", "354 "), (b"Subject: one by one\r\n\r\nfine\r\n.", "250 "), (b"QUIT", "221 ")):
                sock.sendall(command + b"\r\n")
                reply = read_replies(sock, 1)[0]
                self.assertTrue(reply.startswith(want), (command, reply))
        self.assertEqual(len(maildir_files(self.w, "bob@example.test")), 1)
        self.assertRegex(self.server.log(), r"improper_pipelining .*after=HELO pipelining=no")

    def test_text_before_the_354_is_never_delivered(self):
        with socket.create_connection(("127.0.0.1", self.server.ports["smtp"]), timeout=30) as sock:
            read_replies(sock, 1)
            sock.sendall(b"EHLO client.test\r\n")
            self.assertTrue(read_replies(sock, 1)[0].startswith("250 "))
            sock.sendall(b"MAIL FROM:<ann@remote.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n"
                         b"Subject: early\r\n\r\ntoo early\r\n.\r\nNOOP\r\n")
            replies = read_replies(sock, 5)
            self.assertEqual([r[:9] for r in replies], ["250 2.1.0", "250 2.1.5", "354 End d", "503 5.5.0", "250 2.0.0"],
                             replies)
            sock.sendall(b"QUIT\r\n")
            self.assertTrue(read_replies(sock, 1)[0].startswith("221 "))
        self.assertEqual(maildir_files(self.w, "bob@example.test"), [])
        self.assertEqual(maildir_files(self.w, "bob@example.test", "tmp"), [])
        self.assertRegex(self.server.log(), r"improper_pipelining .*after=DATA pipelining=yes")


class Strict8BitMime(ServeTest):
    def setUp(self):
        require_binary(self)
        self.w = seeded_world()
        self.server = Server(self.w)
        set_smtp_key(self.w, "strict_8bitmime = true")
        self.server.start()

    def test_undeclared_8bit_is_refused_and_declared_is_taken(self):
        self.assertIn("strict_8bitmime = true", self.w.ok("config", "show"))
        with self.smtp() as s:
            with self.assertRaises(smtplib.SMTPDataError) as e:
                s.sendmail("ann@remote.test", ["bob@example.test"], EIGHT_BIT)
            self.assertEqual(e.exception.smtp_code, 554)
            self.assertIn(b"5.6.0", e.exception.smtp_error)
            self.assertEqual(maildir_files(self.w, "bob@example.test"), [])
            self.assertEqual(s.sendmail("ann@remote.test", ["bob@example.test"], EIGHT_BIT, mail_options=["BODY=8BITMIME"]), {})
            self.assertEqual(s.sendmail("ann@remote.test", ["bob@example.test"], MESSAGE), {})  # 7-bit
        self.assertEqual(len(maildir_files(self.w, "bob@example.test")), 2)
        self.assertEqual(maildir_files(self.w, "bob@example.test", "tmp"), [])


class DiskFull(unittest.TestCase):
    """The Maildirs and the spool on a 2 MB tmpfs, filled up: 452 4.3.1, nothing lost."""

    def setUp(self):
        require_binary(self)
        if os.geteuid() != 0:
            self.skipTest("needs root to mount a tmpfs")
        self.w = World()
        self.addCleanup(self.w.close)
        self.small = os.path.join(self.w.dir, "small")
        os.mkdir(self.small)
        p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0755", "tmpfs", self.small],
                           capture_output=True, text=True)
        if p.returncode != 0:
            self.skipTest("cannot mount a tmpfs here: " + (p.stderr.strip() or "mount exited %d" % p.returncode))
        self.addCleanup(subprocess.run, ["umount", "-l", self.small], capture_output=True)
        self.w.mail_root = os.path.join(self.small, "mail")
        self.spool = os.path.join(self.small, "spool")
        # Server's name server never answers (server.NO_DNS): friend@remote.test's message stays queued.
        self.server = Server(self.w)
        with open(self.w.config_path) as f:
            text = f.read()
        with open(self.w.config_path, "w") as f:
            f.write(text.replace('mail_root = "%s"\n' % self.w.mail_root,
                                 'mail_root = "%s"\nspool_dir = "%s"\n' % (self.w.mail_root, self.spool), 1))
        self.w.ok("domain", "add", "example.test")
        for user in ("bob", "ann"):
            self.w.ok("user", "add", "%s@example.test" % user, "--password-hash", HASH)
        self.server.start()
        self.addCleanup(self.server.kill)  # runs before the umount

    def fill(self):
        path = os.path.join(self.small, "filler")
        with open(path, "wb") as f:
            try:
                for _ in range(1000):  # 64 MB at most: far more than the 2 MB there are
                    f.write(b"\0" * 65536)
                    f.flush()
                self.fail("the tmpfs never filled up")
            except OSError as e:
                self.assertEqual(e.errno, errno.ENOSPC, e)
        return path

    def folder(self, *parts):
        path = os.path.join(*parts)
        return sorted(os.listdir(path)) if os.path.isdir(path) else []

    def send(self, listener, sender, rcpt, message, options=()):
        """(code, text) of the final reply for one message."""
        s = smtplib.SMTP("127.0.0.1", self.server.ports[listener], local_hostname="client.test", timeout=30)
        try:
            s.ehlo()
            if listener == "submission":
                s.login("bob@example.test", "secret")  # loopback: AUTH without TLS
            code, text = s.mail(sender, list(options))
            if code != 250:
                return code, text
            s.rcpt(rcpt)
            return s.data(message)
        except smtplib.SMTPDataError as e:
            return e.smtp_code, e.smtp_error
        finally:
            s.close()

    def test_full_disk_gets_452_and_loses_nothing(self):
        big = MESSAGE + b"x" * 100000 + b"\r\n"
        self.assertEqual(self.send("smtp", "ann@remote.test", "bob@example.test", big)[0], 250)
        self.assertEqual(self.send("submission", "bob@example.test", "friend@remote.test", big)[0], 250)
        first = maildir_files(self.w, "bob@example.test")
        self.assertEqual(len(first), 1)
        first_bytes = self.read(first[0])
        spooled = self.folder(self.spool, "msg")
        self.assertEqual(len(spooled), 1)
        spooled_bytes = self.read(os.path.join(self.spool, "msg", spooled[0]))
        envelopes = self.folder(self.spool, "env")

        filler = self.fill()
        cases = [
            ("declared size, at MAIL", "smtp", "ann@remote.test", "bob@example.test", ["SIZE=%d" % len(big)]),
            ("local mailbox, at the end of the data", "smtp", "ann@remote.test", "bob@example.test", []),
            ("spool, at the end of the data", "submission", "bob@example.test", "friend@remote.test", []),
        ]
        for name, listener, sender, rcpt, options in cases:
            with self.subTest(name):
                code, text = self.send(listener, sender, rcpt, big, options)
                self.assertEqual(code, 452, text)
                self.assertTrue(text.startswith(b"4.3.1"), text)
        self.assertIn("kind=no_space", self.server.log())

        # Still serving; what was acknowledged is intact; nothing partial anywhere.
        with smtplib.SMTP("127.0.0.1", self.server.ports["smtp"], timeout=30) as s:
            self.assertEqual(s.noop()[0], 250)
        self.assertEqual(maildir_files(self.w, "bob@example.test"), first)
        self.assertEqual(self.read(first[0]), first_bytes)
        for folder in ("cur", "tmp"):
            self.assertEqual(maildir_files(self.w, "bob@example.test", folder), [], folder)
        self.assertEqual(self.folder(self.spool, "msg"), spooled)
        self.assertEqual(self.read(os.path.join(self.spool, "msg", spooled[0])), spooled_bytes)
        self.assertEqual(self.folder(self.spool, "env"), envelopes)
        self.assertEqual(self.folder(self.spool, "tmp"), [])

        # Room again: the same sends succeed.
        os.unlink(filler)
        for name, listener, sender, rcpt, options in cases:
            with self.subTest(name + ", with room"):
                self.assertEqual(self.send(listener, sender, rcpt, big, options)[0], 250)
        self.assertEqual(len(maildir_files(self.w, "bob@example.test")), 3)
        self.assertEqual(len(self.folder(self.spool, "env")), 2)

    def read(self, path):
        with open(path, "rb") as f:
            return f.read()


class Lifecycle(unittest.TestCase):
    def setUp(self):
        require_binary(self)
        self.w = seeded_world()

    def tearDown(self):
        self.w.close()

    def test_sigterm_stops_cleanly_and_a_restart_serves_again(self):
        server = Server(self.w).start()
        try:
            cert = os.path.join(self.w.dir, "state", "tls", "key.pem")
            self.assertEqual(os.stat(cert).st_mode & 0o777, 0o600)
            with smtplib.SMTP("127.0.0.1", server.ports["smtp"], timeout=30) as s:
                s.ehlo()
            self.assertEqual(server.stop(), 0)
            self.assertIn("stopped", server.log())
            server = Server(self.w).start()  # same certificate, same store
            with smtplib.SMTP("127.0.0.1", server.ports["smtp"], timeout=30) as s:
                self.assertEqual(s.noop()[0], 250)
            self.assertEqual(server.stop(), 0)
        finally:
            server.kill()

    def test_sigterm_waits_for_a_transaction_in_flight(self):
        server = Server(self.w).start()
        try:
            s = smtplib.SMTP("127.0.0.1", server.ports["smtp"], timeout=30)
            s.ehlo()
            s.mail("ann@remote.test")
            s.rcpt("bob@example.test")
            s.docmd("DATA")
            s.send(b"Subject: in flight\r\n\r\n")
            server.proc.send_signal(signal.SIGTERM)  # the open transaction must still complete
            s.send(b"the end\r\n.\r\n")
            code, _ = s.getreply()
            self.assertEqual(code, 250)
            s.close()
            self.assertEqual(server.proc.wait(timeout=30), 0)
            self.assertEqual(len(maildir_files(self.w, "bob@example.test")), 1)
        finally:
            server.kill()

    def test_crash_during_data_leaves_no_partial_message(self):
        server = Server(self.w).start()
        try:
            s = smtplib.SMTP("127.0.0.1", server.ports["smtp"], timeout=30)
            s.sendmail("ann@remote.test", ["bob@example.test"], MESSAGE)  # acknowledged: must survive
            s.mail("ann@remote.test")
            s.rcpt("bob@example.test")
            s.docmd("DATA")
            s.send(b"Subject: cut\r\n\r\n" + b"z" * 100000)
            server.proc.kill()
            server.proc.wait(timeout=10)
            s.close()
        finally:
            server.kill()
        files = maildir_files(self.w, "bob@example.test")
        self.assertEqual(len(files), 1)
        with open(files[0], "rb") as f:
            self.assertIn(b"Hello Bob.", f.read())

    def test_sighup_reloads_the_configuration(self):
        server = Server(self.w, '[limits]\nmax_message_size = "1M"\n').start()
        try:
            with smtplib.SMTP("127.0.0.1", server.ports["smtp"], timeout=30) as s:
                s.ehlo()
                self.assertEqual(s.esmtp_features.get("size"), str(1 << 20))
                with open(self.w.config_path) as f:
                    text = f.read()
                with open(self.w.config_path, "w") as f:
                    f.write(text.replace('max_message_size = "1M"', 'max_message_size = "2M"'))
                server.proc.send_signal(signal.SIGHUP)
                deadline = time.monotonic() + 30
                while "reloaded" not in server.log() and time.monotonic() < deadline:
                    time.sleep(0.01)  # the server's own log line says when it is done
                self.assertIn("reloaded", server.log())
                self.assertEqual(s.noop()[0], 250)  # this connection was not dropped
            with smtplib.SMTP("127.0.0.1", server.ports["smtp"], timeout=30) as s:
                s.ehlo()
                self.assertEqual(s.esmtp_features.get("size"), str(2 << 20))
            self.assertEqual(server.stop(), 0)
        finally:
            server.kill()

    def test_root_drops_to_the_server_user(self):
        if os.geteuid() != 0:
            self.skipTest("needs root")
        os.chmod(self.w.dir, 0o755)  # nobody must reach the state folder and the Maildirs
        server = Server(self.w, "")
        with open(self.w.config_path) as f:
            text = f.read()
        with open(self.w.config_path, "w") as f:
            f.write(text.replace('user = ""', 'user = "nobody"'))
        server.start()
        try:
            with open("/proc/%d/status" % server.proc.pid) as f:
                uid_line = [line for line in f if line.startswith("Uid:")][0]
            self.assertEqual(uid_line.split()[1:], ["65534"] * 4)
            with smtplib.SMTP("127.0.0.1", server.ports["smtp"], timeout=30) as s:
                s.sendmail("ann@remote.test", ["bob@example.test"], MESSAGE)
            files = maildir_files(self.w, "bob@example.test")
            self.assertEqual(len(files), 1)
            self.assertEqual(os.stat(files[0]).st_uid, 65534)
            self.assertEqual(server.stop(), 0)
        finally:
            server.kill()

    def test_sigkill_under_load_loses_no_acknowledged_message(self):
        import threading
        server = Server(self.w).start()
        acked = []
        lock = threading.Lock()
        stop = threading.Event()

        def client(n):
            try:
                with smtplib.SMTP("127.0.0.1", server.ports["smtp"], timeout=30) as s:
                    for i in range(200):
                        if stop.is_set():
                            return
                        mid = "<%d.%d@load.test>" % (n, i)
                        msg = b"Message-ID: " + mid.encode() + b"\r\nSubject: load\r\n\r\n" + b"x" * 2000 + b"\r\n"
                        s.sendmail("ann@remote.test", ["bob@example.test"], msg)
                        with lock:
                            acked.append(mid)
            except (smtplib.SMTPException, OSError):
                pass  # the server died under us: what was acknowledged must be there

        threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with lock:
                if len(acked) >= 60:
                    break
            time.sleep(0.005)  # polling the test's own counter, not waiting for the server
        server.proc.kill()
        server.proc.wait(timeout=10)
        stop.set()
        for t in threads:
            t.join(timeout=60)
        server.kill()
        with lock:
            ids = list(acked)
        self.assertGreaterEqual(len(ids), 60)
        counts = {}
        for path in maildir_files(self.w, "bob@example.test"):
            with open(path, "rb") as f:
                data = f.read()
            size = int(path.rsplit(",S=", 1)[1].split(",", 1)[0])
            self.assertEqual(size, len(data), path)  # never a partial file
            mid = data.split(b"Message-ID: ", 1)[1].split(b"\r\n", 1)[0].decode()
            counts[mid] = counts.get(mid, 0) + 1
        for mid in ids:
            self.assertEqual(counts.get(mid), 1, "%s acknowledged but stored %s times" % (mid, counts.get(mid, 0)))

    def test_unusable_listen_address_is_a_clear_error(self):
        blocker = socket.socket()
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        port = blocker.getsockname()[1]
        try:
            self.w.write_config('[server]\nuser = ""\n[smtp]\nlisten = ["127.0.0.1:%d"]\n'
                                '[submission]\nlisten = []\n[submissions]\nlisten = []\n' % port)
            p = subprocess.run([BIN, "--config", self.w.config_path, "--db", self.w.db, "serve", "--foreground"],
                               capture_output=True, text=True, timeout=60, env=self.w.env())
            self.assertEqual(p.returncode, 75, p.stderr)
            self.assertIn("127.0.0.1:%d" % port, p.stderr)
        finally:
            blocker.close()


if __name__ == "__main__":
    unittest.main()
