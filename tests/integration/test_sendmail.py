#!/usr/bin/env python3
"""`vpsmail sendmail` as cron, PHP, mutt and scripts call /usr/sbin/sendmail, against a real
`vpsmail serve` on ephemeral loopback ports: direct delivery into Maildirs and the spool, the
maildrop of unprivileged users (run as nobody; the server picks it up), -bs over pipes, -bv,
-bp, the sendmail/mailq/newaliases names, and bad input with its exit code and one line."""

import json
import os
import shutil
import stat
import subprocess
import time
import unittest

from server import Server, ServerTest, maildir_files, seeded_world, wait_for
from harness import BIN, as_nobody, require_binary

PICKUP_TIMEOUT = 20.0


class SendmailTest(ServerTest):

    def sendmail(self, *args, stdin=b"", prefix=(), argv0=None):
        """Runs `vpsmail --config C --db D sendmail ARGS`, or the binary linked as `argv0` with
        the configuration and store in the environment (as sendmail it takes only its flags)."""
        env = self.w.env()
        if argv0 is None:
            argv = list(prefix) + [BIN, "--config", self.w.config_path, "--db", self.w.db, "sendmail"]
        else:
            argv = list(prefix) + [argv0]
            env.update(VPSMAIL_CONFIG=self.w.config_path, VPSMAIL_DB=self.w.db)
        argv += list(args)
        p = subprocess.run(argv, input=stdin, capture_output=True, env=env, timeout=60)
        return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")

    def ok(self, *args, stdin=b"", **kw):
        rc, out, err = self.sendmail(*args, stdin=stdin, **kw)
        self.assertEqual(rc, 0, "sendmail %s: exit %d, stderr %r" % (" ".join(args), rc, err))
        self.assertEqual(err, "", "sendmail must say nothing on success (cron mails it)")
        return out

    def fails(self, args, code, *needles, stdin=b""):
        rc, out, err = self.sendmail(*args, stdin=stdin)
        self.assertEqual(rc, code, "sendmail %s: got exit %d, want %d; stderr %r" % (" ".join(args), rc, code, err))
        lines = err.strip().splitlines()
        self.assertEqual(len(lines), 1, "want one stderr line, got %r" % err)
        for n in needles:
            self.assertIn(n, lines[0])
        return lines[0]

    def only_message(self, address):
        files = maildir_files(self.w, address)
        self.assertEqual(len(files), 1, "want one message for %s, got %r" % (address, files))
        with open(files[0], "rb") as f:
            return f.read()

    def wait_for_message(self, address):
        deadline = time.monotonic() + PICKUP_TIMEOUT
        while time.monotonic() < deadline:
            if maildir_files(self.w, address):
                return self.only_message(address)
            # Bounded polling on the file system: the server picks the maildrop up by itself.
            time.sleep(0.05)
        self.fail("no message for %s within %s s; server log:\n%s" % (address, PICKUP_TIMEOUT, self.server.log()))


