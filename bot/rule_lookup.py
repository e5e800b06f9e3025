"""RulePolicy's matching rules found once per dialogue state (issue 23).

To predict, Rasa 3.6's ``RulePolicy._get_possible_keys`` checks every learned rule (about 250
here) against the conversation's states, turn by turn back in time, for the rules and again for
the loops' unhappy paths: about 60 % of a prediction's time (bench/graph_runner.py profile), two
or three predictions a turn. The answer depends on the lookup (fixed once the model is loaded)
and the states only, and conversations pass through the same few states again and again (the
states hold the featurised slots, not their values: every policy number is the same state). So
the set of matching rule keys is kept per policy and lookup, keyed by the states' ``repr``: two
states with the same ``repr`` are the same state (a state holds strings, numbers, tuples; a
state that printed differently only misses the memo). At most ``MAX_ENTRIES`` per policy, least
recently used dropped first; a caller gets its own copy of the set.

``python -m bot.serve`` installs it; ``TUIBAO_RULE_LOOKUP_MEMO=0`` leaves Rasa's scan.
"""
from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import Any, Dict, List, Set, Text

from bot.patching import Patch

ENV = "TUIBAO_RULE_LOOKUP_MEMO"
MAX_ENTRIES = 4096
_ATTR = "_tuibao_possible_keys"
_lock = threading.Lock()
hits = 0
misses = 0


def get_possible_keys(policy: Any, lookup: Dict[Text, Text], states: List[Any]) -> Set[Text]:
    """``RulePolicy._get_possible_keys``, its answer kept per policy, lookup and states."""
    global hits, misses
    key = (id(lookup), repr(states))
    with _lock:
        kept = policy.__dict__.setdefault(_ATTR, OrderedDict())
        found = kept.get(key)
        if found is not None:
            kept.move_to_end(key)
            hits += 1
            return set(found)
    found = _patch.original(policy, lookup, states)
    with _lock:
        misses += 1
        kept[key] = frozenset(found)
        while len(kept) > MAX_ENTRIES:
            kept.popitem(last=False)
    return found


_patch = Patch("rasa.core.policies.rule_policy:RulePolicy", "_get_possible_keys",
               get_possible_keys)


def wanted() -> bool:
    return os.environ.get(ENV, "1") != "0"


def install() -> None:
    _patch.install()


def uninstall() -> None:
    global hits, misses
    _patch.uninstall()
    hits = misses = 0
