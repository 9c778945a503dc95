#!/usr/bin/env python3
"""The account-security commands: password hashes on the command line: --password-hash-stdin for user add and user passwd
(a hash on argv is visible in ps), --password-hash for user passwd (set an imported hash
later), and config check counting the accounts that still have a legacy hash; user sendas; [delivery]
program_user."""

import json
import unittest

from harness import HASH, SHA512_HASH, CliTest

MD5_HASH = "$1$saltsalt$9xy1btjgzLYfb7hivXtC//"  # "secret"
DES_HASH = "abD6HAB6eqg.k"  # "longpassword", of which DES reads only "longpass"


class PasswordHashStdin(CliTest):
    def setUp(self):
        super().setUp()
        self.w.ok("domain", "add", "shop.test")

    def scheme(self, address):
        return json.loads(self.w.ok("--json", "user", "show", address))["password_scheme"]

    def test_user_add_reads_the_hash_from_stdin(self):
        self.w.ok("user", "add", "bob@shop.test", "--password-hash-stdin", stdin=SHA512_HASH + "\n")
        self.assertEqual(self.scheme("bob@shop.test"), "$6$")
        self.w.ok("user", "add", "ann@shop.test", "--password-hash-stdin", stdin="{CRYPT}" + HASH + "\r\n")
        self.assertEqual(self.scheme("ann@shop.test"), "$y$")

    def test_user_passwd_sets_a_hash_from_argv_or_stdin(self):
        self.w.ok("user", "add", "bob@shop.test", "--password-hash", HASH)
        self.w.ok("user", "passwd", "bob@shop.test", "--password-hash", SHA512_HASH)
        self.assertEqual(self.scheme("bob@shop.test"), "$6$")
        self.w.ok("user", "passwd", "bob@shop.test", "--password-hash-stdin", stdin=MD5_HASH + "\n")
        self.assertEqual(self.scheme("bob@shop.test"), "$1$")
        self.w.ok("user", "passwd", "bob@shop.test", "--password-stdin", stdin="new secret\n")
        self.assertEqual(self.scheme("bob@shop.test"), "$y$")

    def test_bad_hashes_and_option_clashes_are_refused(self):
        self.w.ok("user", "add", "bob@shop.test", "--password-hash", HASH)
        before = self.dump()
        self.assertFails(["user", "passwd", "bob@shop.test", "--password-hash-stdin"], 65, "invalid password hash",
                         "{SSHA}", stdin="{SSHA}abc\n")
        self.assertFails(["user", "passwd", "bob@shop.test", "--password-hash-stdin"], 65, "no password hash",
                         "--password-hash-stdin", stdin="")
        self.assertFails(["user", "add", "ann@shop.test", "--password-hash-stdin"], 65, "invalid password hash",
                         "$y$j9T$salt", stdin="$y$j9T$salt\n")
        self.assertFails(["user", "passwd", "bob@shop.test", "--password-hash", "$6$bare"], 65, "invalid password hash")
        for clash in (["--password-stdin", "--password-hash-stdin"], ["--password-hash", HASH, "--password-hash-stdin"],
                      ["--password-hash", HASH, "--password-stdin"]):
            self.assertFails(["user", "passwd", "bob@shop.test"] + clash, 64, "exclude", stdin=HASH + "\n")
            self.assertFails(["user", "add", "ann@shop.test"] + clash, 64, "exclude", stdin=HASH + "\n")
        self.assertEqual(self.dump(), before)

    def test_passwd_of_an_unknown_user_is_67(self):
        self.assertFails(["user", "passwd", "nobody@shop.test", "--password-hash-stdin"], 67, "nobody@shop.test",
                         stdin=HASH + "\n")


class LegacyHashesInConfigCheck(CliTest):
    config = '[routing]\npostmaster = "bob"\n'

    def test_config_check_counts_legacy_hashes(self):
        self.w.ok("domain", "add", "shop.test")
        self.w.ok("user", "add", "bob@shop.test", "--password-hash", HASH)
        doc = json.loads(self.w.ok("--json", "config", "check"))
        self.assertEqual(doc["legacy_password_hashes"], 0)
        self.assertEqual(doc["warnings"], [])
        self.w.ok("user", "add", "old@shop.test", "--password-hash", MD5_HASH)
        self.w.ok("user", "add", "des@shop.test", "--password-hash", DES_HASH)
        self.w.ok("user", "add", "sha@shop.test", "--password-hash", SHA512_HASH)  # not legacy
        doc = json.loads(self.w.ok("--json", "config", "check"))
        self.assertEqual(doc["legacy_password_hashes"], 2)
        self.assertEqual(len(doc["warnings"]), 1)
        self.assertIn("2 accounts still have a legacy password hash", doc["warnings"][0])
        out = self.w.ok("config", "check")
        self.assertIn("warning: 2 accounts still have a legacy password hash", out)
        self.assertIn("yescrypt at the next login", out)


