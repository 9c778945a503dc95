#!/usr/bin/env python3
"""Outbound delivery end to end: two real `vpsmail serve` instances on loopback (a sender for
example.test and a receiver for remote.test) and dnsmasq serving their MX records. Mail to
remote users leaves through the queue, MX lookup and an SMTP client with opportunistic
STARTTLS; unknown users, unknown domains, expiry and admin bounces come back as RFC 3464 DSNs
(parsed back with Python's email package); the queue commands work with and without a running
server; a SIGKILL while the queue drains loses nothing; a damaged spool file is quarantined."""

import email
import email.policy
import json
import os
import signal
import smtplib
import ssl
import subprocess
import unittest

from dnsmasq import Dnsmasq
from harness import BIN, HASH, World, require_binary
from server import Server, free_port, maildir_files, wait_for
from test_outbound import FakeSmtp


def tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def message(subject, to="carol@remote.test", sender="ann@example.test", extra=b""):
    return (("From: Ann <%s>\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s@example.test>\r\n" % (sender, to, subject, subject))
            .encode() + extra + b"\r\nHello.\r\n")


class Pair(unittest.TestCase):
    """A sender (example.test: ann, bob) and a receiver (remote.test: carol), each on fixed
    loopback ports so either can restart, and dnsmasq with MX records for both domains."""

    sender_config = ""
    receiver_config = ""
    sender_queue = 'retry_min = "1s"\nretry_max = "2s"\n'  # the sender's [queue] keys
    sender_smtp = ""  # the sender's [smtp] keys

    def setUp(self):
        require_binary(self)
        self.s_ports = {name: free_port() for name in ("smtp", "submission", "submissions")}
        self.r_ports = {name: free_port() for name in ("smtp", "submission", "submissions")}
        self.dns = Dnsmasq({"remote.test": [(10, "mx.remote.test")], "example.test": [(10, "mx.example.test")]},
                           {"mx.remote.test": "127.0.0.1", "mx.example.test": "127.0.0.1"})
        self.addCleanup(self.dns.stop)
        self.sw = World()
        self.addCleanup(self.sw.close)
        self.sw.ok("domain", "add", "example.test")
        for user in ("ann", "bob"):
            self.sw.ok("user", "add", "%s@example.test" % user, "--password-hash", HASH)
        self.rw = World()
        self.addCleanup(self.rw.close)
        self.rw.ok("domain", "add", "remote.test")
        self.rw.ok("user", "add", "carol@remote.test", "--password-hash", HASH)
        dns = '[dns]\nservers = ["%s"]\ntimeout = "1s"\n' % self.dns.server()
        outbound = '[outbound]\nport = %d\nconnect_timeout = "5s"\ncommand_timeout = "10s"\ndata_timeout = "10s"\n'
        self.sender = Server(self.sw, outbound % self.r_ports["smtp"] + dns + "[queue]\n" + self.sender_queue +
                             self.sender_config, self.s_ports, hostname="mx.example.test", smtp_config=self.sender_smtp)
        self.receiver = Server(self.rw, outbound % self.s_ports["smtp"] + dns + '[queue]\nretry_min = "1s"\nretry_max = "2s"\n' +
                               self.receiver_config, self.r_ports, hostname="mx.remote.test")
        self.addCleanup(self.sender.kill)
        self.addCleanup(self.receiver.kill)
        self.receiver.start()
        self.sender.start()

    def tearDown(self):
        if os.environ.get("VPSMAIL_SHOW_LOG"):
            print("--- sender\n" + self.sender.log() + "--- receiver\n" + self.receiver.log())

    def submit(self, data, to=("carol@remote.test",), mail_options=(), rcpt_options=(), user="ann@example.test"):
        with smtplib.SMTP("127.0.0.1", self.s_ports["submission"], local_hostname="client.test", timeout=30) as s:
            s.starttls(context=tls_context())
            s.login(user, "secret")
            s.sendmail(user, list(to), data, mail_options=list(mail_options), rcpt_options=list(rcpt_options))

    def queue(self, world=None):
        return json.loads((world or self.sw).ok("--json", "queue", "list"))

    def wait_mail(self, world, address, count=1, what=None):
        return wait_for(lambda: len(maildir_files(world, address)) >= count and maildir_files(world, address),
                        what=what or "%d message(s) for %s" % (count, address))

    def dsn_for(self, world, address, count=1):
        files = self.wait_mail(world, address, count, "a DSN for " + address)
        with open(files[count - 1], "rb") as f:
            return email.message_from_bytes(f.read(), policy=email.policy.compat32)

    def wait_queue_empty(self):
        wait_for(lambda: self.queue() == [], what="the sender's queue to drain; log:\n" + self.sender.log()[-3000:])


