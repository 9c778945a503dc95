"""Every bad input of the admin CLI gets one stderr line naming the value, the right sysexits
code, and leaves the store unchanged (issue 2, section 6)."""

import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, HASH, CliTest, as_nobody  # noqa: E402

EX_USAGE, EX_DATAERR, EX_NOINPUT, EX_NOUSER, EX_NOHOST, EX_CANTCREAT, EX_NOPERM, EX_CONFIG = 64, 65, 66, 67, 68, 73, 77, 78


class BadInput(CliTest):
    def setUp(self):
        super().setUp()
        self.w.ok("domain", "add", "shop.test")
        self.w.ok("user", "add", "bob@shop.test", "--password-hash", HASH)
        self.w.ok("alias", "add", "sales", "bob")
        self.w.ok("vuser", "map", "info@shop.test", "bob")
        self.w.ok("forward", "set", "bob@shop.test", "\\bob")
        self.before = self.dump()

    def tearDown(self):
        self.assertEqual(self.dump(), self.before, "the store changed")
        super().tearDown()

    def test_malformed_addresses(self):
        cases = {
            "bob": "no '@domain'",
            "a@b@shop.test": "more than one '@'",
            "@shop.test": "empty",
            "bo b@shop.test": "space",
            "bo\x01b@shop.test": "control character",
            "a" * 65 + "@shop.test": "more than 64",
            "a" * 60 + "@" + ".".join(["b" * 60] * 4) + ".test": "more than 254",
            "bob@": "empty",
            "a..b@shop.test": "two dots in a row",  # RFC 5321 4.1.2: a dot-string
            ".bob@shop.test": "starts with a dot",
            "bob.@shop.test": "ends with a dot",
            "\\bob@shop.test": "leading backslash",  # the mailbox itself: a routing entry, no account
        }
        for address, why in cases.items():
            with self.subTest(address=address):
                line = self.assertFails(["user", "add", address, "--password-hash", HASH], EX_DATAERR, why)
                self.assertIn(address[:20].replace("\x01", "\\x01"), line)

    def test_dot_string_in_routing(self):
        self.assertFails(["alias", "add", "a..b", "bob"], EX_DATAERR, "a..b", "two dots")
        self.assertFails(["alias", "add", "new", "a..b"], EX_DATAERR, "a..b", "two dots")
        self.assertFails(["vuser", "map", "x.@shop.test", "bob"], EX_DATAERR, "x.@shop.test", "ends with a dot")
        self.assertFails(["forward", "set", "bob@shop.test", ".ann@remote.test"], EX_DATAERR, ".ann@remote.test")
        self.assertFails(["catchall", "set", "shop.test", "x..y"], EX_DATAERR, "x..y")

    def test_bad_domains(self):
        cases = {
            "x" * 64 + ".test": "more than 63",
            "-bad.test": "hyphen",
            "bad-.test": "hyphen",
            "a..test": "empty label",
            "under_score.test": "'_'",
            ".": "only a dot",
            "[127.0.0.1]": "address literal",
        }
        for domain, why in cases.items():
            with self.subTest(domain=domain):
                self.assertFails(["domain", "add", "--", domain], EX_DATAERR, why)

    def test_trailing_dot_and_case_are_the_same_domain(self):
        self.assertFails(["domain", "add", "SHOP.test."], EX_CANTCREAT, "shop.test")

    def test_unknown_domain_for_a_user(self):
        self.assertFails(["user", "add", "ann@nowhere.test", "--password-hash", HASH], EX_NOHOST, "nowhere.test",
                         "domain add")
        self.assertFails(["vuser", "map", "x@nowhere.test", "bob"], EX_NOHOST, "nowhere.test")
        self.assertFails(["catchall", "set", "nowhere.test", "bob"], EX_NOHOST, "nowhere.test")
        self.assertFails(["user", "list", "nowhere.test"], EX_NOHOST, "nowhere.test")

    def test_duplicates(self):
        self.assertFails(["domain", "add", "shop.test"], EX_CANTCREAT, "shop.test")
        self.assertFails(["user", "add", "BOB@shop.test", "--password-hash", HASH], EX_CANTCREAT, "bob@shop.test")
        self.assertFails(["alias", "add", "sales", "BOB"], EX_CANTCREAT, "sales")
        self.assertFails(["alias", "add", "new", "ann@remote.test", "ann@remote.test"], EX_CANTCREAT, "ann@remote.test")
        self.assertFails(["vuser", "map", "INFO@shop.test", "ann"], EX_CANTCREAT, "info@shop.test")

    def test_deleting_what_does_not_exist(self):
        self.assertFails(["domain", "del", "other.test"], EX_NOHOST, "other.test")
        self.assertFails(["user", "del", "ann@shop.test"], EX_NOUSER, "ann@shop.test")
        self.assertFails(["alias", "del", "nosuch"], EX_NOINPUT, "nosuch")
        self.assertFails(["alias", "del", "sales", "carl"], EX_NOINPUT, "carl")
        self.assertFails(["vuser", "unmap", "nosuch@shop.test"], EX_NOINPUT, "nosuch@shop.test")
        self.assertFails(["catchall", "unset", "shop.test"], EX_NOINPUT, "shop.test")
        self.assertFails(["forward", "clear", "ann@shop.test"], EX_NOUSER, "ann@shop.test")  # no such account
        self.assertFails(["forward", "show", "ann@shop.test"], EX_NOUSER, "ann@shop.test")
        self.assertFails(["forward", "set", "ann@shop.test", "bob"], EX_NOUSER, "ann@shop.test")
        self.assertFails(["user", "passwd", "ann@shop.test", "--password-stdin"], EX_NOUSER, "ann@shop.test",
                         stdin="pw\n")
        self.assertFails(["user", "disable", "ann@shop.test"], EX_NOUSER, "ann@shop.test")

    def test_quota_that_is_not_a_size(self):
        for size in ("lots", "5X", "-1", "1.5G", ""):
            with self.subTest(size=size):
                self.assertFails(["user", "quota", "bob@shop.test", size], EX_DATAERR, "size")
        self.assertFails(["user", "add", "ann@shop.test", "--password-hash", HASH, "--quota", "big"], EX_DATAERR, "big")

    def test_passwords(self):
        self.assertFails(["user", "add", "ann@shop.test", "--password-stdin"], EX_DATAERR, "standard input", stdin="")
        self.assertFails(["user", "add", "ann@shop.test", "--password-stdin"], EX_DATAERR, "empty", stdin="\n")
        self.assertFails(["user", "add", "ann@shop.test"], EX_USAGE, "--password-stdin", stdin="")
        self.assertFails(["user", "add", "ann@shop.test", "--password", "x"], EX_USAGE, "--password")
        self.assertFails(["user", "add", "ann@shop.test", "--password-hash", "plain"], EX_DATAERR, "hash")
        self.assertFails(["user", "add", "ann@shop.test", "--password-hash", "{PLAIN}secret"], EX_DATAERR, "hash")
        self.assertFails(["user", "add", "ann@shop.test", "--password-hash", HASH, "--password-stdin"], EX_USAGE,
                         "--password", stdin="x\n")

    def test_bad_targets(self):
        self.assertFails(["vuser", "map", "x@shop.test", "a@b.test, c@d.test"], EX_DATAERR, "one target")
        self.assertFails(["vuser", "map", "x@shop.test", "|/bin/cat"], EX_DATAERR, "|/bin/cat")
        self.assertFails(["vuser", "map", "x@shop.test", "error:5.1.1:451 mixed"], EX_DATAERR, "disagree")
        self.assertFails(["vuser", "map", "nodomain", "bob"], EX_DATAERR, "nodomain")
        self.assertFails(["alias", "add", "x", "error:nouser 550 gone"], EX_DATAERR, "vuser map")
        self.assertFails(["alias", "add", "x@shop.test", "bob"], EX_DATAERR, "vuser map")
        self.assertFails(["alias", "add", "x", "bad target@x"], EX_DATAERR, "bad target@x")
        self.assertFails(["forward", "set", "bob@shop.test", "error:nouser 550 x"], EX_DATAERR, "error:")
        self.assertFails(["catchall", "set", "shop.test", "a@b.test,c@d.test"], EX_DATAERR, "one target")
        self.assertFails(["alias", "add", "x", ":include:relative"], EX_DATAERR, "absolute path")

    def test_usage_errors(self):
        # A group without its command: its help, listing the commands, on stderr (as git does).
        rc, out, err = self.w.run("domain")
        self.assertEqual((rc, out), (EX_USAGE, ""))
        for command in ("add", "del", "list", "show"):
            self.assertRegex(err, r"(?m)^  %s " % command)
        self.assertFails(["nosuch"], EX_USAGE, "unknown command 'nosuch'")
        self.assertFails(["user", "frobnicate"], EX_USAGE, "unknown command 'user frobnicate'")
        self.assertFails(["user", "list", "--bogus"], EX_USAGE, "--bogus")
        self.assertFails(["domain", "add"], EX_USAGE, "DOMAIN")
        self.assertFails(["route", "test"], EX_USAGE)

    def test_route_test_of_a_malformed_address(self):
        self.assertFails(["route", "test", "a@b@c"], EX_DATAERR, "a@b@c")

    def test_accounts_whose_names_cannot_be_folders(self):
        # A leading dot is no dot-string (RFC 5321), so the address parser refuses it first.
        self.assertFails(["user", "add", ".hidden@shop.test", "--password-hash", HASH], EX_DATAERR, ".hidden",
                         "starts with a dot")
        self.assertFails(["user", "add", "a/b@shop.test", "--password-hash", HASH], EX_DATAERR, "'/'")
        self.assertFails(["user", "add", "a+b@shop.test", "--password-hash", HASH], EX_DATAERR, "delimiter")


