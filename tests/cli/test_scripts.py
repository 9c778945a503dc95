#!/usr/bin/env python3
"""The README's second command, scripts/test.sh, and what it runs (scripts/deps.sh,
scripts/fuzz.sh), driven with stub tools on PATH that record how they were called: test.sh
turns the tests on whatever the CMake cache says, every ctest fails when it finds no test,
deps.sh installs clang and libFuzzer's runtime with the test packages, and fuzz.sh runs every
target of tests/fuzz, fails on a crash and fails (not skips) without clang.

Environment: VPSMAIL_SOURCE, the source tree (default: two folders above this file). Needs no
binary and builds nothing."""

import os
import shutil
import stat
import subprocess
import tempfile
import unittest
from pathlib import Path

SOURCE = Path(os.environ.get("VPSMAIL_SOURCE") or Path(__file__).resolve().parents[2])
FUZZ_TARGETS = sorted(p.name[:-len("_fuzz.cpp")] for p in (SOURCE / "tests" / "fuzz").glob("*_fuzz.cpp"))


def write_tool(folder, name, body):
    path = Path(folder) / name
    path.write_text("#!/bin/bash\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


class Sandbox:
    """A copy of scripts/ in a temporary root, a PATH of stubs that log their argv to calls.log,
    plus the real tools the scripts need."""

    BASE_TOOLS = ("bash", "dirname", "basename", "mktemp", "rm", "mkdir", "cat", "grep", "nproc")

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="vpsmail-scripts-"))
        self.root = self.dir / "root"
        shutil.copytree(SOURCE / "scripts", self.root / "scripts")
        shutil.copytree(SOURCE / "tests" / "fuzz", self.root / "tests" / "fuzz")
        self.bin = self.dir / "bin"
        self.bin.mkdir()
        for tool in self.BASE_TOOLS:
            real = shutil.which(tool)
            if real:
                os.symlink(real, self.bin / tool)
        self.log = self.dir / "calls.log"

    def stub(self, name, body=""):
        """A tool that logs `name arg...` and runs `body`."""
        write_tool(self.bin, name, f'printf "%s\\n" "{name} $*" >>"{self.log}"\n{body}')

    def run(self, script, *args, env=None):
        e = {"PATH": str(self.bin), "HOME": str(self.dir), "FUZZ_SECONDS": "1"}
        e.update(env or {})
        return subprocess.run([str(self.bin / "bash"), str(self.root / "scripts" / script), *args],
                              capture_output=True, text=True, timeout=120, env=e, cwd=self.dir)

    def calls(self):
        return self.log.read_text().splitlines() if self.log.exists() else []

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


class ScriptTest(unittest.TestCase):
    def setUp(self):
        self.s = Sandbox()

    def tearDown(self):
        self.s.close()


class TestScript(ScriptTest):
    def stub_stages(self, fuzz_exit=0):
        s = self.s
        for name in ("deps.sh", "build.sh"):
            write_tool(s.root / "scripts", name, f'printf "%s\\n" "{name} $*" >>"{s.log}"\n')
        write_tool(s.root / "scripts", "fuzz.sh", f'printf "%s\\n" "fuzz.sh $*" >>"{s.log}"\nexit {fuzz_exit}\n')
        s.stub("ctest")
        for build in ("build", "build-asan"):  # what the real build.sh would have made
            (s.root / build).mkdir()

    def test_tests_on_and_no_empty_ctest(self):
        self.stub_stages()
        result = self.s.run("test.sh")
        self.assertEqual(result.returncode, 0, result.stderr)
        calls = self.s.calls()
        builds = [c for c in calls if c.startswith("build.sh ")]
        ctests = [c for c in calls if c.startswith("ctest ")]
        self.assertEqual(len(builds), 2, calls)
        for b in builds:  # the quick start's build/ has VPSMAIL_TESTS=OFF in its cache
            self.assertIn("-DVPSMAIL_TESTS=ON", b.split())
        self.assertEqual(len(ctests), 2, calls)
        for c in ctests:
            self.assertIn("--no-tests=error", c.split())
        self.assertIn("deps.sh test", calls)
        self.assertIn("fuzz.sh ", [c[:len("fuzz.sh ")] for c in calls])

    def test_fuzz_failure_fails(self):
        self.stub_stages(fuzz_exit=1)
        self.assertNotEqual(self.s.run("test.sh").returncode, 0)


class DepsScript(ScriptTest):
    def test_test_packages_include_clang_and_libfuzzer(self):
        s = self.s
        s.stub("dpkg-query", "exit 1\n")  # nothing is installed
        write_tool(s.bin, "id", "echo 1000\n")  # not root: it lists what is missing and stops
        result = s.run("deps.sh", "test")
        self.assertEqual(result.returncode, 77, result.stderr)
        missing = result.stderr.split("missing packages:", 1)[1].split(";", 1)[0].split()
        for package in ("clang", "libclang-rt-14-dev", "mandoc", "g++"):
            self.assertIn(package, missing)
        build = s.run("deps.sh", "build")
        self.assertNotIn("clang", build.stderr.split("missing packages:", 1)[1].split(";", 1)[0].split())


class FuzzScript(ScriptTest):
    def stub_toolchain(self, crash=None):
        """clang, clang++ and a cmake whose --build makes each fuzz_NAME target a copy of a stub
        that logs its run (and exits 1 for the target `crash`)."""
        s = self.s
        for tool in ("clang", "clang++", "ccache"):
            s.stub(tool)
        runner = write_tool(s.dir, "runner", f'printf "%s\\n" "run ${{0##*/}} $*" >>"{s.log}"\n'
                                             f'[[ ${{0##*/}} == fuzz_{crash} ]] && exit 1\nexit 0\n')
        s.stub("cmake", f"""if [[ $1 == --build ]]; then
  mkdir -p "$2/tests/fuzz"
  for word in "${{@:3}}"; do
    [[ $word == --target ]] || cp "{runner}" "$2/tests/fuzz/$word"
  done
fi
""")
        if not (s.bin / "cp").exists():
            os.symlink(shutil.which("cp"), s.bin / "cp")

    def test_every_target_runs(self):
        self.assertTrue(FUZZ_TARGETS, "no tests/fuzz/*_fuzz.cpp")
        self.stub_toolchain()
        result = self.s.run("fuzz.sh", env={"FUZZ_BUILD_DIR": str(self.s.dir / "build-fuzz")})
        self.assertEqual(result.returncode, 0, result.stderr)
        runs = [c.split()[1] for c in self.s.calls() if c.startswith("run ")]
        self.assertEqual(sorted(runs), [f"fuzz_{t}" for t in FUZZ_TARGETS])
        for c in self.s.calls():
            if c.startswith("run "):
                self.assertIn("-max_total_time=1", c.split())

    def test_a_crash_fails(self):
        self.stub_toolchain(crash=FUZZ_TARGETS[0])
        result = self.s.run("fuzz.sh", env={"FUZZ_BUILD_DIR": str(self.s.dir / "build-fuzz")})
        self.assertNotEqual(result.returncode, 0)

    def test_no_clang_fails(self):
        result = self.s.run("fuzz.sh")
        self.assertNotEqual(result.returncode, 0, "fuzz.sh without clang must fail, not skip")
        self.assertIn("clang", result.stderr)
        self.assertIn("deps.sh", result.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
