"""Remember what the NLU made of a short message without digits (issue 23).

Most of what users type is the same few words: 你好, 我要退保, 确认, 好的, 取消, a tapped
button's ``/affirm``. Rasa 3.6 runs the whole NLU pipeline (Jieba, four featurizers, DIET, the
ResponseSelector, our components) for each of them, every time: after TED was skipped where it
cannot win (``bot/lazy_ted.py``) parsing was the largest part of a turn's main thread
(docs/benchmarks.md). The pipeline's answer depends on the text and the model only: no
component of ``config.yml`` reads the tracker or the message's metadata. So the parse of a text
is kept per model, and a message with the same text gets a copy of it.

What is kept, and what never is:

- only texts of at most ``MAX_CHARS`` characters with no numeric character at all (``str.
  isnumeric``: 0-9, full-width digits and Chinese numerals alike). Policy numbers, ID digits,
  phone numbers, SMS codes and amounts are never held, so the cache holds no personal data the
  tracker store would mask (privacy/);
- at most ``MAX_ENTRIES`` texts per process, the least recently used dropped first, and only
  for the model that made them (a promoted model starts with none of them);
- the answer given is a deep copy: Rasa and our actions may change a parse in place.

A second, narrower layer serves the messages with an identifier in them ("SBX1000000000012",
"31002X", a bare SMS code: half the turns of a surrender, each text new). Their tokens reach the
featurizers as placeholders (``IdentifierPlaceholders``: POLICYNUMBER …), so DIET and the
ResponseSelector see the same features for every policy number. What a classifier computes from
a message (``DIETClassifier._predict``: its model data and the TensorFlow run, about 80 % of a
parse) depends on the message's features only, so it is kept per classifier instance, keyed by
a digest of those features:

- only when no token the featurizers read (``lemma``) has a numeric character left: the
  identifiers became placeholders, and nothing else in the message carries a digit;
- the key is a BLAKE2 digest of the features, never text; the value is the classifier's score
  arrays (copied out and in);
- at most ``MAX_ENTRIES`` per classifier, dropped with the model that made them.

Tokenising, featurising and our extractors still run for every such message, so its entities
(the identifiers' values) are always its own.

``python -m bot.serve`` installs both; ``TUIBAO_NLU_CACHE=0`` turns them off (for comparison),
``TUIBAO_NLU_FEATURE_CACHE=0`` the second only.
``tests/conversations/test_nlu_cache.py`` checks that a cached parse is the parse, and what is
never kept.
"""
from __future__ import annotations

import copy
import hashlib
import os
import threading
import weakref
from collections import OrderedDict
from typing import Any, Callable, Dict, Text, Tuple

from bot.patching import Patch

MAX_CHARS = 40
MAX_ENTRIES = 4096
ENV = "TUIBAO_NLU_CACHE"
FEATURES_ENV = "TUIBAO_NLU_FEATURE_CACHE"  # =0: the parse cache only (for comparison)

_lock = threading.Lock()
_parses: "OrderedDict[Tuple[Any, ...], Dict[Text, Any]]" = OrderedDict()
hits = 0
misses = 0


def keepable(text: Optional[str]) -> bool:
    """Whether the parse of ``text`` may be kept: short, and no numeric character in it."""
    return bool(text) and len(text) <= MAX_CHARS and not any(c.isnumeric() for c in text)


def _key(processor: Any, text: str, only_output_properties: bool) -> Tuple[Any, ...]:
    metadata = getattr(processor, "model_metadata", None)
    model = getattr(metadata, "model_id", None) or id(processor)
    return (model, only_output_properties, text)


def parse_with_graph(processor: Any, message: Any, tracker: Any,
                     only_output_properties: bool = True) -> Dict[Text, Any]:
    """``MessageProcessor._parse_message_with_graph``, its answer kept for a keepable text."""
    global hits, misses
    text = getattr(message, "text", None)
    if not keepable(text):
        return _original(processor, message, tracker, only_output_properties)
    key = _key(processor, text, only_output_properties)
    parse, hit = _kept_or_computed(
        _parses, key, lambda: _original(processor, message, tracker, only_output_properties))
    with _lock:
        if hit:
            hits += 1
        else:
            misses += 1
    return parse


