"""Where a process's busy time goes, from a py-spy raw (folded) profile.

    .venv/bin/py-spy record -p PID -d 25 -r 50 -f raw -o rasa.txt   # while bench/load.py runs
    .venv/bin/python bench/profile_top.py rasa.txt [--top 15]

Prints the share of busy samples (py-spy drops idle ones) spent inside each of the suspects
named in issue 23 (a sample counts for the first suspect found in its stack, from the leaf
up: the innermost one owns it), then the top functions by inclusive and by own samples.
"""
from __future__ import annotations

import argparse
import collections
import re
from pathlib import Path
from typing import Dict, List, Tuple

# (label, pattern over one frame "function (file:line)"), innermost match wins.
SUSPECTS: List[Tuple[str, str]] = [
    ("jsonschema (action answers)", r"\(.*jsonschema/"),
    ("redaction of saved events", r"redact_event_data|bot/tracker_store\.py.*_redacted"),
    ("SQL tracker store (SQLAlchemy, sqlite3)", r"\(.*(sqlalchemy|sqlite3)/|tracker_store\.py"),
    ("TensorFlow / Keras", r"\(.*(tensorflow|keras)/"),
    ("featurizers / tokenizer (NLU)", r"\(.*(featurizers|tokenizers|jieba|sklearn)/"),
    ("policies: tracker replay, featurise", r"\(.*rasa/core/(policies|featurizers)/|"
                                            r"rasa/shared/core/trackers\.py|"
                                            r"rasa/shared/core/generator\.py"),
    ("action call (aiohttp, JSON)", r"\(.*(aiohttp|json/)|rasa/utils/endpoints\.py"),
    ("Redis lock store (sync client)", r"rasa/core/lock_store\.py"),
    ("Rasa processor, graph, NLG, other Rasa", r"\(rasa/"),
    ("our connectors / channel", r"\(.*connectors/"),
    ("events (de)serialisation", r"rasa/shared/core/events\.py"),
    ("logging", r"\(.*logging/"),
]


IDLE_LEAVES = ("_worker (concurrent/futures/thread.py:81)", "wait (threading.py",
               "_wait_for_tstate_lock (threading.py", "select (selectors.py")


# Frames every turn passes through (server loop, channel, processor entry): not informative.
SCAFFOLD = re.compile(r"^(<module>|main|run|serve|serve_single|serve_application|_run_once|"
                      r"_run|run_forever|run_until_complete|handler|handle_message|"
                      r"_run_turn|_handle_message_with_tracker|handle_request|_bootstrap|"
                      r"_bootstrap_inner|_worker|_run_module_as_main|_run_code|start|_Popen|"
                      r"_launch|serve_multiple|__init__ \(multiprocessing)|"
                      r"^\w+ \((dask|rasa/engine)/")


def read(path: Path) -> Dict[Tuple[str, ...], int]:
    stacks: Dict[Tuple[str, ...], int] = collections.Counter()
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        frames, _, count = line.rpartition(" ")
        frames = tuple(frames.split(";"))
        if frames[-1].startswith(IDLE_LEAVES):
            continue  # an executor thread waiting for work: idle, though py-spy counts it
        stacks[frames] += int(count)
    return stacks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    stacks = read(args.profile)
    total = sum(stacks.values()) or 1
    patterns = [(label, re.compile(p)) for label, p in SUSPECTS]
    owned: Dict[str, int] = collections.Counter()
    inclusive: Dict[str, int] = collections.Counter()
    own: Dict[str, int] = collections.Counter()
    for frames, count in stacks.items():
        for frame in set(frames):
            inclusive[frame] += count
        own[frames[-1]] += count
        label = "other"
        for frame in reversed(frames):
            label = next((name for name, rx in patterns if rx.search(frame)), "")
            if label:
                break
        owned[label or "other"] += count
    print(f"{args.profile}: {total} busy samples")
    print("\n| where | share of busy samples |\n|---|---|")
    for label, count in sorted(owned.items(), key=lambda kv: -kv[1]):
        print(f"| {label} | {100 * count / total:.0f} % |")
    print(f"\ntop {args.top} inclusive:")
    shown = 0
    for frame, count in sorted(inclusive.items(), key=lambda kv: -kv[1]):
        if shown < args.top and not SCAFFOLD.search(frame):
            print(f"  {100 * count / total:5.1f} %  {frame[:150]}")
            shown += 1
    print(f"\ntop {args.top} own:")
    for frame, count in sorted(own.items(), key=lambda kv: -kv[1])[:args.top]:
        print(f"  {100 * count / total:5.1f} %  {frame[:150]}")


if __name__ == "__main__":
    main()
