"""bot.lock_store.AtomicRedisLockStore against the machine's Redis (db 9, a fresh key prefix
per test, only those keys removed), with real OS processes competing for one conversation, as
Rasa's Sanic workers and replicas do. Rasa's own RedisLockStore runs the same contest first, to
show what the atomic store is for.
"""
from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import socket
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any, Dict, Iterator

import pytest
import redis
import yaml
from rasa.core.lock_store import LockError, LockStore

from bot.lock_store import AtomicRedisLockStore
from harness import contenders
from harness.services import ROOT, free_port

FORK = multiprocessing.get_context("fork")
PROCESSES = 4


@pytest.fixture
def prefix() -> Iterator[str]:
    name = contenders.new_prefix()
    yield name
    contenders.forget(name)


def _contest(kind: str, prefix: str, rounds: int) -> Dict[str, Any]:
    """PROCESSES processes, ``rounds`` rounds, all asking at once each round."""
    barrier, out = FORK.Barrier(PROCESSES), FORK.Queue()
    processes = [FORK.Process(target=contenders.contend, args=(kind, prefix, rounds, barrier, out))
                 for _ in range(PROCESSES)]
    for process in processes:
        process.start()
    try:
        reports = [out.get(timeout=60 + rounds * contenders.STUCK_AFTER_S) for _ in processes]
    finally:
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
    entries = [entry for report in reports for entry in report["entries"]]
    tickets = Counter((e["conversation"], e["ticket"]) for e in entries)
    red = contenders.redis_client()
    orders = {f"round{i}": [int(t) for t in red.lrange(f"{prefix}:order:round{i}", 0, -1)]
              for i in range(rounds)}
    red.close()
    return {
        "entries": len(entries),
        "overlaps": sum(e["overlap"] for e in entries),
        "repeated_tickets": sum(1 for count in tickets.values() if count > 1),
        "errors": [error for report in reports for error in report["errors"]],
        "stuck": sum(report["stuck"] for report in reports),
        "orders": orders,
    }


def test_rasa_redis_lock_store_lets_two_processes_hold_one_conversation(prefix):
    """The flaw, observed: Rasa's read-modify-write hands out the same ticket twice and two
    processes run one conversation's turn at the same time (or a waiter's ticket is lost)."""
    result = _contest("rasa", prefix, rounds=40)
    print({k: v for k, v in result.items() if k != "orders"})
    assert result["overlaps"] > 0 and result["repeated_tickets"] > 0, result


def test_atomic_store_one_holder_at_a_time_in_ticket_order(prefix):
    rounds = 60
    result = _contest("atomic", prefix, rounds=rounds)
    print({k: v for k, v in result.items() if k != "orders"})
    assert result["errors"] == [] and result["stuck"] == 0
    assert result["entries"] == rounds * PROCESSES
    assert result["overlaps"] == 0 and result["repeated_tickets"] == 0
    for conversation, order in result["orders"].items():
        # every process got in once, and in the order its ticket was issued
        assert len(order) == PROCESSES and order == sorted(order), (conversation, order)


def test_messages_are_served_in_arrival_order(prefix):
    """Five processes ask 150 ms apart while the first holds the lock: they get in in the
    order they asked, not in the order they were started or woke up."""
    out = FORK.Queue()
    start = time.time() + 1.5  # every process is up by then
    labels = [4, 2, 0, 3, 1]  # started in this order; label = arrival slot
    processes = [FORK.Process(target=contenders.arrive, args=(
        "atomic", prefix, "arrivals", label, start + 0.15 * label, 0.9 if label == 0 else 0.05, out))
        for label in labels]
    for process in processes:
        process.start()
    try:
        got = [out.get(timeout=30) for _ in processes]
    finally:
        for process in processes:
            process.join(timeout=10)
    red = contenders.redis_client()
    order = [int(x) for x in red.lrange(f"{prefix}:order:arrivals", 0, -1)]
    red.close()
    assert order == [0, 1, 2, 3, 4]
    assert not any(overlap for _, _, overlap in got)
    by_label = dict((label, ticket) for label, ticket, _ in got)
    assert [by_label[i] for i in range(5)] == sorted(by_label.values())