def _kept_or_computed(kept: "OrderedDict[Any, Any]", key: Any,
                      compute: Callable[[], Any]) -> Tuple[Any, bool]:
    """A copy of ``kept[key]`` (now the most recently used), or ``compute()`` kept as a copy
    (not a None), the least recently used dropped past ``MAX_ENTRIES``; and whether it was kept."""
    with _lock:
        found = kept.get(key)
        if found is not None:
            kept.move_to_end(key)
    if found is not None:
        return copy.deepcopy(found), True
    value = compute()
    if value is not None:
        with _lock:
            kept[key] = copy.deepcopy(value)
            while len(kept) > MAX_ENTRIES:
                kept.popitem(last=False)
    return value, False


def clear() -> None:
    """Forget every kept parse and prediction, and the counts."""
    global hits, misses, classifier_hits, classifier_misses
    with _lock:
        _parses.clear()
        for classifier in list(_classifiers):
            classifier.__dict__.get("_tuibao_kept_predictions", {}).clear()
        hits = misses = classifier_hits = classifier_misses = 0


def wanted() -> bool:
    return os.environ.get(ENV, "1") != "0"


_patch = Patch("rasa.core.processor:MessageProcessor", "_parse_message_with_graph",
               parse_with_graph)

classifier_hits = 0
classifier_misses = 0
_classifiers: "weakref.WeakSet[Any]" = weakref.WeakSet()  # those holding kept predictions


def _features_digest(message: Any) -> Any:
    """A digest of the message's text features, or None when its tokens still carry a digit."""
    from rasa.nlu.constants import TOKENS_NAMES
    from rasa.shared.nlu.constants import TEXT

    tokens = message.get(TOKENS_NAMES[TEXT]) or []
    if not tokens or any(c.isnumeric() for token in tokens for c in (token.lemma or "")):
        return None
    digest = hashlib.blake2b(digest_size=20)
    for feature in message.features:
        if feature.attribute != TEXT:
            continue
        digest.update(f"{feature.type}|{feature.origin}|{feature.is_sparse()}|".encode())
        matrix = feature.features
        digest.update(repr(matrix.shape).encode())
        if feature.is_sparse():
            coo = matrix.tocoo()
            for part in (coo.row, coo.col, coo.data):
                digest.update(part.tobytes())
        else:
            digest.update(matrix.tobytes())
    return digest.digest()


def predict_with_features(classifier: Any, message: Any) -> Any:
    """``DIETClassifier._predict`` (the ResponseSelector's too), kept by the message's features."""
    global classifier_hits, classifier_misses
    key = _features_digest(message)
    if key is None:
        return _patch_predict.original(classifier, message)
    with _lock:
        kept_by_classifier = classifier.__dict__.setdefault("_tuibao_kept_predictions",
                                                            OrderedDict())
        _classifiers.add(classifier)
    out, hit = _kept_or_computed(kept_by_classifier, key,
                                 lambda: _patch_predict.original(classifier, message))
    with _lock:
        if hit:
            classifier_hits += 1
        elif out is not None:
            classifier_misses += 1
    return out
    with _lock:
        classifier_misses += 1
        kept_by_classifier[key] = copy.deepcopy(out)
        while len(kept_by_classifier) > MAX_ENTRIES:
            kept_by_classifier.popitem(last=False)
    return out


_patch_predict = Patch("rasa.nlu.classifiers.diet_classifier:DIETClassifier", "_predict",
                       predict_with_features)


def _original(processor: Any, message: Any, tracker: Any,
              only_output_properties: bool = True) -> Dict[Text, Any]:
    """Rasa's own parse (the cache is installed whenever this is called)."""
    return _patch.original(processor, message, tracker, only_output_properties)


def install() -> None:
    """Put the caches in front of Rasa's NLU graph and its classifiers (idempotent)."""
    _patch.install()
    if os.environ.get(FEATURES_ENV, "1") != "0":
        _patch_predict.install()


def uninstall() -> None:
    _patch.uninstall()
    _patch_predict.uninstall()
    clear()
