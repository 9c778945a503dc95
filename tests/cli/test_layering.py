#!/usr/bin/env python3
"""The #include edges of src/ and cmd/ keep the layering of docs/architecture.md section 3.

The rules come from the page itself, so that changing a rule means changing the page:
- the layering table ("| `vps_x` | links (ours) | third-party |"): a file of module M may
  include a header of module N (`#include "N/..."`) only when N is M or M's row lists N. The
  links are direct: a module that includes another links it itself, even when a PUBLIC link
  of CMake makes the header visible anyway;
- the "edge M -> N/file.hpp" lines: the documented exceptions to the rule above;
- the "header PATTERNS in FILES [except FILES]" lines: a third-party header matching one of
  PATTERNS may be included only by FILES (fnmatch patterns relative to the source tree), not
  by any other file, neither directly nor through our own headers.
It also checks that the table agrees with the target_link_libraries of CMakeLists.txt for our
vps_* libraries and the vpsmail binary, and that every folder of src/ has a row.

This test fails naming file:line and the forbidden edge. Needs no binary. Environment:
VPSMAIL_SOURCE, the source tree (default: two folders above this file).
`test_layering.py --check ROOT` prints the violations of the tree at ROOT and exits 1 when
there are any.
"""

import fnmatch
import os
import re
import shutil
import sys
import tempfile
import unittest
from collections import deque
from pathlib import Path

SOURCE = Path(os.environ.get("VPSMAIL_SOURCE") or Path(__file__).resolve().parents[2])
PAGE = "docs/architecture.md"
CMAKE = "CMakeLists.txt"
CITE = "docs/architecture.md section 3"

ROW = re.compile(r"^\|\s*`(vps_\w+|vpsmail)`(?:\s*\(cmd/\))?\s*\|([^|]*)\|([^|]*)\|\s*$", re.M)
HEADER_RULE = re.compile(r"^\s*header\s+(.+?)\s+in\s+(.+?)(?:\s+except\s+(.+?))?\s*$", re.M)
EDGE_RULE = re.compile(r"^\s*edge\s+(\w+)\s*->\s*(\S+)\s*$", re.M)
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')
LINKS = re.compile(r"target_link_libraries\(\s*(vps_\w+|vpsmail)\b(.*?)\)", re.S)
SOURCE_FILE = re.compile(r"\.(cpp|hpp|h|cc)$")


class Layering:
    """The rules of one source tree's page: the table, the header rules, the edge exceptions."""

    def __init__(self, page_text):
        m = re.search(r"^## 3\. .*?(?=^## 4\. |\Z)", page_text, re.M | re.S)
        section = m.group(0) if m else ""
        self.links = {}  # module -> the modules its row lists ("cmd" for the binary)
        for name, links, _ in ROW.findall(section):
            module = "cmd" if name == "vpsmail" else name[len("vps_"):]
            cell = links.replace("`", "").strip()
            self.links[module] = set() if cell in ("", "nothing") else {x.strip() for x in cell.split(",") if x.strip()}
        self.headers = []  # (header patterns, allowed file patterns, excepted file patterns, the line)
        for patterns, allowed, excepted in HEADER_RULE.findall(section):
            self.headers.append((patterns.split(), allowed.split(), excepted.split(), f"header {patterns} in {allowed}"))
        self.edges = {(m, path) for m, path in EDGE_RULE.findall(section)}

    def allowed(self, rule, path):
        _, allowed, excepted, _ = rule
        return any(fnmatch.fnmatchcase(path, p) for p in allowed) and not any(fnmatch.fnmatchcase(path, p) for p in excepted)


def module_of(path):
    """'src/smtp/session.cpp' -> 'smtp', 'cmd/main.cpp' -> 'cmd'."""
    parts = path.split("/")
    if parts[0] == "src" and len(parts) > 2:
        return parts[1]
    if parts[0] == "cmd":
        return "cmd"
    return None


def source_files(root):
    """The C++ files of src/ and cmd/, relative to root, sorted."""
    out = []
    for top in ("src", "cmd"):
        for folder, dirs, names in os.walk(root / top):
            dirs.sort()
            for name in names:
                if SOURCE_FILE.search(name):
                    out.append(os.path.relpath(os.path.join(folder, name), root).replace(os.sep, "/"))
    return sorted(out)


def includes(root, path):
    """[(line number, '<' or '"', name)] of one file."""
    out = []
    text = (root / path).read_text(encoding="utf-8", errors="replace")
    for n, line in enumerate(text.splitlines(), 1):
        m = INCLUDE.match(line)
        if m:
            out.append((n, m.group(1), m.group(2)))
    return out


