"""Through Rasa: one real server (bot.serve, trained model) with SANIC_WORKERS=2, the atomic
lock store and a PostgreSQL tracker store; two messages of one REST sender sent at the same
moment are both answered, and stored once each, one whole turn after the other."""
from __future__ import annotations

import threading
from typing import Dict, List

import pytest
import requests

from tests.support.postgres import postgres_database
from harness.stack import tuibao_stack

MESSAGES = {"你好": "您好", "钱多久到账": "工作日"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    work = tmp_path_factory.mktemp("lock-e2e")
    with postgres_database("lock") as pg_url:
        store = {"type": "bot.tracker_store.RedactingSQLTrackerStore", "dialect": "postgresql",
                 "url": "127.0.0.1", "port": 5432, "db": pg_url.rsplit("/", 1)[1],
                 "username": "postgres"}
        with tuibao_stack(work, tracker_store=store, with_simulator=False, log_prefix="lock-e2e",
                          extra_env={"SANIC_WORKERS": "2"}) as running:
            yield running


def _handover_lines() -> str:
    """What bot.serve said about the handover (which pid took over, which ones retired)."""
    from harness.stack import ROOT

    log = ROOT / ".test-logs" / "lock-e2e-rasa.log"
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    return "\n".join(line for line in lines if "bot.serve" in line)[-3000:]


def test_two_simultaneous_messages_of_one_sender_are_answered_and_stored_in_order(stack):
    for round_ in range(4):  # several pairs: the two workers both get some
        sender = f"lock-pair-{round_}"
        barrier, answers = threading.Barrier(2), {}

        def send(text: str) -> None:
            barrier.wait()
            reply = requests.post(stack.rest_url, json={"sender": sender, "message": text},
                                  timeout=60)
            reply.raise_for_status()
            answers[text] = "\n".join(m.get("text", "") for m in reply.json())

        threads = [threading.Thread(target=send, args=(text,)) for text in MESSAGES]
        [t.start() for t in threads]
        [t.join(90) for t in threads]
        for text, expected in MESSAGES.items():
            assert expected in answers.get(text, ""), (text, answers)
        events: List[Dict] = stack.tracker(f"rest:{sender}")["events"]
        users = [i for i, e in enumerate(events) if e.get("event") == "user"]
        assert sorted(events[i]["text"] for i in users) == sorted(MESSAGES)  # each once
        # one whole turn, then the other: the first turn ends (action_listen) before the
        # second message is recorded, and its answer lies between them
        first, second = users
        between = events[first + 1:second]
        assert any(e.get("event") == "action" and e.get("name") == "action_listen"
                   for e in between), between
        assert MESSAGES[events[first]["text"]] in "".join(
            e.get("text") or "" for e in between if e.get("event") == "bot")


def test_a_promote_under_traffic_swaps_every_worker_and_loses_no_answer(stack, tmp_path):
    """PUT /model on bot.serve (issue 22): a new process loads the model and takes over the
    socket; both workers then answer with it, and every message sent meanwhile is answered.
    A model that cannot be loaded is refused and the running one goes on answering."""
    import shutil
    import time

    from harness.stack import API_TOKEN, MODEL

    def running() -> str:
        status = requests.get(f"{stack.rasa_url}/status", params={"token": API_TOKEN}, timeout=10)
        return status.json()["model_file"].rsplit("/", 1)[-1]

    before = running()
    promoted = tmp_path / "20261206T000000Z-promoted.tar.gz"
    shutil.copy2(MODEL, promoted)
    broken = tmp_path / "20261206T000001Z-broken.tar.gz"
    broken.write_bytes(b"not a model archive")

    stop, failures, answered, slowest = threading.Event(), [], [0], [0.0]

    def user(n: int) -> None:
        while not stop.is_set():
            started = time.monotonic()
            try:
                reply = requests.post(stack.rest_url, json={"sender": f"promote-{n}",
                                                            "message": "你好"}, timeout=30)
                reply.raise_for_status()
                assert "您好" in "".join(m.get("text", "") for m in reply.json()), reply.text
                answered[0] += 1
            except Exception as error:  # every kind counts: refused, reset, 500, wrong answer
                failures.append(repr(error))
            slowest[0] = max(slowest[0], time.monotonic() - started)

    users = [threading.Thread(target=user, args=(n,)) for n in range(3)]
    [u.start() for u in users]
    try:
        time.sleep(1)
        put = requests.put(f"{stack.rasa_url}/model", params={"token": API_TOKEN},
                           json={"model_file": str(promoted)}, timeout=600)
        assert put.status_code == 204, put.text
        # both workers of the old process stopped taking connections before the answer (the
        # supervisor waits for each to confirm): every request sent after it, on a connection of
        # its own, reaches the new model on whichever worker takes it
        seen = {running() for _ in range(12)}
        assert seen == {promoted.name}, (seen, _handover_lines())  # every worker, not one
        refused = requests.put(f"{stack.rasa_url}/model", params={"token": API_TOKEN},
                               json={"model_file": str(broken)}, timeout=600)
        assert refused.status_code == 500, refused.text
        assert "could not be loaded" in refused.text or "exited" in refused.text, refused.text
        time.sleep(1)
    finally:
        stop.set()
        [u.join(60) for u in users]
    assert not failures, failures[:5]
    assert {running() for _ in range(6)} == {promoted.name}
    assert answered[0] > 20
    print(f"promote under traffic: {answered[0]} answered, slowest {slowest[0]:.2f} s, "
          f"model before {before}")


def test_kept_alive_connections_are_shared_by_both_workers(stack):
    """16 clients keep their connections alive and parse without pause (bench/load.py does the
    same through WeChat). Sanic's first worker to wake used to accept all of them and keep them:
    one worker busy, the other idle (bot/connection_share.py). Each connection is now closed
    after its 8th answer, and the ones opened again go to the worker that waits: both workers
    work about as much (their CPU time while the clients run)."""
    import http.client
    import re
    import subprocess
    import time
    from urllib.parse import urlsplit

    from harness.stack import API_TOKEN

    address = urlsplit(stack.rasa_url)
    stop, closes, failures = threading.Event(), [0], []

    def client() -> None:
        connection, answered_on_it = None, 0
        while not stop.is_set():
            if connection is None:
                connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
                answered_on_it = 0
            try:
                connection.request("POST", f"/model/parse?token={API_TOKEN}",
                                   body='{"text": "我要退保"}'.encode(),
                                   headers={"Content-Type": "application/json"})
                reply = connection.getresponse()
                reply.read()
                assert reply.status == 200, reply.status
            except Exception as error:
                failures.append(repr(error))
                connection = None
                continue
            answered_on_it += 1
            if reply.getheader("Connection", "").lower() == "close":
                assert answered_on_it == 8, answered_on_it
                closes[0] += 1
                connection.close()
                connection = None

    def listening_pids() -> set:
        shown = subprocess.run(
            ["ss", "-Hltnp", f"( sport = :{address.port} )"],
            capture_output=True, text=True, check=True).stdout
        return set(re.findall(r"pid=(\d+)", shown))

    def cpu_ticks(pid: str) -> int:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime

    pids = listening_pids()  # the workers, their parent and the handover supervisor
    before = {pid: cpu_ticks(pid) for pid in pids}
    clients = [threading.Thread(target=client) for _ in range(16)]
    [c.start() for c in clients]
    try:
        time.sleep(10)
    finally:
        stop.set()
        [c.join(60) for c in clients]
    busiest, second = sorted((cpu_ticks(pid) - before[pid] for pid in pids), reverse=True)[:2]
    assert not failures, failures[:3]
    assert closes[0] >= 16, closes[0]
    # both workers did a fair part of the work (one of them did nearly all of it before)
    assert second >= 0.5 * busiest, (busiest, second)