class Direct(SendmailTest):
    def test_cron_style_lands_in_the_maildir(self):
        # Debian's cron: /usr/sbin/sendmail -FCronDaemon -i -B8BITMIME -oem USER
        body = b"Subject: Cron <root@host> run-parts\nContent-Type: text/plain; charset=UTF-8\n\nAll done.\n.\nstill body\n"
        self.ok("-FCronDaemon", "-i", "-B8BITMIME", "-oem", "bob", stdin=body)
        text = self.only_message("bob@example.test")
        self.assertTrue(text.startswith(b"Return-Path: <"), text)
        self.assertIn(b"Received: by mx.example.test (vpsmail, from userid ", text)
        self.assertIn(b"From: CronDaemon <", text)
        self.assertIn(b"\r\nDate: ", text)
        self.assertIn(b"\r\nMessage-ID: <", text)
        self.assertIn(b"\r\n\r\nAll done.\r\n.\r\nstill body\r\n", text, "-i: a lone dot does not end the message")
        self.assertNotIn(b"\n\n", text.replace(b"\r\n", b""), "every line end is CRLF")

    def test_php_style_takes_recipients_from_the_header_and_removes_bcc(self):
        # PHP's mail(): sendmail -t -i
        body = (b"To: Bob <bob@example.test>\nCc: ann@example.test\nBcc: carl@remote.test\n"
                b"From: shop@example.test\nSubject: order\n\nThanks.\n")
        self.ok("-t", "-i", stdin=body)
        for who in ("bob@example.test", "ann@example.test"):
            text = self.only_message(who)
            self.assertNotIn(b"Bcc", text, who)
            self.assertNotIn(b"carl@remote.test", text, who)
            self.assertIn(b"From: shop@example.test\r\n", text)
        queued = json.loads(self.w.ok("--json", "queue", "list"))
        self.assertEqual([r["address"] for m in queued for r in m["recipients"]], ["carl@remote.test"])

    def test_php_line_ends_are_line_ends(self):
        # PHP's mail() with a script's CRLF headers writes "\r\r\n": one line end, not a bare CR.
        self.ok("-t", "-i", stdin=b"To: bob@example.test\r\r\nSubject: php\r\r\n\r\r\nPHP's line ends\r\r\n")
        text = self.only_message("bob@example.test")
        self.assertIn(b"\r\nSubject: php\r\n", text)
        self.assertTrue(text.endswith(b"\r\n\r\nPHP's line ends\r\n"), text)
        self.assertNotIn(b"\r\r", text)

    def test_dot_ends_the_message_without_i(self):
        self.ok("bob@example.test", stdin=b"Subject: x\n\nfirst\n.\nnot sent\n")
        text = self.only_message("bob@example.test")
        self.assertIn(b"first\r\n", text)
        self.assertNotIn(b"not sent", text)

    def test_f_sender_is_the_return_path(self):
        self.ok("-f", "bounces@example.test", "bob@example.test", stdin=b"Subject: x\n\nhi\n")
        text = self.only_message("bob@example.test")
        self.assertTrue(text.startswith(b"Return-Path: <bounces@example.test>\r\n"), text[:80])
        self.assertIn(b"From: bounces@example.test\r\n", text)

    def test_remote_recipient_is_spooled(self):
        self.ok("-fann@example.test", "someone@remote.test", stdin=b"Subject: out\n\nhello\n")
        queued = json.loads(self.w.ok("--json", "queue", "list"))
        self.assertEqual(len(queued), 1)
        self.assertEqual(queued[0]["sender"], "ann@example.test")
        self.assertEqual([r["address"] for r in queued[0]["recipients"]], ["someone@remote.test"])

    def test_unknown_local_recipient_is_refused(self):
        line = self.fails(["nosuch@example.test"], 67, "nosuch@example.test", "550", stdin=b"Subject: x\n\nhi\n")
        self.assertIn("5.1.1", line)


