"""Rasa's schema of an action server's answer, checked event by event against the one branch
that can match (issue 23).

Rasa 3.6 (``RemoteAction.action_response_format_spec``) checks every event of an answer against
``oneOf`` 23 branches, one per event type (``rasa/shared/utils/schemas/events.py``): jsonschema
validates each event against all 23 to find that exactly one matches, about 9 % of a busy Rasa
worker even with the schema compiled once (``bot/serve.py``). Each branch fixes the ``event``
property to a constant of its own, and the outer schema requires ``event``, so an event whose
``event`` is a string can match no branch but the one with that constant: ``oneOf`` holds
exactly when that branch holds. ``is_valid`` checks each event against its branch and the outer
schema's own properties, and the rest of the answer against the rest of the schema: the same
verdict as the whole schema (``tests/conversations/test_action_answer_schema.py`` compares both
on valid and broken answers of every event type). An answer it finds invalid goes to the full
check, which gives Rasa's error.
"""
from __future__ import annotations

import functools
from typing import Any, Dict, Tuple


@functools.lru_cache(maxsize=None)
def _parts() -> Tuple[Dict[str, Any], Any]:
    from jsonschema.validators import validator_for
    from rasa.core.actions.action import RemoteAction

    def compiled(schema: Dict[str, Any]) -> Any:
        cls = validator_for(schema)
        cls.check_schema(schema)
        return cls(schema)

    schema = RemoteAction.action_response_format_spec()
    event_schema = schema["properties"]["events"]["items"]
    outer = {key: value for key, value in event_schema.items() if key != "oneOf"}
    by_event: Dict[str, Any] = {}
    for branch in event_schema["oneOf"]:
        name = branch["properties"]["event"]["const"]
        if name in by_event:  # two branches for one name: the reasoning above no longer holds
            raise RuntimeError(f"Rasa's event schema has two branches for {name!r}")
        by_event[name] = compiled({**outer, "allOf": [branch]})
    rest = {**schema, "properties": {key: value for key, value in schema["properties"].items()
                                     if key != "events"}}
    return by_event, compiled(rest)


def is_valid(answer: Any) -> bool:
    """Whether ``answer`` satisfies ``RemoteAction.action_response_format_spec()``."""
    if not isinstance(answer, dict):
        return False
    by_event, rest = _parts()
    if "events" in answer:
        events = answer["events"]
        if not isinstance(events, list):
            return False
        for event in events:
            if not isinstance(event, dict):
                return False
            name = event.get("event")
            validator = by_event.get(name) if isinstance(name, str) else None
            if validator is None or not validator.is_valid(event):
                return False
    return rest.is_valid({key: value for key, value in answer.items() if key != "events"})
