"""The core guard's data check: an insurer's example that reads as a core request.

No model needed: each extension example is compared with every core training example and
held-out line after folding width, case, spaces, punctuation and modal particles
(``lint.normalise_example``). It collides with a core example when
- one contains the other (a short extension example such as "退钱" inside "这保险不要了，退钱"),
  or
- their character bigrams overlap by ``SIMILARITY`` or more (Dice coefficient).
Containment, the same text or ``CERTAIN`` similarity is an error; a lower similarity a warning
(short Chinese phrases share bigrams by chance). The finding names the core intent, the core example and where it is, and the score.

An insurer may keep such an example only with a reviewed override in
``extensions/<insurer>/core_overrides.yml``::

    overrides:
      - example: 退钱到哪张卡
        core_intent: request_surrender
        reviewed_by: core-team-li         # a Tuibao core reviewer, not the insurer
        reason: asks where the refund goes, not to surrender

``tuibao data lint`` and ``tuibao gate`` then report it as a note instead of an error; an
override without ``reviewed_by`` and ``reason`` counts as none.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import yaml

SIMILARITY = 0.7  # Dice on character bigrams; "退保怎么算" vs "发票怎么开" is 0.25
CERTAIN = 0.8  # from here on (and for the same text or containment) an error, below a warning:
# below 0.7 nothing: "关闭自动续费" vs "被自动续费了" (inform) is 0.67, and so is "我要退钱" vs
# "我要退报" (the running model catches that one: lint --model)
MIN_CONTAINED = 2  # characters: a one-character example is not a collision by containment
OVERRIDES = "core_overrides.yml"
# What the core answers with "we cannot help with that": an insurer's intent is meant to take
# such messages over (that is what extensions are for), so they are not guarded.
UNGUARDED = {"out_of_scope", "nlu_fallback"}


@dataclass(frozen=True)
class Collision:
    example: "object"  # lint.Example of the extension
    core: "object"  # lint.Example of the core (training or held-out)
    score: float
    how: str  # "contains", "contained", "same", "similar"
    reviewed_by: Optional[str] = None
    reason: Optional[str] = None

    @property
    def certain(self) -> bool:
        """Error-level: the same text, one inside the other, or ``CERTAIN`` similar."""
        return self.how != "similar" or self.score >= CERTAIN

    @property
    def core_intent(self) -> str:
        return self.core.intent.split("/")[0]


_NUMBER = re.compile(r"[a-z]*\d[a-z0-9]*")


def _key(text: str) -> str:
    """Folded as lint folds near-duplicates, every number (policy, ID, phone) one character:
    two examples that share only an identifier are not alike."""
    from training.lint import _near_key

    return _NUMBER.sub("0", _near_key(text))


def _bigrams(key: str) -> set:
    return {key[i:i + 2] for i in range(len(key) - 1)} or ({key} if key else set())


def similarity(a: str, b: str) -> Tuple[float, str]:
    """How alike two examples are once folded: (score, how)."""
    ka, kb = _key(a), _key(b)
    if not ka or not kb:
        return 0.0, ""
    if ka == kb:
        return 1.0, "same"
    if len(ka) >= MIN_CONTAINED and ka in kb:
        return 1.0, "contained"
    if len(kb) >= MIN_CONTAINED and kb in ka and len(kb) * 2 >= len(ka):
        return 1.0, "contains"
    ga, gb = _bigrams(ka), _bigrams(kb)
    return 2 * len(ga & gb) / (len(ga) + len(gb)), "similar"


def overrides(root: Path) -> Dict[Tuple[str, str], Dict[str, str]]:
    """(folded example, core intent) -> the reviewed override, for every insurer."""
    found = {}
    for path in sorted((root / "extensions").glob(f"*/{OVERRIDES}")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for entry in data.get("overrides") or []:
            if entry.get("reviewed_by") and entry.get("reason") and entry.get("example"):
                found[(_key(str(entry["example"])), str(entry.get("core_intent")))] = entry
    return found


def find(root: Path, extension_examples: Iterable, core_examples: Sequence,
         threshold: float = SIMILARITY) -> List[Collision]:
    """Every extension example that reads as a core one (the best match per example and core
    intent), with the reviewed overrides applied."""
    reviewed = overrides(root)
    core = [(c, _key(c.text)) for c in core_examples if _key(c.text)]
    sealed = {id(c) for c in core_examples if _is_heldout(c)}
    found: List[Collision] = []
    for example in extension_examples:
        best: Dict[str, Tuple[float, str, object]] = {}
        for other, _ in core:
            if other.intent.split("/")[0] in {example.intent.split("/")[0], *UNGUARDED}:
                continue
            score, how = similarity(example.text, other.text)
            intent = other.intent.split("/")[0]
            # the best score; on a tie a training example over a held-out line (whose text
            # stays sealed), then the shortest (the plainest evidence)
            held = best.get(intent)
            rank = (score, id(other) not in sealed, -len(other.text))
            if score >= threshold and (held is None or rank > held[3]):
                best[intent] = (score, how, other, rank)
        for intent, (score, how, other, _) in sorted(best.items()):
            entry = reviewed.get((_key(example.text), intent))
            found.append(Collision(example, other, round(score, 2), how,
                                   entry.get("reviewed_by") if entry else None,
                                   entry.get("reason") if entry else None))
    return found


def _is_heldout(example) -> bool:
    return "heldout" in Path(example.file).parts


def describe(collision: Collision, rel) -> str:
    c = collision
    how = {"same": "is the same as", "contained": "is inside", "contains": "contains",
           "similar": f"is {c.score:.2f} similar to"}[c.how]
    what = ("a sealed held-out line" if _is_heldout(c.core) else f"example '{c.core.text}'")
    return (f"'{c.example.text}' ({c.example.intent}) {how} core {c.core_intent} {what} at "
            f"{rel(c.core.file)}:{c.core.line}: customers who say it want {c.core_intent}")


def project_collisions(root: Path) -> Tuple[List[Collision], "object"]:
    """Collisions of every insurer's training examples with the core's examples and held-out
    lines (the data check the gate runs before it scores any model)."""
    from training.lint import load_project

    data = load_project(root)
    ext_root = (root / "extensions").resolve()
    def is_ext(e) -> bool:
        return ext_root in e.file.resolve().parents
    ext = [e for e in data.examples if is_ext(e)]
    core = [e for e in data.examples if not is_ext(e)] + [h for h in data.heldout if not is_ext(h)]
    return find(root, ext, core), data


AT_RISK = 0.34  # similarity from which a core example is re-read by the gate's core guard


def at_risk(root: Path) -> List[Tuple[str, str, str]]:
    """Core training examples of guarded intents close to some insurer's example: (text,
    intent, file:line), the lines the gate checks the candidate still reads as their intent."""
    from training.lint import _is_extension, load_project

    data = load_project(root)
    ext = [_key(e.text) for e in data.examples if _is_extension(root, e.file)]
    ext = [k for k in ext if k]
    if not ext:
        return []
    found = []
    for example in data.examples:
        intent = example.intent.split("/")[0]
        if _is_extension(root, example.file) or intent in UNGUARDED:
            continue
        if any(similarity_keys(k, _key(example.text)) >= AT_RISK for k in ext):
            rel = example.file.resolve().relative_to(root.resolve())
            found.append((example.text, intent, f"{rel}:{example.line}"))
    return found


def similarity_keys(ka: str, kb: str) -> float:
    if not ka or not kb:
        return 0.0
    if ka == kb or (len(ka) >= MIN_CONTAINED and ka in kb) or (len(kb) >= MIN_CONTAINED and kb in ka):
        return 1.0
    ga, gb = _bigrams(ka), _bigrams(kb)
    return 2 * len(ga & gb) / (len(ga) + len(gb))
