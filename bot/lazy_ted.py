"""TEDPolicy is not run when its prediction cannot be chosen (issue 23).

Rasa 3.6 runs every policy of the model for every action prediction, then keeps the most
confident one, the higher priority winning a tie (``DefaultPolicyPredictionEnsemble``). When a
policy of higher priority than TED (ConfirmationPolicy 7, RulePolicy 6, MemoizationPolicy 3;
TED is 1) has already predicted an action with confidence 1.0 for the same tracker, TED's
prediction cannot win: its confidences are a softmax, at most 1.0, and at 1.0 the higher priority
wins the tie. Most predictions are of that kind (a form's next step, a rule, a story's memorised
turn), and TED's neural network was the largest single cost of a turn (docs/benchmarks.md).

So TED is skipped, returning the empty prediction every policy returns when it has nothing to
say, exactly when its answer could not change the ensemble's choice:

- a policy of higher priority predicted ``max_confidence >= 1.0`` for this very tracker (the
  same object, with the same number of events) in this prediction: the policies of one
  prediction run one after the other in one thread (Rasa's graph runner, dask's synchronous
  scheduler); if TED happens to run first it simply runs;
- and the last action was not rejected: then the ensemble sets the rejected action's
  confidence to 0.0 in every prediction, and TED's may win after all;
- and no end-to-end model is in use (TED's text-based predictions are preferred over intent-based
  ones whatever their confidence): the project trains none, and TED runs if it ever does.

``python -m bot.serve`` installs it. ``tests/conversations/test_lazy_ted.py`` checks the rule;
``tests/conversations/test_stories.py`` that every prediction of the test stories (and of detours
from them) is the same with and without it.
"""
from __future__ import annotations

import contextlib
import functools
import threading
import weakref
from typing import Any, Callable, Dict, Iterator, Optional

from rasa.core.policies.policy import Policy, PolicyPrediction
from rasa.core.policies.ted_policy import TEDPolicy
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, ActionExecutionRejected
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import TEXT

_seen = threading.local()  # .record: (the tracker, weakly; its events; highest certain priority)
_counts: Dict[str, int] = {"run": 0, "skipped": 0}
_originals: Dict[Any, Callable[..., PolicyPrediction]] = {}


def _certain_priority(tracker: DialogueStateTracker) -> Optional[int]:
    # The tracker itself (a weak reference: a new tracker at a dead one's address is another),
    # in the same state: the record is about this prediction, not an earlier one.
    record = getattr(_seen, "record", None)
    if record is None or record[0]() is not tracker or record[1] != len(tracker.events):
        return None
    return record[2]


def _note(tracker: DialogueStateTracker, prediction: PolicyPrediction) -> None:
    if prediction.max_confidence < 1.0 or prediction.is_end_to_end_prediction:
        return
    known = _certain_priority(tracker)
    if known is None or prediction.policy_priority > known:
        _seen.record = (weakref.ref(tracker), len(tracker.events), prediction.policy_priority)


def _last_action_rejected(tracker: DialogueStateTracker) -> bool:
    for event in reversed(tracker.events):
        if isinstance(event, ActionExecutionRejected):
            return True
        if isinstance(event, ActionExecuted):
            return False
    return False


def cannot_win(policy: Policy, tracker: DialogueStateTracker) -> bool:
    """True when a policy of higher priority than ``policy`` was certain for this tracker."""
    certain = _certain_priority(tracker)
    return (certain is not None and certain > policy.priority
            and not _last_action_rejected(tracker))


def _may_predict_from_text(policy: TEDPolicy) -> bool:
    """A TED trained on end-to-end stories may prefer the user's text, whatever the others say."""
    fake_features = getattr(policy, "fake_features", None)
    return not isinstance(fake_features, dict) or TEXT in fake_features


def _noting(predict: Callable[..., PolicyPrediction]) -> Callable[..., PolicyPrediction]:
    @functools.wraps(predict)
    def wrapper(self: Policy, tracker: DialogueStateTracker, domain: Domain,
                *args: Any, **kwargs: Any) -> PolicyPrediction:
        prediction = predict(self, tracker, domain, *args, **kwargs)
        _note(tracker, prediction)
        return prediction
    return wrapper


def _lazy(predict: Callable[..., PolicyPrediction]) -> Callable[..., PolicyPrediction]:
    @functools.wraps(predict)
    def wrapper(self: TEDPolicy, tracker: DialogueStateTracker, domain: Domain,
                *args: Any, **kwargs: Any) -> PolicyPrediction:
        if (not getattr(_seen, "every", False) and not _may_predict_from_text(self)
                and cannot_win(self, tracker)):
            _counts["skipped"] += 1
            return self._prediction(self._default_predictions(domain))
        _counts["run"] += 1
        return predict(self, tracker, domain, *args, **kwargs)
    return wrapper


@contextlib.contextmanager
def every_policy() -> Iterator[None]:
    """TED runs in this thread whatever the others said (the warm-up of a new model, whose
    first predictions trace TensorFlow functions: bot/swap.py)."""
    _seen.every = True
    try:
        yield
    finally:
        _seen.every = False


def counts() -> Dict[str, int]:
    """How many TED predictions ran and how many were skipped in this process."""
    return dict(_counts)


def install() -> None:
    """Note certain predictions of the rule-like policies; skip TED behind them (idempotent)."""
    if _originals:
        return
    from rasa.core.policies.memoization import MemoizationPolicy
    from rasa.core.policies.rule_policy import RulePolicy

    from bot.confirmation_policy import ConfirmationPolicy

    # RulePolicy subclasses MemoizationPolicy: each class's own method is wrapped, once.
    for cls, wrap in ((MemoizationPolicy, _noting), (RulePolicy, _noting),
                      (ConfirmationPolicy, _noting), (TEDPolicy, _lazy)):
        own = cls.__dict__["predict_action_probabilities"]
        _originals[cls] = own
        cls.predict_action_probabilities = wrap(own)  # type: ignore[assignment]


def uninstall() -> None:
    """Every policy as Rasa has it (for the test that compares both)."""
    for cls, own in _originals.items():
        cls.predict_action_probabilities = own  # type: ignore[assignment]
    _originals.clear()
    _seen.__dict__.clear()
