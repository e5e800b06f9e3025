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
from typing import Any, Dict, List, Optional, Sequence

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
        "intent_recall": {label: f["recall"] for label, f in overall["per_intent"].items()},
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


# ------------------------------------------------------------------ the change, not the noise
# Two-sided significance under which a paired difference counts as the change's doing.
SIGNIFICANCE = 0.05


def mcnemar_p(lost: int, gained: int) -> float:
    """Exact two-sided McNemar test on the discordant pairs: ``lost`` lines the current model
    read right and the candidate wrong, ``gained`` the other way. 1.0 when there are none."""
    from math import comb

    n = lost + gained
    if n == 0:
        return 1.0
    k = min(lost, gained)
    tail = sum(comb(n, i) for i in range(k + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def paired(current: Dict[str, Any], candidate: Dict[str, Any]) -> Dict[str, Any]:
    """Both models on the same held-out lines: per gold intent (and overall) how many lines each
    reads right, how many the candidate lost and gained, and McNemar's p. Lines are matched by
    (source, gold, text); a line only one report has is left out (and counted)."""
    def keyed(report):
        seen, out = {}, {}
        for row in report.get("predictions") or []:
            key = (row["source"], row["gold"], row["text"])
            seen[key] = seen.get(key, 0) + 1
            out[key + (seen[key],)] = row
        return out

    a, b = keyed(current), keyed(candidate)
    common = sorted(set(a) & set(b))
    per: Dict[str, Dict[str, Any]] = {}
    for key in common:
        gold = key[1]
        right_a, right_b = a[key]["predicted"] == gold, b[key]["predicted"] == gold
        for scope in (gold, "(all lines)"):
            row = per.setdefault(scope, {"n": 0, "current": 0, "candidate": 0, "lost": 0,
                                         "gained": 0, "lost_to": {}})
            row["n"] += 1
            row["current"] += right_a
            row["candidate"] += right_b
            if right_a and not right_b:
                row["lost"] += 1
                went = b[key]["predicted"]
                row["lost_to"][went] = row["lost_to"].get(went, 0) + 1
            elif right_b and not right_a:
                row["gained"] += 1
    for row in per.values():
        row["p"] = round(mcnemar_p(row["lost"], row["gained"]), 4)
        row["verdict"] = ("same" if row["lost"] == row["gained"] == 0 else
                          "worse" if row["lost"] > row["gained"] and row["p"] < SIGNIFICANCE else
                          "better" if row["gained"] > row["lost"] and row["p"] < SIGNIFICANCE else
                          "noise")
    return {"lines": len(common), "unmatched": len(set(a) ^ set(b)), "per_intent": per}


def describe_change(intent: str, row: Dict[str, Any]) -> str:
    went = ", ".join(f"{k} ×{v}" for k, v in sorted(row["lost_to"].items(), key=lambda kv: -kv[1]))
    return (f"{intent}: {row['current']}/{row['n']} → {row['candidate']}/{row['n']} right "
            f"(lost {row['lost']}{' to ' + went if went else ''}, gained {row['gained']}; "
            f"McNemar p={row['p']:.3f}: {row['verdict']})")


# ------------------------------------------------------------------ the core guard
# A core intent's held-out recall may not fall more than this below the baseline's (a
# baseline without recall figures: its F1), unless the baseline names a floor for the intent
# ("recall_floors"). One line of a 20-line intent is 0.05.
CORE_RECALL_TOLERANCE = 0.15


def core_guard(report: Dict[str, Any], baseline: Dict[str, Any], core: List[str],
               extension_intents: Dict[str, str]) -> List[str]:
    """Failures when an insurer's intent takes a core request: a core held-out line or a core
    training example (``report['core_guard']``) read as an insurer's intent; and a core
    intent's recall under its floor."""
    from training.collisions import UNGUARDED

    failures: List[str] = []
    guarded = [c for c in core if c not in UNGUARDED]
    taken: Dict[str, Dict[str, int]] = {}
    for row in report.get("predictions") or []:
        if row["gold"] in guarded and row["predicted"] in extension_intents:
            taken.setdefault(row["gold"], {}).setdefault(row["predicted"], 0)
            taken[row["gold"]][row["predicted"]] += 1
    for intent, went in sorted(taken.items()):
        for ext_intent, count in sorted(went.items()):
            failures.append(f"core guard: {count} held-out line(s) of core intent {intent} now "
                            f"read as {extension_intents[ext_intent]}'s {ext_intent}")
    for row in report.get("core_guard") or []:
        if row["predicted"] != row["gold"] and row["predicted"] in extension_intents:
            failures.append(
                f"core guard: core {row['gold']} example '{row['text']}' ({row['where']}) now "
                f"reads as {extension_intents[row['predicted']]}'s {row['predicted']} "
                f"(confidence {row['confidence']:.2f})")
    floors = baseline.get("recall_floors") or {}
    recalls = baseline.get("intent_recall") or {}
    tol = baseline.get("tolerances", {}).get("core_recall", CORE_RECALL_TOLERANCE)
    for intent in guarded:
        figures = report["overall"]["per_intent"].get(intent)
        if not figures or not figures.get("n"):
            continue
        floor = floors.get(intent)
        if floor is None:
            base = recalls.get(intent, baseline.get("intent_f1", {}).get(intent))
            if base is None:
                continue
            floor = round(base - tol, 4)
        if figures["recall"] < floor:
            why = _lost_to(report, intent)
            failures.append(f"core guard: core intent {intent} recall {figures['recall']:.3f} < "
                            f"floor {floor:.3f}{'; ' + why if why else ''}")
    return failures


def lowered(baseline: Dict[str, Any], new: Dict[str, Any]) -> List[str]:
    """What a new baseline lowers: macro-F1, each intent's F1, each identifier's accuracy."""
    out = []
    if new["macro_f1"] < baseline.get("macro_f1", 0):
        out.append(f"macro-F1 {baseline['macro_f1']:.4f} → {new['macro_f1']:.4f}")
    core = set(baseline.get("core_intents", []))
    for intent, f1 in sorted(baseline.get("intent_f1", {}).items()):
        now = new["intent_f1"].get(intent)
        if now is None or now < f1:
            out.append(f"{'core ' if intent in core else ''}intent {intent} F1 {f1:.4f} → "
                       f"{'gone' if now is None else f'{now:.4f}'}")
    for entity, acc in sorted(baseline.get("identifier_accuracy", {}).items()):
        now = new["identifier_accuracy"].get(entity)
        if now is None or now < acc:
            out.append(f"identifier {entity} accuracy {acc:.4f} → {now}")
    return out


def decide(baseline: Dict[str, Any], candidate: Dict[str, Any],
           current: Optional[Dict[str, Any]] = None, core: Sequence[str] = (),
           extension_intents: Optional[Dict[str, str]] = None,
           data_failures: Sequence[str] = ()) -> Dict[str, Any]:
    """The verdict: the core guard (data and model), the baseline's floors, and, when the
    current model's predictions on the same lines are there, the paired comparison: a floor
    missed where the paired test sees no significant change is noise (a note, not a failure),
    and a significant loss on any intent fails even within the floors."""
    failures: List[str] = list(data_failures)
    notes: List[str] = []
    failures += core_guard(candidate, baseline, list(core), extension_intents or {})
    floors = compare(baseline, candidate)
    pair = None
    if current is not None and current.get("predictions") and candidate.get("predictions"):
        pair = paired(current, candidate)
        rows = pair["per_intent"]
        for failure in floors:
            scope = ("(all lines)" if failure.startswith("macro-F1") else
                     failure.split(":")[0].split(" ", 1)[1] if failure.startswith("intent ") else None)
            row = rows.get(scope) if scope else None
            if row is not None and row["verdict"] != "worse":
                notes.append(f"noise, not the change: {failure}; on the same lines against the "
                             f"current model {describe_change(scope, row)}")
            else:
                failures.append(failure)
        for intent, row in sorted(rows.items()):
            if row["verdict"] == "worse":
                failures.append(f"worse than the current model: {describe_change(intent, row)}")
    else:
        failures += floors
        notes.append("no current model's predictions to compare with: the floors alone decide "
                     "(tuibao gate compares with models/current.tar.gz when it exists)")
    return {"passed": not failures, "failures": failures, "notes": notes, "paired": pair}
