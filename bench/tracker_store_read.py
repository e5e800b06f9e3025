"""A conversation read back from the SQL tracker store (SQLite, as ``make demo`` keeps it):
Rasa's ORM query, and bot.tracker_store's read of the ``data`` column alone; in one process,
the same database and the same run.

    .venv/bin/python bench/tracker_store_read.py [--rounds 300] [--conversations 200]

The database holds ``--conversations`` copies of the longest test story of
tests/conversations/surrender.yml (as the store writes them), so the query finds one
conversation among many, as on a server. Prints ms per read each way and the ratio.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--conversations", type=int, default=200)
    args = parser.parse_args()
    logging.disable(logging.WARNING)

    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.trackers import DialogueStateTracker
    from rasa.shared.core.training_data.story_reader.yaml_story_reader import YAMLStoryReader

    from bot import event_types
    from bot.tracker_store import RedactingSQLTrackerStore

    event_types.install()
    domain = Domain.load(str(ROOT / "domain.yml"))
    steps = YAMLStoryReader(domain).read_from_file(ROOT / "tests/conversations/surrender.yml")
    longest = max(steps, key=lambda step: len(step.events))

    with tempfile.TemporaryDirectory() as work:
        store = RedactingSQLTrackerStore(domain, dialect="sqlite", db=f"{work}/tracker.db")

        async def fill() -> None:
            for number in range(args.conversations):
                await store.save(DialogueStateTracker.from_events(
                    f"user-{number}", longest.events, domain.slots))

        asyncio.run(fill())
        sender = f"user-{args.conversations // 2}"

        def rasa_way():
            return asyncio.run(SQLTrackerStore._retrieve(store, sender, False))

        def ours():
            return asyncio.run(store._retrieve(sender, False))

        assert [e.as_dict() for e in rasa_way().events] == [e.as_dict() for e in ours().events]
        print(f"{len(rasa_way().events)} events a conversation, {args.conversations} "
              f"conversations, {args.rounds} reads each way, in turns")
        totals = {"rasa": 0.0, "ours": 0.0}
        for _ in range(5):
            for name, read in (("rasa", rasa_way), ("ours", ours)):
                start = time.perf_counter()
                for _ in range(args.rounds // 5):
                    read()
                totals[name] += time.perf_counter() - start
        per = {name: total / args.rounds * 1000 for name, total in totals.items()}
        print(f"Rasa's ORM read: {per['rasa']:.3f} ms; ours: {per['ours']:.3f} ms; "
              f"×{per['rasa'] / per['ours']:.2f}")


if __name__ == "__main__":
    main()