def delivery_status(dsn):
    """(per-message fields, [per-recipient fields]) of a multipart/report DSN."""
    assert dsn.get_content_type() == "multipart/report", dsn.get_content_type()
    assert dsn.get_param("report-type") == "delivery-status"
    parts = dsn.get_payload()
    status = [p for p in parts if p.get_content_type() == "message/delivery-status"]
    assert len(status) == 1, [p.get_content_type() for p in parts]
    groups = status[0].get_payload()  # compat32 parses the field groups as messages
    return groups[0], groups[1:]


class DeliveryTest(Pair):
    def test_mail_to_a_remote_user_leaves_by_mx_with_starttls(self):
        self.submit(message("first"))
        files = self.wait_mail(self.rw, "carol@remote.test")
        with open(files[0], "rb") as f:
            text = f.read()
        self.assertIn(b"Subject: first", text)
        self.assertIn(b"Return-Path: <ann@example.test>", text)
        # The receiver's Received header names the sender's EHLO and says TLS was used.
        self.assertRegex(text, rb"Received: from mx\.example\.test \(.*\)\r\n\s+by mx\.remote\.test with ESMTPS")
        self.wait_queue_empty()
        self.assertRegex(self.sender.log(), r"outbound_connect .*tls=TLSv1\.[23]")

    def test_many_messages_share_few_connections(self):
        with smtplib.SMTP("127.0.0.1", self.s_ports["submission"], local_hostname="client.test", timeout=30) as s:
            s.starttls(context=tls_context())
            s.login("ann@example.test", "secret")
            for n in range(30):
                s.sendmail("ann@example.test", ["carol@remote.test"], message("m%d" % n))
        self.wait_mail(self.rw, "carol@remote.test", 30)
        self.wait_queue_empty()
        connections = self.receiver.log().count(" connect ")
        self.assertLess(connections, 30, "every message took its own connection")

    def test_an_unknown_remote_user_bounces_with_a_dsn(self):
        self.submit(message("lost", to="nobody@remote.test"), to=("nobody@remote.test",),
                    mail_options=("RET=HDRS", "ENVID=env-42"), rcpt_options=("NOTIFY=FAILURE", "ORCPT=rfc822;Nobody@remote.test"))
        dsn = self.dsn_for(self.sw, "ann@example.test")
        self.assertEqual(dsn["Auto-Submitted"], "auto-replied")
        self.assertIn("MAILER-DAEMON@mx.example.test", dsn["From"])
        fields, recipients = delivery_status(dsn)
        self.assertEqual(fields["Reporting-MTA"], "dns; mx.example.test")
        self.assertEqual(fields["Original-Envelope-Id"], "env-42")
        self.assertEqual(len(recipients), 1)
        r = recipients[0]
        self.assertEqual(r["Final-Recipient"], "rfc822; nobody@remote.test")
        self.assertEqual(r["Original-Recipient"], "rfc822; Nobody@remote.test")
        self.assertEqual(r["Action"], "failed")
        self.assertEqual(r["Status"], "5.1.1")
        self.assertTrue(r["Diagnostic-Code"].startswith("smtp; 550 5.1.1"), r["Diagnostic-Code"])
        self.assertEqual(r["Remote-MTA"], "dns; mx.remote.test")
        # RET=HDRS: the original's headers only.
        original = dsn.get_payload()[-1]
        self.assertEqual(original.get_content_type(), "text/rfc822-headers")
        self.assertIn("Subject: lost", original.get_payload())
        self.assertNotIn("Hello.", original.get_payload())
        # A DSN has the null sender: no bounce about a bounce.
        with open(maildir_files(self.sw, "ann@example.test")[0], "rb") as f:
            self.assertTrue(f.read().startswith(b"Return-Path: <>\r\n"))
        self.wait_queue_empty()

    def test_notify_never_gets_no_dsn(self):
        self.submit(message("quiet", to="nobody@remote.test"), to=("nobody@remote.test", "carol@remote.test"),
                    rcpt_options=("NOTIFY=NEVER",))
        self.wait_mail(self.rw, "carol@remote.test")
        self.wait_queue_empty()
        self.assertEqual(maildir_files(self.sw, "ann@example.test"), [])

    def test_a_domain_that_does_not_exist_bounces_at_once(self):
        self.submit(message("nx", to="x@nowhere.test"), to=("x@nowhere.test",))
        dsn = self.dsn_for(self.sw, "ann@example.test")
        _, recipients = delivery_status(dsn)
        self.assertEqual(recipients[0]["Status"], "5.1.2")
        self.assertEqual(recipients[0]["Action"], "failed")
        # RET absent: the whole original comes back.
        self.assertEqual(dsn.get_payload()[-1].get_content_type(), "message/rfc822")

    def test_notify_success_is_reported_by_the_final_server(self):
        self.submit(message("receipt"), rcpt_options=("NOTIFY=SUCCESS",))
        self.wait_mail(self.rw, "carol@remote.test")
        # The receiver offers DSN, so it, not the sender, reports the delivery.
        dsn = self.dsn_for(self.sw, "ann@example.test")
        fields, recipients = delivery_status(dsn)
        self.assertEqual(fields["Reporting-MTA"], "dns; mx.remote.test")
        self.assertEqual(recipients[0]["Action"], "delivered")
        self.assertEqual(recipients[0]["Status"], "2.0.0")


