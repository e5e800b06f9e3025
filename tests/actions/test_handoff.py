"""Escalation, as the user lives it: one request in the queue however often they ask, their
place and an honest wait figure, the desk's hours (and what happens outside them), the bot
picking up where it was after the agent hands back, and the one-tap rating."""
from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from actions.handoff import (
    ActionHandback, ActionHandoff, ActionHandoffUnattended, ActionRateAgent, wait_estimate_text,
)
from actions.config import load_settings
from handoff.desk import Desk
from handoff.store import HandoffStore, desk_presence

from .conversation import Conversation, responses, slot_values


def store() -> HandoffStore:
    return HandoffStore(load_settings().handoff_db_url)


def test_asking_again_tells_the_place_and_never_files_a_second_request(insurer, domain):
    first, second = Conversation("wx-first", domain), Conversation("wx-second", domain)

    async def flow():
        a = await first.run(ActionHandoff(), intent="request_human", text="转人工")
        b = await second.run(ActionHandoff(), intent="complain", text="太坑了")
        again = await second.run(ActionHandoff(), intent="request_human", text="人呢？还要等多久")
        return a, b, again

    (_, said_a), (_, said_b), (events, said_again) = asyncio.run(flow())
    assert responses(said_a) == ["utter_handoff_user_request", "utter_handoff_queue_place"]
    assert responses(said_b) == ["utter_handoff_complaint", "utter_handoff_queue_place"]
    assert "第2位" in second.render(said_b[1]) and "第1位" in first.render(said_a[1])
    assert "暂时估计不出" in second.render(said_b[1])  # nothing to go by yet: said honestly
    assert responses(said_again) == ["utter_handoff_already_queued", "utter_handoff_queue_place"]
    again = second.render(said_again[0]) + second.render(said_again[1])
    assert "不会重复登记" in again and "第2位" in again
    assert slot_values(events)["handoff_reference"].startswith("RG")
    waiting = store().list_chats("waiting")
    assert [c.conversation_id for c in waiting] == ["wx-first", "wx-second"]
    assert waiting[1].reason == "complaint"
    assert waiting[1].last_user_message == "人呢？还要等多久"


def test_outside_desk_hours_the_user_hears_when_it_opens_and_may_leave_a_message(
        insurer, domain, monkeypatch):
    now = dt.datetime.now(dt.timezone(dt.timedelta(hours=8)))
    closed_hours = "00:00-00:01" if now.hour >= 1 else "23:00-23:59"
    monkeypatch.setenv("TUIBAO_DESK_HOURS", closed_hours)
    conv = Conversation("wx-night", domain)
    _, said = asyncio.run(conv.run(ActionHandoff(), intent="request_human", text="转人工"))
    assert responses(said) == ["utter_handoff_user_request", "utter_handoff_desk_closed"]
    text = conv.render(said[1])
    assert "留言" in text and closed_hours.split("-")[0] in text
    assert store().list_chats("waiting")[0].conversation_id == "wx-night"  # queued all the same


def _closed_now(monkeypatch) -> str:
    now = dt.datetime.now(dt.timezone(dt.timedelta(hours=8)))
    closed_hours = "00:00-00:01" if now.hour >= 1 else "23:00-23:59"
    monkeypatch.setenv("TUIBAO_DESK_HOURS", closed_hours)
    return closed_hours


def test_after_hours_with_an_agent_at_the_console_the_user_hears_their_place(
        insurer, domain, monkeypatch):
    """Issue 19.7: at 22:27 an agent still has the console open; the user is not told to wait
    for the morning but where they stand, and what happens if nobody takes it tonight."""
    closed_hours = _closed_now(monkeypatch)
    store().mark_present("agent1", "agent")
    conv = Conversation("wx-late", domain)
    _, said = asyncio.run(conv.run(ActionHandoff(), intent="request_human", text="转人工"))
    assert responses(said) == ["utter_handoff_user_request", "utter_handoff_queue_place_after_hours"]
    text = conv.render(said[1])
    assert "第1位" in text and "客服在线" in text
    assert closed_hours.split("-")[0] in text and "留言" in text  # if nobody comes tonight


def test_an_agent_who_left_or_signed_out_no_longer_counts_as_at_the_desk(
        insurer, domain, monkeypatch):
    _closed_now(monkeypatch)
    monkeypatch.setenv("TUIBAO_DESK_PRESENCE_S", "60")
    desk_store = store()
    desk_store.mark_present("agent1", "agent")
    desk_store.mark_present("agent1", "agent")  # a second tab: still one person
    desk_store.mark_present("trainer1", "trainer")  # a trainer does not answer users
    assert desk_store.people_at_desk(60) == 1
    with desk_store.engine.begin() as conn:  # agent1's page was closed two minutes ago
        conn.execute(desk_presence.update().values(
            last_seen=dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=2)))
    assert desk_store.people_at_desk(60) == 0
    conv = Conversation("wx-left", domain)
    _, said = asyncio.run(conv.run(ActionHandoff(), intent="request_human", text="转人工"))
    assert responses(said)[-1] == "utter_handoff_desk_closed"
    desk_store.mark_present("agent2", "agent")
    desk_store.mark_absent("agent2")  # signed out
    assert desk_store.people_at_desk(60) == 0


