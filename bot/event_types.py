"""An event's class found by its type name once, not by walking Rasa's classes for every event.

Rasa 3.6 turns every stored event back into an object with ``Event.resolve_by_type``, which
walks all subclasses of ``Event`` (``rasa.shared.utils.common.all_subclasses``, recursive,
abstract classes checked) until one has the type name. A tracker of a surrender half done holds
about 70 events: 0.09 ms each, about 7 ms of every tracker read, every turn (issue 23,
bench/tracker_read.py). The classes do not change while the server runs, so the class found for
a name is kept; a name with no class yet (``topic``, an unknown name, a default given) goes to
Rasa's own method every time, with its own answer or error.

``python -m bot.serve`` installs it; ``TUIBAO_EVENT_TYPE_MEMO=0`` leaves Rasa's walk.
"""
from __future__ import annotations

import os
from typing import Any, Dict, Optional, Type

from bot.patching import Patch

ENV = "TUIBAO_EVENT_TYPE_MEMO"

_by_name: Dict[str, Type[Any]] = {}


def resolve_by_type(type_name: str, default: Optional[Type[Any]] = None) -> Optional[Type[Any]]:
    """``Event.resolve_by_type``: the same class, looked up in a dict after the first time."""
    found = _by_name.get(type_name)
    if found is not None:
        return found
    import rasa.shared.utils.common
    from rasa.shared.core.events import Event

    for cls in rasa.shared.utils.common.all_subclasses(Event):
        if cls.type_name == type_name:
            _by_name[type_name] = cls
            return cls
    return _patch.original.__func__(type_name, default)  # topic, a default, or Rasa's error


_patch = Patch("rasa.shared.core.events:Event", "resolve_by_type", staticmethod(resolve_by_type))


def wanted() -> bool:
    return os.environ.get(ENV, "1") != "0"


def install() -> None:
    _patch.install()


def uninstall() -> None:
    _patch.uninstall()
    _by_name.clear()
