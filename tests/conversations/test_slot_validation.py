"""bot.slot_validation (issue 23): Rasa asks the action server to validate a message's slots only
when the message filled a slot the guard (actions/slot_guard.py) validates; otherwise the outcome
is what the guard's answer would have given. Checked against the real guard, run in process on
the tracker Rasa would send, for messages of every kind on the project's domain."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import List

import pytest
from rasa.core.actions.action import ActionExtractSlots
from rasa.core.channels.channel import CollectingOutputChannel
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, Event, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity
from rasa.utils.endpoints import EndpointConfig
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.slot_guard import ValidateSlotMappings
from bot import slot_validation
from ground.guarded_slots import SCALAR_SLOTS

ROOT = Path(__file__).resolve().parents[2]
POLICY = "SBX1000000000012"


def _entity(name: str, value, text: str):
    return [{"entity": name, "value": value, "start": 0, "end": len(text)}]


MESSAGES = {
    "greet": UserUttered("你好", {"name": "greet", "confidence": 1.0}),
    "surrender": UserUttered("我要退保", {"name": "request_surrender", "confidence": 1.0}),
    "affirm": UserUttered("确认", {"name": "affirm", "confidence": 1.0}),
    "deny": UserUttered("不对", {"name": "deny", "confidence": 1.0}),
    "policy": UserUttered(POLICY, {"name": "inform", "confidence": 1.0},
                          _entity("policy_number", POLICY, POLICY)),
    "typed list": UserUttered("/inform", {"name": "inform", "confidence": 1.0},
                              _entity("policy_number", [POLICY], "/inform")),
    "suffix": UserUttered("12345X", {"name": "inform", "confidence": 1.0},
                          _entity("id_suffix", "12345X", "12345X")),
}


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(ROOT / "domain.yml"))


@pytest.fixture
def guard_in_process(monkeypatch, domain):
    """Rasa's call to the action server, answered by the real guard in this process."""
    calls: List[str] = []

    async def run_custom_action(self, name, output_channel, nlg, tracker, domain_):
        calls.append(name)
        assert name == "action_validate_slot_mappings"
        state = tracker.current_state(EventVerbosity.AFTER_RESTART)
        answer = await ValidateSlotMappings().run(CollectingDispatcher(), Tracker.from_dict(state),
                                                  domain_.as_dict())
        return [Event.from_parameters(event) for event in answer]

    monkeypatch.setattr(ActionExtractSlots, "_run_custom_action", run_custom_action)
    return calls


def _extract(domain: Domain, message: UserUttered):
    tracker = DialogueStateTracker.from_events("slot-validation", [
        ActionExecuted("action_session_start"), ActionExecuted("action_listen"), message],
        slots=domain.slots)
    action = ActionExtractSlots(EndpointConfig("http://127.0.0.1:9/webhook"))
    return asyncio.run(action.run(CollectingOutputChannel(),
                                  TemplatedNaturalLanguageGenerator(domain.responses),
                                  tracker, domain))


@pytest.mark.parametrize("kind", list(MESSAGES))
def test_the_outcome_is_the_guards_without_asking_it(domain, guard_in_process, kind):
    asked = _extract(domain, MESSAGES[kind])
    assert len(guard_in_process) == 1
    slot_validation.install()
    try:
        before = slot_validation.answered_here
        outcome = _extract(domain, MESSAGES[kind])
        answered_here = slot_validation.answered_here - before
    finally:
        slot_validation.uninstall()
    # the same events, values and order (SlotSet equality is key and value)
    assert [(type(e).__name__, getattr(e, "key", None), getattr(e, "value", None))
            for e in outcome] == [(type(e).__name__, getattr(e, "key", None),
                                   getattr(e, "value", None)) for e in asked], kind
    assert answered_here == 1 and len(guard_in_process) == 1, kind  # never asked
    fills_a_guarded_slot = any(e.key in SCALAR_SLOTS for e in asked)
    assert fills_a_guarded_slot is (kind in ("policy", "typed list")), kind  # id_suffix: forms only
    if kind == "typed list":  # the guard still refuses what is not a string
        assert [(e.key, e.value) for e in outcome if e.key == "policy_number"] == [
            ("policy_number", None)]


VALUES = ["SBX1000000000012", ["SBX1000000000012"], {"value": "x"}, 12345, 1.5, True, None, ""]


@pytest.mark.parametrize("value", VALUES, ids=[repr(v) for v in VALUES])
def test_the_servers_answer_is_the_real_guards_for_any_candidates(domain, value):
    """Candidates of every kind of value, several at once, one slot twice, a form's slot
    events before them: the answer computed on the server is the real action's, run in
    process on the tracker Rasa would send."""
    from rasa.shared.core.events import SlotSet

    candidates = [SlotSet("policy_number", "SBX1000000000099"), SlotSet("sms_code", value),
                  SlotSet("stage", "verified"), SlotSet("policy_number", value),
                  SlotSet("id_suffix", value)]
    events = [ActionExecuted("action_session_start"), ActionExecuted("action_listen"),
              MESSAGES["policy"], SlotSet("requested_slot", "policy_number"), *candidates]
    tracker = DialogueStateTracker.from_events("guard", events, slots=domain.slots)
    real = asyncio.run(ValidateSlotMappings().run(
        CollectingDispatcher(),
        Tracker.from_dict(tracker.current_state(EventVerbosity.AFTER_RESTART)),
        domain.as_dict()))
    guarded = ValidateSlotMappings().domain_slots(domain.as_dict())
    ours = slot_validation.guard_answer(tracker.events_after_latest_restart(), guarded)
    assert [(e.key, e.value) for e in ours] == [(e["name"], e["value"]) for e in real]
    assert ours and all(e.key in SCALAR_SLOTS for e in ours)


def test_the_guard_validates_only_the_slots_the_server_knows_of(domain):
    assert not [name for name in dir(ValidateSlotMappings) if name.startswith("extract_")]
    assert set(ValidateSlotMappings().domain_slots(domain.as_dict())) <= set(SCALAR_SLOTS)
