"""The funnel's one definition (``observability.funnel``) over the events of real
conversations, as the tracker store keeps them and as the action server sees them call by
call: each step counts once per conversation and policy, whichever way it is read."""
from __future__ import annotations

import datetime as dt
from typing import Any, Dict, List

from observability import funnel

POLICY = "SBX1000000000012"


def slot(name: str, value: Any, ts: float = 0.0) -> Dict[str, Any]:
    return {"event": "slot", "name": name, "value": value, "timestamp": ts}


def action(name: str, ts: float = 0.0) -> Dict[str, Any]:
    return {"event": "action", "name": name, "timestamp": ts}


def user(text: str, ts: float = 0.0, intent: str = "inform") -> Dict[str, Any]:
    return {"event": "user", "text": text, "timestamp": ts,
            "parse_data": {"intent": {"name": intent, "confidence": 0.9}}}


def bot(response: str, ts: float = 0.0) -> Dict[str, Any]:
    return {"event": "bot", "text": "…", "timestamp": ts, "metadata": {"utter_action": response}}


# (who adds them, events): "rasa" for what Rasa adds itself (user message, a form's slot
# candidates, the form's own ActionExecuted), else the action-server action that returns them.
SURRENDER: List[tuple] = [
    ("rasa", [action("action_listen", 1), user("我要退保", 1)]),
    ("action_start_surrender", [slot("stage", None, 2), slot("quote", None, 2)]),
    ("rasa", [action("surrender_form", 2), slot("requested_slot", "policy_number", 2),
              bot("utter_ask_policy_number", 2), action("action_listen", 2),
              user(POLICY, 10), slot("policy_number", POLICY, 10)]),
    ("validate_surrender_form", [slot("policy_number", POLICY, 11)]),
    ("rasa", [action("surrender_form", 11), slot("requested_slot", "id_suffix", 11),
              action("action_listen", 11), user("******", 20), slot("id_suffix", "******", 20)]),
    ("validate_surrender_form", [slot("challenge_id", "c1", 21)]),
    ("rasa", [action("surrender_form", 21), action("action_listen", 21), user("******", 30)]),
    ("validate_surrender_form", [slot("stage", "verified", 31)]),
    ("rasa", [action("surrender_form", 31)]),
    ("action_quote_surrender", [slot("quote", {"quote_id": "q", "policy_number": POLICY}, 32),
                                slot("stage", "quote_ready", 32)]),
    ("rasa", [action("action_listen", 32), user("确认", 40)]),
    ("action_read_confirmation", [slot("confirmation", "yes", 41)]),
    ("action_submit_surrender", [slot("case_number", "TB20261125000001", 42),
                                 slot("stage", "submitted", 42)]),
    ("rasa", [action("action_listen", 42), user("确认", 50)]),
    ("action_submit_surrender", [slot("case_number", "TB20261125000001", 51),
                                 slot("stage", "submitted", 51)]),
]


def stored(conversation: List[tuple]) -> List[Dict[str, Any]]:
    """The events as the tracker store keeps them (an action's ActionExecuted first)."""
    events: List[Dict[str, Any]] = []
    for who, added in conversation:
        events += added if who in ("rasa", *funnel.SLOT_MAPPING_ACTIONS) \
            else [action(who, added[0]["timestamp"]), *added]
    return events


def counted_by_action_server(conversation: List[tuple]) -> List[str]:
    """What the action server counts, call by call, from the tracker Rasa sends it. A form's
    validation call gets, as Rasa 3.6 sends it, the form's ActionExecuted and the slot
    candidates appended (``FormAction._temporary_tracker``)."""
    counted, tracker = [], []
    for who, added in conversation:
        if who != "rasa":
            sent = list(tracker)
            if who.startswith("validate_"):
                sent += [action(who[len("validate_"):]),
                         *[e for e in added if e["event"] == "slot"]]
            with_metrics = funnel.count_action({"events": sent}, who, added, lambda n: "sandbox")
            counted += [r.step for r in with_metrics]
            if who not in funnel.SLOT_MAPPING_ACTIONS:  # Rasa logs no ActionExecuted for it
                tracker.append(action(who, added[0]["timestamp"]))
        tracker += added
    return counted


def test_a_surrender_reaches_each_step_once_in_the_store():
    steps = [(r.policy, r.step) for r in funnel.steps_reached(stored(SURRENDER))]
    assert steps == [(POLICY, "started"), (POLICY, "verified"), (POLICY, "quoted"),
                     (POLICY, "confirmed"), (POLICY, "case_created")]


def test_the_action_server_counts_the_same_steps_once_despite_the_double_tap():
    # The policy arrives as a slot candidate Rasa adds before the validation call: "started"
    # is still counted once, by the call that follows it.
    assert counted_by_action_server(SURRENDER) == [
        "started", "verified", "quoted", "confirmed", "case_created"]


