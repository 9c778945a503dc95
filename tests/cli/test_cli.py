"""The admin CLI end to end: the real binary, its output, exit codes and the store it leaves."""

import json
import os
import pty
import select
import stat
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, HASH, SHA512_HASH, SOURCE, CliTest, World, as_nobody, require_binary  # noqa: E402


def make_mail(maildir):
    """A Maildir with one message in new/, as `vpsmail serve` leaves it after a delivery."""
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(maildir, sub), mode=0o700, exist_ok=True)
    with open(os.path.join(maildir, "new", "1.M1P1.test"), "w") as f:
        f.write("Subject: kept\n\nmail\n")


class DomainTest(CliTest):
    def test_add_list_show(self):
        self.w.ok("domain", "add", "Shop.Test.")
        self.w.ok("domain", "add", "b\u00fccher.example")
        out = self.w.ok("domain", "list")
        lines = out.splitlines()
        self.assertEqual(lines[0].split(), ["DOMAIN", "USERS", "VUSERS", "CREATED", "CATCHALL"])
        self.assertEqual([l.split()[0] for l in lines[1:]], ["shop.test", "xn--bcher-kva.example"])
        shown = json.loads(self.w.ok("--json", "domain", "show", "SHOP.test"))
        self.assertEqual(shown["domain"], "shop.test")
        self.assertEqual(shown["users"], 0)
        self.assertIsNone(shown["catchall"])

    def test_global_options_before_or_after(self):
        self.w.ok("domain", "add", "shop.test")
        self.assertEqual(self.w.ok("--json", "domain", "list"), self.w.ok("domain", "list", "--json"))
        rc, out, _ = self.w.run("domain", "list", "--json", "--db", self.w.db, config=True, db=False)
        self.assertEqual(rc, 0)
        self.assertEqual(json.loads(out)[0]["domain"], "shop.test")

    def test_del_refuses_non_empty_unless_force(self):
        self.w.ok("domain", "add", "shop.test")
        self.w.ok("user", "add", "bob@shop.test", "--password-hash", HASH)
        self.w.ok("alias", "add", "sales", "bob@shop.test", "ann@remote.test")
        self.w.ok("vuser", "map", "info@shop.test", "bob")
        self.w.ok("catchall", "set", "shop.test", "bob")
        before = self.dump()
        self.assertFails(["domain", "del", "shop.test"], 65, "shop.test", "--force")
        self.assertEqual(self.dump(), before)
        self.w.ok("domain", "del", "shop.test", "--force")
        self.assertEqual(json.loads(self.w.ok("--json", "domain", "list")), [])
        self.assertEqual(json.loads(self.w.ok("--json", "user", "list")), [])
        self.assertEqual(json.loads(self.w.ok("--json", "alias", "list")),
                         [{"name": "sales", "targets": ["ann@remote.test"]}])
        self.assertEqual(json.loads(self.w.ok("--json", "vuser", "list")), [])

    def test_del_force_removes_mail_unless_keep_mail(self):
        for domain in ("shop.test", "keep.test"):
            self.w.ok("domain", "add", domain)
            self.w.ok("user", "add", "bob@" + domain, "--password-hash", HASH)
            make_mail(os.path.join(self.w.mail_root, domain, "bob"))
        self.assertFails(["domain", "del", "keep.test", "--keep-mail"], 64, "--keep-mail", "--force")
        self.w.ok("domain", "del", "shop.test", "--force")
        self.assertFalse(os.path.exists(os.path.join(self.w.mail_root, "shop.test")))
        self.w.ok("domain", "del", "keep.test", "--force", "--keep-mail")
        self.assertTrue(os.path.isdir(os.path.join(self.w.mail_root, "keep.test", "bob", "cur")))
        self.assertEqual(json.loads(self.w.ok("--json", "domain", "list")), [])