class BinaryMimeTest(Pair):
    """BODY=BINARYMIME mail (which only BDAT carries, RFC 3030) leaves with BDAT, byte for byte,
    to a next hop that offers BINARYMIME and CHUNKING, and bounces with a 5.6.3 DSN from one
    that does not: never over DATA labelled 8BITMIME."""

    BODY = b"\x00\xff binary\r.\r\n.\r\nbare LF\nbare CR\r end"

    def submit_binary(self):
        data = message("binary") + self.BODY
        with smtplib.SMTP("127.0.0.1", self.s_ports["submission"], local_hostname="client.test", timeout=30) as s:
            s.starttls(context=tls_context())
            s.login("ann@example.test", "secret")
            self.assertEqual(s.mail("ann@example.test", ["BODY=BINARYMIME"])[0], 250)
            self.assertEqual(s.rcpt("carol@remote.test")[0], 250)
            s.send(b"BDAT %d LAST\r\n" % len(data) + data)
            code, text = s.getreply()
            self.assertEqual(code, 250, text)
        return data

    def test_binarymime_reaches_a_hop_that_offers_it_byte_for_byte(self):
        data = self.submit_binary()
        files = self.wait_mail(self.rw, "carol@remote.test")
        with open(files[0], "rb") as f:
            text = f.read()
        self.assertTrue(text.endswith(data), text)
        self.wait_queue_empty()

    def test_binarymime_to_a_hop_without_it_bounces_with_5_6_3(self):
        self.assertEqual(self.receiver.stop(), 0)
        hop = FakeSmtp(port=self.r_ports["smtp"])  # PIPELINING 8BITMIME SIZE: no BINARYMIME, no CHUNKING
        self.addCleanup(hop.close)
        self.submit_binary()
        dsn = self.dsn_for(self.sw, "ann@example.test")
        _, recipients = delivery_status(dsn)
        self.assertEqual(recipients[0]["Final-Recipient"], "rfc822; carol@remote.test")
        self.assertEqual(recipients[0]["Action"], "failed")
        self.assertEqual(recipients[0]["Status"], "5.6.3")
        self.wait_queue_empty()
        self.assertEqual(hop.transactions, [])


