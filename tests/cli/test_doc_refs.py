#!/usr/bin/env python3
"""Citations of the project's design pages point at pages, sections and rules that exist.

The code cites docs/architecture.md by section ("docs/architecture.md section 9", "sections
1-3", "sections 2 and 9") and docs/routing.md by rule ("docs/routing.md rule 14", "rules 4-7,
10, 12"). This test fails, naming the file and line, when
- a file outside docs/ cites the design pages by the names they had before they came into
  docs/ (the two upper-case .md names);
- a citation names a section of docs/architecture.md or a rule of docs/routing.md that the
  page does not have (also a page's references to its own sections or rules);
- the pages lose their numbering (sections 1-12, rules numbered 1, 2, 3, ... without gaps),
  which every existing citation relies on;
- the README does not link both pages.

Needs no binary. Environment: VPSMAIL_SOURCE, the source tree (default: two folders above this
file). The files checked are git's (tracked and untracked, not ignored) when the tree is a git
checkout, else every text file outside build folders.
"""

import os
import re
import subprocess
import unittest
from pathlib import Path

SOURCE = Path(os.environ.get("VPSMAIL_SOURCE") or Path(__file__).resolve().parents[2])
ARCHITECTURE = "docs/architecture.md"
ROUTING = "docs/routing.md"

# The old names, assembled so that this file does not cite them itself.
OLD_NAMES = re.compile(r"(?<![\w-])(" + "DESIGN" + "|" + "ROUTING" + r")\.md\b")

# A list of numbers: "9", "1-3", "4-7, 10, 12", "2 and 9".
NUMBERS = r"\d+(?:\s*[-\u2013]\s*\d+)?(?:(?:\s*,\s*|\s+and\s+|\s+or\s+)\d+(?:\s*[-\u2013]\s*\d+)?)*"
CITES = {
    ARCHITECTURE: re.compile(r"(?:docs/)?architecture\.md,?\s+(?:sections?\s+)?(" + NUMBERS + r")\b"),
    ROUTING: re.compile(r"(?:docs/)?routing\.md,?\s+(?:rules?\s+)?(" + NUMBERS + r")\b"),
}
# Inside a page, "section 9" / "rule 14" without the page's name mean the page itself.
OWN = {
    ARCHITECTURE: re.compile(r"(?<![\w.])[Ss]ections?\s+(" + NUMBERS + r")\b"),
    ROUTING: re.compile(r"(?<![\w.])[Rr]ules?\s+(" + NUMBERS + r")\b"),
}

BUILD_FOLDERS = re.compile(r"^(build[^/]*|\.git|.*__pycache__)$")


def numbers(text):
    """'4-7, 10 and 12' -> [4, 5, 6, 7, 10, 12]."""
    out = []
    for part in re.split(r"\s*,\s*|\s+and\s+|\s+or\s+", text.strip()):
        bounds = re.split(r"\s*[-\u2013]\s*", part)
        if len(bounds) == 2:
            out.extend(range(int(bounds[0]), int(bounds[1]) + 1))
        elif part:
            out.append(int(part))
    return out


def sections(text):
    """The numbers of the '## N. Title' headings."""
    return [int(m.group(1)) for m in re.finditer(r"^## (\d+)\. ", text, re.M)]


