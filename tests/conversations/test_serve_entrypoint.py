"""bot.serve (issue 23): Rasa's check of the action server's answers, with the schema compiled
once, accepts and refuses exactly what Rasa's own ``jsonschema.validate`` does, with the same
error and message."""
from __future__ import annotations

import jsonschema
import pytest
from rasa.core.actions.action import RemoteAction

from bot import serve

GOOD = [
    {"events": [], "responses": []},
    {"events": [{"event": "slot", "name": "policy_number", "value": "SBX1000000000012"},
                {"event": "active_loop", "name": None}],
     "responses": [{"response": "utter_ask_id_suffix"}, {"text": "好的"}]},
    {},
]
BAD = [
    {"events": [{"event": "no_such_event"}]},
    {"events": "not a list"},
    {"responses": [1, 2]},
    {"events": [{"event": "slot", "name": 5}]},
]


def _original(answer):
    jsonschema.validate(answer, RemoteAction.action_response_format_spec())


@pytest.fixture(autouse=True)
def installed(monkeypatch):
    monkeypatch.setattr(RemoteAction, "_validate_action_result",
                        RemoteAction._validate_action_result)  # undone after the test
    serve.install.__globals__["_installed"] = False
    serve.install()
    yield
    serve.install.__globals__["_installed"] = False


@pytest.mark.parametrize("answer", GOOD)
def test_valid_answers_pass(answer):
    _original(answer)
    assert RemoteAction("action_x", None)._validate_action_result(answer) is True


@pytest.mark.parametrize("answer", BAD)
def test_invalid_answers_fail_with_rasas_error(answer):
    with pytest.raises(jsonschema.ValidationError) as original:
        _original(answer)
    with pytest.raises(jsonschema.ValidationError) as ours:
        RemoteAction("action_x", None)._validate_action_result(answer)
    assert ours.value.message.startswith(original.value.message)
    assert "Failed to validate Action server response" in ours.value.message
    assert list(ours.value.path) == list(original.value.path)


def test_the_patch_is_installed():
    assert RemoteAction._validate_action_result is serve.validate_action_result
