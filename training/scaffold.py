"""``tuibao intent new``: the five files of a new insurer intent, in the insurer's folder.

    extensions/<insurer>/domain/<intent>.yml         the intent and utter_<intent>
    extensions/<insurer>/data/nlu/<intent>.yml       training examples
    extensions/<insurer>/data/rules/<intent>.yml     intent -> utter_<intent>
    extensions/<insurer>/tests/stories/<intent>.yml  a test story
    extensions/<insurer>/tests/heldout/<intent>.yml  held-out lines (never trained on)

Without examples the files carry none and ``tuibao data lint`` says what is missing.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import List, Optional, Sequence

import yaml

from training.extensions import extension

INTENT_NAME = re.compile(r"^[a-z][a-z0-9_]{2,63}$")
PLACEHOLDER_RESPONSE = "TODO: 回答（用您称呼用户）"


def core_intents(root: Path) -> List[str]:
    """The intents of the core domain (domain.yml), faq included."""
    domain = yaml.safe_load((root / "domain.yml").read_text(encoding="utf-8")) or {}
    names = []
    for entry in domain.get("intents") or []:
        names.append(next(iter(entry)) if isinstance(entry, dict) else str(entry))
    return names


def _known_intents(root: Path) -> List[str]:
    names = core_intents(root)
    for path in (root / "extensions").glob("*/domain/*.yml"):
        domain = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        names += [next(iter(e)) if isinstance(e, dict) else str(e) for e in domain.get("intents") or []]
    return names


def _quoted(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _example_block(intent: str, lines: Sequence[str]) -> str:
    if not lines:
        return f"- intent: {intent}\n  examples: |\n"
    return f"- intent: {intent}\n  examples: |\n" + "".join(f"    - {line}\n" for line in lines)


def new_intent(root: Path, insurer: str, intent: str, examples: Sequence[str] = (),
               heldout: Sequence[str] = (), response: Optional[str] = None,
               test_message: Optional[str] = None) -> List[Path]:
    """Write the intent's files; refuses a malformed or taken name and never overwrites."""
    if not INTENT_NAME.match(intent):
        raise ValueError(f"intent name {intent!r}: snake_case, 3-64 characters, a letter first")
    ext = extension(root, insurer)
    if intent in _known_intents(root):
        raise ValueError(f"intent {intent} already exists (core or an insurer's); pick another name")
    overlap = {e.strip() for e in examples} & {h.strip() for h in heldout}
    if overlap:
        raise ValueError(f"held-out lines must not be training examples: {sorted(overlap)}")
    for line in [*examples, *heldout]:
        if "\n" in line or line != line.strip():
            raise ValueError(f"example {line!r}: one trimmed line each")
    files = {
        ext.domain_dir / f"{intent}.yml": (
            f'version: "3.1"\n# {insurer}: {intent} (tuibao intent new)\nintents:\n  - {intent}\n\n'
            f"responses:\n  utter_{intent}:\n    - text: {_quoted(response or PLACEHOLDER_RESPONSE)}\n"),
        ext.nlu_dir / f"{intent}.yml": (
            f'version: "3.1"\n# {insurer}: {intent} training examples (tuibao intent new)\nnlu:\n'
            + _example_block(intent, examples)),
        ext.rules_dir / f"{intent}.yml": (
            f'version: "3.1"\n# {insurer}: {intent} is answered wherever it is asked (tuibao intent new)\n'
            f"rules:\n- rule: {intent}\n  steps:\n  - intent: {intent}\n  - action: utter_{intent}\n"),
        ext.test_stories_dir / f"{intent}.yml": (
            f'version: "3.1"\n# {insurer}: {intent} test story (rasa test core)\nstories:\n'
            f"- story: {insurer} {intent}\n  steps:\n  - user: |\n      "
            f"{test_message or (examples[0] if examples else intent)}\n    intent: {intent}\n"
            f"  - action: utter_{intent}\n"),
        ext.heldout_dir / f"{intent}.yml": (
            f'version: "3.1"\n# {insurer}: {intent} held-out lines. Never train on them.\nnlu:\n'
            + _example_block(intent, heldout)),
    }
    taken = [p for p in files if p.exists()]
    if taken:
        raise FileExistsError(f"{taken[0]} exists; not overwriting")
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return list(files)
