"""bot.action_answer_schema (issue 23): the event-by-event check gives the whole schema's verdict
on answers of every event type, valid and broken, and a broken answer still gets Rasa's error."""
from __future__ import annotations

import copy

import pytest
from jsonschema import ValidationError
from jsonschema.validators import validator_for
from rasa.core.actions.action import RemoteAction
from rasa.shared.core.events import (ActionExecuted, ActiveLoop, AllSlotsReset, BotUttered,
                                     ConversationPaused, ConversationResumed, FollowupAction,
                                     Restarted, SessionStarted, SlotSet, UserUttered)

from bot import action_answer_schema
from bot.serve import validate_action_result

SCHEMA = RemoteAction.action_response_format_spec()
FULL = validator_for(SCHEMA)(SCHEMA)

EVENTS = [e.as_dict() for e in (
    SlotSet("policy_number", "SBX1000000000012"), SlotSet("quote", {"refund": 47.19, "fees": []}),
    ActiveLoop("surrender_form"), ActiveLoop(None), FollowupAction("action_listen"),
    BotUttered("好的", {"buttons": [{"title": "确认", "payload": "/affirm"}]}),
    ActionExecuted("action_quote", policy="RulePolicy", confidence=1.0),
    UserUttered("我要退保", {"name": "request_surrender", "confidence": 0.99},
                [{"entity": "policy_number", "value": "SBX1", "start": 0, "end": 4}]),
    ConversationPaused(), ConversationResumed(), Restarted(), AllSlotsReset(), SessionStarted())]
EVENTS += [{"event": "form", "name": "x"}, {"event": "reset_slots"}, {"event": "action_execution_rejected", "name": "x"},
           {"event": "reminder"}, {"event": "cancel_reminder"}, {"event": "undo"}, {"event": "rewind"},
           {"event": "export"}, {"event": "agent", "text": "人工"}, {"event": "loop_interrupted", "is_interrupted": True},
           {"event": "form_validation", "validate": False}, {"event": "entities", "entities": []},
           {"event": "user_featurization", "use_text_for_featurization": False}]

RESPONSES = [{"text": "好的"}, {"response": "utter_ask_policy_number"}, {"custom": {"x": 1}}]


def _broken(event):
    """Ways an event can break the schema (and some that do not)."""
    for key, bad in (("event", 3), ("event", "no_such_event"), ("timestamp", "yesterday"),
                     ("metadata", []), ("name", 7), ("value", None), ("text", 5),
                     ("entities", [{"value": 1}]), ("confidence", "high"), ("policy", 1)):
        changed = copy.deepcopy(event)
        changed[key] = bad
        yield changed
    for key in list(event):
        dropped = copy.deepcopy(event)
        del dropped[key]
        yield dropped
    if event.get("event") == "user":
        deep = copy.deepcopy(event)
        deep["parse_data"]["intent"]["confidence"] = "0.9"
        yield deep


def _answers():
    yield {}
    yield {"events": [], "responses": []}
    yield {"events": EVENTS, "responses": RESPONSES}
    for event in EVENTS:
        yield {"events": [event], "responses": RESPONSES}
        for broken in _broken(event):
            yield {"events": [EVENTS[0], broken]}
    for bad in (None, [], "events", {"events": None}, {"events": {}}, {"events": [None]},
                {"events": ["slot"]}, {"responses": [1]}, {"responses": {}}, {"events": [{}]}):
        yield bad if isinstance(bad, dict) else {"events": EVENTS[:1], "responses": bad} if bad is not None else None


def test_the_verdict_is_the_whole_schema_s_for_every_answer():
    answers = list(_answers())
    verdicts = [(action_answer_schema.is_valid(a), FULL.is_valid(a)) for a in answers]
    assert len(answers) > 300
    assert sum(full for _, full in verdicts) > 50 and sum(not full for _, full in verdicts) > 100
    assert [ours for ours, _ in verdicts] == [full for _, full in verdicts]


def test_a_broken_answer_gets_rasa_s_error():
    answer = {"events": [{"event": "slot", "value": 1}]}  # no name
    with pytest.raises(ValidationError, match="is not valid under any of the given schemas. "
                                              "Failed to validate Action server response"):
        validate_action_result(None, answer)
    assert validate_action_result(None, {"events": EVENTS, "responses": RESPONSES}) is True
