#!/usr/bin/env python3
"""The manual pages and shell completions cover the real command tree (docs/architecture.md section 7).

Walks the CLI11 tree of the built binary through its help (`vpsmail --help`,
`vpsmail GROUP --help`, `vpsmail GROUP COMMAND --help`) and fails, naming what is missing,
when a group, command or long option is absent from completions/vpsmail.bash,
completions/_vpsmail or completions/vpsmail.fish, or a group, command, positional or option
from man/vpsmail-GROUP.1 (global options from man/vpsmail.1). The completions are also run,
when the shells are installed, to check that each name is offered where it belongs: bash and
fish for real, zsh through stubs of _arguments and _describe that print what the completion
functions would offer. Every page in man/ must be clean under `mandoc -T lint -W warning`.

Environment: VPSMAIL_BIN, the binary (required: the tree tests are skipped without it);
VPSMAIL_SOURCE, the source tree (default: two folders above this file).
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
from dataclasses import dataclass, field
from pathlib import Path

SOURCE = Path(os.environ.get("VPSMAIL_SOURCE") or Path(__file__).resolve().parents[2])
MAN = SOURCE / "man"
COMPLETIONS = SOURCE / "completions"
BASH_FILE = COMPLETIONS / "vpsmail.bash"
ZSH_FILE = COMPLETIONS / "_vpsmail"
FISH_FILE = COMPLETIONS / "vpsmail.fish"

HELP_SECTIONS = {"Options:": "options", "Positionals:": "positionals", "Subcommands:": "subcommands"}


@dataclass
class Help:
    """What one `--help` page lists."""

    options: list = field(default_factory=list)  # every name: "-q", "--quiet", ...
    positionals: list = field(default_factory=list)
    subcommands: list = field(default_factory=list)

    @property
    def long_options(self):
        return [o for o in self.options if o.startswith("--")]


@dataclass
class Command:
    group: str
    name: str
    long_options: list  # the command's own, without the global ones
    positionals: list
    leaf: bool = False  # a command with no group (serve): name == group
    own_argv: bool = False  # parses its own flags after its name (sendmail): CLI11 lists only ARGS

    @property
    def words(self):
        """What is typed to reach it: ['user', 'add'], or ['serve']."""
        return [self.group] if self.leaf else [self.group, self.name]


@dataclass
class Tree:
    global_options: list  # every name, short and long
    groups: dict  # group -> [Command]

    @property
    def global_long_options(self):
        return [o for o in self.global_options if o.startswith("--")]


def parse_help(text):
    """Parses CLI11 2.x help: section headings at column 0, one entry per line indented by
    exactly two spaces (its first word is the name), descriptions that do not fit continue
    on lines indented further."""
    help_ = Help()
    section = None
    for line in text.splitlines():
        if not line.strip():
            section = None
            continue
        if not line.startswith(" "):
            section = HELP_SECTIONS.get(line.strip())
            continue
        if section is None or line.startswith("   "):
            continue
        name = line.split()[0]
        if section == "options":
            help_.options.extend(n for n in name.split(",") if n.startswith("-"))
        else:
            getattr(help_, section).append(name)
    return help_


def isolated_env(home):
    """An environment in which nothing the test runs can find a real store or configuration."""
    env = dict(os.environ)
    for name in ("VPSMAIL_DB", "VPSMAIL_CONFIG"):
        env.pop(name, None)
    env.update(HOME=home, XDG_CONFIG_HOME=f"{home}/config", XDG_STATE_HOME=f"{home}/state", LC_ALL="C")
    return env


def read_tree(binary, home):
    def help_of(*words):
        result = subprocess.run([binary, *words, "--help"], capture_output=True, text=True, timeout=60,
                                env=isolated_env(home))
        if result.returncode != 0:
            raise AssertionError(f"'vpsmail {' '.join(words)} --help' exited {result.returncode}: {result.stderr}")
        return parse_help(result.stdout)

    top = help_of()
    if not top.subcommands or not top.options:
        raise AssertionError("'vpsmail --help' lists no subcommands or options: has CLI11's help format changed?")
    globals_ = set(top.options)
    groups = {}
    for group in top.subcommands:
        commands = []
        group_help = help_of(group)
        if not group_help.subcommands:
            # A command of its own (serve): checked like a command named after itself.
            own = [o for o in group_help.long_options if o not in globals_]
            if not own and not group_help.positionals:
                raise AssertionError(f"'vpsmail {group} --help' lists no commands and no options of its own")
            groups[group] = [Command(group, group, own, group_help.positionals, leaf=True,
                                     own_argv=not own)]
            continue
        for name in group_help.subcommands:
            command_help = help_of(group, name)
            own = [o for o in command_help.long_options if o not in globals_]
            commands.append(Command(group, name, own, command_help.positionals))
        groups[group] = commands
    return Tree(top.options, groups)


def has_word(text, word):
    """`word` occurs in `text` as a whole word (names may contain '-')."""
    return re.search(r"(?<![\w-])" + re.escape(word) + r"(?![\w-])", text) is not None


def render_man(page):
    """The page as plain text, one line per paragraph where possible, overstrike removed."""
    result = subprocess.run(["mandoc", "-T", "ascii", "-O", "width=1000", str(page)], capture_output=True,
                            text=True, timeout=60)
    if result.returncode != 0:
        raise AssertionError(f"mandoc cannot render {page.name}: {result.stderr}")
    plain = re.sub(r".\x08", "", result.stdout)
    return " ".join(plain.split())


class TreeTest(unittest.TestCase):
    tree = None

    @classmethod
    def setUpClass(cls):
        binary = os.environ.get("VPSMAIL_BIN")
        if not binary:
            raise unittest.SkipTest("VPSMAIL_BIN is not set: set it to the built vpsmail binary "
                                    "(ctest sets it) to check the completions and manual pages")
        if not os.access(binary, os.X_OK):
            raise AssertionError(f"VPSMAIL_BIN={binary} is not an executable file")
        cls.home = tempfile.TemporaryDirectory(prefix="vpsmail-docs-")
        if TreeTest.tree is None:
            TreeTest.tree = read_tree(binary, cls.home.name)
        cls.tree = TreeTest.tree

    @classmethod
    def tearDownClass(cls):
        cls.home.cleanup()

    def report(self, missing, where):
        if missing:
            self.fail(f"{len(missing)} missing from {where}:\n  " + "\n  ".join(missing))


class CompletionFilesTest(TreeTest):
    """Every group, command and long option is written in each completion file."""

    def check_file(self, path, option_present):
        self.assertTrue(path.is_file(), f"{path} does not exist")
        text = path.read_text()
        missing = []
        for option in self.tree.global_long_options:
            if not option_present(text, option):
                missing.append(f"global option {option}")
        for group, commands in self.tree.groups.items():
            if not has_word(text, group):
                missing.append(f"group '{group}'")
            for c in commands:
                if not has_word(text, c.name):
                    missing.append(f"command '{group} {c.name}'")
                for option in c.long_options:
                    if not option_present(text, option):
                        missing.append(f"option {option} of '{group} {c.name}'")
        self.report(missing, path.relative_to(SOURCE))

    def test_bash(self):
        self.check_file(BASH_FILE, has_word)

    def test_zsh(self):
        self.check_file(ZSH_FILE, has_word)

    def test_fish(self):
        # fish spells a long option `-l name` (or `--long-option name`).
        def present(text, option):
            name = re.escape(option[2:])
            return re.search(r"(?:\s-l\s+|--long(?:-option)?[\s=]+)['\"]?" + name + r"(?![\w-])", text) is not None

        self.check_file(FISH_FILE, present)


class CompletionBehaviourTest(TreeTest):
    """Run the completions: each name is offered where it belongs."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # A `vpsmail` that lists nothing, so the domain and account lookups read no real store.
        cls.fake_bin = Path(cls.home.name) / "bin"
        cls.fake_bin.mkdir()
        fake = cls.fake_bin / "vpsmail"
        fake.write_text("#!/bin/sh\nexit 0\n")
        fake.chmod(0o755)

    def cases(self):
        """(words before the cursor, the word being completed, names that must be offered)."""
        t = self.tree
        yield [], "", list(t.groups)
        yield [], "--", t.global_long_options
        for group, commands in t.groups.items():
            if not commands[0].leaf:
                yield [group], "", [c.name for c in commands]
            for c in commands:
                if not c.own_argv:  # the global options go before such a command, not after
                    yield c.words, "--", c.long_options + t.global_long_options

    def env(self):
        env = isolated_env(self.home.name)
        env["PATH"] = f"{self.fake_bin}{os.pathsep}{env.get('PATH', '')}"
        return env

    def compare(self, shell, results):
        missing = []
        for (words, current, expected), offered in zip(self.cases(), results):
            line = " ".join(["vpsmail", *words, current])
            for name in expected:
                if name not in offered:
                    missing.append(f"'{name}' not offered for '{line}'")
        self.report(missing, f"what the {shell} completion offers")

    def test_bash(self):
        if not shutil.which("bash"):
            self.skipTest("bash is not installed")
        script = [f"source {quote_sh(BASH_FILE)}",
                  "complete -p vpsmail >/dev/null || { echo 'no completion registered for vpsmail' >&2; exit 1; }"]
        for words, current, _ in self.cases():
            all_words = " ".join(quote_sh(w) for w in ["vpsmail", *words, current])
            script.append(f"COMP_WORDS=({all_words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); "
                          "COMP_LINE=\"${COMP_WORDS[*]}\"; COMP_POINT=${#COMP_LINE}; COMPREPLY=(); _vpsmail; "
                          "echo \"@@ ${COMPREPLY[*]}\"")
        result = subprocess.run(["bash", "--norc", "--noprofile", "-c", "\n".join(script)], capture_output=True,
                                text=True, timeout=120, env=self.env())
        self.assertEqual(result.returncode, 0, result.stderr)
        results = [line[3:].split() for line in result.stdout.splitlines() if line.startswith("@@ ")]
        self.assertEqual(len(results), len(list(self.cases())), result.stdout + result.stderr)
        self.compare("bash", results)

    def test_fish(self):
        if not shutil.which("fish"):
            self.skipTest("fish is not installed")
        script = [f"source {quote_sh(FISH_FILE)}"]
        for words, current, _ in self.cases():
            line = " ".join(["vpsmail", *words, current])
            script.append(f"echo '@@'; complete -C {quote_sh(line)}")
        result = subprocess.run(["fish", "--no-config", "-c", "\n".join(script)], capture_output=True, text=True,
                                timeout=120, env=self.env())
        self.assertEqual(result.returncode, 0, result.stderr)
        blocks = result.stdout.split("@@\n")[1:]
        self.assertEqual(len(blocks), len(list(self.cases())), result.stdout + result.stderr)
        results = [[line.split("\t")[0] for line in block.splitlines()] for block in blocks]
        self.compare("fish", results)


    def test_zsh(self):
        # Completion widgets only run inside the line editor, so the zsh functions are driven
        # through stubs: _arguments sets $state and $words as the real one would for the line
        # being completed (a plan per case), or prints its specs; _describe prints its items.
        if not shutil.which("zsh"):
            self.skipTest("zsh is not installed")
        script = [
            "typeset -ga __plan; integer __n=0",
            "_arguments() { (( __n++ )); local step=${__plan[__n]}; case $step in",
            "  print) print -rl -- \"$@\" ;; args:*) state=args; words=(${step#args:}) ;; *) state=$step ;;",
            "esac; return 0; }",
            "_describe() { local name=${@[-1]}; print -rl -- ${(P)name}; }",
            "_message() { :; }",
            f"source {quote_sh(ZSH_FILE)}",
        ]
        for words, current, _ in self.cases():
            last = "print" if current.startswith("-") else ("command" if words else "group")
            plan = [f"args:{w}" for w in words] + [last]
            script.append(f"print @@; __plan=({' '.join(quote_sh(p) for p in plan)}); __n=0; _vpsmail")
        result = subprocess.run(["zsh", "-f", "-c", "\n".join(script)], capture_output=True, text=True,
                                timeout=120, env=self.env())
        self.assertEqual(result.returncode, 0, result.stderr)
        blocks = result.stdout.split("@@\n")[1:]
        self.assertEqual(len(blocks), len(list(self.cases())), result.stdout + result.stderr)
        results = []
        for block in blocks:
            names = []
            for line in block.splitlines():
                # An option spec: [(exclusions)][*]-name or --name[=][description]...
                option = re.match(r"^(?:\([^)]*\))?\*?(--?[\w-]+)(?:=-?|\+)?\[", line)
                if option:
                    names.append(option.group(1))
                elif re.match(r"^[\w-]+:", line):  # a _describe item, name:description
                    names.append(line.split(":", 1)[0])
            results.append(names)
        self.compare("zsh", results)


