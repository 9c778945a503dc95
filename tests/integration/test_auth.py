#!/usr/bin/env python3
"""Logins through a real vpsmail serve: the throttle counts the canonical account (however the
client spells it), legacy hashes are replaced by yescrypt at the first successful login, and
an authenticated user may only send as the addresses that are its own."""

import json
import os
import smtplib
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cli"))
from server import Server, ServerTest, seeded_world  # noqa: E402
from harness import require_binary  # noqa: E402

MD5_HASH = "$1$saltsalt$9xy1btjgzLYfb7hivXtC//"  # "secret"
DES_HASH = "abD6HAB6eqg.k"  # "longpassword", of which DES reads only "longpass"


class AuthTest(ServerTest):

    def smtp(self, listener="submission", source="127.0.0.1"):
        # Loopback: AUTH without TLS is allowed (docs/architecture.md section 10).
        s = smtplib.SMTP("127.0.0.1", self.server.ports[listener], local_hostname="client.test", timeout=30,
                         source_address=(source, 0))
        s.ehlo()
        return s

    def login(self, user, password, listener="submission", source="127.0.0.1"):
        """The SMTP code of one AUTH PLAIN (only: smtplib's login() would try LOGIN after it)
        on a fresh connection from `source` (any 127/8 address): 235, 535 or 454."""
        with self.smtp(listener, source) as s:
            s.user, s.password = user, password
            try:
                return s.auth("PLAIN", s.auth_plain)[0]
            except smtplib.SMTPAuthenticationError as e:
                return e.smtp_code

    def scheme(self, address):
        return json.loads(self.w.ok("--json", "user", "show", address))["password_scheme"]


class Throttle(AuthTest):
    config = '[auth]\nmax_failures = 3\nlockout = "1h"\n'

    def test_respelt_account_failures_count_against_the_account(self):
        # Each failure from another client address: only the account's count can add up.
        for n, spelling in enumerate(("BOB@Example.TEST.", "bob@EXAMPLE.test", '"bob"@example.test')):
            self.assertEqual(self.login(spelling, "wrong", source="127.0.0.%d" % (n + 2)), 535)
        self.assertIn("failed, locked out", self.server.log())
        # bob is locked out now, whatever the spelling and wherever from, even with the right password.
        self.assertEqual(self.login("bob@example.test", "secret", source="127.0.0.9"), 454)
        self.assertEqual(self.login("Bob@Example.Test", "secret", source="127.0.0.10"), 454)
        self.assertEqual(self.login("ann@example.test", "secret", source="127.0.0.11"), 235)  # others are not

    def test_failures_for_several_accounts_lock_out_the_client_address(self):
        for user in ("bob@example.test", "ann@example.test", "nobody@example.test"):
            self.assertEqual(self.login(user, "wrong", source="127.0.0.2"), 535)
        self.assertEqual(self.login("ann@example.test", "secret", source="127.0.0.2"), 454)
        self.assertEqual(self.login("ann@example.test", "secret", source="127.0.0.3"), 235)


class LegacyHashes(AuthTest):
    def test_md5_crypt_is_rehashed_with_yescrypt_at_login(self):
        self.w.ok("user", "passwd", "bob@example.test", "--password-hash", MD5_HASH)
        self.assertEqual(self.scheme("bob@example.test"), "$1$")
        self.assertEqual(self.login("bob@example.test", "wrong"), 535)
        self.assertEqual(self.scheme("bob@example.test"), "$1$")  # a failure changes nothing
        self.assertEqual(self.login("bob@example.test", "secret"), 235)
        self.assertEqual(self.scheme("bob@example.test"), "$y$")
        self.assertEqual(self.login("bob@example.test", "secret"), 235)  # the new hash works
        self.assertIn("result=yescrypt", self.server.log().replace('"', ""))
        doc = json.loads(self.w.ok("--json", "config", "check"))
        self.assertEqual(doc["legacy_password_hashes"], 0)

    def test_des_truncation_ends_with_the_rehash(self):
        self.w.ok("user", "passwd", "bob@example.test", "--password-hash-stdin", stdin=DES_HASH + "\n")
        self.assertEqual(self.login("bob@example.test", "longpass"), 235)  # DES reads 8 characters
        # That login rehashed "longpass" itself: from now on only exactly it works.
        self.assertEqual(self.scheme("bob@example.test"), "$y$")
        self.assertEqual(self.login("bob@example.test", "longpassword"), 535)
        self.assertEqual(self.login("bob@example.test", "longpass"), 235)


