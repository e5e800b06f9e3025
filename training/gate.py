"""``tuibao gate``: a candidate model may not fall below the committed baseline.

The baseline (``tests/heldout/baseline.json``) holds the figures of the last accepted model on
the held-out lines and the tolerances. A candidate fails when, beyond its tolerance,
- the overall macro-F1 is lower,
- any intent's F1 is lower (every core intent; an insurer's intents once they are in the
  baseline),
- any identifier entity's exact-value accuracy is lower.
Every failing line is named with both figures and what went wrong (recall lost to which
intent, precision lost to which intent). The gate scores only a model trained on the current
data: a model whose data fingerprint (``<model>.fingerprint``, written by ``tuibao train``)
differs from the tree's is refused. ``tuibao gate --update-baseline`` writes the candidate's
figures to the baseline file; that change is reviewed and committed like code.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, List, Optional

DEFAULT_TOLERANCES = {
    # One held-out line of a small intent moves its F1 by up to ~0.06; two lines are noise.
    "macro_f1": 0.02,
    "intent_f1": 0.10,
    # Identifiers are extracted by rule: any lost value is a regression.
    "identifier_accuracy": 0.0,
}
BASELINE = Path("tests") / "heldout" / "baseline.json"
# Development sets (issue 17): their errors chose training data, so they are scored and printed
# but no longer gate anything. Every other held-out file (the core ones and each insurer's) does.
DEVELOPMENT_SETS = ("heldout.yml", "real_users.yml")


def gate_files(root: Path):
    """(source, file) of every held-out file the gate scores: all but the development sets."""
    from training import report

    return [(source, path) for source, path in report.heldout_files(root)
            if not (source == report.CORE and path.name in DEVELOPMENT_SETS)]


def development_files(root: Path):
    """(source, file) of the development sets: scored and printed beside the gate, never gating."""
    from training import report

    return [(source, path) for source, path in report.heldout_files(root)
            if source == report.CORE and path.name in DEVELOPMENT_SETS]
STALE = ("the gate scores only a model trained on the current data: {model} has data "
         "fingerprint {have}, the tree's is {want}. Train it (tuibao train) and run the gate again.")


class StaleModel(RuntimeError):
    """The model was not trained on the data in the tree."""


def check_fingerprint(report: Dict[str, Any], current: str) -> None:
    have = report.get("model_fingerprint")
    if have != current:
        raise StaleModel(STALE.format(model=report.get("model"), have=have or "none (no "
                                      "<model>.fingerprint beside it)", want=current))


def baseline_from(report: Dict[str, Any], tolerances: Optional[Dict[str, float]] = None,
                  core_intents: Optional[List[str]] = None) -> Dict[str, Any]:
    """The baseline document for an evaluated model."""
    overall = report["overall"]
    return {
        "note": "Held-out figures of the accepted model. Update only with `tuibao gate "
                "--update-baseline`, reviewed like code.",
        "written": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "model_fingerprint": report.get("model_fingerprint"),
        "heldout": report["heldout"],
        "tolerances": dict(tolerances or DEFAULT_TOLERANCES),
        "core_intents": sorted(core_intents or []),
        "macro_f1": overall["macro_f1"],
        "intent_f1": {label: f["f1"] for label, f in overall["per_intent"].items()},
        "identifier_accuracy": {e: f["accuracy"] for e, f in overall["identifiers"].items()
                                if f["accuracy"] is not None},
    }


def _lost_to(report: Dict[str, Any], intent: str) -> str:
    """Where an intent's lines went, and which intents' lines it took (from the confusion)."""
    confusion = report["overall"]["confusion"]
    labels, matrix = confusion["labels"], confusion["matrix"]
    if intent not in labels:
        return ""
    i = labels.index(intent)
    went = sorted(((matrix[i][j], labels[j]) for j in range(len(labels)) if j != i and matrix[i][j]),
                  reverse=True)
    took = sorted(((matrix[j][i], labels[j]) for j in range(len(labels)) if j != i and matrix[j][i]),
                  reverse=True)
    parts = []
    if went:
        parts.append("its lines went to " + ", ".join(f"{label} ×{n}" for n, label in went[:3]))
    if took:
        parts.append("it took lines of " + ", ".join(f"{label} ×{n}" for n, label in took[:3]))
    return "; ".join(parts)


def compare(baseline: Dict[str, Any], report: Dict[str, Any]) -> List[str]:
    """The failing lines (empty when the candidate passes)."""
    tol = {**DEFAULT_TOLERANCES, **baseline.get("tolerances", {})}
    overall = report["overall"]
    failures = []
    if overall["macro_f1"] < baseline["macro_f1"] - tol["macro_f1"]:
        failures.append(f"macro-F1 {overall['macro_f1']:.4f} < baseline {baseline['macro_f1']:.4f} "
                        f"- tolerance {tol['macro_f1']}")
    for intent, base_f1 in sorted(baseline["intent_f1"].items()):
        figures = overall["per_intent"].get(intent)
        if figures is None:
            failures.append(f"intent {intent}: no held-out lines any more (baseline F1 {base_f1:.4f})")
            continue
        if figures["f1"] < base_f1 - tol["intent_f1"]:
            why = _lost_to(report, intent)
            failures.append(
                f"intent {intent}: F1 {figures['f1']:.4f} < baseline {base_f1:.4f} - tolerance "
                f"{tol['intent_f1']} (precision {figures['precision']:.3f}, recall "
                f"{figures['recall']:.3f}{'; ' + why if why else ''})")
    for intent in sorted(set(baseline.get("core_intents", [])) - set(baseline["intent_f1"])):
        # Held-out lines exist for it now, but the baseline never measured it: out of date.
        # (A core intent with no held-out lines at all is reported by ``unmeasured``.)
        if overall["per_intent"].get(intent, {}).get("n", 0) > 0:
            failures.append(f"intent {intent}: core intent missing from the baseline; update it")
    for entity, base_acc in sorted(baseline["identifier_accuracy"].items()):
        figures = overall["identifiers"].get(entity) or {}
        acc = figures.get("accuracy")
        if acc is None or acc < base_acc - tol["identifier_accuracy"]:
            failures.append(
                f"identifier {entity}: exact-value accuracy {acc if acc is not None else 'n/a'} < "
                f"baseline {base_acc:.4f} - tolerance {tol['identifier_accuracy']} (matched "
                f"{figures.get('matched')}/{figures.get('gold')}, {figures.get('spurious')} spurious)")
    return failures


def unmeasured(baseline: Dict[str, Any], report: Dict[str, Any]) -> List[str]:
    """Core intents no held-out line measures: the gate cannot guard them (add held-out lines)."""
    measured = {intent for intent, figures in report["overall"]["per_intent"].items()
                if figures.get("n", 0) > 0}
    return sorted(set(baseline.get("core_intents", [])) - set(baseline["intent_f1"]) - measured)


def load_baseline(path: Path) -> Dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def write_baseline(path: Path, baseline: Dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(baseline, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
