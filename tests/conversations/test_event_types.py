"""bot.event_types (issue 23): a stored event comes back as the same object, its class found once."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import rasa.shared.utils.common
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import Event
from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity

from bot import event_types

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def memo():
    event_types.install()
    yield
    event_types.uninstall()


def _every_type_name():
    return sorted({cls.type_name for cls in rasa.shared.utils.common.all_subclasses(Event)})


def test_every_event_type_resolves_to_rasa_s_own_class(memo):
    names = _every_type_name()
    assert len(names) > 20
    event_types.uninstall()
    theirs = {name: Event.resolve_by_type(name) for name in names}
    event_types.install()
    assert {name: Event.resolve_by_type(name) for name in names} == theirs  # first time
    assert {name: Event.resolve_by_type(name) for name in names} == theirs  # from the memo


def test_unknown_names_answer_as_rasa_does(memo):
    from rasa.shared.core.events import UserUttered

    assert Event.resolve_by_type("topic") is None
    assert Event.resolve_by_type("no_such_event", default=UserUttered) is UserUttered
    with pytest.raises(ValueError, match="Unknown event name 'no_such_event'"):
        Event.resolve_by_type("no_such_event")
    assert "no_such_event" not in event_types._by_name


def test_a_surrender_read_back_from_the_store_is_the_same_tracker(memo):
    """A whole surrender as the store keeps it (tests/privacy's fixture conversation is not
    needed: the events of a story with every kind of event a surrender writes)."""
    from rasa.shared.core.training_data.story_reader.yaml_story_reader import YAMLStoryReader

    domain = Domain.load(str(ROOT / "domain.yml"))
    steps = YAMLStoryReader(domain).read_from_file(ROOT / "tests/conversations/surrender.yml")
    assert steps
    for step in steps:
        events = DialogueStateTracker.from_events("x", step.events, domain.slots).current_state(
            EventVerbosity.ALL)["events"]
        stored = json.loads(json.dumps(events))
        event_types.uninstall()
        theirs = DialogueStateTracker.from_dict("x", stored, domain.slots)
        event_types.install()
        ours = DialogueStateTracker.from_dict("x", stored, domain.slots)
        assert list(ours.events) == list(theirs.events)
        assert ours.current_state(EventVerbosity.ALL) == theirs.current_state(EventVerbosity.ALL)
