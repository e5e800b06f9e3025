"""The spread of the held-out figures over the settings that differ between machines (issue 17).

    .venv/bin/python bench/nlu_spread.py [--out DIR] [--only NAME ...]

Trains NLU-only models one after the other (never in parallel: the CPU is shared) into a
temporary folder under each setting below -- TensorFlow's oneDNN kernels on or off, 1 or 2
threads per pool, DIET/ResponseSelector seeds -- scores every held-out file with each
(``bot.evaluate.score``, the figures of ``python -m bot.evaluate``) and the gate's overall
figures (``training.report.score`` over ``training.gate.GATE_FILES``), and prints a Markdown
table. Per run it keeps ``<out>/<name>/report.json``; ``--table`` reprints the table from them.
A run's ``digest`` hashes every prediction (intent and confidence to 4 places): two runs with
the same digest trained the same model as far as the held-out lines can tell.

NLU-only is enough for the NLU gates: the dialogue policies never see the held-out lines.
A full NLU training takes about 1.5 min on an idle machine (much longer on a shared one).
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.determinism import PINNED  # noqa: E402

_TF_KEYS = tuple(PINNED)


def _env(onednn: str | None, threads: int | None, deterministic: bool) -> Dict[str, str]:
    """An environment: None leaves TensorFlow's own default (the variable unset)."""
    env = {"TF_ENABLE_ONEDNN_OPTS": onednn,
           "TF_INTRA_OP_PARALLELISM_THREADS": None if threads is None else str(threads),
           "TF_INTER_OP_PARALLELISM_THREADS": None if threads is None else str(threads),
           "OMP_NUM_THREADS": None if threads is None else str(threads),
           "TF_DETERMINISTIC_OPS": "1" if deterministic else None,
           "PYTHONHASHSEED": "0" if deterministic else None}
    return env


# name: (environment, DIET/ResponseSelector seed, CPUs the process may use (taskset) or None)
SETTINGS = {
    "pinned-s42": (dict(PINNED), 42, None),
    "pinned-s42-1cpu": (dict(PINNED), 42, "0"),
    "tf-default-s42": (_env(None, None, False), 42, None),
    "onednn-on-t1-s42": (_env("1", 1, False), 42, None),
    "onednn-off-t2-s42": (_env("0", 2, False), 42, None),
    "pinned-s7": (dict(PINNED), 7, None),
    "pinned-s2026": (dict(PINNED), 2026, None),
    "onednn-on-t2-s7": (_env("1", 2, False), 7, None),
}


def _config_with_seed(seed: int, folder: Path) -> Path:
    text = (ROOT / "config.yml").read_text(encoding="utf-8")
    text = re.sub(r"random_seed: \d+", f"random_seed: {seed}", text)
    # The importer finds extensions/ next to the config file: point it at the project's.
    text = re.sub(r"extensions_dir: \S+", f"extensions_dir: {ROOT / 'extensions'}", text)
    path = folder / "config.yml"
    path.write_text(text, encoding="utf-8")
    return path


def _environment(settings: Dict[str, str | None]) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _TF_KEYS}
    env.update({k: v for k, v in settings.items() if v is not None})
    env["RASA_TELEMETRY_ENABLED"] = "false"
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    return env


def train(name: str, out: Path) -> Path:
    settings, seed, cpus = SETTINGS[name]
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    config = _config_with_seed(seed, folder)
    rasa = str(Path(sys.executable).with_name("rasa"))
    # The config's importers merge extensions/<insurer>/data, as `rasa train` does.
    cmd = [rasa, "train", "nlu", "--config", str(config), "--domain", "domain.yml",
           "--nlu", "nlu", "--out", str(folder), "--fixed-model-name", "nlu"]
    if cpus is not None:
        cmd = ["taskset", "-c", cpus, *cmd]
    start = time.monotonic()
    with (folder / "train.log").open("w") as log:
        code = subprocess.call(cmd, cwd=ROOT, env=_environment(settings), stdout=log,
                               stderr=subprocess.STDOUT)
    (folder / "train_seconds").write_text(f"{time.monotonic() - start:.0f}\n")
    if code != 0:
        raise RuntimeError(f"{name}: training failed ({folder / 'train.log'})")
    return folder / "nlu.tar.gz"


