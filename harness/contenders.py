"""Processes that compete for one conversation's lock, for tests/lock_store and
bench/lock_handover.py. Each runs in an OS process of its own (multiprocessing, fork), with its
own lock store object and Redis connections, as Rasa's Sanic workers and replicas do.

The critical section is watched from Redis itself: on entering, the process increments
``<prefix>:inside:<conversation>`` and appends its ticket to ``<prefix>:order:<conversation>``;
on leaving it decrements the counter. A count above one means two holders at once.
"""
from __future__ import annotations

import asyncio
import os
import time
import uuid
from typing import Any, Dict, List, Optional

import redis

REDIS_HOST = "127.0.0.1"
REDIS_PORT = 6379
DB = 9  # the lock-store tests' own Redis database; every key is under a fresh prefix
STUCK_AFTER_S = 5.0  # an acquisition not done by then is reported as stuck


def new_prefix() -> str:
    return "locktest" + uuid.uuid4().hex[:10]  # alphanumeric: Rasa's store requires it


def redis_client() -> redis.Redis:
    return redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=DB, socket_timeout=5)


def forget(prefix: str) -> None:
    """Delete this test's keys (only those under ``prefix:``)."""
    client = redis_client()
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=500))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def make_store(kind: str, prefix: str, **settings: Any) -> Any:
    """``rasa``: Rasa 3.6's RedisLockStore; ``atomic``: bot.lock_store.AtomicRedisLockStore."""
    if kind == "rasa":
        from rasa.core.lock_store import RedisLockStore

        return RedisLockStore(host=REDIS_HOST, port=REDIS_PORT, db=DB, key_prefix=prefix)
    from bot.lock_store import AtomicRedisLockStore

    return AtomicRedisLockStore(host=REDIS_HOST, port=REDIS_PORT, db=DB, key_prefix=prefix,
                                **settings)


def contend(kind: str, prefix: str, rounds: int, barrier: Any, out: Any,
            hold_s: float = 0.002, poll_s: float = 0.002) -> None:
    """Each round: wait at ``barrier`` with the other processes, then all ask for the lock of
    conversation ``round<i>`` at once and hold it ``hold_s``. Puts one dict on ``out``."""
    store = make_store(kind, prefix)
    red = redis_client()
    entries: List[Dict[str, Any]] = []
    errors: List[str] = []
    stuck = 0

    async def one(conversation: str) -> None:
        async with store.lock(conversation, lock_lifetime=10,
                              wait_time_in_seconds=poll_s) as lock:
            inside = red.incr(f"{prefix}:inside:{conversation}")
            red.rpush(f"{prefix}:order:{conversation}", lock.now_serving)
            entries.append({"conversation": conversation, "ticket": lock.now_serving,
                            "overlap": inside > 1})
            await asyncio.sleep(hold_s)
            red.decr(f"{prefix}:inside:{conversation}")

    async def run() -> None:
        nonlocal stuck
        for index in range(rounds):
            barrier.wait(timeout=60)
            try:
                await asyncio.wait_for(one(f"round{index}"), STUCK_AFTER_S)
            except asyncio.TimeoutError:
                stuck += 1
            except Exception as error:  # Rasa's LockError, mostly
                errors.append(f"{type(error).__name__}: {error}"[:160])

    asyncio.run(run())
    out.put({"pid": os.getpid(), "entries": entries, "errors": errors, "stuck": stuck})


def hold_then_hang(prefix: str, conversation: str, lifetime: float, held: Any,
                   held_at: Any, settings: Optional[Dict[str, Any]] = None) -> None:
    """Take the lock, say so (``held`` event, ``held_at`` wall time), then hang until killed."""
    store = make_store("atomic", prefix, **(settings or {}))

    async def run() -> None:
        async with store.lock(conversation, lock_lifetime=lifetime):
            held_at.value = time.time()
            held.set()
            await asyncio.sleep(3600)

    asyncio.run(run())


def wait_in_queue(prefix: str, conversation: str, lifetime: float, queued: Any,
                  settings: Optional[Dict[str, Any]] = None) -> None:
    """Queue for the lock (``queued`` holds the ticket once issued) and wait for it, polling,
    until the test kills this process."""
    store = make_store("atomic", prefix, **(settings or {}))
    ticket = store.issue_ticket(conversation, lifetime)
    queued.value = ticket

    async def run() -> None:
        await store._acquire_lock(conversation, ticket, 1, lock_lifetime=lifetime)
        await asyncio.sleep(3600)

    asyncio.run(run())


def hold_for(prefix: str, conversation: str, lifetime: float, hold_s: float, held: Any,
             released_at: Any, settings: Optional[Dict[str, Any]] = None) -> None:
    """Take the lock, hold it ``hold_s``, release it and note when (``released_at``)."""
    store = make_store("atomic", prefix, **(settings or {}))

    async def run() -> None:
        async with store.lock(conversation, lock_lifetime=lifetime):
            held.set()
            await asyncio.sleep(hold_s)
        released_at.value = time.time()

    asyncio.run(run())


def arrive(kind: str, prefix: str, conversation: str, label: int, at: float, hold_s: float,
           out: Any) -> None:
    """Ask for the lock at wall time ``at`` and hold it ``hold_s``; record ``label`` in the
    conversation's order list when inside. Puts (label, ticket, overlap) on ``out``."""
    store = make_store(kind, prefix)
    red = redis_client()

    async def run() -> None:
        await asyncio.sleep(max(0.0, at - time.time()))
        async with store.lock(conversation, lock_lifetime=10, wait_time_in_seconds=0.01) as lock:
            inside = red.incr(f"{prefix}:inside:{conversation}")
            red.rpush(f"{prefix}:order:{conversation}", label)
            await asyncio.sleep(hold_s)
            red.decr(f"{prefix}:inside:{conversation}")
            out.put((label, lock.now_serving, inside > 1))

    asyncio.run(run())
