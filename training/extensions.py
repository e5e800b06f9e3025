"""Where an insurer's own data lives, apart from the core (``nlu/``, ``stories/``, ``domain.yml``).

    extensions/<insurer>/
      domain/<intent>.yml        intents and responses (Rasa domain files)
      data/nlu/<intent>.yml      training examples
      data/rules/<intent>.yml    rules (and stories)
      tests/heldout/<intent>.yml held-out lines (never trained on)
      tests/stories/<intent>.yml test stories (rasa test core)

``training.importer.ExtensionImporter`` merges ``domain/`` and ``data/`` of every folder at
training time; ``tests/`` is only read by ``tuibao eval``/``gate`` and the test-story run.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import List

EXTENSIONS_DIR = "extensions"
INSURER_ID = re.compile(r"^[a-z][a-z0-9_]{1,31}$")


@dataclass(frozen=True)
class Extension:
    """One insurer's data folder."""

    insurer: str
    root: Path

    @property
    def domain_dir(self) -> Path:
        return self.root / "domain"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def nlu_dir(self) -> Path:
        return self.data_dir / "nlu"

    @property
    def rules_dir(self) -> Path:
        return self.data_dir / "rules"

    @property
    def heldout_dir(self) -> Path:
        return self.root / "tests" / "heldout"

    @property
    def test_stories_dir(self) -> Path:
        return self.root / "tests" / "stories"

    def files(self, folder: Path) -> List[Path]:
        return sorted(folder.rglob("*.yml")) if folder.is_dir() else []


def discover(project: Path, extensions_dir: str = EXTENSIONS_DIR) -> List[Extension]:
    """Every insurer folder under ``project/extensions_dir`` (sorted, so training is stable)."""
    base = project / extensions_dir
    if not base.is_dir():
        return []
    return [Extension(p.name, p) for p in sorted(base.iterdir())
            if p.is_dir() and INSURER_ID.match(p.name)]


def extension(project: Path, insurer: str) -> Extension:
    """The folder of ``insurer`` (which may not exist yet); refuses a malformed insurer id."""
    if not INSURER_ID.match(insurer):
        raise ValueError(f"insurer id {insurer!r}: use lower-case letters, digits and _ "
                         "(2-32 characters, a letter first), e.g. hengxin")
    return Extension(insurer, project / EXTENSIONS_DIR / insurer)
