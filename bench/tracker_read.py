"""A stored tracker turned back into objects, with Rasa's event-class walk and with
bot.event_types' memo; and the same tracker sent to the action server, its body written by the
json module (Rasa's) and by ujson (bot.action_calls); in one process and the same run.

    .venv/bin/python bench/tracker_read.py [--rounds 200]

The tracker is the longest test story of tests/conversations/surrender.yml as the tracker store
keeps it (JSON events), read the way ``SQLTrackerStore._retrieve`` reads it
(``DialogueStateTracker.from_dict``). Prints ms per read each way and the ratio.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    logging.disable(logging.WARNING)

    from rasa.shared.core.domain import Domain
    from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity
    from rasa.shared.core.training_data.story_reader.yaml_story_reader import YAMLStoryReader

    from bot import event_types

    domain = Domain.load(str(ROOT / "domain.yml"))
    steps = YAMLStoryReader(domain).read_from_file(ROOT / "tests/conversations/surrender.yml")
    longest = max(steps, key=lambda step: len(step.events))
    stored = json.loads(json.dumps(DialogueStateTracker.from_events(
        "bench", longest.events, domain.slots).current_state(EventVerbosity.ALL)["events"]))

    def timed() -> float:
        for _ in range(10):
            DialogueStateTracker.from_dict("bench", stored, domain.slots)
        start = time.perf_counter()
        for _ in range(args.rounds):
            DialogueStateTracker.from_dict("bench", stored, domain.slots)
        return (time.perf_counter() - start) / args.rounds * 1000

    walk = memo = 0.0
    for _ in range(3):  # in turns
        event_types.uninstall()
        walk += timed() / 3
        event_types.install()
        memo += timed() / 3
    event_types.uninstall()
    print(f"tracker of {len(stored)} events ({longest.block_name!r}), {args.rounds} reads each way")
    print(f"Rasa's class walk  {walk:6.2f} ms per read")
    print(f"memo               {memo:6.2f} ms per read   ratio {walk / memo:.2f}")

    from bot.action_calls import dumps

    tracker = DialogueStateTracker.from_dict("bench", stored, domain.slots)
    body = {"next_action": "validate_surrender_form", "sender_id": "bench", "version": "3.6.21",
            "tracker": tracker.current_state(EventVerbosity.ALL), "domain": domain.as_dict()}

    def timed_dump(dump) -> float:
        start = time.perf_counter()
        for _ in range(args.rounds):
            dump(body)
        return (time.perf_counter() - start) / args.rounds * 1000

    plain = ours = 0.0
    for _ in range(3):
        plain += timed_dump(json.dumps) / 3
        ours += timed_dump(dumps) / 3
    print(f"action call body of {len(json.dumps(body)) // 1024} KB (tracker and domain)")
    print(f"json.dumps         {plain:6.2f} ms per call")
    print(f"ujson              {ours:6.2f} ms per call   ratio {plain / ours:.2f}")


if __name__ == "__main__":
    main()