class UserTest(CliTest):
    def setUp(self):
        super().setUp()
        self.w.ok("domain", "add", "shop.test")

    def maildir(self, local):
        return os.path.join(self.w.mail_root, "shop.test", local)

    def test_add_with_password_stdin_and_show(self):
        self.w.ok("user", "add", "Bob@Shop.Test", "--password-stdin", "--name", "Bob Builder", "--quota", "500M",
                  stdin="hunter2\n")
        info = json.loads(self.w.ok("--json", "user", "show", "bob@shop.test"))
        self.assertEqual(info["address"], "bob@shop.test")
        self.assertEqual(info["name"], "Bob Builder")
        self.assertEqual(info["quota"], 500 * 1024 * 1024)
        self.assertEqual(info["password_scheme"], "$y$")
        self.assertTrue(info["enabled"])
        self.assertEqual(info["maildir"], self.maildir("bob"))
        # Made by the first delivery (tests/integration), not here: nothing as root to hand over.
        self.assertFalse(os.path.exists(self.maildir("bob")))
        self.assertFalse(os.path.exists(os.path.dirname(self.maildir("bob"))))
        table = self.w.ok("user", "list", "shop.test").splitlines()
        self.assertEqual(table[0].split(), ["ADDRESS", "ENABLED", "QUOTA", "CREATED", "NAME"])
        self.assertEqual(table[1].split()[:3], ["bob@shop.test", "yes", "500M"])
        self.assertTrue(table[1].endswith("Bob Builder"))

    def test_password_hash_schemes(self):
        self.w.ok("user", "add", "a@shop.test", "--password-hash", HASH)
        self.w.ok("user", "add", "b@shop.test", "--password-hash", SHA512_HASH)
        self.w.ok("user", "add", "c@shop.test", "--password-hash", "{SHA512-CRYPT}" + SHA512_HASH)
        schemes = {u["address"]: u["password_scheme"] for u in json.loads(self.w.ok("--json", "user", "list"))}
        self.assertEqual(schemes, {"a@shop.test": "$y$", "b@shop.test": "$6$", "c@shop.test": "$6$"})

    def test_terminal_prompts_twice_without_echo(self):
        pid, fd = pty.fork()
        if pid == 0:
            os.execve(BIN, [BIN, "--config", self.w.config_path, "--db", self.w.db, "user", "add", "tty@shop.test"],
                      self.w.env())
        transcript = b""

        def read_until(marker):
            nonlocal transcript
            while marker not in transcript:
                ready, _, _ = select.select([fd], [], [], 20)
                if not ready:
                    os.kill(pid, 9)
                    raise AssertionError("timed out waiting for %r in %r" % (marker, transcript))
                chunk = os.read(fd, 1024)
                if not chunk:
                    raise AssertionError("no prompt %r in %r" % (marker, transcript))
                transcript += chunk

        read_until(b"New password: ")
        os.write(fd, b"s3cret-pass\n")
        read_until(b"Retype new password: ")
        os.write(fd, b"s3cret-pass\n")
        try:
            while os.read(fd, 1024):
                pass
        except OSError:
            pass
        _, status = os.waitpid(pid, 0)
        self.assertEqual(os.waitstatus_to_exitcode(status), 0, transcript)
        self.assertNotIn(b"s3cret-pass", transcript)  # never echoed
        self.assertEqual(json.loads(self.w.ok("--json", "user", "show", "tty@shop.test"))["password_scheme"], "$y$")

    def test_passwd_enable_disable_quota(self):
        self.w.ok("user", "add", "bob@shop.test", "--password-hash", HASH)
        self.w.ok("user", "passwd", "bob@shop.test", "--password-stdin", stdin="new-password\n")
        self.w.ok("user", "disable", "bob@shop.test")
        info = json.loads(self.w.ok("--json", "user", "show", "bob@shop.test"))
        self.assertFalse(info["enabled"])
        rc, out, _ = self.w.run("route", "test", "bob@shop.test")
        self.assertEqual(rc, 67)
        self.assertIn("550 5.2.1", out)
        self.w.ok("user", "enable", "bob@shop.test")
        self.w.ok("user", "quota", "bob@shop.test", "2G")
        info = json.loads(self.w.ok("--json", "user", "show", "bob@shop.test"))
        self.assertTrue(info["enabled"])
        self.assertEqual(info["quota"], 2 << 30)
        self.w.ok("user", "quota", "bob@shop.test", "0")
        self.assertEqual(json.loads(self.w.ok("--json", "user", "show", "bob@shop.test"))["quota"], 0)

    def test_del_removes_mail_unless_keep_mail(self):
        self.w.ok("user", "add", "bob@shop.test", "--password-hash", HASH)
        self.w.ok("user", "add", "ann@shop.test", "--password-hash", HASH)
        make_mail(self.maildir("bob"))
        make_mail(self.maildir("ann"))
        self.w.ok("forward", "set", "bob@shop.test", "ann")
        self.w.ok("user", "del", "bob@shop.test")
        self.assertFalse(os.path.exists(self.maildir("bob")))
        self.assertEqual(json.loads(self.w.ok("--json", "forward", "list")), [])
        self.w.ok("user", "del", "ann@shop.test", "--keep-mail")
        self.assertTrue(os.path.isdir(os.path.join(self.maildir("ann"), "new")))
        self.assertEqual(json.loads(self.w.ok("--json", "user", "list")), [])