def test_a_killed_holder_blocks_the_conversation_for_its_lifetime_only(prefix):
    lifetime = 2.0
    held, held_at = FORK.Event(), FORK.Value("d", 0.0)
    holder = FORK.Process(target=contenders.hold_then_hang,
                          args=(prefix, "crash", lifetime, held, held_at))
    holder.start()
    try:
        assert held.wait(30)
        os.kill(holder.pid, signal.SIGKILL)  # dies holding the lock: no release ever comes
        holder.join(10)
        store = contenders.make_store("atomic", prefix)

        async def take() -> float:
            async with store.lock("crash", lock_lifetime=lifetime):
                return time.time()

        acquired = asyncio.run(take())
    finally:
        if holder.is_alive():
            holder.kill()
    waited = acquired - held_at.value
    # the lease is honoured (the holder might have been alive and slow), then it ends
    assert lifetime - 0.1 <= waited <= lifetime + 1.0, waited
    assert store.get_lock("crash") is None  # released: nothing left behind


def test_a_killed_waiter_does_not_hold_up_the_messages_behind_it(prefix):
    """Holder A (alive), waiter W (killed while waiting), then B: B is served shortly after A
    releases (W is dropped once silent for stale_waiter_after), not a lock lifetime later."""
    lifetime, stale = 10.0, 0.5
    settings = {"stale_waiter_after": stale}
    held, released_at = FORK.Event(), FORK.Value("d", 0.0)
    queued = FORK.Value("q", 0)
    holder = FORK.Process(target=contenders.hold_for, args=(
        prefix, "dead-waiter", lifetime, 1.5, held, released_at, settings))
    holder.start()
    waiter = None
    try:
        assert held.wait(30)
        waiter = FORK.Process(target=contenders.wait_in_queue,
                              args=(prefix, "dead-waiter", lifetime, queued, settings))
        waiter.start()
        deadline = time.time() + 20
        while not queued.value and time.time() < deadline:
            time.sleep(0.01)
        assert queued.value, "the waiter process never queued"
        time.sleep(0.2)
        os.kill(waiter.pid, signal.SIGKILL)
        store = contenders.make_store("atomic", prefix, **settings)

        async def take() -> float:
            async with store.lock("dead-waiter", lock_lifetime=lifetime):
                return time.time()

        acquired = asyncio.run(take())
        holder.join(10)
    finally:
        for process in (holder, waiter):
            if process is not None and process.is_alive():
                process.kill()
    assert released_at.value > 0
    after_release = acquired - released_at.value
    assert 0 <= after_release <= stale + 1.0, after_release


def test_waiting_is_bounded_and_the_given_up_ticket_leaves_the_queue(prefix):
    store = contenders.make_store("atomic", prefix, max_wait=0.5)

    async def scenario() -> float:
        async with store.lock("bounded", lock_lifetime=10):
            started = time.monotonic()
            with pytest.raises(LockError, match="within 0.5 s"):
                async with store.lock("bounded", lock_lifetime=10):
                    pytest.fail("got a lock somebody holds")
            waited = time.monotonic() - started
            assert len(store.get_lock("bounded").tickets) == 1  # only the holder's
            return waited

    waited = asyncio.run(scenario())
    assert 0.5 <= waited < 1.5
    assert store.get_lock("bounded") is None


def test_rasa_style_calls_issue_serve_and_clean_up(prefix):
    """The synchronous LockStore API (issue_ticket, get_lock, is_someone_waiting, cleanup)
    and the _acquire_lock hook, each one atomic step."""
    store = contenders.make_store("atomic", prefix)
    first = store.issue_ticket("sync", 10)
    second = store.issue_ticket("sync", 10)
    assert second > first
    assert [t.number for t in store.get_lock("sync").tickets] == [first, second]
    assert store.is_someone_waiting("sync")

    async def scenario() -> None:
        lock = await store._acquire_lock("sync", first, 1, lock_lifetime=10)
        assert lock.now_serving == first
        with pytest.raises(LockError):  # second is not at the head while first holds
            await asyncio.wait_for(store._acquire_lock("sync", second, 1, lock_lifetime=0.2),
                                   5)
        store.cleanup("sync", first)
        lock = await store._acquire_lock("sync", second, 1, lock_lifetime=10)
        assert lock.now_serving == second

    asyncio.run(scenario())
    store.cleanup("sync", second)
    assert store.get_lock("sync") is None and not store.is_someone_waiting("sync")
    red = contenders.redis_client()
    left = sorted(k.decode() for k in red.scan_iter(match=f"{prefix}:*"))
    red.close()
    assert left == [f"{prefix}:alock:seq"]  # the counter only; the queue is gone


# -- Redis going away ---------------------------------------------------------------------

def _redis_server(port: int, work: Path) -> subprocess.Popen:
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(work)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(port=port, socket_timeout=1)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            client.ping()
            return process
        except redis.ConnectionError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("redis-server did not start")


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(10)


