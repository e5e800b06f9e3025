"""A yes or no at a prompt that decides something irreversible is read from its words, before
any intent is considered (issue 17).

At the surrender, withdrawal and erasure prompts (``stage`` quote_ready, withdraw_ready,
confirm_erasure) a message that is plainly an answer ("取消", "好的", "不删了", "确认退保";
``actions.yes_no.is_plain_answer``) goes to ``action_read_confirmation`` whatever intent the
classifier gave it, so "取消" at the erasure prompt keeps the data on every machine, even where
the classifier tips towards request_surrender. The policy predicts with confidence 1.0 and a
priority above RulePolicy's, so it wins; for every other message it predicts nothing and the
rules, memoization and TED decide as before (and the rules send affirm, deny, goodbye and thank
at a prompt to the same action, which reads the words again).

Config: ``- name: bot.confirmation_policy.ConfirmationPolicy`` under ``policies``. Nothing is
learnt: the words are ``actions/yes_no.py``.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa.core.policies.policy import Policy, PolicyPrediction, SupportedData
from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.core.constants import POLICY_PRIORITY
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.generator import TrackerWithCachedStates
from rasa.shared.core.trackers import DialogueStateTracker

from actions.yes_no import CONFIRMATION_STAGES, is_plain_answer

READ_ACTION = "action_read_confirmation"
PRIORITY = 7  # RulePolicy is 6: at equal confidence (1.0) the higher priority wins


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT,
                          is_trainable=True)
class ConfirmationPolicy(Policy):
    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {POLICY_PRIORITY: PRIORITY}

    @staticmethod
    def supported_data() -> SupportedData:
        return SupportedData.ML_AND_RULE_DATA

    def train(self, training_trackers: List[TrackerWithCachedStates], domain: Domain,
              **kwargs: Any) -> Resource:
        return self._resource  # nothing to learn

    def predict_action_probabilities(self, tracker: DialogueStateTracker, domain: Domain,
                                     rule_only_data: Optional[Dict[Text, Any]] = None,
                                     **kwargs: Any) -> PolicyPrediction:
        probabilities = self._default_predictions(domain)
        if reads_answer(tracker) and READ_ACTION in domain.action_names_or_texts:
            probabilities[domain.index_for_action(READ_ACTION)] = 1.0
        return self._prediction(probabilities)


def reads_answer(tracker: DialogueStateTracker) -> bool:
    """Whether the message just received is a plain answer at a confirmation prompt."""
    if tracker.latest_action_name != ACTION_LISTEN_NAME or tracker.active_loop_name:
        return False
    stage = tracker.get_slot("stage")
    if stage not in CONFIRMATION_STAGES:
        return False
    return is_plain_answer((tracker.latest_message.text if tracker.latest_message else None), stage)