class RoutingCommandsTest(CliTest):
    def setUp(self):
        super().setUp()
        self.w.ok("domain", "add", "shop.test")
        for u in ("bob", "ann"):
            self.w.ok("user", "add", u + "@shop.test", "--password-hash", HASH)

    def test_alias_add_del_list_show(self):
        self.w.ok("alias", "add", "Sales", "bob", "ann@remote.test")
        self.w.ok("alias", "add", "sales", "\\ann")
        self.assertEqual(json.loads(self.w.ok("--json", "alias", "show", "sales")),
                         {"name": "sales", "targets": ["bob", "ann@remote.test", "\\ann"]})
        self.w.ok("alias", "add", "other", "x@remote.test")
        self.assertFails(["alias", "list", "--domain", "remote.test"], 68, "remote.test")
        self.w.ok("domain", "add", "remote.test")
        listed = json.loads(self.w.ok("--json", "alias", "list", "--domain", "remote.test"))
        self.assertEqual([a["name"] for a in listed], ["other", "sales"])
        self.w.ok("alias", "del", "sales", "ann@remote.test")
        self.assertEqual(json.loads(self.w.ok("--json", "alias", "show", "sales"))["targets"], ["bob", "\\ann"])
        self.w.ok("alias", "del", "sales")
        self.assertFails(["alias", "show", "sales"], 66, "sales")

    def test_vuser_map_unmap_list(self):
        self.w.ok("vuser", "map", "Info@Shop.Test", "bob")
        self.w.ok("vuser", "map", "bob+*@shop.test", "%1%3@remote.test")
        self.w.ok("vuser", "map", "@shop.test", "error:nouser 550 No such user here")
        listed = json.loads(self.w.ok("--json", "vuser", "list", "shop.test"))
        self.assertEqual({e["key"]: e["target"] for e in listed},
                         {"info@shop.test": "bob", "bob+*@shop.test": "%1%3@remote.test",
                          "@shop.test": "error:nouser 550 No such user here"})
        self.w.ok("vuser", "unmap", "@shop.test")
        self.assertEqual(len(json.loads(self.w.ok("--json", "vuser", "list"))), 2)

    def test_forward_and_catchall(self):
        self.w.ok("forward", "set", "bob@shop.test", "\\bob", "bob@remote.test")
        self.assertEqual(json.loads(self.w.ok("--json", "forward", "show", "bob@shop.test"))["targets"],
                         ["\\bob", "bob@remote.test"])
        self.w.ok("forward", "set", "bob@shop.test", "ann")  # replaces
        self.assertEqual(json.loads(self.w.ok("--json", "forward", "list")),
                         [{"address": "bob@shop.test", "targets": ["ann"]}])
        self.w.ok("forward", "clear", "bob@shop.test")
        self.assertEqual(json.loads(self.w.ok("--json", "forward", "list")), [])
        self.w.ok("catchall", "set", "shop.test", "ann")
        self.w.ok("catchall", "set", "shop.test", "bob")  # replaces
        self.assertEqual(json.loads(self.w.ok("--json", "catchall", "show", "shop.test")),
                         [{"domain": "shop.test", "target": "bob"}])
        self.w.ok("catchall", "unset", "shop.test")
        self.assertFails(["catchall", "show", "shop.test"], 66, "shop.test")

    def test_changes_are_visible_at_once(self):
        rc, _, _ = self.w.run("route", "test", "sales@shop.test")
        self.assertEqual(rc, 67)
        self.w.ok("alias", "add", "sales", "bob")
        rc, out, _ = self.w.run("route", "test", "sales@shop.test")
        self.assertEqual(rc, 0, out)

    def test_loop_warnings(self):
        self.w.ok("alias", "add", "a", "b")
        rc, out, err = self.w.run("alias", "add", "b", "a")
        self.assertEqual(rc, 0)
        self.assertIn("warning", err)
        self.assertIn("loop", err)
        rc, _, err = self.w.run("-q", "alias", "add", "c", "c")
        self.assertEqual((rc, err), (0, ""))
        rc, _, err = self.w.run("vuser", "map", "x@shop.test", "y@shop.test")
        self.assertNotIn("loop", err)  # y@shop.test goes nowhere yet, which is another warning
        rc, _, err = self.w.run("vuser", "map", "y@shop.test", "x@shop.test")
        self.assertIn("virtusertable loop", err)
        rc, _, err = self.w.run("forward", "set", "bob@shop.test", "ann")
        self.assertEqual(err, "")
        rc, _, err = self.w.run("forward", "set", "ann@shop.test", "bob")
        self.assertIn("loop", err)
        rc, _, err = self.w.run("catchall", "set", "shop.test", "z@shop.test")
        self.assertIn("loop", err)


    def test_targets_are_stored_normalised(self):
        # Issue 10: an IDN target was stored as typed, so `domain del` neither counted nor
        # removed it, and route test relayed it after --force.
        self.w.ok("domain", "add", "bücher.example")
        self.w.ok("user", "add", "hans@bücher.example", "--password-hash", HASH)
        self.w.ok("alias", "add", "idn", "hans@Bücher.Example.", "\\hans@BÜCHER.example")
        self.w.ok("vuser", "map", "info@shop.test", '"hans"@bücher.example')
        self.w.ok("forward", "set", "bob@shop.test", "\\bob", "hans@bücher.example")
        self.w.ok("catchall", "set", "shop.test", "%1@bücher.example")
        a = "xn--bcher-kva.example"
        self.assertEqual(json.loads(self.w.ok("--json", "alias", "show", "idn"))["targets"],
                         ["hans@" + a, "\\hans@" + a])
        self.assertEqual({e["key"]: e["target"] for e in json.loads(self.w.ok("--json", "vuser", "list"))},
                         {"info@shop.test": "hans@" + a})
        self.assertEqual(json.loads(self.w.ok("--json", "forward", "show", "bob@shop.test"))["targets"],
                         ["\\bob", "hans@" + a])
        self.assertEqual(json.loads(self.w.ok("--json", "catchall", "show", "shop.test"))[0]["target"], "%1@" + a)
        # alias del finds a target however it is spelt
        self.w.ok("alias", "del", "idn", "\\hans@bücher.example")
        self.assertFails(["domain", "del", "bücher.example"], 65, a, "1 user", "1 alias entry")
        self.w.ok("catchall", "unset", "shop.test")
        self.w.ok("domain", "del", "bücher.example", "--force")
        self.assertFails(["alias", "show", "idn"], 66, "idn")
        rc, out, _ = self.w.run("--json", "route", "test", "idn@shop.test")
        self.assertEqual(rc, 67, out)  # no longer relayed to hans@xn--bcher-kva.example
        self.assertNotIn(a, out)

    def test_targets_that_go_nowhere_warn(self):
        # The change is made (exit 0); the warning names the target as typed and route test's answer.
        cases = [
            (["alias", "add", "staff", "bob", "ghost"], "alias staff", "'ghost'", "550 5.1.1"),
            (["alias", "add", "direct", "\\ghost"], "alias direct", "'\\ghost'", "550 5.1.1"),
            (["alias", "add", "prog", "|/usr/bin/true"], "alias prog", "'|/usr/bin/true'", "550 5.7.1 delivery to programs"),
            (["vuser", "map", "info@shop.test", "ghost"], "vuser info@shop.test", "'ghost'", "550 5.1.1"),
            (["catchall", "set", "shop.test", "Ghost"], "catch-all of shop.test", "'Ghost'", "550 5.1.1"),
            (["forward", "set", "bob@shop.test", "\\bob", "nobody"], "forward bob@shop.test", "'nobody'", "550 5.1.1"),
        ]
        for args, what, target, answer in cases:
            with self.subTest(args=args):
                rc, out, err = self.w.run(*args)
                self.assertEqual(rc, 0, err)
                lines = err.strip().splitlines()
                self.assertEqual(len(lines), 1, err)
                for needle in ("warning", what, target, "goes nowhere", answer):
                    self.assertIn(needle, lines[0])
                self.assertNotIn("vpsmail-loop-probe", err)
        for args in (["alias", "add", "fine", "bob", "ann@remote.test", "\\ann"],
                     ["vuser", "map", "gone@shop.test", "error:nouser 550 gone"],
                     ["vuser", "map", "bob+*@shop.test", "%1%3@remote.test"],
                     ["catchall", "set", "shop.test", "%1@remote.test"],
                     ["forward", "set", "ann@shop.test", "\\ann", "bob"]):
            with self.subTest(args=args):
                rc, _, err = self.w.run(*args)
                self.assertEqual((rc, err), (0, ""))
        rc, _, err = self.w.run("-q", "alias", "add", "quiet", "ghost")
        self.assertEqual((rc, err), (0, ""))

    def test_catchall_loop_warning_names_no_probe(self):
        rc, _, err = self.w.run("catchall", "set", "shop.test", "z@shop.test")
        self.assertEqual(rc, 0)
        self.assertIn("loop", err)
        self.assertIn("*@shop.test", err)
        self.assertNotIn("vpsmail-loop-probe", err)


