"""The action server answers only our Rasa: a call to ``/webhook`` without the shared secret
(or with a wrong one) is refused before any action runs; ``/health`` stays open for probes.

The server is the real process (``python -m actions.server``) on a free port.
"""
from __future__ import annotations

from typing import Iterator

import pytest
import requests

from harness.services import PYTHON, ROOT, free_port, service

SECRET = "tuibao-test-action-secret-" + "x" * 16


@pytest.fixture(scope="module")
def action_url(tmp_path_factory) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    work = tmp_path_factory.mktemp("action-server")
    with service([PYTHON, "-m", "actions.server", "-p", str(port)], f"{url}/health",
                 env={"TUIBAO_ACTION_SECRET": SECRET,
                      "TUIBAO_HANDOFF_DB_URL": f"sqlite:///{work / 'handoff.db'}"},
                 timeout=90, log_name="security-actions"):
        yield url


def action_call(name: str = "action_ask_to_rephrase") -> dict:
    """What Rasa posts to run ``name`` for a conversation (a minimal tracker)."""
    return {"next_action": name, "sender_id": "oSomeWeChatUser0000000000001",
            "version": "3.6.21", "domain": {},
            "tracker": {"sender_id": "oSomeWeChatUser0000000000001", "slots": {},
                        "latest_message": {"text": "你好", "intent": {}, "entities": []},
                        "events": [], "paused": False, "followup_action": None,
                        "active_loop": {}, "latest_action_name": "action_listen"}}


def post(url: str, headers: dict | None = None) -> requests.Response:
    return requests.post(f"{url}/webhook", json=action_call(), headers=headers or {},
                         timeout=10)


def test_call_without_the_secret_is_refused_and_runs_nothing(action_url):
    for headers in ({}, {"Authorization": "Bearer wrong"},
                    {"Authorization": f"Bearer {SECRET[:-1]}"},  # all but the last character
                    {"Authorization": SECRET},  # no scheme
                    {"Authorization": f"Basic {SECRET}"}):
        answer = post(action_url, headers)
        assert answer.status_code == 401, headers
        assert "events" not in answer.json() and "responses" not in answer.json()


def test_listing_actions_needs_the_secret_too(action_url):
    assert requests.get(f"{action_url}/actions", timeout=10).status_code == 401


def test_health_stays_open_and_rasa_with_the_secret_is_served(action_url):
    assert requests.get(f"{action_url}/health", timeout=10).status_code == 200
    answer = post(action_url, {"Authorization": f"Bearer {SECRET}"})
    assert answer.status_code == 200
    assert answer.json()["responses"][0]["response"] == "utter_please_rephrase"
    assert {"event": "slot", "name": "misunderstood", "value": True} in [
        {k: e.get(k) for k in ("event", "name", "value")} for e in answer.json()["events"]]


def test_a_failing_action_does_not_echo_the_tracker(action_url):
    call = action_call()
    call["tracker"] = "我的身份证 110101199003071234"  # not a tracker: the action cannot run
    answer = requests.post(f"{action_url}/webhook", json=call, timeout=10,
                           headers={"Authorization": f"Bearer {SECRET}"})
    assert answer.status_code >= 400
    assert "110101199003071234" not in answer.text


@pytest.mark.parametrize("endpoints", ["endpoints.yml", "deploy/endpoints.scale.yml"])
def test_rasa_presents_the_secret_from_the_environment(endpoints, monkeypatch):
    """Rasa expands ${VAR} in plain YAML scalars only: a quoted value would send the literal
    text "${TUIBAO_ACTION_SECRET}" and every action would be refused."""
    from rasa.core.utils import read_endpoints_from_path

    for name in ("TUIBAO_ACTION_URL", "TUIBAO_PG_HOST", "TUIBAO_PG_DB", "TUIBAO_PG_USER",
                 "TUIBAO_PG_PASSWORD", "TUIBAO_REDIS_HOST", "TUIBAO_RABBITMQ_HOST",
                 "TUIBAO_RABBITMQ_USER", "TUIBAO_RABBITMQ_PASSWORD"):
        monkeypatch.setenv(name, "x")
    for name in ("TUIBAO_PG_PORT", "TUIBAO_REDIS_PORT", "TUIBAO_REDIS_LOCK_DB"):
        monkeypatch.setenv(name, "1")
    monkeypatch.setenv("TUIBAO_ACTION_SECRET", SECRET)
    action = read_endpoints_from_path(ROOT / endpoints).action
    assert action.headers == {"Authorization": f"Bearer {SECRET}"}
    assert "$" not in action.url
