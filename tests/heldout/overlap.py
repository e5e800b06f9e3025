"""What "the same sentence" means when held-out data is kept apart from training data.

Two texts overlap when they are equal after normalising width (NFKC), case, whitespace and
punctuation (every character that is not a letter, digit or CJK ideograph goes, emoji too):
"妥了，交吧！" and "妥了 交吧" are one sentence. Training data is every YAML file Rasa would
train on: the folders ``bot.model`` passes to ``rasa train`` (nlu/ and stories/, recursively)
and any extension folder's data (``extensions/*/**``).
"""
from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[2]
HELDOUT_DIR = Path(__file__).resolve().parent
_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)
# [text](entity) and [text]{"entity": ...} annotations: the text is what the user wrote.
_ANNOTATION = re.compile(r"\[([^\]]*)\](?:\([^)]*\)|\{[^}]*\})")


def normalise(text: str) -> str:
    """Width, case, whitespace and punctuation removed: the sentence's words only. A line of
    emoji or punctuation alone ("👌", "？？") is compared as written, spaces aside, as
    ``tuibao data lint`` does: it would otherwise normalise to nothing and never be checked."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return _NOT_WORD.sub("", folded) or "".join(folded.split())


def plain(example: str) -> str:
    """An example line as the user wrote it (entity annotations dropped)."""
    return _ANNOTATION.sub(r"\1", example)


def _examples(block) -> Iterator[str]:
    if isinstance(block, str):
        for line in block.splitlines():
            line = line.strip()
            if line.startswith("- "):
                yield plain(line[2:])
    elif isinstance(block, list):  # examples given as a list of {text: ...}
        for item in block:
            text = item.get("text") if isinstance(item, dict) else item
            if isinstance(text, str):
                yield plain(text)


def texts_in(path: Path) -> Iterator[str]:
    """Every user text in one Rasa YAML file: nlu examples, lookup and synonym entries,
    and the ``user:`` texts of stories and rules."""
    data = YAML(typ="safe").load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        return
    for item in data.get("nlu") or []:
        if isinstance(item, dict):
            yield from _examples(item.get("examples"))
    for key in ("stories", "rules"):
        for story in data.get(key) or []:
            for step in (story or {}).get("steps") or []:
                if isinstance(step, dict) and isinstance(step.get("user"), str):
                    yield plain(step["user"].strip())


def training_files(root: Path = ROOT) -> List[Path]:
    from bot.model import TRAINING_DATA

    folders = [root / rel for rel in TRAINING_DATA] + sorted((root / "extensions").glob("*/"))
    files: List[Path] = []
    for folder in folders:
        if folder.is_file():
            files.append(folder)
        elif folder.is_dir():
            files.extend(p for p in sorted(folder.rglob("*")) if p.suffix in (".yml", ".yaml"))
    return files


def heldout_files() -> List[Path]:
    return sorted(HELDOUT_DIR.glob("*.yml"))


def overlaps(root: Path = ROOT) -> List[Tuple[str, str, str]]:
    """(held-out file, held-out text, training file) for every normalised overlap."""
    seen: Dict[str, str] = {}
    for path in training_files(root):
        for text in texts_in(path):
            key = normalise(text)
            if key:
                seen.setdefault(key, str(path.relative_to(root)))
    found = []
    for path in heldout_files():
        for text in texts_in(path):
            where = seen.get(normalise(text))
            if where:
                found.append((path.name, text, where))
    return found