def test_desk_is_closed_on_statutory_holidays_and_says_when_it_opens():
    desk = Desk(dt.time(9), dt.time(21))
    shanghai = dt.timezone(dt.timedelta(hours=8))
    national_day = dt.datetime(2026, 10, 1, 10, 0, tzinfo=shanghai)
    assert not desk.is_open(national_day)
    assert desk.next_opening(national_day).date() > national_day.date()
    assert desk.is_open(dt.datetime(2026, 12, 5, 10, 0, tzinfo=shanghai))  # a plain Saturday
    workdays = Desk(dt.time(9), dt.time(18), "workdays")
    assert not workdays.is_open(dt.datetime(2026, 12, 5, 10, 0, tzinfo=shanghai))
    assert workdays.hours_text() == "工作日 09:00-18:00"


def test_wait_estimate_comes_from_recent_waits():
    assert "暂时估计不出" in wait_estimate_text([])
    assert wait_estimate_text([60, 180, 300]) == "最近接入的用户一般等了约3分钟"


def test_handback_at_the_quote_asks_for_the_confirmation_again_then_a_rating(insurer, domain):
    conv = Conversation("wx-quote", domain)
    conv.slots.update(stage="quote_ready", policy_number="SBX1000000000012",
                      quote={"quote_id": "q1", "policy_number": "SBX1000000000012"})
    events, said = asyncio.run(conv.run(ActionHandback()))
    assert responses(said) == ["utter_handback_bot_back", "utter_ask_confirm_surrender",
                               "utter_ask_agent_rating"]
    assert events == []
    buttons = said[-1].get("buttons") or domain["responses"]["utter_ask_agent_rating"][0]["buttons"]
    assert [b["title"] for b in buttons] == ["满意", "一般", "不满意"]


def test_handback_in_an_unfinished_form_reopens_it_at_the_next_question(insurer, domain):
    conv = Conversation("wx-form", domain)
    conv.slots.update(policy_number="SBX1000000000012")
    events, said = asyncio.run(conv.run(ActionHandback()))
    assert responses(said) == ["utter_handback_bot_back", "utter_ask_id_suffix",
                               "utter_ask_agent_rating"]
    assert {"event": "active_loop", "name": "surrender_form"} in [
        {k: e.get(k) for k in ("event", "name")} for e in events]
    assert slot_values(events)["requested_slot"] == "id_suffix"


def test_handback_after_a_submitted_case_offers_status(insurer, domain):
    conv = Conversation("wx-done", domain)
    conv.slots.update(stage="submitted", case_number="TB20261125000001")
    _, said = asyncio.run(conv.run(ActionHandback()))
    assert responses(said)[1] == "utter_handback_offer_status"
    assert "TB20261125000001" in conv.render(said[1])


def test_the_rating_is_recorded_on_the_handoff(insurer, domain):
    """Only a chat an agent took is rated (issue 18.12: test_security_probes)."""
    conv = Conversation("wx-rated", domain)

    async def flow():
        await conv.run(ActionHandoff(), intent="request_human", text="转人工")
        store().take("wx-rated", "agent1")
        store().close("wx-rated", "handback")
        return await conv.run(ActionRateAgent(), intent="rate_agent",
                              entities=[{"entity": "agent_rating", "value": "bad"}])

    _, said = asyncio.run(flow())
    assert responses(said) == ["utter_thanks_for_rating"]
    assert store().latest_chat("wx-rated").rating == "bad"


def test_unattended_chat_offers_a_call_back_or_a_message(insurer, domain):
    conv = Conversation("wx-alone", domain)
    _, said = asyncio.run(conv.run(ActionHandoffUnattended()))
    text = conv.render(said[0])
    assert "回电" in text and "留言" in text and "400-123-4567" in text


@pytest.mark.parametrize("intent, stage, reason", [
    ("request_human", None, "user_request"), ("complain", None, "complaint"),
    ("nlu_fallback", None, "misunderstood"), ("inform", "locked", "identity_locked"),
    ("inform", "insurer_down", "insurer_unavailable")])
def test_every_escalation_is_queued_with_its_reason(insurer, domain, intent, stage, reason):
    conv = Conversation(f"wx-{reason}", domain)
    conv.slots["stage"] = stage
    _, said = asyncio.run(conv.run(ActionHandoff(), intent=intent, text="..."))
    assert responses(said)[0] == f"utter_handoff_{reason}"
    assert store().latest_chat(f"wx-{reason}").reason == reason


def test_a_new_session_keeps_a_chat_a_person_has_paused(insurer, domain):
    from actions.handoff import ActionSessionStart

    taken, other = Conversation("wx-taken", domain), Conversation("wx-other", domain)

    async def flow():
        await taken.run(ActionHandoff(), intent="request_human", text="转人工")
        store().take("wx-taken", "agent1")
        return await taken.run(ActionSessionStart()), await other.run(ActionSessionStart())

    (events, _), (plain, _) = asyncio.run(flow())
    assert [e["event"] for e in events] == ["session_started", "pause", "action"]
    assert [e["event"] for e in plain] == ["session_started", "action"]


@pytest.mark.parametrize("rating, thanks", [("good", "谢谢您的肯定"), ("ok", "继续改进"),
                                            ("bad", "继续改进")])
def test_praise_is_thanked_as_praise(insurer, domain, rating, thanks):
    conv = Conversation(f"wx-rated-{rating}", domain)

    async def flow():
        await conv.run(ActionHandoff(), intent="request_human", text="转人工")
        store().take(conv.sender_id, "agent1")
        store().close(conv.sender_id, "handback")
        return await conv.run(ActionRateAgent(), intent="rate_agent",
                              entities=[{"entity": "agent_rating", "value": rating}])

    _, said = asyncio.run(flow())
    assert thanks in conv.render(said[0])