def quote_sh(text):
    """Single-quotes for bash and fish alike (no quote characters in what we pass)."""
    text = str(text)
    if "'" in text or "\\" in text:
        raise ValueError(f"cannot quote {text!r}")
    return f"'{text}'"


class ManualPagesTest(TreeTest):
    """Every group, command, positional and option is in its manual page."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not shutil.which("mandoc"):
            raise unittest.SkipTest("mandoc is not installed (apt-get install mandoc)")

    def test_overview_page(self):
        page = MAN / "vpsmail.1"
        self.assertTrue(page.is_file(), f"{page} does not exist")
        text = render_man(page)
        missing = [f"global option {o}" for o in self.tree.global_options if not has_word(text, o)]
        for group in self.tree.groups:
            if not has_word(text, group):
                missing.append(f"group '{group}'")
            if f"vpsmail-{group}(1)" not in text:
                missing.append(f"reference vpsmail-{group}(1)")
        self.report(missing, "man/vpsmail.1")

    def test_group_pages(self):
        missing = []
        for group, commands in self.tree.groups.items():
            page = MAN / f"vpsmail-{group}.1"
            if not page.is_file():
                missing.append(f"the page man/{page.name} for the group '{group}'")
                continue
            text = render_man(page)
            for c in commands:
                if " ".join(c.words) not in text:
                    missing.append(f"{page.name}: command '{' '.join(c.words)}'")
                for option in c.long_options:
                    if not has_word(text, option):
                        missing.append(f"{page.name}: option {option} of '{group} {c.name}'")
                for positional in c.positionals:
                    if not has_word(text, positional):
                        missing.append(f"{page.name}: positional {positional} of '{group} {c.name}'")
        self.report(missing, "the manual pages")

    def test_no_page_for_a_missing_group(self):
        stale = [p.name for p in MAN.glob("vpsmail-*.1") if p.name[len("vpsmail-"):-2] not in self.tree.groups]
        self.assertEqual(stale, [], "manual pages for groups the binary does not have")


# The mdoc macros (mdoc(7)); one of them in the rendered text is a macro mandoc did not read
# as one (a stray character before it at the start of a line, say).
MDOC_MACROS = ("Ad An Ap Ar At Bd Bf Bk Bl Bo Bq Brc Bro Brq Bsx Bt Bx Cd Cm Dc Dd Dl Do Dq Dt Dv Dx Ec Ed Ef "
               "Ek El Em En Eo Er Es Ev Ex Fa Fc Fd Fl Fn Fo Fr Ft Fx Hf Ic In It Lb Li Lk Lp Ms Mt Nd Nm No Ns "
               "Nx Oc Oo Op Os Ot Ox Pa Pc Pf Po Pp Pq Qc Ql Qo Qq Re Rs Rv Sc Sh Sm So Sq Ss St Sx Sy Ta Tn Ud "
               "Ux Va Vt Xc Xo Xr").split()
RAW_MACRO = re.compile(r"(?<![\w.])\.(?:" + "|".join(MDOC_MACROS) + r")(?![\w-])")


def man_sections(page):
    """The rendered page's sections: heading -> text on one line, overstrike removed."""
    result = subprocess.run(["mandoc", "-T", "ascii", "-O", "width=1000", str(page)], capture_output=True,
                            text=True, timeout=60)
    if result.returncode != 0:
        raise AssertionError(f"mandoc cannot render {page.name}: {result.stderr}")
    sections, heading = {}, None
    for line in re.sub(r".\x08", "", result.stdout).splitlines():
        if re.match(r"^[A-Z][A-Z ]+$", line):
            heading = line.strip()
            sections[heading] = ""
        elif heading:
            sections[heading] += " " + line.strip()
    return {k: " ".join(v.split()) for k, v in sections.items()}


