"""Twenty chats waiting: the inbox lists them all, and a new one, asked for by a user over
WeChat, reaches an agent's open event stream within a second of being queued. The clock starts
when the chat is queued (its ``requested_at``, written by the action server on the same
machine's clock), not when the user has seen the bot's answer, which comes later."""
from __future__ import annotations

import json
import threading
import time
import uuid

from sqlalchemy import select

from handoff.store import HandoffStore, desk_presence
from tests.console.support import signed_in
from tests.console.test_handoff_over_wechat import SimUser


def test_twenty_waiting_chats_are_listed_and_a_new_one_streams_within_a_second(desk):
    store = HandoffStore(desk.handoff_db_url)
    batch = [f"oInbox{uuid.uuid4().hex[:20]}" for _ in range(20)]
    for conversation in batch:
        store.enqueue(conversation, reason="misunderstood", policy_number_masked=None,
                      case_number=None, last_message="你们这个怎么弄")
    agent = signed_in(desk.console_url, "agent1")
    waiting = {c["chat_id"]: c for c in agent.get("/api/v1/chats?state=waiting").json()}
    assert set(batch) <= set(waiting)
    assert all(waiting[c]["reason"] == "misunderstood" for c in batch)

    arrivals = {}
    ready = threading.Event()

    def listen():
        with agent.http.get(f"{desk.console_url}/api/v1/stream", stream=True,
                            timeout=30) as stream:
            ready.set()
            event = None
            for line in stream.iter_lines(decode_unicode=True):
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event == "queue":
                    for change in json.loads(line[6:]):
                        arrivals.setdefault((change["chat_id"], change["kind"]), time.time())
                if arrivals.get(("done", "done")) or time.monotonic() - started > 25:
                    return

    started = time.monotonic()
    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    ready.wait(10)
    time.sleep(0.5)
    user = SimUser(desk)
    sent = time.time()
    user.say("转人工", "排在第")
    deadline = time.monotonic() + 5
    while (user.openid, "queued") not in arrivals and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (user.openid, "queued") in arrivals, "the new chat never reached the stream"
    queued = store.open_chat(user.openid).requested_at.timestamp()
    assert sent <= queued + 0.01, (sent, queued)  # queued by this message, not before it
    delay = arrivals[(user.openid, "queued")] - queued
    print(f"new chat on the event stream {delay * 1000:.0f} ms after it was queued")
    assert -0.01 <= delay < 1.0
    listed = [c["chat_id"] for c in agent.get("/api/v1/chats?state=waiting").json()]
    assert user.openid in listed and len(listed) >= 21
    lead = signed_in(desk.console_url, "lead1")
    for conversation in batch + [user.openid]:
        assert lead.post(f"/api/v1/chats/{conversation}/close").status_code == 200


def test_an_open_console_page_counts_its_agent_at_the_desk_until_they_sign_out(desk):
    """What lets the bot tell a user after hours that a person may still take their chat
    (issue 19.7): the live page's event stream notes its agent; signing out removes them."""
    store = HandoffStore(desk.handoff_db_url)
    agent = signed_in(desk.console_url, "agent2")
    store.mark_absent("agent2")
    with agent.http.get(f"{desk.console_url}/api/v1/stream", stream=True, timeout=30) as stream:
        next(stream.iter_lines(decode_unicode=True))  # the stream is open
        deadline = time.monotonic() + 5
        while not _present(store, "agent2") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _present(store, "agent2"), "an open console page did not count its agent"
    assert agent.delete("/api/v1/session").status_code == 200
    assert not _present(store, "agent2")


def _present(store: HandoffStore, username: str) -> bool:
    with store.engine.connect() as conn:
        return conn.execute(select(desk_presence.c.username)
                            .where(desk_presence.c.username == username)).first() is not None