class DeferTest(Pair):
    def test_a_down_receiver_defers_and_flush_delivers_after_it_returns(self):
        self.receiver.stop()
        self.submit(message("later"))
        entry = wait_for(lambda: [m for m in self.queue() if m["recipients"][0]["state"] == "deferred"],
                         what="a deferred recipient")[0]
        self.assertIn("4.4.1", entry["recipients"][0]["last_error"])
        self.sw.ok("queue", "hold", entry["id"])
        shown = json.loads(self.sw.ok("--json", "queue", "show", entry["id"]))
        self.assertTrue(shown["held"])
        self.assertIn("Subject: later", shown["headers"])
        self.assertGreaterEqual(len(shown["recipients"][0]["history"]), 1)
        self.receiver.start()
        self.sw.ok("queue", "release", entry["id"])
        self.sw.ok("queue", "flush")
        self.wait_mail(self.rw, "carol@remote.test")
        self.wait_queue_empty()

    def test_queue_commands_act_on_the_spool_without_a_server(self):
        self.receiver.stop()
        self.submit(message("one"))
        self.submit(message("two"))
        wait_for(lambda: len([m for m in self.queue() if m["recipients"][0]["attempts"] >= 1]) == 2, what="two tried")
        self.assertEqual(self.sender.stop(), 0)
        ids = [m["id"] for m in self.queue()]
        self.sw.ok("queue", "hold", ids[0])
        self.assertTrue(self.queue()[0]["held"])
        self.sw.ok("queue", "delete", ids[1])
        self.assertEqual([m["id"] for m in self.queue()], [ids[0]])
        rc, _, err = self.sw.run("queue", "hold", "0123456789abcdef")
        self.assertEqual(rc, 66, err)  # not_found: EX_NOINPUT
        self.assertIn("0123456789abcdef", err)
        rc, _, err = self.sw.run("queue", "delete", "../etc")
        self.assertEqual(rc, 65, err)
        self.sw.ok("queue", "bounce", ids[0], "--reason", "no longer wanted")
        # The bounce goes out when the server starts again.
        self.sender.start()
        dsn = self.dsn_for(self.sw, "ann@example.test")
        _, recipients = delivery_status(dsn)
        self.assertEqual(recipients[0]["Action"], "failed")
        self.assertIn("no longer wanted", dsn.get_payload()[0].get_payload())
        self.wait_queue_empty()

    def test_bounce_through_the_running_server(self):
        self.receiver.stop()
        self.submit(message("give up"))
        entry = wait_for(lambda: self.queue(), what="a queued message")[0]
        self.sw.ok("queue", "bounce", entry["id"])
        dsn = self.dsn_for(self.sw, "ann@example.test")
        self.assertEqual(delivery_status(dsn)[1][0]["Action"], "failed")
        self.wait_queue_empty()


class NudgeTest(Pair):
    sender_queue = 'retry_min = "1h"\nretry_max = "2h"\n'

    def test_sendmail_calls_do_not_raise_a_deferred_messages_attempts(self):
        self.receiver.stop()
        self.submit(message("old"))
        old = wait_for(lambda: [m for m in self.queue() if m["recipients"][0]["state"] == "deferred"],
                       what="a deferred recipient")[0]
        self.assertEqual(old["recipients"][0]["attempts"], 1)
        # Four sendmail calls in a row, each queueing a message for the same destination.
        for i in range(4):
            p = subprocess.run([BIN, "--config", self.sw.config_path, "--db", self.sw.db, "sendmail", "-f", "ann@example.test",
                                "carol@remote.test"], input=b"Subject: new %d\n\nhi\n" % i, capture_output=True,
                               env=self.sw.env(), timeout=60)
            self.assertEqual((p.returncode, p.stderr), (0, b""))
        # The server looked at once: every new message was tried (over the same connections
        # that would have taken the old one, had it been due).
        wait_for(lambda: len([m for m in self.queue() if m["id"] != old["id"] and m["recipients"][0]["attempts"] >= 1]) == 4,
                 what="the new messages tried")
        now = [m for m in self.queue() if m["id"] == old["id"]][0]["recipients"][0]
        self.assertEqual(now["attempts"], 1, "a sendmail call is no flush")
        self.assertEqual(now["next_attempt"], old["recipients"][0]["next_attempt"])
        # The admin's flush tries it now, and counts that one try.
        self.sw.ok("queue", "flush")
        wait_for(lambda: [m for m in self.queue() if m["id"] == old["id"]][0]["recipients"][0]["attempts"] == 2,
                 what="the flushed try")
        self.assertEqual([m for m in self.queue() if m["id"] == old["id"]][0]["recipients"][0]["attempts"], 2)


class ExpiryTest(Pair):
    # Warn after 1 s, give up after 3 s.
    sender_queue = 'retry_min = "1s"\nretry_max = "1s"\nwarn_after = "1s"\nmax_age = "3s"\n'

    def test_expired_messages_bounce_after_a_delay_warning(self):
        self.receiver.stop()
        self.submit(message("old"))
        delay = self.dsn_for(self.sw, "ann@example.test", 1)
        _, recipients = delivery_status(delay)
        self.assertEqual(recipients[0]["Action"], "delayed")
        self.assertIn("Will-Retry-Until", recipients[0])
        failure = self.dsn_for(self.sw, "ann@example.test", 2)
        _, recipients = delivery_status(failure)
        self.assertEqual(recipients[0]["Action"], "failed")
        self.assertEqual(recipients[0]["Status"], "4.4.7")
        self.wait_queue_empty()