def test_the_slot_guard_after_each_message_counts_nothing_twice():
    """Rasa runs action_validate_slot_mappings (the slot guard, on the action server) after
    every user message and keeps its slot events without an ActionExecuted: "started" is still
    counted once, by the form's validation, as the store reads it (found on the merged stack:
    started was counted twice)."""
    guarded = []
    for who, added in SURRENDER:
        guarded.append((who, added))
        if who == "rasa" and added[-1]["event"] == "slot" and added[-1]["name"] == "policy_number":
            guarded.append(("action_validate_slot_mappings",
                            [slot("policy_number", POLICY, added[-1]["timestamp"])]))
    assert len(guarded) == len(SURRENDER) + 1
    assert counted_by_action_server(guarded) == [
        "started", "verified", "quoted", "confirmed", "case_created"]
    assert [r.step for r in funnel.steps_reached(stored(guarded))] == [
        "started", "verified", "quoted", "confirmed", "case_created"]


def test_a_start_that_keeps_the_policy_is_about_that_policy():
    kept = [("rasa", [slot("policy_number", POLICY, 1), user("我要退保", 2)]),
            ("action_start_surrender", [slot("stage", None, 3)]),
            ("rasa", [action("utter_start_surrender", 3)]),
            ("validate_surrender_form", [slot("challenge_id", "c", 4)])]
    assert [(r.policy, r.step) for r in funnel.steps_reached(stored(kept))] == \
        [(POLICY, "started")]
    assert counted_by_action_server(kept) == ["started"]


def test_a_number_the_validation_refuses_starts_nothing():
    refused = [("rasa", [user("我要退保", 1)]),
               ("action_start_surrender", [slot("stage", None, 2)]),
               ("rasa", [action("surrender_form", 2), action("action_listen", 2),
                         user("SBX1000000000099", 3), slot("policy_number", "SBX1000000000099", 3)]),
               ("validate_surrender_form", [slot("policy_number", None, 4)])]
    assert funnel.steps_reached(stored(refused)) == []
    assert counted_by_action_server(refused) == []


def test_a_withdrawal_counts_for_the_policy_of_the_case():
    withdrawal = [("rasa", [user("撤回退保", 1)]),
                  ("action_case_followup", [slot("case_number", "TB1", 2),
                                            slot("policy_number", POLICY, 2),
                                            slot("stage", "withdraw_ready", 2)]),
                  ("action_withdraw_case", [slot("stage", "withdrawn", 3)])]
    assert counted_by_action_server(withdrawal) == ["withdrawn"]


def test_the_report_per_insurer_with_where_people_stopped():
    stopped = [("rasa", [user("我要退保", 100)]),
               ("action_start_surrender", [slot("stage", None, 100)]),
               ("rasa", [action("surrender_form", 100), user(POLICY, 101),
                         slot("policy_number", POLICY, 101)]),
               ("validate_surrender_form", [slot("policy_number", POLICY, 102)]),
               ("rasa", [bot("utter_ask_sms_code", 102), action("action_listen", 102),
                         user("我不知道身份证号码 13800138000", 103, intent="nlu_fallback")])]
    report = funnel.conversation_report(
        {"a": stored(SURRENDER), "b": stored(stopped)},
        lambda number: "sandbox" if number.startswith("SBX") else None,
        redact=lambda text: text.replace("13800138000", "138****8000"))
    sandbox = report["insurers"]["sandbox"]
    assert sandbox["steps"] == {"started": 2, "verified": 1, "quoted": 1, "confirmed": 1,
                                "case_created": 1, "withdrawn": 0}
    assert sandbox["stopped_at"] == [{"question": "utter_ask_sms_code", "conversations": 1}]
    assert sandbox["time_to_case"]["median_s"] == 41.0  # first message at 1, case at 42
    assert report["not_understood"] == [
        {"text": "我不知道身份证号码 138****8000", "count": 1, "conversations": 1}]
    # A range that starts after conversation "a" began leaves it out.
    later = funnel.conversation_report({"a": stored(SURRENDER), "b": stored(stopped)},
                                       lambda number: "sandbox", since=100)
    assert later["insurers"]["sandbox"]["steps"]["started"] == 1


def test_handoffs_by_reason_with_their_waits():
    at = dt.datetime(2026, 11, 25, 10, tzinfo=dt.timezone.utc)
    report = funnel.handoff_report([
        {"reason": "complaint", "state": "taken", "requested_at": at,
         "taken_at": at + dt.timedelta(seconds=90)},
        {"reason": "complaint", "state": "waiting", "requested_at": at, "taken_at": None},
        {"reason": "user_request", "state": "closed", "requested_at": at,
         "taken_at": at + dt.timedelta(seconds=30)},
    ])
    assert report["total"] == 3
    assert report["by_reason"]["complaint"] == {
        "count": 2, "waiting": 1, "wait": {"count": 1, "median_s": 90.0, "p90_s": 90.0}}
    assert report["wait"]["median_s"] == 60.0
