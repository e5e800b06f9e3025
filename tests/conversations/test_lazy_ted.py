"""bot.lazy_ted's rule (issue 23): TED is skipped only when a policy of higher priority was
certain (confidence 1.0) for this very tracker in this prediction, and never after a rejected
action. Its effect on the real model (no prediction of any test story changes) is checked in
test_stories.py."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from rasa.core.policies.policy import PolicyPrediction
from rasa.shared.core.events import ActionExecuted, ActionExecutionRejected, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot import lazy_ted

TED = SimpleNamespace(priority=1)


def _tracker(*events) -> DialogueStateTracker:
    return DialogueStateTracker.from_events("lazy-ted", [ActionExecuted("action_listen"),
                                                         UserUttered("我要退保", {"name": "request_surrender"}),
                                                         *events], slots=[])


def _prediction(confidence: float, priority: int) -> PolicyPrediction:
    return PolicyPrediction([confidence, 0.0], "SomePolicy", policy_priority=priority)


@pytest.fixture(autouse=True)
def fresh():
    lazy_ted._seen.__dict__.clear()
    yield
    lazy_ted._seen.__dict__.clear()


def test_a_certain_rule_makes_ted_pointless_for_that_tracker_only():
    tracker, other = _tracker(), _tracker()
    lazy_ted._note(tracker, _prediction(1.0, priority=6))
    assert lazy_ted.cannot_win(TED, tracker)
    assert not lazy_ted.cannot_win(TED, other)
    tracker.update(ActionExecuted("surrender_form"))  # the next prediction of the same chat
    assert not lazy_ted.cannot_win(TED, tracker)


@pytest.mark.parametrize("confidence, priority", [(0.99, 6), (1.0, 1), (1.0, 0), (0.3, 7)])
def test_an_uncertain_or_lower_policy_leaves_ted_to_run(confidence, priority):
    tracker = _tracker()
    lazy_ted._note(tracker, _prediction(confidence, priority))
    assert not lazy_ted.cannot_win(TED, tracker)


def test_after_a_rejected_action_ted_runs_whatever_the_rule_said():
    # The ensemble zeroes the rejected action in every prediction: TED's may win then.
    tracker = _tracker(ActionExecuted("surrender_form"), ActionExecutionRejected("surrender_form"))
    lazy_ted._note(tracker, _prediction(1.0, priority=6))
    assert not lazy_ted.cannot_win(TED, tracker)


def test_the_highest_certain_priority_is_kept():
    tracker = _tracker()
    lazy_ted._note(tracker, _prediction(1.0, priority=7))
    lazy_ted._note(tracker, _prediction(1.0, priority=3))
    assert lazy_ted._certain_priority(tracker) == 7


def test_a_record_of_a_tracker_gone_says_nothing_of_a_new_one():
    tracker = _tracker()
    lazy_ted._note(tracker, _prediction(1.0, priority=6))
    events = list(tracker.events)
    del tracker
    for _ in range(50):  # a new tracker may take the dead one's address: still not certain
        assert not lazy_ted.cannot_win(TED, DialogueStateTracker.from_events("lazy-ted", events, slots=[]))


def test_a_warm_up_runs_ted_even_behind_a_certain_rule_and_only_in_its_thread():
    ran = []
    predict = lazy_ted._lazy(lambda self, tracker, domain: ran.append(tracker) or "ted's own")
    ted = SimpleNamespace(priority=1, fake_features={}, _default_predictions=lambda domain: [0.0],
                          _prediction=lambda probabilities: "skipped")
    tracker = _tracker()
    lazy_ted._note(tracker, _prediction(1.0, priority=6))
    assert predict(ted, tracker, None) == "skipped"
    with lazy_ted.every_policy():
        assert predict(ted, tracker, None) == "ted's own"
    assert predict(ted, tracker, None) == "skipped"  # over when the warm-up ends
    assert ran == [tracker]