def resolve(root, path, name):
    """The file of ours that `#include "name"` in `path` means, or None."""
    for candidate in (f"src/{name}", f"{os.path.dirname(path)}/{name}", name):
        if (root / candidate).is_file():
            return os.path.normpath(candidate).replace(os.sep, "/")
    return None


def cmake_links(text):
    """module -> the vps_* libraries it links (ours only: names without vps_), from CMakeLists.txt."""
    out = {}
    for target, args in LINKS.findall(re.sub(r"#[^\n]*", "", text)):
        module = "cmd" if target == "vpsmail" else target[len("vps_"):]
        out.setdefault(module, set()).update(t[len("vps_"):] for t in args.split() if t.startswith("vps_"))
    return out


def violations(root):
    """Every breach of the layering in the tree at `root`, as 'file:line: what' texts."""
    root = Path(root)
    page = root / PAGE
    if not page.is_file():
        return [f"{PAGE}: missing"]
    rules = Layering(page.read_text(encoding="utf-8"))
    bad = []
    if not rules.links:
        return [f"{PAGE}: no layering table in section 3"]
    modules = set(rules.links) - {"cmd"}

    # Every folder of src/ is a module with a row, and every row but the binary's is a folder.
    folders = {p.name for p in (root / "src").iterdir() if p.is_dir()} if (root / "src").is_dir() else set()
    for folder in sorted(folders - modules):
        bad.append(f"src/{folder}/: module '{folder}' has no row in the layering table ({CITE})")
    for module in sorted(modules - folders):
        bad.append(f"{PAGE}: the layering table has vps_{module}, but there is no src/{module}/")
    for module, links in sorted(rules.links.items()):
        for unknown in sorted(links - modules):
            bad.append(f"{PAGE}: the row of {module} links '{unknown}', which is not a module of the table")

    # The table is what CMakeLists.txt declares.
    cmake = root / CMAKE
    if cmake.is_file():
        declared = cmake_links(cmake.read_text(encoding="utf-8"))
        for module, links in sorted(rules.links.items()):
            got = declared.get(module, set()) & modules
            name = "vpsmail" if module == "cmd" else f"vps_{module}"
            if got != links:
                missing, extra = sorted(links - got), sorted(got - links)
                what = "; ".join(filter(None, [
                    f"CMakeLists.txt does not link {', '.join(missing)}" if missing else "",
                    f"CMakeLists.txt also links {', '.join(extra)}" if extra else ""]))
                bad.append(f"{CMAKE}: {name} disagrees with its row in the layering table of {PAGE}: {what}")

    # Direct edges between modules, and third-party headers where they are allowed.
    files = source_files(root)
    graph = {}  # file -> [(line, our file it includes)]
    direct = {}  # file -> [(line, rule index, header)]
    for path in files:
        own = module_of(path)
        graph[path], direct[path] = [], []
        for n, kind, name in includes(root, path):
            ours = resolve(root, path, name) if kind == '"' else None
            if ours:
                graph[path].append((n, ours))
                target = module_of(ours)
                if target and own in rules.links and target != own and target != "cmd" and target not in rules.links[own] \
                        and (own, name) not in rules.edges:
                    bad.append(f"{path}:{n}: {own} includes \"{name}\" of module {target}, but the layering table "
                               f"does not let {own} link {target} ({CITE})")
                elif target == "cmd" and own != "cmd":
                    bad.append(f"{path}:{n}: {own} includes \"{name}\" of cmd/: nothing includes the CLI ({CITE})")
                continue
            first = name.split("/")[0]
            if kind == '"' and "/" in name and first in folders | {"cmd"}:
                bad.append(f"{path}:{n}: \"{name}\" names no file of module {first}")
                continue
            for i, rule in enumerate(rules.headers):
                if any(fnmatch.fnmatchcase(name, p) for p in rule[0]):
                    direct[path].append((n, i, name))
                    if not rules.allowed(rule, path):
                        bad.append(f"{path}:{n}: includes <{name}>, allowed only by the line '{rule[3]}' "
                                   f"of {CITE}")

    # Through our own headers: a file that may not include a third-party header may not reach a
    # header of ours that does (Asio stays out of net/serve.hpp and of what includes it).
    for path in files:
        seen = {path: None}
        queue = deque([path])
        reported = set()
        while queue:
            current = queue.popleft()
            if current != path:
                for _, i, name in direct[current]:
                    rule = rules.headers[i]
                    if i not in reported and not rules.allowed(rule, path):
                        reported.add(i)
                        chain, step = [], current
                        while step is not None:
                            chain.append(step)
                            step = seen[step]
                        line = next(n for n, f in graph[path] if f == chain[-2])
                        bad.append(f"{path}:{line}: reaches <{name}> through {' -> '.join(reversed(chain[:-1]))}, "
                                   f"allowed only by the line '{rule[3]}' of {CITE}")
            for _, nxt in graph.get(current, []):
                if nxt not in seen:
                    seen[nxt] = current
                    queue.append(nxt)
    return bad


