"""bot/action_domain.py: a call to the action server carries the domain only if the action
reads it. Rasa's request is otherwise unchanged; every validation action of actions/ is sent
the domain; no other action of actions/ reads it (so none is starved of it)."""
from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest
from rasa.core.actions.action import RemoteAction
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig
from rasa_sdk.executor import ActionExecutor
from rasa_sdk.forms import ValidationAction

from bot import action_domain

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(ROOT / "domain.yml"))


@pytest.fixture(scope="module")
def action_classes():
    """Every action the action server registers from actions/: name -> class."""
    executor = ActionExecutor()
    executor.register_package("actions")
    return {name: type(getattr(run, "__self__", None)) for name, run in executor.actions.items()
            if getattr(run, "__self__", None) is not None}


def _request(name: str, domain: Domain, installed: bool):
    tracker = DialogueStateTracker.from_events("domain-check", [
        ActionExecuted("action_listen"), UserUttered("我要退保", {"name": "request_surrender"})],
        slots=domain.slots)
    action = RemoteAction(name, EndpointConfig("http://127.0.0.1:9/webhook"))
    if installed:
        action_domain.install()
    try:
        return action._action_call_format(tracker, domain)
    finally:
        action_domain.uninstall()


@pytest.mark.parametrize("name,sent", [("action_quote_surrender", False),
                                       ("action_session_start", False),
                                       ("validate_surrender_form", True),
                                       ("action_validate_slot_mappings", True)])
def test_the_domain_goes_only_with_the_calls_that_read_it(domain, name, sent):
    rasas = _request(name, domain, installed=False)
    ours = _request(name, domain, installed=True)
    assert ("domain" in ours) is sent
    assert "domain" in rasas  # Rasa's default: always
    rasas.pop("domain")
    ours.pop("domain", None)
    for request in (rasas, ours):
        for event in request["tracker"]["events"]:
            event.pop("timestamp", None)
        request["tracker"].pop("latest_event_time", None)
    assert ours == rasas


def test_every_validation_action_gets_the_domain(action_classes):
    validations = {name for name, cls in action_classes.items() if issubclass(cls, ValidationAction)}
    assert {"validate_surrender_form", "action_validate_slot_mappings"} <= validations
    assert all(action_domain.needs_domain(name) for name in validations), validations


def test_no_other_action_reads_the_domain(action_classes):
    """Passing it on (``ActionHandoff().run(dispatcher, tracker, domain)``) is not reading."""
    readers = []
    for name, cls in action_classes.items():
        if action_domain.needs_domain(name):
            continue
        for klass in cls.__mro__:
            if not klass.__module__.startswith("actions"):
                continue
            source = inspect.getsource(klass)
            source = re.sub(r"domain\s*:\s*DomainDict", "", source)
            source = re.sub(r"\(\s*dispatcher\s*,\s*tracker\s*,\s*domain\s*\)", "()", source)
            if re.search(r"\bdomain\b", re.sub(r'"""[\s\S]*?"""|#.*', "", source)):
                readers.append((name, klass.__name__))
    assert not readers, readers
