"""Drive actions the way Rasa does, one turn at a time, keeping the slots between turns.

Each step builds a ``Tracker.from_dict`` (financial-demo style), runs the action with a
``CollectingDispatcher`` and returns the events and the messages, so a test can assert the
exact events and response names and read what the user would see.
"""
from __future__ import annotations

from typing import Any, Dict, Iterable, List, Optional, Tuple

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.forms import MASKED


# The entity each identifier slot is filled from (domain.yml): a value the user typed this turn
# arrives as that entity too, as in Rasa (the forms tell a typed value from one left over).
SLOT_ENTITIES = {"id_suffix": "id_number"}


class Conversation:
    def __init__(self, sender_id: str, domain: Dict[str, Any]) -> None:
        self.sender_id = sender_id
        self.domain = domain
        self.slots: Dict[str, Any] = {name: None for name in domain["slots"]}
        self.slots["requested_slot"] = None
        self.active_loop: Optional[str] = None

    def tracker(self, intent: str, extracted: Dict[str, Any], text: str = "",
                entities: Iterable[Dict[str, Any]] = (), carried: Iterable[str] = ()) -> Tracker:
        entities = list(entities)
        named = {e.get("entity") for e in entities}
        entities += [{"entity": SLOT_ENTITIES[k], "value": v} for k, v in extracted.items()
                     if k in SLOT_ENTITIES and SLOT_ENTITIES[k] not in named and isinstance(v, str)
                     and v != MASKED and k not in carried]
        user = {"event": "user", "text": text,
                "parse_data": {"intent": {"name": intent, "confidence": 1.0},
                               "entities": list(entities), "text": text}}
        slot_events = [{"event": "slot", "name": k, "value": v} for k, v in extracted.items()]
        slots = {**self.slots, **extracted}
        return Tracker.from_dict({
            "sender_id": self.sender_id,
            "slots": slots,
            "latest_message": user["parse_data"],
            "events": [{"event": "action", "name": "action_listen"}, user] + slot_events,
            "paused": False,
            "followup_action": None,
            "active_loop": {"name": self.active_loop} if self.active_loop else {},
            "latest_action_name": "action_listen",
        })

    async def run(self, action: Action, intent: str = "inform", extracted: Optional[Dict[str, Any]] = None,
                  text: str = "", entities: Iterable[Dict[str, Any]] = (), carried: Iterable[str] = ()
                  ) -> Tuple[List[Dict[str, Any]], List[Dict[str, Any]]]:
        """Run ``action`` on this turn; apply its SlotSet events to the conversation.

        ``carried``: slots of ``extracted`` filled in an earlier turn (a form validating, on
        activation, what was already there): this turn's message does not hold them."""
        extracted = dict(extracted or {})
        self.slots.update(extracted)
        dispatcher = CollectingDispatcher()
        events = await action.run(dispatcher, self.tracker(intent, extracted, text, entities, carried),
                                   self.domain)
        for event in events:
            if event.get("event") == "slot":
                self.slots[event["name"]] = event["value"]
        return events, dispatcher.messages

    def render(self, message: Dict[str, Any]) -> str:
        """The text the user reads: the domain response filled with the action's values and slots."""
        template = self.domain["responses"][message["response"]][0]["text"]
        values = {**{k: ("" if v is None else v) for k, v in self.slots.items()},
                  **{k: v for k, v in message.items() if k not in ("response", "template")}}
        return template.format_map(values)


def slot_values(events: List[Dict[str, Any]]) -> Dict[str, Any]:
    """The slots an action set, last value wins."""
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


def responses(messages: List[Dict[str, Any]]) -> List[str]:
    return [m.get("response") for m in messages]