class BadFiles(CliTest):
    def test_unknown_config_key_names_key_and_line(self):
        self.w.write_config("[routing]\ncolour = \"blue\"\n")
        self.assertFails(["domain", "list"], EX_CONFIG, "routing.colour", "unknown key", ":5:")
        self.w.write_config("[routing]\nplus_detail = 1\n")
        self.assertFails(["config", "check"], EX_CONFIG, "routing.plus_detail", "boolean")
        self.assertFails(["config", "show"], EX_CONFIG, "routing.plus_detail")

    def test_missing_explicit_config(self):
        rc, out, err = self.w.run("--config", os.path.join(self.w.dir, "absent.toml"), "domain", "list", config=False)
        self.assertEqual(rc, EX_CONFIG)
        self.assertIn("absent.toml", err)

    def test_corrupt_database(self):
        with open(self.w.db if os.path.isdir(os.path.dirname(self.w.db)) else self._mk(), "wb") as f:
            f.write(b"this is not a database at all" * 200)
        self.assertFails(["domain", "list"], EX_CONFIG, self.w.db)
        self.assertFails(["domain", "add", "shop.test"], EX_CONFIG, self.w.db)

    def _mk(self):
        os.makedirs(os.path.dirname(self.w.db), exist_ok=True)
        return self.w.db

    def test_newer_schema(self):
        self.w.ok("domain", "add", "shop.test")
        subprocess.run(["sqlite3", self.w.db, "PRAGMA user_version = 999"], check=True)
        line = self.assertFails(["domain", "list"], EX_CONFIG, "999", self.w.db)
        self.assertIn("upgrade", line)

    def test_read_only_database(self):
        prefix = as_nobody()
        if prefix is None:
            self.skipTest("running as root, and nobody cannot run %s (setpriv missing or folder closed)" % BIN)
        self.w.ok("domain", "add", "shop.test")
        before = self.dump()
        os.chmod(self.w.db, 0o444)
        argv = [BIN, "--config", self.w.config_path, "--db", self.w.db]
        if prefix:
            # root ignores file modes: run as nobody, who may read the files but not write them.
            for root, dirs, files in os.walk(self.w.dir):
                os.chmod(root, 0o755)
                for f in files:
                    os.chmod(os.path.join(root, f), 0o444)
        p = subprocess.run(prefix + argv + ["domain", "add", "other.test"], capture_output=True, text=True,
                           env=self.w.env())
        self.assertEqual(p.returncode, EX_NOPERM, p.stderr)
        self.assertIn(self.w.db, p.stderr)
        self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
        os.chmod(self.w.db, 0o600)
        self.assertEqual(self.dump(), before)


if __name__ == "__main__":
    unittest.main(verbosity=2)