def exit_codes_of_sources():
    """Every sysexits code the CLI can exit with: the Error kind table of src/core/error.cpp
    and the EX_ names cmd/ uses directly, as numbers (from <sysexits.h>)."""
    values = {}
    for line in Path("/usr/include/sysexits.h").read_text().splitlines():
        m = re.match(r"#define\s+(EX_\w+)\s+(\d+)", line)
        if m:
            values[m.group(1)] = int(m.group(2))
    names = set(re.findall(r"return (EX_\w+);", (SOURCE / "src" / "core" / "error.cpp").read_text()))
    for source in (SOURCE / "cmd").glob("*.cpp"):
        names |= set(re.findall(r"\b(EX_[A-Z]+)\b", source.read_text()))
    unknown = sorted(n for n in names if n not in values)
    if unknown:
        raise AssertionError(f"not in <sysexits.h>: {unknown}")
    return {n: values[n] for n in names}


class ManualRenderTest(unittest.TestCase):
    """What mandoc renders holds no mdoc macro as text (needs no binary)."""

    def test_no_raw_macro(self):
        if not shutil.which("mandoc"):
            self.skipTest("mandoc is not installed (apt-get install mandoc)")
        problems = []
        for page in sorted(p for p in MAN.iterdir() if re.search(r"\.[1-9]$", p.name)):
            for heading, text in man_sections(page).items():
                for m in RAW_MACRO.finditer(text):
                    problems.append(f"{page.name}, {heading}: '{text[max(0, m.start() - 20):m.end() + 20]}'")
        if problems:
            self.fail("mdoc macros shown as text:\n  " + "\n  ".join(problems))


