"""No call to ``action_validate_slot_mappings`` when a message filled none of its slots (issue 23).

Rasa 3.6 (``ActionExtractSlots._execute_validation_action``) calls the custom
``action_validate_slot_mappings`` after every user message: it rebuilds the tracker from all its
events and sends it, with the domain, to the action server. Ours (``actions/slot_guard.py``) is a
rasa-sdk ``ValidationAction`` with validators only, for the slots of
``ground.guarded_slots.SCALAR_SLOTS``: it answers a ``SlotSet`` for each of those among the
message's slot candidates, and nothing for any other slot. Rasa then keeps its answer plus every
candidate it did not answer for. So when the message filled none of those slots (你好, 我要退保,
确认 fill only slots mapped from intents), the outcome is known without asking: the candidates
as they are. Half the turns of a surrender are of that kind.

This holds only while the action has no ``extract_<slot>`` method (those run whatever was
filled) and validates no other slot: ``tests/conversations/test_slot_validation.py`` checks that
on the real action. ``python -m bot.serve`` installs it; ``TUIBAO_SKIP_EMPTY_SLOT_VALIDATION=0``
calls the action always.
"""
from __future__ import annotations

import os
from typing import Any, List

from bot.patching import Patch

ENV = "TUIBAO_SKIP_EMPTY_SLOT_VALIDATION"

skipped = 0


async def _execute_validation_action(self: Any, extraction_events: List[Any], output_channel: Any,
                                     nlg: Any, tracker: Any, domain: Any) -> List[Any]:
    global skipped
    from rasa.shared.core.events import SlotSet

    from ground.guarded_slots import SCALAR_SLOTS

    candidates = [event for event in extraction_events if isinstance(event, SlotSet)]
    if not any(event.key in SCALAR_SLOTS for event in candidates):
        skipped += 1
        return list(candidates)  # what Rasa keeps when the action answers nothing
    return await _patch.original(self, extraction_events, output_channel, nlg, tracker, domain)


def wanted() -> bool:
    return os.environ.get(ENV, "1") != "0"


_patch = Patch("rasa.core.actions.action:ActionExtractSlots", "_execute_validation_action",
               _execute_validation_action)


def install() -> None:
    _patch.install()


def uninstall() -> None:
    _patch.uninstall()