def rules(text):
    """The numbers of the items of the '## Rules' list ('N. **...' at the start of a line)."""
    m = re.search(r"^## Rules\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    if not m:
        return []
    return [int(n) for n in re.findall(r"^(\d+)\. ", m.group(1), re.M)]


def repository_files():
    """Paths relative to SOURCE of the files to check."""
    try:
        listed = subprocess.run(
            ["git", "-C", str(SOURCE), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            capture_output=True, check=True).stdout.decode("utf-8", "surrogateescape")
        files = sorted({f for f in listed.split("\0") if f})
        if files:
            return [f for f in files if (SOURCE / f).is_file()]
    except (OSError, subprocess.CalledProcessError):
        pass
    files = []
    for root, dirs, names in os.walk(SOURCE):
        dirs[:] = [d for d in dirs if not BUILD_FOLDERS.match(d)]
        for name in names:
            files.append(os.path.relpath(os.path.join(root, name), SOURCE))
    return sorted(files)


def read_text(path):
    """The file's text, or None for a binary file."""
    data = (SOURCE / path).read_bytes()
    if b"\0" in data[:8192]:
        return None
    return data.decode("utf-8", "replace")


class DocRefsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pages = {}
        for page in (ARCHITECTURE, ROUTING):
            path = SOURCE / page
            cls.pages[page] = path.read_text(encoding="utf-8") if path.is_file() else None
        cls.existing = {
            ARCHITECTURE: set(sections(cls.pages[ARCHITECTURE] or "")),
            ROUTING: set(rules(cls.pages[ROUTING] or "")),
        }
        cls.files = {}
        for f in repository_files():
            text = read_text(f)
            if text is not None:
                cls.files[f] = text

    def test_pages_exist(self):
        for page, text in self.pages.items():
            self.assertIsNotNone(text, f"{page} is missing: the code cites it")

    def test_architecture_keeps_sections_1_to_12(self):
        got = sections(self.pages[ARCHITECTURE] or "")
        self.assertEqual(got, list(range(1, 13)),
                         f"{ARCHITECTURE}: got sections {got}, want 1-12 in order (citations use the numbers)")

    def test_routing_rules_are_numbered_without_gaps(self):
        got = rules(self.pages[ROUTING] or "")
        self.assertTrue(got, f"{ROUTING}: no numbered rules under '## Rules'")
        self.assertEqual(got, list(range(1, len(got) + 1)),
                         f"{ROUTING}: got rules {got}, want 1, 2, 3, ... in order (citations use the numbers)")
        self.assertGreaterEqual(len(got), 16, f"{ROUTING}: rules 1-16 are cited; got {len(got)}")

    def test_no_file_cites_the_old_names(self):
        bad = []
        for f, text in self.files.items():
            if f.startswith("docs/"):
                continue  # a page may say where it came from
            if not OLD_NAMES.search(text):
                continue
            for n, line in enumerate(text.splitlines(), 1):
                if OLD_NAMES.search(line):
                    bad.append(f"{f}:{n}: {line.strip()}")
        self.assertEqual(bad, [], "cite docs/architecture.md or docs/routing.md instead:\n" + "\n".join(bad))

    def test_cited_sections_and_rules_exist(self):
        bad = []
        for f, text in self.files.items():
            if f not in OWN and "architecture.md" not in text and "routing.md" not in text:
                continue
            for n, line in enumerate(text.splitlines(), 1):
                found = [(page, m) for page, pattern in CITES.items() for m in pattern.finditer(line)]
                if f in OWN:
                    found += [(f, m) for m in OWN[f].finditer(line)]
                for page, m in found:
                    missing = [k for k in numbers(m.group(1)) if k not in self.existing[page]]
                    if missing:
                        what = "section" if page == ARCHITECTURE else "rule"
                        bad.append(f"{f}:{n}: {page} has no {what} {', '.join(map(str, missing))}: {line.strip()}")
        self.assertEqual(bad, [], "citations of missing sections or rules:\n" + "\n".join(bad))

    def test_citations_are_found(self):
        # The patterns above must see the code's citations at all, or the test proves nothing.
        count = sum(len(p.findall(t)) for t in self.files.values() for p in CITES.values())
        self.assertGreater(count, 20, f"only {count} citations of the design pages found in {SOURCE}")

    def test_readme_links_both_pages(self):
        readme = self.files.get("README.md", "")
        for page in (ARCHITECTURE, ROUTING):
            self.assertIn(f"({page})", readme, f"README.md does not link {page}")


if __name__ == "__main__":
    unittest.main()
