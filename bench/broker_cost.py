"""What an event broker would cost each turn: Rasa's SQL tracker store saving a turn with and
without an event broker, on the same conversations, in one run.

    .venv/bin/python bench/broker_cost.py [--turns 30] [--conversations 20]

With a broker set, ``TrackerStore.stream_events`` re-reads the stored conversation
(``retrieve``) on every save to find the new events, then publishes them (Rasa 3.6,
rasa/core/tracker_store.py). Measured here with the project's store
(``bot.tracker_store.RedactingSQLTrackerStore``, SQLite files in a temporary folder) and
Rasa's own SQL event broker (``rasa.core.brokers.sql.SQLEventBroker``). Prints the median
save time per turn, with and without, by conversation length.
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


async def measure(turns: int, conversations: int, work: Path) -> Dict[str, List[List[float]]]:
    from rasa.core.brokers.sql import SQLEventBroker
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    from bot.tracker_store import RedactingSQLTrackerStore

    domain = Domain.load(str(ROOT / "domain.yml"))
    stores = {
        "no broker": RedactingSQLTrackerStore(domain, dialect="sqlite", db=str(work / "a.db")),
        "SQL broker": RedactingSQLTrackerStore(
            domain, dialect="sqlite", db=str(work / "b.db"),
            event_broker=SQLEventBroker(db=str(work / "broker.db"))),
    }
    times: Dict[str, List[List[float]]] = {name: [[] for _ in range(turns)] for name in stores}
    for index in range(conversations):
        for name in (list(stores) if index % 2 == 0 else list(reversed(stores))):
            store = stores[name]
            tracker = DialogueStateTracker(f"bench-{index}", domain.slots)
            for turn in range(turns):
                tracker.update(UserUttered("我要退保", {"name": "request_surrender",
                                                     "confidence": 0.9}))
                tracker.update(ActionExecuted("action_start_surrender"))
                tracker.update(SlotSet("stage", None))
                tracker.update(BotUttered("请提供保单号", metadata={"utter_action": "utter_x"}))
                tracker.update(ActionExecuted("action_listen"))
                started = time.perf_counter()
                await store.save(tracker)
                times[name][turn].append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=30)
    parser.add_argument("--conversations", type=int, default=20)
    args = parser.parse_args()
    turns, conversations = min(max(1, args.turns), 200), min(max(1, args.conversations), 200)
    with tempfile.TemporaryDirectory() as work:
        times = asyncio.run(measure(turns, conversations, Path(work)))
    print(f"median save time per turn (ms), {conversations} conversations")
    print(f"{'turn':>5} {'no broker':>10} {'SQL broker':>11} {'ratio':>6}")
    for turn in sorted({0, 4, 9, 19, turns - 1} & set(range(turns))):
        plain = statistics.median(times["no broker"][turn]) * 1000
        broker = statistics.median(times["SQL broker"][turn]) * 1000
        print(f"{turn + 1:>5} {plain:>10.1f} {broker:>11.1f} {broker / plain:>6.2f}")


if __name__ == "__main__":
    main()
