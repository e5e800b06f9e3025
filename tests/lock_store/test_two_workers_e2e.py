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