def score_in_this_process(model: Path, out: Path) -> None:
    """Parse every held-out line once; per-file figures and the gate's overall figures."""
    from rasa.utils.tensorflow.environment import setup_tf_environment

    from bot import evaluate
    from training import gate, report

    setup_tf_environment()  # this run's thread pools, as the rasa CLI sets them when training

    files = [(source, path) for source, path in report.heldout_files(ROOT)]
    lines = report.load_heldout(files)
    parses = asyncio.run(evaluate._parse_all(model, [line.text for line in lines]))
    by_text = {}
    for line, parse in zip(lines, parses):
        by_text.setdefault(line.text, parse)
    digest = hashlib.sha256(json.dumps(
        [[(p.get("intent") or {}).get("name"), round((p.get("intent") or {}).get("confidence") or 0, 4)]
         for p in parses]).encode()).hexdigest()[:12]
    result = {"model": str(model), "digest": digest, "files": {}, "gate": None}
    for _, path in files:
        examples = evaluate.load_examples(path)
        figures = evaluate.score(examples, [by_text[e.get("text")] for e in examples],
                                 model=str(model), data=path)
        figures.pop("errors", None)  # nobody reads a held-out file's single errors
        result["files"][str(path.relative_to(ROOT))] = figures
    gate_files = set(gate.gate_files(ROOT))
    chosen = [i for i, where in enumerate(_line_files(files)) if where in gate_files]
    assert len(list(_line_files(files))) == len(lines)
    overall = report.score([lines[i] for i in chosen], [parses[i] for i in chosen])
    overall.pop("errors", None)
    overall.pop("top_confused", None)
    result["gate"] = overall
    (out / "report.json").write_text(json.dumps(result, ensure_ascii=False, indent=1))


def _line_files(files):
    """(source, path) per held-out line, in load_heldout's order."""
    from rasa.shared.nlu.training_data.loading import load_data

    for source, path in files:
        for message in load_data(str(path)).intent_examples:
            if message.get("text"):
                yield source, path


def score(name: str, model: Path, out: Path) -> None:
    settings, _, cpus = SETTINGS[name]
    cmd = [sys.executable, __file__, "--score", str(model), "--out", str(out / name)]
    if cpus is not None:
        cmd = ["taskset", "-c", cpus, *cmd]
    with (out / name / "score.log").open("w") as log:
        code = subprocess.call(cmd, cwd=ROOT, env=_environment(settings), stdout=log,
                               stderr=subprocess.STDOUT)
    if code != 0:
        raise RuntimeError(f"{name}: scoring failed ({out / name / 'score.log'})")


SHORT = {"tests/heldout/sealed.yml": "sealed", "tests/heldout/blind.yml": "blind",
         "tests/heldout/more_intents.yml": "more", "tests/heldout/heldout.yml": "heldout*",
         "tests/heldout/real_users.yml": "real_users*"}