class Maildrop(SendmailTest):
    def as_nobody_or_skip(self):
        prefix = as_nobody()
        if os.geteuid() != 0 or prefix is None:
            self.skipTest("needs root (and setpriv) to run sendmail as nobody")
        # nobody must reach the config file and pass through the test's folder to the maildrop.
        os.chmod(self.w.dir, 0o711)
        os.chmod(self.w.config_path, 0o644)
        return prefix

    def maildrop(self):
        return os.path.join(self.w.dir, "state", "spool", "maildrop")

    def test_nobody_submits_through_the_maildrop(self):
        prefix = self.as_nobody_or_skip()
        maildrop = self.maildrop()
        self.assertEqual(stat.S_IMODE(os.stat(maildrop).st_mode), 0o3733)
        rc, out, err = self.sendmail("-t", "-i", prefix=prefix,
                                     stdin=b"To: bob@example.test\nSubject: from php\n\nhello from www-data\n")
        self.assertEqual((rc, err), (0, ""))
        text = self.wait_for_message("bob@example.test")
        self.assertIn(b"Return-Path: <nobody@mx.example.test>\r\n", text)
        self.assertIn(b"(vpsmail, from userid 65534 nobody)", text)
        self.assertIn(b"hello from www-data\r\n", text)
        deadline = time.monotonic() + PICKUP_TIMEOUT
        while os.listdir(maildrop) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(os.listdir(maildrop), [], "the picked-up file is removed")

    def test_nobody_speaks_smtp_through_the_maildrop(self):
        prefix = self.as_nobody_or_skip()
        dialogue = (b"EHLO php.local\r\nMAIL FROM:<app@example.test>\r\nRCPT TO:<ann@example.test>\r\nDATA\r\n"
                    b"Subject: bs\r\n\r\nvia -bs\r\n.\r\nQUIT\r\n")
        rc, out, err = self.sendmail("-bs", prefix=prefix, stdin=dialogue)
        self.assertEqual(rc, 0, err)
        codes = [line[:3] for line in out.splitlines() if line[3:4] == " "]
        self.assertEqual(codes, ["220", "250", "250", "250", "354", "250", "221"], out)
        text = self.wait_for_message("ann@example.test")
        self.assertIn(b"Return-Path: <app@example.test>\r\n", text)
        self.assertIn(b"via -bs\r\n", text)


    def test_what_the_pickup_refuses_is_refused_by_sendmail_first(self):
        prefix = self.as_nobody_or_skip()
        for args, stdin, needle in (
                (["bob@example.test"], b"Subject: x\n\nbare\rCR\n", "bare CR"),
                (["u%d@example.test" % i for i in range(101)], b"Subject: many\n\nhi\n", "[limits] max_recipients")):
            for who in (prefix, []):  # through the maildrop, and delivering directly as root
                rc, out, err = self.sendmail(*args, prefix=who, stdin=stdin)
                self.assertEqual(rc, 65, "%s: %r" % (needle, err))
                self.assertEqual(len(err.strip().splitlines()), 1, err)
                self.assertIn(needle, err)
        self.assertEqual(os.listdir(self.maildrop()), [], "nothing in the maildrop")
        self.assertEqual(maildir_files(self.w, "bob@example.test"), [])
        self.assertEqual(os.listdir(os.path.join(self.w.dir, "state", "spool", "corrupt")), [])

    def test_a_file_the_pickup_refuses_becomes_a_dsn_not_a_quarantine(self):
        if os.geteuid() != 0:
            self.skipTest("needs root to write a file in another user's name")
        # Written past sendmail's checks (a user may write the maildrop by hand): a bare CR.
        part = os.path.join(self.w.dir, "part")  # written outside, renamed in whole
        with open(part, "wb") as f:
            f.write(b"vpsmail-maildrop 1\ncreated %d\nsender ann@example.test\nrcpt bob@example.test\nend\n"
                    b"Subject: smuggled\r\n\r\nbare\rCR\r\n" % int(time.time()))
        os.chown(part, 65534, 65534)
        os.rename(part, os.path.join(self.maildrop(), "65534-0"))
        dsn = self.wait_for_message("ann@example.test")
        self.assertIn(b"bob@example.test", dsn)
        self.assertIn(b"bare CR", dsn)
        self.assertIn(b"Status: 5.6.0", dsn)
        self.assertEqual(maildir_files(self.w, "bob@example.test"), [])
        self.assertEqual(os.listdir(os.path.join(self.w.dir, "state", "spool", "corrupt")), [])
        self.assertIn("maildrop_refused", self.server.log())

    def test_one_user_may_leave_only_so_much_in_the_maildrop(self):
        prefix = self.as_nobody_or_skip()
        self.assertEqual(self.server.stop(), 0)  # nobody picks up: the files stay
        with open(self.w.config_path, "a") as f:
            f.write("[limits]\nmax_maildrop_messages = 2\n")
        for i in range(2):
            rc, out, err = self.sendmail("bob@example.test", prefix=prefix, stdin=b"Subject: %d\n\nhi\n" % i)
            self.assertEqual((rc, err), (0, ""))
        rc, out, err = self.sendmail("bob@example.test", prefix=prefix, stdin=b"Subject: 3\n\nhi\n")
        self.assertEqual(rc, 75, err)
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        self.assertIn("uid 65534 (nobody) already has 2 messages waiting", err)
        self.assertIn("[limits] max_maildrop_messages", err)
        self.assertEqual(sorted(os.listdir(self.maildrop())), ["65534-0", "65534-1"])
        for name in os.listdir(self.maildrop()):
            st = os.stat(os.path.join(self.maildrop(), name))
            self.assertEqual((st.st_uid, stat.S_IMODE(st.st_mode)), (65534, 0o640), "others may not read it")
        # Root's sendmail delivers directly: the cap is the maildrop's.
        self.ok("bob@example.test", stdin=b"Subject: root\n\nhi\n")