class SendAs(AuthTest):
    """bob (and ann) authenticated on the submission port: which MAIL FROM each may use."""

    def mail_from(self, sender, user="bob@example.test", listener="submission"):
        with self.smtp(listener) as s:
            s.login(user, "secret")
            return s.mail(sender)

    def assertAllowed(self, sender, **kw):
        code, text = self.mail_from(sender, **kw)
        self.assertEqual(code, 250, "MAIL FROM:<%s>: %r" % (sender, text))

    def assertRefused(self, sender, **kw):
        code, text = self.mail_from(sender, **kw)
        self.assertEqual(code, 553, "MAIL FROM:<%s>: %r" % (sender, text))
        self.assertTrue(text.startswith(b"5.7.1 "), text)
        return text.decode()

    def test_own_address_and_its_detail_forms(self):
        for sender in ("bob@example.test", "BOB@Example.Test", "bob+lists@example.test", "bob+@example.test"):
            self.assertAllowed(sender)
        self.assertAllowed("bob@example.test", user="BOB@Example.TEST.")  # the login respelt
        self.assertRefused("bobby@example.test")

    def test_someone_elses_address_gets_one_clear_sentence(self):
        text = self.assertRefused("ann@example.test")
        self.assertEqual(text, "5.7.1 bob@example.test may not send as <ann@example.test>")
        self.assertRefused("ann+x@example.test")
        self.assertRefused("someone@remote.test")

    def test_vuser_entry_with_the_account_as_its_single_target(self):
        self.w.ok("vuser", "map", "sales@example.test", "bob")
        self.w.ok("vuser", "map", "info@example.test", "bob@example.test")
        self.assertAllowed("sales@example.test")
        self.assertAllowed("info@example.test")
        self.assertRefused("sales@example.test", user="ann@example.test")

    def test_vuser_domain_wildcard_and_catchall_are_not_the_users(self):
        self.w.ok("domain", "add", "other.test")
        self.w.ok("vuser", "map", "@other.test", "bob@example.test")  # every address of other.test reaches bob
        self.assertRefused("anything@other.test")
        self.w.ok("catchall", "set", "example.test", "bob@example.test")
        self.assertRefused("nobody-here@example.test")

    def test_alias_with_a_single_target_only(self):
        self.w.ok("alias", "add", "webmaster", "bob")
        self.w.ok("alias", "add", "team", "bob", "ann")
        self.w.ok("alias", "add", "outside", "bob", "friend@remote.test")
        self.assertAllowed("webmaster@example.test")
        self.assertRefused("team@example.test")  # bob is one member of a list
        self.assertRefused("team@example.test", user="ann@example.test")
        self.assertRefused("outside@example.test")

    def test_another_accounts_forward_to_bob_is_not_bobs(self):
        self.w.ok("forward", "set", "ann@example.test", "bob")
        self.assertRefused("ann@example.test")

    def test_sendas_list_allows_the_rest(self):
        self.w.ok("alias", "add", "team", "bob", "ann")
        self.assertRefused("team@example.test")
        self.w.ok("user", "sendas", "bob@example.test", "--add", "Team@Example.Test", "--add", "bob@remote.test")
        self.assertAllowed("team@example.test")
        self.assertAllowed("bob@remote.test")
        self.assertRefused("team@example.test", user="ann@example.test")  # bob's list only
        self.w.ok("user", "sendas", "bob@example.test", "--del", "team@example.test")
        self.assertRefused("team@example.test")
        self.assertAllowed("bob@remote.test")

    def test_null_sender_is_refused_after_auth(self):
        for listener in ("submission", "submissions"):
            if listener == "submissions":
                import ssl
                ctx = ssl.create_default_context()
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
                with smtplib.SMTP_SSL("127.0.0.1", self.server.ports[listener], local_hostname="client.test",
                                      context=ctx, timeout=30) as s:
                    s.login("bob@example.test", "secret")
                    code, text = s.mail("")
            else:
                code, text = self.mail_from("")
            self.assertEqual(code, 553, text)
            self.assertIn(b"5.7.1 bob@example.test may not send with the null sender <>", text)
        # Bounces from other servers still arrive on port 25, where nobody authenticates.
        with self.smtp("smtp") as s:
            self.assertEqual(s.mail("")[0], 250)