class LayeringTest(unittest.TestCase):
    """The real tree."""

    def test_page_has_the_rules(self):
        # The patterns must find the table and the lines, or the other tests prove nothing.
        rules = Layering((SOURCE / PAGE).read_text(encoding="utf-8"))
        self.assertGreaterEqual(len(rules.links), 12, f"{PAGE} section 3: only {sorted(rules.links)} found in the table")
        self.assertIn("cmd", rules.links, f"{PAGE} section 3: no row for the vpsmail binary")
        self.assertGreaterEqual(len(rules.headers), 5, f"{PAGE} section 3: only {len(rules.headers)} 'header ... in ...' lines")
        self.assertIn(("smtp", "queue/transport.hpp"), rules.edges, f"{PAGE} section 3: the smtp -> queue/transport.hpp exception")

    def test_every_header_rule_is_used(self):
        # A rule whose pattern matches no include of the tree has a typo or is obsolete.
        rules = Layering((SOURCE / PAGE).read_text(encoding="utf-8"))
        names = {name for f in source_files(SOURCE) for _, _, name in includes(SOURCE, f)}
        for patterns, _, _, line in rules.headers:
            self.assertTrue(any(fnmatch.fnmatchcase(n, p) for n in names for p in patterns),
                            f"{PAGE}: '{line}' matches no #include of src/ or cmd/")

    def test_tree_keeps_the_layering(self):
        bad = violations(SOURCE)
        self.assertEqual(bad, [], "layering violations (fix the include, or the page and CMakeLists.txt together):\n"
                         + "\n".join(bad))


PAGE_TEXT = """# page

## 3. Layering

| library | links (ours) | third-party |
|---|---|---|
| `vps_core` | nothing | fmt |
| `vps_wire` | core | |
| `vps_queue` | core | |
| `vps_smtp` | wire, core | |
| `vps_net` | smtp, core | Asio |
| `vpsmail` (cmd/) | net, core | CLI11 |

```
header asio.hpp asio/*     in src/net/*  except src/net/serve.hpp
header CLI/*               in cmd/main.cpp
edge smtp -> queue/transport.hpp
```

## 4. Next
"""

CMAKE_TEXT = """
target_link_libraries(vps_core PUBLIC fmt::fmt-header-only)  # vps_comment
target_link_libraries(vps_wire PUBLIC vps_core)
target_link_libraries(vps_queue PUBLIC vps_core)
target_link_libraries(vps_smtp PUBLIC vps_wire
  vps_core)
target_link_libraries(vps_net PUBLIC vps_smtp vps_core PRIVATE vps_asio)
target_link_libraries(vpsmail PRIVATE vps_net vps_core CLI11::CLI11)
"""

CLEAN = {
    "src/core/address.hpp": "#pragma once\n#include <string>\n",
    "src/wire/line.hpp": '#include "core/address.hpp"\n',
    "src/queue/transport.hpp": '#include "core/address.hpp"\n',
    "src/smtp/session.cpp": '#include "smtp/session.hpp"\n#include "wire/line.hpp"\n#include "queue/transport.hpp"\n',
    "src/smtp/session.hpp": "#pragma once\n",
    "src/net/conn.hpp": "#include <asio.hpp>\n",
    "src/net/serve.hpp": '#include "smtp/session.hpp"\n',
    "src/net/serve.cpp": '#include "net/serve.hpp"\n#include "net/conn.hpp"\n#include <asio/ssl.hpp>\n',
    "cmd/main.cpp": '#include "commands.hpp"\n#include <CLI/CLI.hpp>\n#include "net/serve.hpp"\n',
    "cmd/commands.hpp": '#include "core/address.hpp"\n',
}