class RootActions(unittest.TestCase):
    """What `vpsmail serve` does as root before it drops to [server] user (nobody here)."""

    def setUp(self):
        require_binary(self)
        if os.geteuid() != 0:
            self.skipTest("needs root")
        self.w = seeded_world()
        self.addCleanup(self.w.close)
        os.chmod(self.w.dir, 0o755)  # nobody must reach the state folder and the Maildirs
        self.server = Server(self.w)
        self.addCleanup(self.server.kill)
        with open(self.w.config_path) as f:
            text = f.read()
        with open(self.w.config_path, "w") as f:
            f.write(text.replace('user = ""', 'user = "nobody"'))

    def test_a_store_in_a_folder_of_roots_stops_the_start_and_keeps_its_owner(self):
        etc = os.path.join(self.w.dir, "etc")
        os.mkdir(etc, 0o755)
        db = os.path.join(etc, "vpsmail.db")
        shutil.copy(self.w.db, db)
        p = subprocess.run([BIN, "--config", self.w.config_path, "--db", db, "serve", "--foreground"],
                           capture_output=True, text=True, env=self.w.env(), timeout=60, stdin=subprocess.DEVNULL)
        self.assertEqual(p.returncode, 78, p.stderr)
        lines = p.stderr.strip().splitlines()
        self.assertEqual(len([l for l in lines if l.startswith("vpsmail:")]), 1, p.stderr)
        self.assertIn("the store's folder %s is not writable by [server] user nobody" % etc, p.stderr)
        self.assertIn("[store] path", p.stderr)
        self.assertEqual(os.stat(etc).st_uid, 0, "a folder vpsmail did not make keeps its owner")
        self.assertEqual(os.stat(self.w.dir).st_uid, 0)

    def test_a_link_in_the_maildrop_leads_root_nowhere(self):
        self.server.start()
        self.assertEqual(self.server.stop(), 0)
        maildrop = os.path.join(self.w.dir, "state", "spool", "maildrop")
        self.assertEqual(os.stat(maildrop).st_uid, 65534)
        # nobody's trap: the older quarantine folder, pointing at a folder of root's files.
        trap = os.path.join(self.w.dir, "trap")
        os.mkdir(trap, 0o755)
        with open(os.path.join(trap, "secret"), "w") as f:
            f.write("root's\n")
        os.symlink(trap, os.path.join(maildrop, "corrupt"))
        os.lchown(os.path.join(maildrop, "corrupt"), 65534, 65534)
        # and a file of root's inside the maildrop: a user's file, whoever wrote it
        with open(os.path.join(maildrop, "0-0"), "w") as f:
            f.write("garbage\n")
        os.chown(self.w.db, 0, 0)  # something for give_to to do
        self.server.start()
        corrupt = os.path.join(self.w.dir, "state", "spool", "corrupt")
        wait_for(lambda: [n for n in os.listdir(corrupt) if n.startswith("maildrop.")], what="the quarantine")
        self.assertEqual(os.listdir(trap), ["secret"])
        self.assertEqual(os.stat(os.path.join(trap, "secret")).st_uid, 0, "nothing behind the link was given away")
        self.assertEqual(os.stat(trap).st_uid, 0)
        self.assertEqual(os.stat(self.w.db).st_uid, 65534, "the store is given to the server user")
        self.assertEqual(stat.S_IMODE(os.stat(corrupt).st_mode), 0o700)
        self.assertEqual(self.server.stop(), 0)


