"""The layering of docs/architecture.md ("Layers: who may import whom"), checked over the code's
import graph: each top-level package imports only packages of a lower layer (so the ground floor
imports nothing of ours and no two packages import each other); bench/ never imports tests/.

The graph is read with ``ast`` (nothing is imported), every import counted: at the top of a
module, inside a function (lazy), under ``if TYPE_CHECKING``."""
from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path
from typing import Dict, Iterator, List, Set, Tuple

from harness.services import ROOT

ARCHITECTURE = ROOT / "docs" / "architecture.md"
# Folders of Python that are no package (no __init__.py) but belong to the graph all the same.
SCRIPT_FOLDERS = ("bench",)

# Imports that break the layering on purpose, for now: (importer, imported package) -> the files
# allowed to, and why. An entry fails the test once nothing needs it any more, so the list only
# shrinks; any other upward or sideways import fails as usual.
KNOWN_EXCEPTIONS: Dict[Tuple[str, str], Tuple[Set[str], str]] = {
    ("bot", "actions"): (
        {"bot/confirmation_policy.py"},
        "The confirmation policy (in the Rasa server) and the confirmation action read a plain "
        "yes or no with the same words, actions/yes_no.py. They belong on the ground floor; "
        "actions/yes_no.py is being changed on main at the same time, so it moves once that "
        "work is in.",
    ),
}


def layers_of_the_architecture(text: str) -> Dict[str, int]:
    """package -> layer, from the table under "## Layers" of docs/architecture.md."""
    section = text.split("## Layers", 1)[1].split("\n## ", 1)[0]
    layers: Dict[str, int] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and cells[0].isdigit():
            for package in re.findall(r"`(\w+)`", cells[1]):
                assert package not in layers, f"{package} is in two layers"
                layers[package] = int(cells[0])
    assert layers, "no layer table in docs/architecture.md"
    return layers


def top_level_packages(root: Path) -> List[str]:
    packages = [p.name for p in root.iterdir() if (p / "__init__.py").is_file()]
    return sorted(packages + [name for name in SCRIPT_FOLDERS if (root / name).is_dir()])


def imported_modules(path: Path) -> Iterator[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module


def import_graph(root: Path, packages: List[str]) -> Dict[Tuple[str, str], Set[str]]:
    """(importer, imported) top-level packages -> the importer's files that import it."""
    edges: Dict[Tuple[str, str], Set[str]] = defaultdict(set)
    ours = set(packages)
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            for module in imported_modules(path):
                top = module.split(".")[0]
                if top in ours and top != package:
                    edges[(package, top)].add(path.relative_to(root).as_posix())
    return edges


def violations(edges: Dict[Tuple[str, str], Set[str]], layers: Dict[str, int]) -> List[str]:
    found = []
    for (importer, imported), files in sorted(edges.items()):
        if layers[imported] < layers[importer]:
            continue
        allowed, _why = KNOWN_EXCEPTIONS.get((importer, imported), (set(), ""))
        for path in sorted(files - allowed):
            direction = "sideways" if layers[imported] == layers[importer] else "upwards"
            found.append(f"{path} imports {imported} {direction} "
                         f"(layer {layers[importer]} -> {layers[imported]})")
    return found


def cycles(edges: Dict[Tuple[str, str], Set[str]]) -> List[List[str]]:
    """Every cycle between top-level packages (the known exceptions included)."""
    graph: Dict[str, Set[str]] = defaultdict(set)
    for importer, imported in edges:
        graph[importer].add(imported)
    found, path, done = [], [], set()

    def visit(node: str) -> None:
        if node in path:
            found.append(path[path.index(node):] + [node])
            return
        if node in done:
            return
        path.append(node)
        for following in sorted(graph[node]):
            visit(following)
        path.pop()
        done.add(node)

    for node in sorted(graph):
        visit(node)
    return found


LAYERS = layers_of_the_architecture(ARCHITECTURE.read_text(encoding="utf-8"))
PACKAGES = top_level_packages(ROOT)
EDGES = import_graph(ROOT, PACKAGES)


def test_every_package_has_its_layer_in_the_architecture():
    assert set(PACKAGES) == set(LAYERS), (
        f"not in docs/architecture.md: {sorted(set(PACKAGES) - set(LAYERS))}; "
        f"no such package: {sorted(set(LAYERS) - set(PACKAGES))}")


def test_the_ground_floor_imports_nothing_of_ours():
    assert LAYERS["ground"] == 0 and min(LAYERS.values()) == 0
    assert not [key for key in EDGES if key[0] == "ground"]


def test_no_package_imports_a_higher_or_same_layer():
    found = violations(EDGES, LAYERS)
    assert not found, "\n".join(found)


def test_no_cycle_between_top_level_packages():
    assert not cycles(EDGES)


def test_benchmarks_never_import_tests():
    assert not EDGES.get(("bench", "tests")), "bench/ imports product code (harness/), never tests/"


def test_every_known_exception_is_still_needed():
    stale = {key: sorted(files - EDGES.get(key, set()))
             for key, (files, _why) in KNOWN_EXCEPTIONS.items() if files - EDGES.get(key, set())}
    assert not stale, f"no longer needed, remove from KNOWN_EXCEPTIONS: {stale}"


def test_the_check_sees_a_new_violation(tmp_path):
    """The checker itself: a ground module that imports redaction, a store that imports a
    channel, and a cycle are all reported."""
    for package, source in {"ground": "from redaction import redact\n",
                            "redaction": "import ground\n",
                            "handoff": "def push():\n    from connectors.wechat import client\n",
                            "connectors": "import handoff.store\n"}.items():
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text(source, encoding="utf-8")
    layers = {"ground": 0, "redaction": 1, "handoff": 3, "connectors": 5}
    edges = import_graph(tmp_path, top_level_packages(tmp_path))
    assert violations(edges, layers) == [
        "ground/__init__.py imports redaction upwards (layer 0 -> 1)",
        "handoff/__init__.py imports connectors upwards (layer 3 -> 5)",
    ]
    assert sorted(map(tuple, cycles(edges))) == [("connectors", "handoff", "connectors"),
                                                 ("ground", "redaction", "ground")]