class ProgramUser(unittest.TestCase):
    """|command targets run as [delivery] program_user, not as the server's user, with no
    descriptor of the server's open."""

    def setUp(self):
        require_binary(self)
        self.w = seeded_world()
        os.chmod(self.w.dir, 0o755)  # the server's and the program's users must reach their folders
        self.out = os.path.join(self.w.dir, "out")
        os.mkdir(self.out)
        os.chmod(self.out, 0o777)
        self.server = None

    def tearDown(self):
        try:
            if self.server:
                self.server.kill()
                if os.environ.get("VPSMAIL_SHOW_LOG"):
                    print(self.server.log())
        finally:
            self.w.close()

    def start(self, server_user, extra=""):
        self.server = Server(self.w, '[delivery]\nallow_programs = true\n' + extra)
        with open(self.w.config_path) as f:
            text = f.read()
        with open(self.w.config_path, "w") as f:
            f.write(text.replace('user = ""', 'user = "%s"' % server_user))
        self.server.start()

    def deliver(self):
        self.w.ok("alias", "add", "runner", "|id -u > %s/uid; exec ls /proc/self/fd > %s/fds" % (self.out, self.out))
        with smtplib.SMTP("127.0.0.1", self.server.ports["smtp"], local_hostname="client.test", timeout=30) as s:
            self.assertEqual(s.sendmail("ann@remote.test", ["runner@example.test"], b"Subject: x\r\n\r\nhi\r\n"), {})
        with open(os.path.join(self.out, "uid")) as f:
            uid = int(f.read())
        with open(os.path.join(self.out, "fds")) as f:
            fds = f.read().split()
        return uid, fds

    def test_programs_run_as_program_user_not_as_the_server_user(self):
        if os.geteuid() != 0:
            self.skipTest("needs root")
        import pwd
        self.start("nobody", 'program_user = "daemon"\n')
        with open("/proc/%d/status" % self.server.proc.pid) as f:
            server_uid = int([line for line in f if line.startswith("Uid:")][0].split()[1])
        self.assertEqual(server_uid, pwd.getpwnam("nobody").pw_uid)  # the server dropped to its user
        uid, fds = self.deliver()
        self.assertEqual(uid, pwd.getpwnam("daemon").pw_uid)
        self.assertEqual(fds, ["0", "1", "2", "3"])  # 3: the folder ls reads

    def test_default_program_user_is_nobody(self):
        if os.geteuid() != 0:
            self.skipTest("needs root")
        import pwd
        self.start("daemon")
        uid, _ = self.deliver()
        self.assertEqual(uid, pwd.getpwnam("nobody").pw_uid)

    def test_unknown_program_user_stops_the_start(self):
        if os.geteuid() != 0:
            self.skipTest("needs root")
        server = Server(self.w, '[delivery]\nprogram_user = "no-such-user-here"\n')
        try:
            with self.assertRaises(AssertionError) as e:
                server.start()
        finally:
            server.kill()
        self.assertIn("[delivery] program_user 'no-such-user-here' does not exist", str(e.exception))


if __name__ == "__main__":
    unittest.main()