def test_a_redis_restart_fails_calls_clearly_and_then_the_store_works_again(tmp_path):
    """A Redis of the test's own on a free port, restarted while a turn holds the lock."""
    port = free_port()
    server = _redis_server(port, tmp_path)
    try:
        store = AtomicRedisLockStore(host="127.0.0.1", port=port, db=0, key_prefix="restart",
                                     socket_timeout=1)

        async def scenario() -> None:
            nonlocal server
            async with store.lock("conv", lock_lifetime=5):
                _stop(server)  # Redis goes away while the turn runs
                began = time.monotonic()
                with pytest.raises(LockError, match=f"127.0.0.1:{port}/0"):
                    async with store.lock("other", lock_lifetime=5):
                        pass
                assert time.monotonic() - began < 3  # an error, not a hang
                server = _redis_server(port, tmp_path)
            # the turn ended normally although its release met a restarted Redis; the same
            # store object takes locks again on its pooled (reconnected) connections
            for _ in range(3):
                async with store.lock("conv", lock_lifetime=5) as lock:
                    assert lock.now_serving > 0
            assert store.issue_ticket("sync") > 0  # the synchronous client reconnected too

        asyncio.run(scenario())
    finally:
        _stop(server)


def test_a_redis_that_never_answers_raises_after_the_socket_timeout():
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # connections are accepted by the kernel; nothing is ever answered
    try:
        store = AtomicRedisLockStore(host="127.0.0.1", port=silent.getsockname()[1],
                                     socket_timeout=0.5)

        async def attempt() -> None:
            async with store.lock("conv", lock_lifetime=5):
                pytest.fail("locked without Redis")

        began = time.monotonic()
        with pytest.raises(LockError, match="Timeout"):
            asyncio.run(asyncio.wait_for(attempt(), 10))
        assert time.monotonic() - began < 3
        with pytest.raises(LockError):
            store.issue_ticket("conv")
    finally:
        silent.close()


# -- how Rasa loads it -----------------------------------------------------------------------

def _endpoints(path: Path, monkeypatch, env: Dict[str, str]) -> Any:
    from rasa.core.utils import AvailableEndpoints

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return AvailableEndpoints.read_endpoints(str(path))


def test_rasa_builds_it_from_the_scaled_out_endpoints_and_runs_several_workers(monkeypatch):
    from rasa.core.utils import number_of_sanic_workers

    endpoints = _endpoints(ROOT / "deploy" / "endpoints.scale.yml", monkeypatch, {
        "TUIBAO_ACTION_URL": "http://127.0.0.1:5055/webhook", "TUIBAO_ACTION_SECRET": "s",
        "TUIBAO_PG_HOST": "127.0.0.1", "TUIBAO_PG_PORT": "5432", "TUIBAO_PG_DB": "tuibao",
        "TUIBAO_PG_USER": "postgres", "TUIBAO_PG_PASSWORD": "",
        "TUIBAO_REDIS_HOST": "127.0.0.1", "TUIBAO_REDIS_PORT": "6379",
        "TUIBAO_REDIS_LOCK_DB": str(contenders.DB),
        "TUIBAO_RABBITMQ_HOST": "127.0.0.1", "TUIBAO_RABBITMQ_USER": "guest",
        "TUIBAO_RABBITMQ_PASSWORD": "guest"})
    store = LockStore.create(endpoints.lock_store)
    assert isinstance(store, AtomicRedisLockStore)
    assert store.address == f"127.0.0.1:6379/{contenders.DB}"
    assert store.key_prefix == "tuibao:alock:"
    monkeypatch.setenv("SANIC_WORKERS", "3")
    assert number_of_sanic_workers(endpoints.lock_store) == 3


def test_the_demo_endpoints_use_it(monkeypatch, prefix):
    endpoints = _endpoints(ROOT / "endpoints.yml", monkeypatch, {"TUIBAO_ACTION_SECRET": "s"})
    assert endpoints.lock_store.type == "bot.lock_store.AtomicRedisLockStore"
    config = yaml.safe_load((ROOT / "endpoints.yml").read_text(encoding="utf-8"))["lock_store"]
    assert (config["db"], config["key_prefix"]) == (3, "tuibaodemo")
    # a redis:// URL works as well as host/port/db (the test stacks use one)
    store = LockStore.create(_url_config(prefix))
    assert isinstance(store, AtomicRedisLockStore)
    ticket = store.issue_ticket("url")
    assert store.get_lock("url").now_serving == ticket
    store.cleanup("url", ticket)


def _url_config(prefix: str) -> Any:
    from rasa.utils.endpoints import EndpointConfig

    return EndpointConfig.from_dict({
        "type": "bot.lock_store.AtomicRedisLockStore",
        "url": f"redis://127.0.0.1:6379/{contenders.DB}", "key_prefix": prefix})