class RouteTestCommand(CliTest):
    def setUp(self):
        super().setUp()
        self.w.ok("domain", "add", "shop.test")
        self.w.ok("user", "add", "bob@shop.test", "--password-hash", HASH)
        self.w.ok("vuser", "map", "info@shop.test", "bob")
        self.w.ok("vuser", "map", "busy@shop.test", "error:tempfail try later")
        self.w.ok("alias", "add", "team", "bob", "ann@remote.test", "ghost")

    def test_json_schema_and_exit_codes(self):
        rc, out, err = self.w.run("route", "test", "--json", "info@shop.test")
        self.assertEqual(rc, 0, err)
        doc = json.loads(out)
        self.assertEqual(len(doc), 1)
        r = doc[0]
        self.assertEqual(r["address"], "info@shop.test")
        self.assertEqual(r["outcome"], "deliver")
        self.assertEqual(r["targets"], [{"kind": "mailbox", "address": "bob@shop.test"}])
        self.assertEqual(r["failures"], [])
        self.assertEqual(r["steps"][0], {"stage": "vuser", "key": "info@shop.test", "result": "bob", "matched": True,
                                         "depth": 0})
        rc, out, _ = self.w.run("route", "test", "--json", "team@shop.test")
        self.assertEqual(rc, 67)
        r = json.loads(out)[0]
        self.assertEqual(r["outcome"], "partial")
        self.assertEqual(r["failures"], [{"target": "ghost@shop.test", "code": 550, "status": "5.1.1",
                                          "text": "user unknown"}])
        self.assertIn({"kind": "remote", "address": "ann@remote.test"}, r["targets"])
        rc, out, _ = self.w.run("route", "test", "--json", "busy@shop.test")
        self.assertEqual((rc, json.loads(out)[0]["outcome"]), (75, "tempfail"))
        rc, out, _ = self.w.run("route", "test", "busy@shop.test", "nobody@shop.test")
        self.assertEqual(rc, 67)
        rc, out, _ = self.w.run("route", "test", "bob+news@shop.test")
        self.assertEqual(rc, 0)
        rc, out, _ = self.w.run("route", "test", "--json", "bob+news@shop.test")
        self.assertEqual(json.loads(out)[0]["targets"], [{"kind": "mailbox", "address": "bob@shop.test",
                                                          "detail": "news"}])

    def test_human_output_shows_every_stage(self):
        out = self.w.ok("route", "test", "bob@shop.test")
        self.assertEqual(out.splitlines()[0], "bob@shop.test")
        stages = [l.split()[0] for l in out.split("  steps:\n")[1].split("  targets:")[0].splitlines()]
        self.assertEqual(stages, ["vuser", "alias", "forward", "user"])
        self.assertIn("    mailbox    bob@shop.test\n", out)
        self.assertTrue(out.endswith("  outcome: deliver\n"))
        rc, out, _ = self.w.run("route", "test", "nobody@shop.test")
        stages = [l.split()[0] for l in out.split("  steps:\n")[1].split("  failures:")[0].splitlines()]
        self.assertEqual(stages, ["vuser", "alias", "forward", "user", "catchall", "bounce"])
        self.assertIn("nobody@shop.test: 550 5.1.1 user unknown", out)

    def test_backslash_is_the_mailbox_itself(self):
        # docs/routing.md rule 8: route test took '\\bob@d' for an invalid address.
        self.w.ok("alias", "add", "bob", "ann@remote.test")
        for address in ("\\bob@shop.test", "\\bob", "\\Bob+x@shop.test"):
            with self.subTest(address=address):
                rc, out, err = self.w.run("--json", "route", "test", address)
                self.assertEqual(rc, 0, err)
                r = json.loads(out)[0]
                self.assertEqual(r["targets"], [{"kind": "mailbox", "address": "bob@shop.test"}])
                self.assertNotIn("alias", [s["stage"] for s in r["steps"]])
        rc, out, _ = self.w.run("--json", "route", "test", "\\ghost@shop.test")
        self.assertEqual(rc, 67)
        self.assertEqual(json.loads(out)[0]["failures"][0]["status"], "5.1.1")

    def test_bare_recipient_uses_primary_domain(self):
        self.w.ok("domain", "add", "other.test")
        self.w.ok("user", "add", "bob@other.test", "--password-hash", HASH)
        r = json.loads(self.w.ok("--json", "route", "test", "bob"))[0]
        self.assertEqual(r["targets"], [{"kind": "mailbox", "address": "bob@shop.test"}])
        self.w.write_config('[server]\nprimary_domain = "other.test"\n')
        r = json.loads(self.w.ok("--json", "route", "test", "bob"))[0]
        self.assertEqual(r["targets"], [{"kind": "mailbox", "address": "bob@other.test"}])


