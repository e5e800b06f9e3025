"""``action_validate_slot_mappings`` answered by the Rasa server itself (issue 23).

Rasa 3.6 (``ActionExtractSlots._execute_validation_action``) calls the custom
``action_validate_slot_mappings`` after every user message: it rebuilds the tracker from all its
events and sends it, with the domain, to the action server. Ours (``actions/slot_guard.py``) is a
rasa-sdk ``ValidationAction`` with validators only, for the slots of
``ground.guarded_slots.SCALAR_SLOTS``, and each validator is one rule: a string is kept, anything
else (a list or an object typed in Rasa's slash syntax) is refused (``None``). Its answer is
therefore known without asking, and this module computes it as rasa-sdk would: a ``SlotSet`` for
each guarded slot among the trailing slot events of the tracker Rasa would send (the message's
candidates), its last value kept if it is a string, else ``None``; Rasa then keeps that answer
plus every candidate it did not answer for.

A message that filled none of those slots (你好, 我要退保, 确认) got an empty answer before; one
that filled a policy number, an ID suffix or a code cost a round trip of its own beside the
form's validation: three calls of the thirteen a surrender made (bench/load.py's script).

This holds only while the action has no ``extract_<slot>`` method and no validator but the
string rule: ``tests/conversations/test_slot_validation.py`` compares this answer with the real
action's, run in process, for messages of every kind. ``python -m bot.serve`` installs it;
``TUIBAO_SKIP_EMPTY_SLOT_VALIDATION=0`` asks the action server every time.
"""
from __future__ import annotations

import os
from typing import Any, Dict, List

from bot.patching import Patch

ENV = "TUIBAO_SKIP_EMPTY_SLOT_VALIDATION"

answered_here = 0


def guard_answer(events_sent: List[Any], guarded: List[str]) -> List[Any]:
    """What ``actions/slot_guard.py`` answers for a tracker whose events after the latest
    restart are ``events_sent``, ``guarded`` being its ``domain_slots``: rasa-sdk's
    ``ValidationAction.get_validation_events`` on ``Tracker.slots_to_validate()``."""
    from rasa.shared.core.events import SlotSet

    trailing: Dict[str, Any] = {}
    count = 0
    for event in reversed(events_sent):
        if not isinstance(event, SlotSet):
            break
        count += 1
    for event in events_sent[len(events_sent) - count:]:
        trailing[event.key] = event.value
    return [SlotSet(slot, value if isinstance(value, str) else None)
            for slot, value in trailing.items() if slot in guarded]


async def _execute_validation_action(self: Any, extraction_events: List[Any], output_channel: Any,
                                     nlg: Any, tracker: Any, domain: Any) -> List[Any]:
    global answered_here
    from rasa.shared.core.constants import ACTION_VALIDATE_SLOT_MAPPINGS
    from rasa.shared.core.events import SlotSet

    from ground.guarded_slots import SCALAR_SLOTS

    candidates = [event for event in extraction_events if isinstance(event, SlotSet)]
    if ACTION_VALIDATE_SLOT_MAPPINGS not in domain.user_actions:
        return list(candidates)  # as Rasa: no such action, nothing to ask
    answered_here += 1
    names = {slot.name for slot in domain.slots}
    guarded = [slot for slot in SCALAR_SLOTS if slot in names]  # the guard's domain_slots
    answer = guard_answer([*tracker.events_after_latest_restart(), *candidates], guarded)
    answered = {event.key for event in answer}
    return answer + [event for event in candidates if event.key not in answered]


def wanted() -> bool:
    return os.environ.get(ENV, "1") != "0"


_patch = Patch("rasa.core.actions.action:ActionExtractSlots", "_execute_validation_action",
               _execute_validation_action)


def install() -> None:
    _patch.install()


def uninstall() -> None:
    _patch.uninstall()