class ExitCodeTableTest(unittest.TestCase):
    """Every exit code the CLI can produce is in the README's table and in vpsmail(1) (needs no
    binary)."""

    def test_readme_table(self):
        readme = (SOURCE / "README.md").read_text()
        table = readme.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
        rows = set(int(m) for m in re.findall(r"^\| (\d+) \|", table, re.M))
        missing = [f"{code} ({name})" for name, code in sorted(exit_codes_of_sources().items(), key=lambda x: x[1])
                   if code not in rows]
        self.assertEqual(missing, [], "exit codes missing from the README's 'Exit codes' table")

    def test_overview_page(self):
        if not shutil.which("mandoc"):
            self.skipTest("mandoc is not installed (apt-get install mandoc)")
        text = man_sections(MAN / "vpsmail.1").get("EXIT STATUS", "")
        missing = [f"{code} ({name})" for name, code in sorted(exit_codes_of_sources().items(), key=lambda x: x[1])
                   if not re.search(r"(?<!\d)" + str(code) + r"(?!\d)", text)]
        self.assertEqual(missing, [], "exit codes missing from EXIT STATUS of vpsmail(1)")


class HelpTest(TreeTest):
    """`vpsmail help` prints the help, exit 0; a group without its command prints the group's
    help, listing every command, on stderr, exit 64."""

    def run_vpsmail(self, *words):
        return subprocess.run([os.environ["VPSMAIL_BIN"], *words], capture_output=True, text=True, timeout=60,
                              env=isolated_env(self.home.name))

    def test_help_command(self):
        top = self.run_vpsmail("--help")
        got = self.run_vpsmail("help")
        self.assertEqual((got.returncode, got.stderr), (0, ""), "vpsmail help")
        self.assertEqual(got.stdout, top.stdout, "vpsmail help should print what vpsmail --help prints")
        for group, commands in self.tree.groups.items():
            got = self.run_vpsmail("help", group)
            self.assertEqual(got.returncode, 0, f"vpsmail help {group}: {got.stderr}")
            if not commands[0].leaf:
                self.assertEqual(parse_help(got.stdout).subcommands, [c.name for c in commands], f"vpsmail help {group}")
        got = self.run_vpsmail("help", "nosuch")
        self.assertEqual(got.returncode, 64)
        self.assertIn("'nosuch'", got.stderr)

    def test_group_without_command(self):
        for group, commands in self.tree.groups.items():
            if commands[0].leaf:
                continue
            got = self.run_vpsmail(group)
            self.assertEqual((got.returncode, got.stdout), (64, ""), f"vpsmail {group}")
            self.assertEqual(parse_help(got.stderr).subcommands, [c.name for c in commands],
                             f"'vpsmail {group}' should list its commands on stderr; got {got.stderr!r}")