class SendAsCommand(CliTest):
    def setUp(self):
        super().setUp()
        self.w.ok("domain", "add", "shop.test")
        self.w.ok("user", "add", "bob@shop.test", "--password-hash", HASH)

    def listed(self):
        return json.loads(self.w.ok("--json", "user", "sendas", "bob@shop.test"))

    def test_add_list_del_and_show(self):
        self.assertEqual(self.w.ok("user", "sendas", "bob@shop.test"), "")
        self.assertEqual(self.listed(), [])
        self.w.ok("user", "sendas", "BOB@Shop.Test", "--add", "Team@Shop.Test.", "--add", "bob@b\u00fccher.example")
        self.assertEqual(self.listed(), ["bob@xn--bcher-kva.example", "team@shop.test"])
        self.assertEqual(self.w.ok("user", "sendas", "bob@shop.test"), "bob@xn--bcher-kva.example\nteam@shop.test\n")
        shown = json.loads(self.w.ok("--json", "user", "show", "bob@shop.test"))
        self.assertEqual(shown["send_as"], ["bob@xn--bcher-kva.example", "team@shop.test"])
        self.assertIn("sendas    bob@xn--bcher-kva.example, team@shop.test", self.w.ok("user", "show", "bob@shop.test"))
        self.w.ok("user", "sendas", "bob@shop.test", "--del", "team@shop.test", "--add", "sales@shop.test")
        self.assertEqual(self.listed(), ["bob@xn--bcher-kva.example", "sales@shop.test"])
        # The list goes with the account.
        self.w.ok("user", "del", "bob@shop.test")
        self.w.ok("user", "add", "bob@shop.test", "--password-hash", HASH)
        self.assertEqual(self.listed(), [])

    def test_bad_input_changes_nothing(self):
        self.w.ok("user", "sendas", "bob@shop.test", "--add", "team@shop.test")
        before = self.listed()
        self.assertFails(["user", "sendas", "bob@shop.test", "--add", "ok@shop.test", "--add", "not an address"], 65,
                         "not an address")
        self.assertFails(["user", "sendas", "bob@shop.test", "--add", '"a b"@shop.test'], 65, "quoted")
        self.assertFails(["user", "sendas", "bob@shop.test", "--add", "ok@shop.test", "--add", "team@shop.test"], 73,
                         "team@shop.test", "already")
        self.assertFails(["user", "sendas", "bob@shop.test", "--add", "ok@shop.test", "--del", "other@shop.test"], 66,
                         "other@shop.test", "not in the send-as list")
        self.assertFails(["user", "sendas", "nobody@shop.test"], 67, "nobody@shop.test")
        self.assertFails(["user", "sendas", "nobody@shop.test", "--add", "x@shop.test"], 67, "nobody@shop.test")
        self.assertEqual(self.listed(), before)


class ProgramUserKey(CliTest):
    def test_program_user_is_shown_and_checked(self):
        self.assertIn('program_user = "nobody"', self.w.ok("config", "show"))
        self.w.write_config('[delivery]\nprogram_user = "daemon"\n')
        self.assertEqual(json.loads(self.w.ok("--json", "config", "show"))["delivery"]["program_user"], "daemon")
        self.w.write_config('[server]\nuser = "daemon"\n[routing]\npostmaster = "bob"\n'
                            '[delivery]\nallow_programs = true\nprogram_user = "daemon"\n')
        self.w.ok("domain", "add", "shop.test")
        self.w.ok("user", "add", "bob@shop.test", "--password-hash", HASH)
        warnings = json.loads(self.w.ok("--json", "config", "check"))["warnings"]
        self.assertEqual(len(warnings), 2, warnings)
        self.assertIn("[delivery] program_user is [server] user 'daemon'", warnings[1])
        self.w.write_config('[delivery]\nprogram_user = ""\n')
        self.assertFails(["config", "check"], 78, "program_user", "must name a user")


if __name__ == "__main__":
    unittest.main()
