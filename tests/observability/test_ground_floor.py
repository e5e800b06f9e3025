"""observability/ is on the ground floor: every part may use it, and it uses nothing of ours but
redaction/ (masking). What it needs from above (an insurer's id) is handed to it."""
from __future__ import annotations

import ast

from harness.services import ROOT

OURS = {"actions", "bot", "connectors", "console", "extensions", "handoff", "insurers",
        "privacy", "redaction", "sandbox_insurer", "simulator", "training", "tests"}


def test_observability_imports_only_redaction_of_ours():
    found = {}
    for path in (ROOT / "observability").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
            for name in names:
                top = name.split(".")[0]
                if top in OURS:
                    found.setdefault(top, set()).add(path.name)
    assert set(found) <= {"redaction"}, found