class OverviewSynopsisTest(TreeTest):
    """The SYNOPSIS of vpsmail(1) shows every command group and command of its own."""

    def test_synopsis(self):
        if not shutil.which("mandoc"):
            self.skipTest("mandoc is not installed (apt-get install mandoc)")
        synopsis = man_sections(MAN / "vpsmail.1").get("SYNOPSIS", "")
        missing = []
        for group, commands in self.tree.groups.items():
            if f"vpsmail {group}" not in synopsis:
                missing.append(f"'vpsmail {group}'")
            for c in commands:
                if not c.leaf and not has_word(synopsis, c.name):
                    missing.append(f"command '{group} {c.name}'")
        self.report(missing, "the SYNOPSIS of man/vpsmail.1")


class ServerPageTest(TreeTest):
    """The SMTP section of vpsmail-serve(1) names, where it lists them, every extension a real
    server's EHLO offers and every command its HELP lists, and every command HELP lists
    answers (no 500 or 502)."""

    def test_ehlo_and_help(self):
        import smtplib
        if not shutil.which("mandoc"):
            self.skipTest("mandoc is not installed (apt-get install mandoc)")
        sys.path.insert(0, str(SOURCE / "tests" / "integration"))
        from server import Server  # noqa: E402
        from harness import World  # noqa: E402
        smtp = man_sections(MAN / "vpsmail-serve.1").get("SMTP", "")

        def sentence(start, end):
            """The text of the SMTP section from `start` to the next `end`."""
            at = smtp.find(start)
            self.assertNotEqual(at, -1, f"vpsmail-serve(1), SMTP: no sentence starting '{start}'")
            return smtp[at:smtp.find(end, at)]

        announced = sentence("EHLO announces", ";")
        commands = sentence("The commands are", ". ")
        world = World()
        server = Server(world).start()
        try:
            with smtplib.SMTP("127.0.0.1", server.ports["submission"], timeout=30) as client:
                client.ehlo("client.example")
                extensions = [name.upper() for name in client.esmtp_features]
                code, text = client.docmd("HELP")
                self.assertEqual(code, 214, text)
                topics = text.decode().split("Commands:", 1)[1].split()
                answers = {}
                for topic in topics:
                    if topic not in ("QUIT", "STARTTLS"):  # they end the plain-text session
                        answers[topic] = client.docmd(topic)[0]
                        client.rset()
                answers["QUIT"] = client.docmd("QUIT")[0]
            with smtplib.SMTP("127.0.0.1", server.ports["submission"], timeout=30) as client:
                client.ehlo("client.example")
                answers["STARTTLS"] = client.docmd("STARTTLS")[0] if "STARTTLS" in topics else 220
                client.close()
        finally:
            server.stop()
            world.close()
        self.assertTrue(extensions and topics, "no EHLO extensions or HELP topics")
        missing = [f"EHLO extension {e} in '{announced}...'" for e in extensions if not has_word(announced, e)]
        missing += [f"HELP topic {t} in '{commands}...'" for t in topics if not has_word(commands, t)]
        self.report(missing, "man/vpsmail-serve.1")
        dead = [f"{t} answers {code}" for t, code in answers.items() if code in (500, 502)]
        self.assertEqual(dead, [], "HELP lists commands the server does not implement")


class ManualLintTest(unittest.TestCase):
    """`mandoc -T lint -W warning` says nothing about any page (needs no binary)."""

    def test_lint(self):
        if not shutil.which("mandoc"):
            self.skipTest("mandoc is not installed (apt-get install mandoc)")
        pages = sorted(p for p in MAN.iterdir() if re.search(r"\.[1-9]$", p.name))
        self.assertTrue(pages, f"no manual pages in {MAN}")
        problems = []
        for page in pages:
            result = subprocess.run(["mandoc", "-T", "lint", "-W", "warning", str(page)], capture_output=True,
                                    text=True, timeout=60)
            output = (result.stdout + result.stderr).strip()
            if output or result.returncode != 0:
                problems.append(f"{page.name} (exit {result.returncode}):\n    " +
                                (output.replace("\n", "\n    ") or "no output"))
        if problems:
            self.fail("mandoc -T lint -W warning:\n  " + "\n  ".join(problems))


if __name__ == "__main__":
    unittest.main(verbosity=2)
