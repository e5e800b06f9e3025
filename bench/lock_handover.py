"""Hand-over time of a conversation's lock: from the holder's release to the waiting message
getting in, for Rasa 3.6's RedisLockStore and bot.lock_store.AtomicRedisLockStore, in the
same run, against the machine's Redis (db 9, own key prefix, removed afterwards).

    .venv/bin/python bench/lock_handover.py [--rounds 40]

Each round: process A takes the lock, process B asks for it and waits, A releases and notes
the time, B notes when it got in. Prints median and p95 in ms per store.
"""
from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness import contenders  # noqa: E402

FORK = multiprocessing.get_context("fork")


def _holder(kind, prefix, conversation, held, asked, released_at):
    store = contenders.make_store(kind, prefix)

    async def run():
        async with store.lock(conversation, lock_lifetime=10):
            held.set()
            asked.wait(10)
            await asyncio.sleep(0.3)  # B is polling by now
            released_at.value = time.time()
    asyncio.run(run())


def _waiter(kind, prefix, conversation, held, asked, got_at):
    store = contenders.make_store(kind, prefix)
    held.wait(10)

    async def run():
        asked.set()
        async with store.lock(conversation, lock_lifetime=10):  # Rasa's default poll: 1 s
            got_at.value = time.time()
    asyncio.run(run())


def measure(kind: str, rounds: int) -> list:
    prefix = contenders.new_prefix()
    times = []
    try:
        for index in range(rounds):
            held, asked = FORK.Event(), FORK.Event()
            released_at, got_at = FORK.Value("d", 0.0), FORK.Value("d", 0.0)
            a = FORK.Process(target=_holder, args=(kind, prefix, f"c{index}", held, asked, released_at))
            b = FORK.Process(target=_waiter, args=(kind, prefix, f"c{index}", held, asked, got_at))
            a.start(); b.start(); a.join(30); b.join(30)
            times.append((got_at.value - released_at.value) * 1000)
    finally:
        contenders.forget(prefix)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=40)
    rounds = parser.parse_args().rounds
    for kind, name in (("rasa", "RedisLockStore (Rasa 3.6)"), ("atomic", "AtomicRedisLockStore")):
        times = sorted(measure(kind, rounds))
        p95 = times[max(0, int(round(0.95 * len(times))) - 1)]
        print(f"{name:28s} hand-over ms: median {statistics.median(times):7.1f}  "
              f"p95 {p95:7.1f}  max {times[-1]:7.1f}  (n={len(times)})")


if __name__ == "__main__":
    main()
