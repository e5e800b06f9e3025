"""Tune the FallbackClassifier's thresholds on a dev split of the training data (never on the
held-out test files), and say how often a wrong intent comes with high confidence.

    .venv/bin/python bench/tune_fallback.py [--dev-share 0.2] [--seed 7] [--model DEV_MODEL]

1. Splits nlu/ by label (faq/<topic> kept apart), seeded: 80 % to train, 20 % dev.
2. Trains an NLU-only model on the 80 % with config.yml (or measures --model, trained so before).
3. Parses the dev messages; the FallbackClassifier leaves the classifier's own ranking in
   ``intent_ranking``, so every threshold pair can be replayed on the same parses:
   fallback when top confidence < threshold, or top − second < ambiguity_threshold.
4. Cost per dev message: a wrong intent acted on costs 2 (the bot does the wrong thing), a
   fallback on a message it had right costs 1 (the user is asked to rephrase; twice → a person).
   The pick is the cheapest pair that asks at most 5 % of all messages to rephrase although
   they were understood (MAX_FALLBACK_ON_RIGHT). Prints the pick, the grid's cheapest pairs and
   the current config's, and the share of wrong intents with confidence ≥ 0.9.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, List, Tuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WRONG_COST, FALLBACK_COST = 2.0, 1.0
MAX_FALLBACK_ON_RIGHT = 0.05
THRESHOLDS = [round(0.30 + 0.05 * i, 2) for i in range(13)]  # 0.30 … 0.90
AMBIGUITIES = [0.0, 0.05, 0.1, 0.15, 0.2]


def split(dev_share: float, seed: int):
    from rasa.shared.nlu.training_data.loading import load_data
    from rasa.shared.nlu.training_data.training_data import TrainingData

    data = load_data(str(ROOT / "nlu"))
    by_label: Dict[str, List[Any]] = defaultdict(list)
    for example in data.intent_examples:
        by_label[example.get("intent_response_key") or example.get("intent")].append(example)
    rng = random.Random(seed)
    train, dev = [], []
    for label in sorted(by_label):
        examples = sorted(by_label[label], key=lambda m: m.get("text"))
        rng.shuffle(examples)
        cut = max(1, round(len(examples) * dev_share))
        dev.extend(examples[:cut])
        train.extend(examples[cut:])
    part = TrainingData(training_examples=train, entity_synonyms=data.entity_synonyms,
                        regex_features=data.regex_features, lookup_tables=data.lookup_tables,
                        responses=data.responses)
    return part, dev


def top_two(parse: Dict[str, Any]) -> Tuple[str, float, float]:
    ranking = [r for r in parse.get("intent_ranking") or [] if r.get("name") != "nlu_fallback"]
    first = ranking[0] if ranking else {"name": "None", "confidence": 0.0}
    second = ranking[1]["confidence"] if len(ranking) > 1 else 0.0
    return first["name"], float(first["confidence"]), float(second)


def replay(rows: List[Tuple[str, str, float, float]], threshold: float, ambiguity: float) -> Dict[str, Any]:
    n = len(rows)
    wrong_acted = fallback_on_right = caught = 0
    for gold, predicted, c1, c2 in rows:
        falls_back = c1 < threshold or (c1 - c2) < ambiguity
        right = predicted == gold
        if falls_back and right:
            fallback_on_right += 1
        elif falls_back:
            caught += 1
        elif not right:
            wrong_acted += 1
    return {"threshold": threshold, "ambiguity_threshold": ambiguity,
            "cost": round((WRONG_COST * wrong_acted + FALLBACK_COST * fallback_on_right) / n, 4),
            "wrong_acted_on": wrong_acted, "fallback_on_right": fallback_on_right, "wrong_caught": caught}


def parse_all(model: str, texts: List[str]) -> List[Dict[str, Any]]:
    from bot.evaluate import _parse_all

    return asyncio.run(_parse_all(Path(model), texts))


def current_thresholds() -> Tuple[float, float]:
    from ruamel.yaml import YAML

    config = YAML(typ="safe").load((ROOT / "config.yml").read_text(encoding="utf-8"))
    fallback = next(c for c in config["pipeline"] if c["name"] == "FallbackClassifier")
    return float(fallback["threshold"]), float(fallback.get("ambiguity_threshold", 0.1))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dev-share", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--model", help="a model already trained on this split's 80 %")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "fallback_tuning.json")
    args = parser.parse_args()

    train_part, dev = split(args.dev_share, args.seed)
    with tempfile.TemporaryDirectory(prefix="tune-fallback-") as tmp:
        model = args.model
        if not model:
            from ruamel.yaml import YAML

            data = Path(tmp) / "data"
            data.mkdir()
            (data / "train.yml").write_text(train_part.nlu_as_yaml(), encoding="utf-8")
            # the faq answers, so the ResponseSelector trains as it does on nlu/
            yaml = YAML(typ="safe")
            answers = yaml.load((ROOT / "nlu" / "faq.yml").read_text(encoding="utf-8"))["responses"]
            with (data / "responses.yml").open("w", encoding="utf-8") as handle:
                yaml.dump({"version": "3.1", "responses": answers}, handle)
            run = subprocess.run([str(Path(sys.executable).with_name("rasa")), "train", "nlu",
                                  "--config", "config.yml", "--nlu", str(data), "--out", tmp,
                                  "--fixed-model-name", "dev"], cwd=ROOT, capture_output=True,
                                 text=True, timeout=3600)
            if run.returncode != 0:
                raise SystemExit(run.stdout[-2000:] + run.stderr[-2000:])
            model = str(Path(tmp) / "dev.tar.gz")
        parses = parse_all(model, [m.get("text") for m in dev])

    rows = []
    for example, parse in zip(dev, parses):
        predicted, c1, c2 = top_two(parse)
        rows.append((example.get("intent"), predicted, c1, c2))
    grid = sorted((replay(rows, t, a) for t in THRESHOLDS for a in AMBIGUITIES),
                  key=lambda r: (r["cost"], -r["threshold"]))
    now = replay(rows, *current_thresholds())
    allowed = [r for r in grid if r["fallback_on_right"] <= MAX_FALLBACK_ON_RIGHT * len(rows)]
    pick = allowed[0] if allowed else grid[-1]
    wrong = [r for r in rows if r[1] != r[0]]
    confident = [r for r in wrong if r[2] >= 0.9]
    print(f"dev split: {len(rows)} messages ({args.dev_share:.0%} of nlu/, seed {args.seed}); "
          f"train part {len(train_part.intent_examples)}")
    print(f"wrong intents before any fallback: {len(wrong)}; of them with confidence >= 0.9: "
          f"{len(confident)} ({len(confident) / max(1, len(wrong)):.0%} of wrong, "
          f"{len(confident) / len(rows):.1%} of all)")
    print("threshold ambiguity  cost  wrong-acted-on  fallback-on-right  wrong-caught")
    for r in grid[:5] + [dict(pick, note=f"pick (rephrase asked of <= {MAX_FALLBACK_ON_RIGHT:.0%} understood)"),
                         dict(now, note="current config.yml")]:
        print(f"{r['threshold']:>9} {r['ambiguity_threshold']:>9} {r['cost']:>5} {r['wrong_acted_on']:>15} "
              f"{r['fallback_on_right']:>18} {r['wrong_caught']:>13}  {r.get('note', '')}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"pick": pick, "best": grid[0], "current": now, "grid": grid,
                                    "wrong": len(wrong), "wrong_confident": len(confident),
                                    "dev": len(rows), "rows": rows}, indent=2, ensure_ascii=False),
                        encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
