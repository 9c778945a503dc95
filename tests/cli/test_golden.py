"""Golden routing tables (Postfix-style .in/.ref): each tests/golden/route/NAME.in seeds a
store through the real CLI and asks `route test`; the output must equal NAME.ref.
VPSMAIL_UPDATE_GOLDEN=1 rewrites the .ref files for review.

.in syntax, one per line:
  # text            a comment (the first one says what the file proves)
  @config LINE      a line of vpsmail.toml
  @file NAME TEXT   writes TEXT (\\n for newlines) to $TMP/NAME
  $ ARGS            a vpsmail command that must succeed; its stderr (warnings) goes in the .ref
  ? ADDRESS...      `vpsmail route test ADDRESS...`: output and exit code go in the .ref
$TMP in ARGS and TEXT is the test's temporary folder."""

import glob
import os
import shlex
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import HASH, SOURCE, World, require_binary  # noqa: E402

GOLDEN = os.path.join(SOURCE, "tests", "golden", "route")


def run_case(path):
    w = World()
    try:
        config, out = "", []
        for raw in open(path, encoding="utf-8").read().splitlines():
            line = raw.replace("$TMP", w.dir)
            if not line.strip() or line.startswith("#"):
                continue
            if line.startswith("@config "):
                config += line[len("@config "):] + "\n"
                w.write_config(config)
            elif line.startswith("@file "):
                _, name, text = line.split(" ", 2)
                with open(os.path.join(w.dir, name), "w") as f:
                    f.write(text.replace("\\n", "\n"))
            elif line.startswith("$ "):
                args = shlex.split(line[2:])
                if args[:2] == ["user", "add"] and "--password-hash" not in args:
                    args += ["--password-hash", HASH]
                rc, _, err = w.run(*args)
                if rc != 0:
                    raise AssertionError("%s: setup command failed (exit %d): %s\n%s" % (path, rc, line, err))
                out.append(raw + "\n" + "".join("! " + e + "\n" for e in err.splitlines()))
            elif line.startswith("? "):
                rc, stdout, err = w.run("route", "test", *shlex.split(line[2:]))
                out.append("%s\n%s%sexit %d\n" % (raw, stdout, "".join("! " + e + "\n" for e in err.splitlines()), rc))
            else:
                raise AssertionError("%s: cannot read line %r" % (path, raw))
        return "".join(out).replace(w.dir, "$TMP")
    finally:
        w.close()


class Golden(unittest.TestCase):
    def setUp(self):
        require_binary(self)

    def test_route_tables(self):
        cases = sorted(glob.glob(os.path.join(GOLDEN, "*.in")))
        self.assertGreater(len(cases), 0, "no golden files in " + GOLDEN)
        update = os.environ.get("VPSMAIL_UPDATE_GOLDEN") == "1"
        for case in cases:
            ref = case[:-3] + ".ref"
            with self.subTest(case=os.path.basename(case)):
                got = run_case(case)
                if update:
                    with open(ref, "w", encoding="utf-8") as f:
                        f.write(got)
                    continue
                self.assertTrue(os.path.exists(ref), "missing %s (run with VPSMAIL_UPDATE_GOLDEN=1)" % ref)
                want = open(ref, encoding="utf-8").read()
                self.maxDiff = None
                self.assertEqual(got, want, "got (left) differs from %s (right)" % ref)


if __name__ == "__main__":
    unittest.main(verbosity=2)