class CrashTest(Pair):
    sender_queue = Pair.sender_queue + "max_per_destination = 2\n"

    def test_sigkill_while_the_queue_drains_loses_nothing(self):
        self.receiver.stop()
        count = 120
        with smtplib.SMTP("127.0.0.1", self.s_ports["submission"], local_hostname="client.test", timeout=30) as s:
            s.starttls(context=tls_context())
            s.login("ann@example.test", "secret")
            for n in range(count):
                s.sendmail("ann@example.test", ["carol@remote.test"], message("c%03d" % n))
        self.receiver.start()
        self.sw.ok("queue", "flush")
        wait_for(lambda: len(maildir_files(self.rw, "carol@remote.test")) >= count // 4, what="a quarter delivered")
        self.sender.proc.send_signal(signal.SIGKILL)
        self.sender.proc.wait(timeout=10)
        self.sender.kill()
        self.sender.start()
        self.sw.ok("queue", "flush")
        self.wait_queue_empty()
        seen = {}
        for path in maildir_files(self.rw, "carol@remote.test"):
            with open(path, "rb") as f:
                text = f.read()
            self.assertTrue(text.endswith(b"Hello.\r\n"), path)
            subject = [l for l in text.split(b"\r\n") if l.startswith(b"Subject: ")][0]
            seen[subject] = seen.get(subject, 0) + 1
        self.assertEqual(len(seen), count, "a message was lost")
        # RFC 5321 6.1: a message whose end was sent but whose reply the kill cut off is sent
        # again; at most one per open connection.
        duplicates = sum(n - 1 for n in seen.values())
        self.assertLessEqual(duplicates, 2, seen)


class DamagedSpoolTest(Pair):
    def test_a_damaged_spool_entry_is_quarantined_and_the_server_runs_on(self):
        self.assertEqual(self.sender.stop(), 0)
        spool = os.path.join(self.sw.dir, "state", "spool")
        with open(os.path.join(spool, "env", "00000000000000000000000000000bad"), "w") as f:
            f.write("vpsmail-envelope 2\ngarbage here\n")
        self.sender.start()
        wait_for(lambda: "spool_quarantine" in self.sender.log(), what="the quarantine log line")
        self.assertTrue(os.listdir(os.path.join(spool, "corrupt")))
        self.submit(message("after"))
        self.wait_mail(self.rw, "carol@remote.test")


class RelayHostTest(Pair):
    """The sender hands everything to the receiver's submission port as a smart host, with
    AUTH over STARTTLS as carol, who may send only as herself: the message comes into the
    sender from a trusted network (loopback) with carol's address as its sender."""

    sender_smtp = 'trusted_networks = ["127.0.0.0/8"]\n'

    def setUp(self):
        super().setUp()
        self.assertEqual(self.sender.stop(), 0)
        password = os.path.join(self.sw.dir, "relay-password")
        with open(password, "w") as f:
            f.write("secret\n")
        os.chmod(password, 0o600)
        self.relay_config = ('[relay]\nhost = "127.0.0.1:%d"\nusername = "carol@remote.test"\npassword_file = "%s"\n'
                             % (self.r_ports["submission"], password))

    def restart_sender(self, extra):
        with open(self.sw.config_path, "a") as f:
            f.write(self.relay_config + extra)
        self.sender.start()

    def relay(self, subject):
        with smtplib.SMTP("127.0.0.1", self.s_ports["smtp"], local_hostname="client.test", timeout=30) as s:
            s.sendmail("carol@remote.test", ["carol@remote.test"], message(subject, sender="carol@remote.test"))

    def test_mail_goes_through_the_smart_host_with_auth(self):
        self.restart_sender("tls_verify = false\n")
        self.relay("relayed")
        self.wait_mail(self.rw, "carol@remote.test")
        self.assertIn("user=carol@remote.test result=ok", self.receiver.log())
        self.wait_queue_empty()

    def test_an_unverifiable_smart_host_certificate_defers(self):
        self.restart_sender("tls_verify = true\n")
        self.relay("unsafe")
        entry = wait_for(lambda: [m for m in self.queue() if m["recipients"][0]["state"] == "deferred"],
                         what="a deferral")[0]
        self.assertRegex(entry["recipients"][0]["last_error"], "(?i)certificate|tls")
        self.assertEqual(maildir_files(self.rw, "carol@remote.test"), [])


if __name__ == "__main__":
    unittest.main()
