"""Current NLU pipeline against its spaCy variant, measured on every held-out file.

    .venv/bin/python bench/nlu_compare.py [--configs config.yml configs/spacy.yml]
                                          [--models A.tar.gz B.tar.gz] [--out results/nlu_compare.json]

For each config: trains an NLU-only model (`rasa train nlu`, wall time and the training
process's peak resident memory), then in a fresh process loads it and parses every utterance of
tests/heldout/*.yml (heldout.yml, real_users.yml, blind.yml) once (load time, resident memory
after loading and after parsing, parse latency p50/p95), and scores intent accuracy, macro-F1
and identifier exact values with bot.evaluate's rules. Prints one table (Markdown) and writes
the figures as JSON. With --models the given archives are measured instead of training (train
time then shows as n/a). The dialogue policies are the same in both configs and are left out.

Times depend on the machine's load: run it on an idle machine for figures to compare with others.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HELDOUT = sorted((ROOT / "tests" / "heldout").glob("*.yml"))  # heldout, real_users, blind
RASA = str(Path(sys.executable).with_name("rasa"))


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def train(config: Path, out: Path, name: str) -> Dict[str, Any]:
    """Trains an NLU-only model; wall time and peak RSS of the training process (GNU time)."""
    from bot import spacy_zh

    spacy_zh.ensure(config)
    cmd = ["/usr/bin/time", "-f", "MAXRSS_KB %M", RASA, "train", "nlu", "--config", str(config),
           "--nlu", "nlu", "--out", str(out), "--fixed-model-name", name]
    start = time.perf_counter()
    run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=3600)
    seconds = time.perf_counter() - start
    if run.returncode != 0:
        raise SystemExit(f"training {config} failed:\n{run.stdout[-2000:]}\n{run.stderr[-2000:]}")
    peak = next((int(l.split()[1]) / 1024 for l in run.stderr.splitlines() if l.startswith("MAXRSS_KB")), None)
    return {"model": str(out / f"{name}.tar.gz"), "train_s": round(seconds, 1),
            "train_peak_mib": None if peak is None else round(peak)}


def measure(model: str) -> Dict[str, Any]:
    """In this process: load the model, parse both held-out files, score and time them."""
    import logging

    from rasa.core.agent import Agent
    from rasa.utils.common import configure_logging_and_warnings
    from rasa.utils.log_utils import configure_structlog

    from bot.evaluate import load_examples, score

    configure_logging_and_warnings(logging.WARNING)
    configure_structlog(logging.WARNING)
    before = rss_mib()
    start = time.perf_counter()
    agent = Agent.load(model)
    loop = asyncio.new_event_loop()
    loop.run_until_complete(agent.parse_message("你好"))  # warm-up
    load_s = time.perf_counter() - start
    loaded = rss_mib()
    result: Dict[str, Any] = {"load_s": round(load_s, 1), "rss_loaded_mib": round(loaded),
                              "rss_model_mib": round(loaded - before)}
    timings: List[float] = []
    for data in HELDOUT:
        examples = load_examples(data)
        parses = []
        for example in examples:
            t0 = time.perf_counter()
            parses.append(loop.run_until_complete(agent.parse_message(example.get("text"))))
            timings.append((time.perf_counter() - t0) * 1000)
        report = score(examples, parses, model=model, data=data)
        result[data.name] = {
            "intent_accuracy": report["intent_accuracy"], "macro_f1": report["intent_macro_f1"],
            "identifiers": min((e["accuracy"] for e in report["entities"].values()
                                if e["accuracy"] is not None), default=None),
            "wrong_high_confidence": report["wrong_high_confidence"],
            "fallbacks": report["fallbacks"],
        }
    ordered = sorted(timings)
    result["parse_p50_ms"] = round(statistics.median(ordered), 1)
    result["parse_p95_ms"] = round(ordered[int(0.95 * (len(ordered) - 1))], 1)
    result["rss_after_mib"] = round(rss_mib())
    loop.close()
    return result


def measured_in_fresh_process(model: str) -> Dict[str, Any]:
    run = subprocess.run([sys.executable, __file__, "--measure", model], cwd=ROOT,
                         capture_output=True, text=True, timeout=3600,
                         env={"TF_CPP_MIN_LOG_LEVEL": "2", "PATH": "/usr/bin:/bin"})
    line = next((l for l in run.stdout.splitlines() if l.startswith("{")), None)
    if run.returncode != 0 or line is None:
        raise SystemExit(f"measuring {model} failed:\n{run.stderr[-3000:]}")
    return json.loads(line)


def table(rows: Dict[str, Dict[str, Any]]) -> str:
    def cell(value: Optional[float], fmt: str = "{}") -> str:
        return "n/a" if value is None else fmt.format(value)

    lines = ["| | " + " | ".join(rows) + " |", "|---|" + "---|" * len(rows)]
    spec = [
        *[row for name in (p.name for p in HELDOUT) for row in (
            (f"intent accuracy, {name}", lambda r, n=name: cell(r[n]["intent_accuracy"], "{:.4f}")),
            (f"macro-F1, {name}", lambda r, n=name: cell(r[n]["macro_f1"], "{:.4f}")),
            (f"identifier exact values, {name}", lambda r, n=name: cell(r[n]["identifiers"], "{:.2f}")),
        )],
        ("wrong intent at confidence ≥ 0.9 (all files)",
         lambda r: str(sum(r[p.name]["wrong_high_confidence"] for p in HELDOUT))),
        ("NLU train time (s)", lambda r: cell(r.get("train_s"))),
        ("NLU training peak memory (MiB)", lambda r: cell(r.get("train_peak_mib"))),
        ("model load time (s)", lambda r: cell(r["load_s"])),
        ("parse latency p50 / p95 (ms)", lambda r: f"{r['parse_p50_ms']} / {r['parse_p95_ms']}"),
        ("resident memory after load (MiB; of it the model)",
         lambda r: f"{r['rss_loaded_mib']} ({r['rss_model_mib']})"),
    ]
    for title, get in spec:
        lines.append(f"| {title} | " + " | ".join(get(r) for r in rows.values()) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--configs", nargs="+", default=["config.yml", "configs/spacy.yml"])
    parser.add_argument("--models", nargs="+", help="measure these archives (one per config) instead of training")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "nlu_compare.json")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return 0
    if args.models and len(args.models) != len(args.configs):
        parser.error("give one model per config")
    rows: Dict[str, Dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="nlu-compare-") as tmp:
        for i, config in enumerate(args.configs):
            if args.models:
                trained: Dict[str, Any] = {"model": args.models[i], "train_s": None, "train_peak_mib": None}
            else:
                trained = train(ROOT / config, Path(tmp), f"nlu{i}")
            rows[config] = {**trained, **measured_in_fresh_process(trained["model"])}
    print(table(rows))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, ensure_ascii=False, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