def table(out: Path, names: List[str]) -> str:
    rows = []
    header = None
    for name in names:
        path = out / name / "report.json"
        if not path.exists():
            continue
        rep = json.loads(path.read_text())
        files = rep["files"]
        cols, cells = [], []
        for rel, figures in files.items():
            short = SHORT.get(rel, Path(rel).stem)
            cols.append(f"{short} acc / F1")
            cells.append(f"{figures['intent_accuracy']:.4f} / {figures['intent_macro_f1']:.4f}")
        ids = [f for figures in files.values() for f in figures["entities"].values() if f["gold"]]
        perfect = all(f["accuracy"] == 1.0 for f in ids)
        gate_f1 = rep["gate"]["macro_f1"]
        seconds = (out / name / "train_seconds").read_text().strip()
        header = header or (["run", *cols, "gate macro-F1", "identifiers 1.00", "digest", "train s"])
        rows.append([name, *cells, f"{gate_f1:.4f}", "yes" if perfect else "NO", rep["digest"], seconds])
    if not header:
        return "(no runs yet)"
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def write_baseline(out: Path, names: List[str], path: Path,
                   untrained: Dict[str, List[str]] | None = None) -> Dict:
    """The gate's baseline from the spread: per figure, the lowest of the runs (the tolerances of
    training/gate.py are then the margin under the spread; docs/nlu.md). ``untrained``: per run,
    intents its model was not trained on (their F1 of 0 says nothing): left out of that run's
    per-intent minimum and of its macro-F1 (the mean of the F1 of the intents it knew)."""
    from training import gate
    from training.scaffold import core_intents

    untrained = untrained or {}
    runs = [(n, json.loads((out / n / "report.json").read_text())) for n in names
            if (out / n / "report.json").exists()]
    if not runs:
        raise SystemExit("no runs to take a baseline from")
    reports = [r for _, r in runs]
    lowest = dict(reports[0]["gate"])

    def macro(name, report):
        known = [f["f1"] for intent, f in report["gate"]["per_intent"].items()
                 if intent not in untrained.get(name, ())]
        return round(sum(known) / len(known), 4)

    lowest["macro_f1"] = min(macro(n, r) for n, r in runs)
    lowest["per_intent"] = {
        intent: {"f1": min(r["gate"]["per_intent"][intent]["f1"] for n, r in runs
                           if intent not in untrained.get(n, ()))}
        for intent in reports[0]["gate"]["per_intent"]}
    lowest["identifiers"] = {
        entity: {"accuracy": min((r["gate"]["identifiers"][entity]["accuracy"] for r in reports
                                  if r["gate"]["identifiers"][entity]["accuracy"] is not None),
                                 default=None)}
        for entity in reports[0]["gate"]["identifiers"]}
    baseline = gate.baseline_from(
        {"overall": lowest, "heldout": [str(p.relative_to(ROOT)) for _, p in gate.gate_files(ROOT)],
         "model_fingerprint": None}, core_intents=core_intents(ROOT))
    baseline["note"] = ("Floors of `tuibao gate`: per figure, the lowest of the spread of trainings "
                        "(bench/nlu_spread.py --write-baseline; runs: " + ", ".join(
                            n for n in names if (out / n / "report.json").exists())
                        + "); a candidate fails below it minus the tolerance (the margin, "
                        "docs/nlu.md). Never rewritten to fit one model.")
    gate.write_baseline(path, baseline)
    return baseline


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="bench/nlu_spread.py")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--only", nargs="*", default=None, choices=list(SETTINGS))
    parser.add_argument("--score", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--table", action="store_true", help="reprint the table of --out")
    parser.add_argument("--runs", nargs="*", default=None,
                        help="with --table/--write-baseline: the run folders of --out to use")
    parser.add_argument("--write-baseline", type=Path, default=None,
                        help="write the gate baseline (lowest figures of the runs) to this file")
    parser.add_argument("--untrained", nargs="*", default=[], metavar="RUN:INTENT",
                        help="with --write-baseline: an intent that run's model never learnt")
    args = parser.parse_args(argv)
    if args.score:
        score_in_this_process(args.score, args.out)
        return 0
    out = args.out or Path(tempfile.mkdtemp(prefix="nlu_spread_"))
    names = args.runs or args.only or list(SETTINGS)
    if args.write_baseline:
        untrained: Dict[str, List[str]] = {}
        for item in args.untrained:
            run, intent = item.split(":", 1)
            untrained.setdefault(run, []).append(intent)
        write_baseline(out, names, args.write_baseline, untrained)
        print(f"baseline written to {args.write_baseline}")
        return 0
    if not args.table:
        for name in names:
            print(f"== {name}", flush=True)
            model = train(name, out)
            score(name, model, out)
            print(table(out, [name]).splitlines()[-1], flush=True)
    print(table(out, names))
    return 0


if __name__ == "__main__":
    sys.exit(main())
