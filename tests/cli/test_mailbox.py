"""`vpsmail mailbox list|create|delete|rename`: an account's Maildir++ folders from the command
line (issue 11 section 1), its --json, and its bad input: one stderr line, the sysexits code,
nothing made outside the account's Maildir."""

import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import HASH, CliTest  # noqa: E402

EX_USAGE, EX_DATAERR, EX_NOINPUT, EX_NOUSER, EX_CANTCREAT = 64, 65, 66, 67, 73


def tree(root):
    """Every path under root, relative, sorted."""
    out = []
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            out.append(os.path.relpath(os.path.join(folder, name), root))
    return sorted(out)


class Mailbox(CliTest):
    def setUp(self):
        super().setUp()
        self.w.ok("domain", "add", "shop.test")
        self.w.ok("user", "add", "ann@shop.test", "--password-hash", HASH)
        self.maildir = os.path.join(self.w.mail_root, "shop.test", "ann")

    def names(self):
        return [(e["name"], e["attributes"]) for e in json.loads(self.w.ok("--json", "mailbox", "list", "ann@shop.test"))]

    def test_missing_maildir_lists_inbox_and_is_not_made(self):
        out = self.w.ok("mailbox", "list", "ANN@Shop.Test")
        self.assertEqual(out.splitlines(), ["SUBSCRIBED  ATTRIBUTES      NAME", "no          \\HasNoChildren  INBOX"])
        self.assertEqual(json.loads(self.w.ok("mailbox", "list", "ann@shop.test", "--json")),
                         [{"name": "INBOX", "utf7": "INBOX", "attributes": ["\\HasNoChildren"], "selectable": True,
                           "subscribed": False}])
        self.assertFalse(os.path.exists(self.w.mail_root))

    def test_create_list_rename_delete(self):
        self.assertEqual(self.w.ok("mailbox", "create", "ann@shop.test", "Sent"), "")
        self.w.ok("mailbox", "create", "ann@shop.test", "Archive/2026")
        self.w.ok("mailbox", "create", "ann@shop.test", "Entw\u00fcrfe")
        for folder in (".Sent", ".Archive.2026", ".Entw&APw-rfe"):
            for sub in ("cur", "new", "tmp"):
                self.assertTrue(os.path.isdir(os.path.join(self.maildir, folder, sub)), folder + "/" + sub)
        self.assertEqual(self.names(), [
            ("INBOX", ["\\HasNoChildren"]),
            ("Archive", ["\\Noselect", "\\HasChildren"]),
            ("Archive/2026", ["\\HasNoChildren"]),
            ("Entw\u00fcrfe", ["\\HasNoChildren"]),
            ("Sent", ["\\HasNoChildren", "\\Sent"]),
        ])
        listed = json.loads(self.w.ok("--json", "mailbox", "list", "ann@shop.test"))
        self.assertEqual(listed[3]["utf7"], "Entw&APw-rfe")
        table = self.w.ok("mailbox", "list", "ann@shop.test").splitlines()
        self.assertEqual(table[2].split(), ["no", "\\Noselect,\\HasChildren", "Archive"])

        # A message in INBOX moves with an INBOX rename; the folder keeps its files on a rename.
        os.makedirs(os.path.join(self.maildir, "new"), exist_ok=True)
        with open(os.path.join(self.maildir, "new", "1.M1P1Q1.h,S=5"), "w") as f:
            f.write("hello")
        with open(os.path.join(self.maildir, ".Sent", "uidvalidity"), "w") as f:
            f.write("7")
        self.w.ok("mailbox", "rename", "ann@shop.test", "INBOX", "Old")
        self.assertEqual(os.listdir(os.path.join(self.maildir, ".Old", "new")), ["1.M1P1Q1.h,S=5"])
        self.assertEqual(os.listdir(os.path.join(self.maildir, "new")), [])
        self.w.ok("mailbox", "rename", "ann@shop.test", "Sent", "Sent Items")
        with open(os.path.join(self.maildir, ".Sent Items", "uidvalidity")) as f:
            self.assertEqual(f.read(), "7")
        self.w.ok("mailbox", "rename", "ann@shop.test", "Archive", "Years")
        self.assertTrue(os.path.isdir(os.path.join(self.maildir, ".Years.2026")))
        table = self.w.ok("mailbox", "list", "ann@shop.test").splitlines()
        self.assertIn("no          \\HasNoChildren          Sent Items", table)

        self.w.ok("mailbox", "delete", "ann@shop.test", "Old")
        self.assertFalse(os.path.exists(os.path.join(self.maildir, ".Old")))
        self.w.ok("mailbox", "delete", "ann@shop.test", "Years/2026")
        self.assertEqual([n for n, _ in self.names()], ["INBOX", "Entw\u00fcrfe", "Sent Items"])

    def test_verbose_says_what_was_done(self):
        rc, out, err = self.w.run("-v", "mailbox", "create", "ann@shop.test", "inbox/Sub")
        self.assertEqual((rc, out), (0, ""))
        self.assertIn("created mailbox INBOX/Sub of ann@shop.test", err)
        self.assertTrue(os.path.isdir(os.path.join(self.maildir, ".INBOX.Sub")))

    def test_bad_names_make_nothing(self):
        hostile = ["../x", "a/../../b", "..", ".", "a.b", "/abs", "a/", "a//b", "", "a\x01b", "a\nb",
                   "x/" * 16 + "x", "a" * 300]
        for name in hostile:
            with self.subTest(name=name):
                line = self.assertFails(["mailbox", "create", "ann@shop.test", name], EX_DATAERR,
                                        "invalid mailbox name")
                self.assertNotIn("\n", line)
        self.assertFalse(os.path.exists(self.w.mail_root), tree(self.w.dir))
        # %2F is a name like any other, not an escaped '/'.
        self.w.ok("mailbox", "create", "ann@shop.test", "%2F")
        self.assertEqual(tree(self.maildir), ["." + "%2F", ".%2F/cur", ".%2F/maildirfolder", ".%2F/new", ".%2F/tmp",
                                              "cur", "new", "tmp"])

    def test_refusals(self):
        self.w.ok("mailbox", "create", "ann@shop.test", "Sent")
        self.w.ok("mailbox", "create", "ann@shop.test", "A/B")
        cases = [
            (["mailbox", "create", "ann@shop.test", "Sent"], EX_CANTCREAT, "'Sent' exists already"),
            (["mailbox", "create", "ann@shop.test", "inbox"], EX_CANTCREAT, "'INBOX' exists already"),
            (["mailbox", "delete", "ann@shop.test", "Nope"], EX_NOINPUT, "no such mailbox 'Nope'"),
            (["mailbox", "delete", "ann@shop.test", "A"], EX_NOINPUT, "'A' does not exist"),
            (["mailbox", "delete", "ann@shop.test", "INBOX"], EX_DATAERR, "INBOX cannot be deleted"),
            (["mailbox", "rename", "ann@shop.test", "Nope", "X"], EX_NOINPUT, "no such mailbox 'Nope'"),
            (["mailbox", "rename", "ann@shop.test", "Sent", "A/B"], EX_CANTCREAT, "'A/B' exists already"),
            (["mailbox", "rename", "ann@shop.test", "Sent", "INBOX"], EX_CANTCREAT, "'INBOX' exists already"),
            (["mailbox", "rename", "ann@shop.test", "A", "A/B/C"], EX_DATAERR, "into itself"),
            (["mailbox", "list", "bob@shop.test"], EX_NOUSER, "no such user 'bob@shop.test'"),
            (["mailbox", "create", "ann@other.test", "X"], EX_NOUSER, "ann@other.test"),
            (["mailbox", "list", "not an address"], EX_DATAERR, "not an address"),
            (["mailbox", "create", "ann@shop.test"], EX_USAGE, "NAME"),
            (["mailbox", "rename", "ann@shop.test", "Sent"], EX_USAGE, "NEW"),
            (["mailbox", "nosuch"], EX_USAGE, "mailbox nosuch"),
        ]
        before = tree(self.maildir)
        for args, code, needle in cases:
            with self.subTest(args=args):
                self.assertFails(args, code, needle)
        self.assertEqual(tree(self.maildir), before)

    def test_as_root_the_folders_belong_to_the_maildir_owner(self):
        if os.geteuid() != 0:
            self.skipTest("needs root")
        self.w.ok("mailbox", "create", "ann@shop.test", "Sent")  # made as root: root's
        for folder in (self.w.dir, self.w.mail_root, os.path.dirname(self.maildir)):
            os.chmod(folder, 0o755)  # nobody may reach the Maildir
        os.chown(self.maildir, 65534, 65534)
        for sub in ("cur", "new", "tmp"):
            os.chown(os.path.join(self.maildir, sub), 65534, 65534)
        self.w.ok("mailbox", "create", "ann@shop.test", "Drafts")
        st = os.stat(os.path.join(self.maildir, ".Drafts", "cur"))
        self.assertEqual((st.st_uid, st.st_gid), (65534, 65534))
        # Its own folders it renames; Sent, made by root (0700), it may not move: permission.
        self.w.ok("mailbox", "rename", "ann@shop.test", "Drafts", "Drafts2")
        rc, out, err = self.w.run("mailbox", "delete", "ann@shop.test", "Sent")
        self.assertEqual(rc, 77, err)
        self.assertIn("Sent", err)


if __name__ == "__main__":
    unittest.main()