class ConfigCommands(CliTest):
    def test_show_prints_defaults(self):
        out = self.w.ok("config", "show")
        self.assertIn("plus_detail = true", out)
        self.assertIn('detail_delimiter = "+"', out)
        self.assertIn('path = "%s"' % self.w.db, out)
        doc = json.loads(self.w.ok("--json", "config", "show"))
        self.assertEqual(doc["delivery"], {"allow_programs": False, "allow_files": False, "allow_includes": False,
                                           "program_user": "nobody"})
        self.assertEqual(doc["paths"]["mail_root"], self.w.mail_root)
        self.assertIs(doc["smtp"]["strict_8bitmime"], False)
        self.assertIn("strict_8bitmime = false", out)

    def test_example_config_is_valid_and_complete(self):
        example = os.path.join(SOURCE, "vpsmail.toml.example")
        rc, out, err = self.w.run("--config", example, "--json", "config", "show", config=False)
        self.assertEqual(rc, 0, err)
        doc = json.loads(out)
        text = open(example).read()
        for section, keys in doc.items():
            self.assertIn("[%s]" % section, text)
            for key in keys:
                self.assertRegex(text, r"(?m)^#? ?%s = " % key, "%s.%s is not in vpsmail.toml.example" % (section, key))

    def test_check_warns(self):
        self.w.ok("domain", "add", "shop.test")
        out = self.w.ok("config", "check")
        self.assertIn("postmaster is not set", out)
        self.w.write_config('[routing]\npostmaster = "bob"\n[delivery]\nallow_programs = true\n')
        self.w.ok("user", "add", "bob@shop.test", "--password-hash", HASH)
        doc = json.loads(self.w.ok("--json", "config", "check"))
        self.assertEqual(len(doc["warnings"]), 1)
        self.assertIn("allow_programs", doc["warnings"][0])
        self.w.write_config('[routing]\npostmaster = "bob"\n')
        self.assertTrue(self.w.ok("config", "check").endswith("ok\n"))


