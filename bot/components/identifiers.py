"""Rasa entity extractor for the surrender's identifiers, built on ``ground.identifiers``.

Config name: ``bot.components.identifiers.IdentifierExtractor`` (not trainable).

Every entity it emits carries, besides Rasa's usual keys, ``value`` already normalised
(half-width, no spaces/dashes, upper-case, Chinese digits as Arabic) and two attributes the
dialogue reads from ``tracker.latest_message["entities"]``:

- ``valid`` (bool): False when the text is shaped like the identifier but fails its check,
  above all a policy number with a wrong check character or length. The entity is still
  emitted so the bot can say "this policy number seems to have a typo" before calling the
  insurer. Re-check in form validation with ``ground.identifiers.is_valid_policy_number``.
- ``ambiguous`` (bool): a bare 6-digit number with no cue word is an SMS code or the last six
  ID digits. It is then emitted twice on the same span, as ``sms_code`` and as ``id_number``,
  both with ``ambiguous: true``; the form decides by ``requested_slot`` (map these entities with
  ``conditions: [{active_loop: ..., requested_slot: ...}]`` so only the asked-for slot fills).
  With a cue word (验证码/code/短信 → sms_code; 身份证/后六位/尾号 → id_number) only one
  entity is emitted.

Why no spaCy: identifiers are exact character patterns with check digits. A regex over a
character-for-character normalised view of the message gives exact spans and values; a spaCy
``zh`` blank pipeline would only add Jieba tokens, which split or glue identifiers to the
surrounding Chinese (保单号SBX…) and would cost a second tokenisation per message.

DIET is configured with ``entity_recognition: false``; in addition this extractor drops
identifier entities any other extractor put on the message, so there is one source of truth.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import TOKENS_NAMES
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.nlu.constants import (
    ENTITIES,
    ENTITY_ATTRIBUTE_CONFIDENCE,
    ENTITY_ATTRIBUTE_END,
    ENTITY_ATTRIBUTE_START,
    ENTITY_ATTRIBUTE_TYPE,
    ENTITY_ATTRIBUTE_VALUE,
    EXTRACTOR,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from ground.identifiers import IDENTIFIER_ENTITIES, find_identifiers


def identifier_entities(text: str, extractor: str = "IdentifierExtractor") -> List[Dict[Text, Any]]:
    """The Rasa entity dicts for the identifiers in ``text`` (see module docstring)."""
    return [
        {
            ENTITY_ATTRIBUTE_TYPE: span.entity,
            ENTITY_ATTRIBUTE_START: span.start,
            ENTITY_ATTRIBUTE_END: span.end,
            ENTITY_ATTRIBUTE_VALUE: span.value,
            ENTITY_ATTRIBUTE_CONFIDENCE: 1.0,
            EXTRACTOR: extractor,
            "valid": span.valid,
            "ambiguous": span.ambiguous,
        }
        for span in find_identifiers(text or "")
    ]


def _code_fingerprint() -> str:
    """The identifier rules as they stand: this module, ``ground.identifiers`` and the number
    formats of insurers.yml. Rasa's training cache keys a component's output on its config and
    inputs only, so without this a changed rule would keep serving features computed by the
    old one (the model then parses with rules it was not trained with)."""
    import hashlib

    root = Path(__file__).resolve().parents[2]
    digest = hashlib.sha256()
    for rel in ("bot/components/identifiers.py", "ground/identifiers.py", "ground/number_formats.py",
                "insurers.yml"):
        path = root / rel
        digest.update(rel.encode() + b"\0" + (path.read_bytes() if path.exists() else b""))
    return digest.hexdigest()


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=False
)
class IdentifierExtractor(GraphComponent, EntityExtractorMixin):
    """Extracts policy_number, id_number, phone_number, sms_code and case_number."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """``drop_other_extractors``: remove identifier entities found by other extractors."""
        return {"drop_other_extractors": True}

    def __init__(self, config: Dict[Text, Any]) -> None:
        self._drop_others = config.get("drop_other_extractors", True)

    @classmethod
    def fingerprint_addon(cls, config: Dict[str, Any]) -> Optional[str]:
        """A new model's cache entries whenever the identifier rules change."""
        return _code_fingerprint()

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "IdentifierExtractor":
        """Creates the extractor (it has no state to train or load)."""
        return cls(config)

    def process(self, messages: List[Message]) -> List[Message]:
        """Adds the identifier entities of each message's text."""
        for message in messages:
            existing = message.get(ENTITIES, [])
            if self._drop_others:
                existing = [
                    e for e in existing if e.get(ENTITY_ATTRIBUTE_TYPE) not in IDENTIFIER_ENTITIES
                ]
            found = identifier_entities(message.get(TEXT), extractor=self.name)
            message.set(ENTITIES, existing + found, add_to_output=True)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Training data keeps its annotations: nothing to add there."""
        return training_data


# Tokens standing for an identifier, as the intent featurizers see them. ASCII words that no
# Chinese message contains, so their n-grams mean "an identifier of this kind is here".
PLACEHOLDERS = {
    "policy_number": "POLICYNUMBER",
    "id_number": "IDNUMBER",
    "phone_number": "PHONENUMBER",
    "sms_code": "SMSCODE",
    "case_number": "CASENUMBER",
}
AMBIGUOUS_PLACEHOLDER = "SIXDIGITS"


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False
)
class IdentifierPlaceholders(GraphComponent):
    """Shows the featurizers a placeholder instead of each identifier's characters.

    Config name ``bot.components.identifiers.IdentifierPlaceholders``, right after the
    tokenizer. Why: the intent of "把SBX1000000000089退了" lies in the words around the number,
    but char n-grams of 16 random digits outweigh them, and every policy number is new. The
    token's ``lemma`` (what CountVectorsFeaturizer reads) becomes e.g. ``POLICYNUMBER``; its
    text and the message text are untouched, so entity spans and extraction are unaffected.
    """

    @classmethod
    def fingerprint_addon(cls, config: Dict[str, Any]) -> Optional[str]:
        """A new model's cache entries whenever the identifier rules change."""
        return _code_fingerprint()

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "IdentifierPlaceholders":
        """Creates the component (nothing to train)."""
        return cls()

    @staticmethod
    def _replace(message: Message) -> None:
        tokens = message.get(TOKENS_NAMES[TEXT])
        text = message.get(TEXT)
        if not tokens or not text:
            return
        spans = {}
        for span in find_identifiers(text):
            key = (span.start, span.end)
            spans[key] = AMBIGUOUS_PLACEHOLDER if span.ambiguous else PLACEHOLDERS[span.entity]
        for (start, end), placeholder in spans.items():
            for token in tokens:
                if token.start < end and start < token.end:
                    token.lemma = placeholder

    def process(self, messages: List[Message]) -> List[Message]:
        """Replaces identifier tokens' lemmas in messages being parsed."""
        for message in messages:
            self._replace(message)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Does the same to the training examples, so training and parsing agree."""
        for message in training_data.training_examples:
            self._replace(message)
        return training_data