class Modes(SendmailTest):
    def test_bs_speaks_smtp_on_pipes(self):
        dialogue = (b"EHLO client.local\r\nMAIL FROM:<app@example.test>\r\nRCPT TO:<bob@example.test>\r\n"
                    b"RCPT TO:<far@remote.test>\r\nRCPT TO:<nosuch@example.test>\r\nDATA\r\n"
                    b"Subject: bs\r\n\r\n..dot stuffed\r\n.\r\nQUIT\r\n")
        out = self.ok("-bs", stdin=dialogue)
        lines = out.splitlines()
        self.assertTrue(lines[0].startswith("220 mx.example.test"), out)
        self.assertNotIn("STARTTLS", out, "no TLS on a pipe")
        codes = [line[:3] for line in lines if line[3:4] == " "]
        # Remote recipients are accepted: a local submission may relay.
        self.assertEqual(codes, ["220", "250", "250", "250", "250", "550", "354", "250", "221"], out)
        text = self.only_message("bob@example.test")
        self.assertIn(b"\r\n.dot stuffed\r\n", text)
        queued = json.loads(self.w.ok("--json", "queue", "list"))
        self.assertEqual([r["address"] for m in queued for r in m["recipients"]], ["far@remote.test"])

    def test_bv_verifies_recipients(self):
        rc, out, err = self.sendmail("-bv", "bob@example.test", "x@remote.test")
        self.assertEqual((rc, err), (0, ""))
        self.assertEqual(out.splitlines(), ["bob@example.test: deliverable: mailbox bob@example.test",
                                            "x@remote.test: deliverable: remote x@remote.test"])
        rc, out, err = self.sendmail("-bv", "bob@example.test", "nosuch@example.test")
        self.assertEqual(rc, 67, err)
        self.assertTrue(out.splitlines()[1].startswith("nosuch@example.test: undeliverable: 550 5.1.1"), out)

    def test_bp_lists_the_queue_like_queue_list(self):
        self.ok("far@remote.test", stdin=b"Subject: x\n\nhi\n")
        got = self.ok("-bp")
        want = self.w.ok("queue", "list")
        self.assertIn("far@remote.test", got)
        self.assertEqual(got.split()[:7], want.split()[:7])

    def test_program_names(self):
        bindir = os.path.join(self.w.dir, "bin")
        os.mkdir(bindir)
        for name in ("sendmail", "mailq", "newaliases"):
            os.symlink(BIN, os.path.join(bindir, name))
        self.ok("bob@example.test", stdin=b"Subject: via link\n\nhi\n", argv0=os.path.join(bindir, "sendmail"))
        self.assertIn(b"Subject: via link", self.only_message("bob@example.test"))
        self.ok("far@remote.test", stdin=b"Subject: x\n\nhi\n")
        self.assertIn("far@remote.test", self.ok(argv0=os.path.join(bindir, "mailq")))
        p = subprocess.run([os.path.join(bindir, "newaliases")], capture_output=True, text=True, timeout=60,
                           env=self.w.env())
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("take effect at once", p.stdout)


class BadInput(SendmailTest):
    def test_no_recipients(self):
        self.fails([], 64, "no recipients given", stdin=b"Subject: x\n\nhi\n")

    def test_t_without_recipient_fields(self):
        self.fails(["-t"], 65, "no recipient in its To, Cc or Bcc", stdin=b"Subject: x\n\nhi\n")

    def test_malformed_message(self):
        self.fails(["bob@example.test"], 65, "NUL byte (line 3)", stdin=b"Subject: x\n\nbad\0byte\n")
        self.assertEqual(maildir_files(self.w, "bob@example.test"), [])

    def test_malformed_recipient_header(self):
        self.fails(["-t"], 65, "To field", "a@@b", stdin=b"To: a@@b\n\nhi\n")

    def test_unknown_flag(self):
        self.fails(["-Z", "bob@example.test"], 64, "unknown flag -Z")

    def test_bad_sender(self):
        self.fails(["-f", "a b@c", "bob@example.test"], 65, "invalid sender", stdin=b"x\n")


if __name__ == "__main__":
    unittest.main(verbosity=2)