class StoreLocation(unittest.TestCase):
    """--db, then $VPSMAIL_DB, then [store] path, then the default under the state folder."""

    def setUp(self):
        require_binary(self)
        self.w = World()

    def tearDown(self):
        self.w.close()

    def domains(self, path):
        p = subprocess.run(["sqlite3", path, "select name from domains order by name"], capture_output=True, text=True)
        return p.stdout.split()

    def test_precedence(self):
        a, b, c = (os.path.join(self.w.dir, n + ".db") for n in "abc")
        self.w.write_config('[store]\npath = "%s"\n' % c)
        env = self.w.env()
        env["VPSMAIL_DB"] = b
        subprocess.run([BIN, "--config", self.w.config_path, "--db", a, "domain", "add", "a.test"], env=env, check=True)
        subprocess.run([BIN, "--config", self.w.config_path, "domain", "add", "b.test"], env=env, check=True)
        del env["VPSMAIL_DB"]
        subprocess.run([BIN, "--config", self.w.config_path, "domain", "add", "c.test"], env=env, check=True)
        env["VPSMAIL_CONFIG"] = self.w.config_path
        subprocess.run([BIN, "domain", "add", "d.test"], env=env, check=True)
        self.assertEqual(self.domains(a), ["a.test"])
        self.assertEqual(self.domains(b), ["b.test"])
        self.assertEqual(self.domains(c), ["c.test", "d.test"])

    def test_default_is_created_0600_in_a_0700_folder(self):
        self.w.write_config("")
        rc, _, err = self.w.run("domain", "add", "shop.test", db=False)
        self.assertEqual(rc, 0, err)
        path = os.path.join(self.w.dir, "state", "vpsmail.db")  # [paths] state_dir from World's config
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode), 0o700)

    def test_xdg_default_for_a_normal_user(self):
        prefix = as_nobody()
        if prefix is None:
            self.skipTest("running as root, and nobody cannot run %s (setpriv missing or folder closed)" % BIN)
        home = os.path.join(self.w.dir, "home")
        os.makedirs(home)
        os.chmod(self.w.dir, 0o755)
        os.chmod(home, 0o777)
        env = {"PATH": "/usr/bin:/bin", "HOME": home, "XDG_STATE_HOME": os.path.join(home, "state"),
               "XDG_CONFIG_HOME": os.path.join(home, "config")}
        argv = prefix + [BIN, "domain", "add", "shop.test"]
        p = subprocess.run(argv, env=env, capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        path = os.path.join(home, "state", "vpsmail", "vpsmail.db")
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        self.assertEqual(self.domains(path), ["shop.test"])


    def test_reading_commands_do_not_create_a_store(self):
        typo = os.path.join(self.w.dir, "typo", "x.db")
        reads = [["domain", "list"], ["domain", "show", "shop.test"], ["user", "list"], ["user", "show", "bob@shop.test"],
                 ["alias", "list"], ["alias", "show", "sales"], ["vuser", "list"], ["forward", "list"],
                 ["forward", "show", "bob@shop.test"], ["catchall", "show"], ["route", "test", "bob@shop.test"],
                 ["config", "check"], ["--json", "domain", "list"]]
        for args in reads:
            rc, out, err = self.w.run("--db", typo, *args, db=False)
            self.assertEqual(rc, 78, "vpsmail %s: exit %d, stderr %r" % (" ".join(args), rc, err))
            self.assertEqual(out, "")
            self.assertEqual(len(err.strip().splitlines()), 1, err)
            self.assertIn("store %s does not exist" % typo, err)
            self.assertFalse(os.path.exists(os.path.dirname(typo)), "vpsmail %s made %s" % (" ".join(args), typo))
        # The same through $VPSMAIL_DB and the default path (what a completion as another user runs).
        env = self.w.env()
        env["VPSMAIL_DB"] = typo
        p = subprocess.run([BIN, "--config", self.w.config_path, "-q", "user", "list"], env=env, capture_output=True, text=True)
        self.assertEqual(p.returncode, 78, p.stderr)
        rc, _, err = self.w.run("domain", "list", db=False)
        self.assertEqual(rc, 78, err)
        self.assertFalse(os.path.exists(os.path.join(self.w.dir, "state", "vpsmail.db")))
        # A command that writes creates it.
        rc, _, err = self.w.run("--db", typo, "domain", "add", "shop.test", db=False)
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.domains(typo), ["shop.test"])

    def test_config_show_names_the_store_in_use(self):
        a, b, c = (os.path.join(self.w.dir, n + ".db") for n in "abc")
        self.w.write_config('[store]\npath = "%s"\n' % c)
        env = self.w.env()
        env["VPSMAIL_DB"] = b

        def shown(*args):
            p = subprocess.run([BIN, "--config", self.w.config_path] + list(args) + ["--json", "config", "show"], env=env,
                               capture_output=True, text=True)
            self.assertEqual(p.returncode, 0, p.stderr)
            return json.loads(p.stdout)["store"]["path"]

        self.assertEqual(shown("--db", a), a)
        self.assertEqual(shown(), b)
        del env["VPSMAIL_DB"]
        self.assertEqual(shown(), c)
        p = subprocess.run([BIN, "--config", self.w.config_path, "--db", a, "config", "show"], env=env, capture_output=True,
                           text=True)
        self.assertIn('path = "%s"' % a, p.stdout)


class VersionAndHelp(unittest.TestCase):
    def setUp(self):
        require_binary(self)

    def test_version_and_help(self):
        p = subprocess.run([BIN, "--version"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0)
        self.assertRegex(p.stdout.strip(), r"^vpsmail \d+\.\d+\.\d+$")
        p = subprocess.run([BIN, "--help"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0)
        for group in ("domain", "user", "alias", "vuser", "forward", "catchall", "route", "config"):
            self.assertIn(group, p.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
