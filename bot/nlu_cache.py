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

``python -m bot.serve`` installs it; ``TUIBAO_NLU_CACHE=0`` turns it off (for comparison).
``tests/conversations/test_nlu_cache.py`` checks that a cached parse is the parse, and what is
never kept.
"""
from __future__ import annotations

import copy
import os
import threading
from collections import OrderedDict
from typing import Any, Callable, Dict, Optional, Text, Tuple

MAX_CHARS = 40
MAX_ENTRIES = 4096
ENV = "TUIBAO_NLU_CACHE"

_lock = threading.Lock()
_parses: "OrderedDict[Tuple[Any, ...], Dict[Text, Any]]" = OrderedDict()
_original: Optional[Callable[..., Dict[Text, Any]]] = None
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
    assert _original is not None
    text = getattr(message, "text", None)
    if not keepable(text):
        return _original(processor, message, tracker, only_output_properties)
    key = _key(processor, text, only_output_properties)
    with _lock:
        kept = _parses.get(key)
        if kept is not None:
            _parses.move_to_end(key)
            hits += 1
    if kept is not None:
        return copy.deepcopy(kept)
    parse = _original(processor, message, tracker, only_output_properties)
    with _lock:
        misses += 1
        _parses[key] = copy.deepcopy(parse)
        while len(_parses) > MAX_ENTRIES:
            _parses.popitem(last=False)
    return parse


def clear() -> None:
    global hits, misses
    with _lock:
        _parses.clear()
        hits = misses = 0


def wanted() -> bool:
    return os.environ.get(ENV, "1") != "0"


def install() -> None:
    """Put the cache in front of Rasa's NLU graph (idempotent)."""
    global _original
    if _original is not None:
        return
    from rasa.core.processor import MessageProcessor

    _original = MessageProcessor._parse_message_with_graph
    MessageProcessor._parse_message_with_graph = parse_with_graph  # type: ignore[assignment]


def uninstall() -> None:
    global _original
    if _original is None:
        return
    from rasa.core.processor import MessageProcessor

    MessageProcessor._parse_message_with_graph = _original  # type: ignore[assignment]
    _original = None
    clear()