class SelfTest(unittest.TestCase):
    """The checker on small trees: it passes a clean one and names each kind of violation."""

    def tree(self, files, page=PAGE_TEXT, cmake=CMAKE_TEXT):
        root = Path(tempfile.mkdtemp(prefix="vpsmail-layering-"))
        self.addCleanup(shutil.rmtree, root)
        for path, text in {PAGE: page, CMAKE: cmake, **files}.items():
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_text(text, encoding="utf-8")
        return root

    def assertOne(self, bad, *parts):
        self.assertEqual(len(bad), 1, "\n".join(bad))
        for part in parts:
            self.assertIn(part, bad[0])

    def test_clean_tree_passes(self):
        self.assertEqual(violations(self.tree(CLEAN)), [])

    def test_module_edge_not_in_the_table(self):
        bad = violations(self.tree({**CLEAN, "src/wire/line.cpp": '#include "wire/line.hpp"\n\n#include "smtp/session.hpp"\n'}))
        self.assertOne(bad, "src/wire/line.cpp:3:", 'wire includes "smtp/session.hpp" of module smtp')

    def test_transitive_link_is_not_enough(self):
        # net links smtp which links wire (PUBLIC), but net's row does not list wire.
        bad = violations(self.tree({**CLEAN, "src/net/conn.cpp": '#include "wire/line.hpp"\n'}))
        self.assertOne(bad, "src/net/conn.cpp:1:", "does not let net link wire")

    def test_exception_is_only_for_its_file(self):
        bad = violations(self.tree({**CLEAN, "src/queue/spool.hpp": "\n", "src/smtp/x.cpp": '#include "queue/spool.hpp"\n'}))
        self.assertOne(bad, "src/smtp/x.cpp:1:", "of module queue")

    def test_third_party_header_outside_its_files(self):
        bad = violations(self.tree({**CLEAN, "src/smtp/y.cpp": "#include <string>\n#include <asio/ip/tcp.hpp>\n"}))
        self.assertOne(bad, "src/smtp/y.cpp:2:", "<asio/ip/tcp.hpp>", "header asio.hpp asio/* in src/net/*")

    def test_excepted_file(self):
        bad = violations(self.tree({**CLEAN, "src/net/serve.hpp": "#include <asio.hpp>\n"}))
        # serve.hpp itself, and cmd/main.cpp through it.
        self.assertEqual(len(bad), 2, "\n".join(bad))
        self.assertIn("src/net/serve.hpp:1: includes <asio.hpp>", bad[1] + bad[0])

    def test_third_party_header_through_our_header(self):
        bad = violations(self.tree({**CLEAN, "src/net/serve.hpp": '#include "net/conn.hpp"\n'}))
        self.assertEqual(len(bad), 2, "\n".join(bad))
        self.assertIn("cmd/main.cpp:3: reaches <asio.hpp> through src/net/serve.hpp -> src/net/conn.hpp", "\n".join(bad))
        self.assertIn("src/net/serve.hpp:1: reaches <asio.hpp> through src/net/conn.hpp", "\n".join(bad))

    def test_library_includes_cmd(self):
        bad = violations(self.tree({**CLEAN, "src/net/z.cpp": '#include "cmd/commands.hpp"\n'}))
        self.assertOne(bad, "src/net/z.cpp:1:", "of cmd/")

    def test_module_without_a_row(self):
        bad = violations(self.tree({**CLEAN, "src/pop3/session.hpp": '#include "core/address.hpp"\n'}))
        self.assertOne(bad, "src/pop3/", "has no row")

    def test_table_disagrees_with_cmake(self):
        cmake = CMAKE_TEXT.replace("target_link_libraries(vps_queue PUBLIC vps_core)", "target_link_libraries(vps_queue PUBLIC vps_wire vps_core)")
        bad = violations(self.tree(CLEAN, cmake=cmake))
        self.assertOne(bad, "CMakeLists.txt: vps_queue disagrees", "also links wire")
        page = PAGE_TEXT.replace("| `vpsmail` (cmd/) | net, core |", "| `vpsmail` (cmd/) | net, smtp, core |")
        bad = violations(self.tree(CLEAN, page=page))
        self.assertOne(bad, "CMakeLists.txt: vpsmail disagrees", "does not link smtp")

    def test_real_page_catches_a_violation(self):
        # The page and CMakeLists.txt of the real tree, with one bad include added to a copy of src/.
        root = Path(tempfile.mkdtemp(prefix="vpsmail-layering-"))
        self.addCleanup(shutil.rmtree, root)
        for part in ("src", "cmd"):
            shutil.copytree(SOURCE / part, root / part)
        for path in (PAGE, CMAKE):
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(SOURCE / path, root / path)
        (root / "src/wire/fuzz_probe.cpp").write_text('#include "wire/line.hpp"\n#include "store/store.hpp"\n#include <sqlite3.h>\n')
        bad = violations(root)
        self.assertEqual(len(bad), 2, "\n".join(bad))
        self.assertIn('src/wire/fuzz_probe.cpp:2: wire includes "store/store.hpp" of module store', bad[0])
        self.assertIn("src/wire/fuzz_probe.cpp:3: includes <sqlite3.h>", bad[1])


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        found = violations(Path(sys.argv[2]))
        print("\n".join(found) if found else "layering: no violation")
        sys.exit(1 if found else 0)
    unittest.main()
