"""One attribute of an installed package replaced at run time, and put back.

The server's changes to Rasa 3.6 (bot/nlu_cache.py, bot/slot_validation.py, bot/graph_runner.py)
each replace one attribute of one Rasa module or class. ``Patch`` keeps the bookkeeping in one
place: the owner is imported only when the patch is installed, installing twice changes
nothing, and ``uninstall`` puts back exactly what was there (tests install and uninstall).

A patch replaces the package's own attribute or nothing: if something of ours already replaced
it (a wrapper installed first), ``install`` raises ``PatchConflict`` naming it, instead of
silently dropping that wrapper (7 December: the action calls' kept-alive request, installed
after observability's trace-id wrapper of the same method, threw the wrapper away, and the
action server's log lost the trace id; only an end-to-end test noticed). Install such a patch
before the wrapper, so the wrapper wraps it.
"""
from __future__ import annotations

import importlib
import os
import sys
from typing import Any, Optional


class PatchConflict(RuntimeError):
    """The attribute to replace is no longer the package's own."""


def _defined_in(value: Any) -> Optional[str]:
    """The file whose code ``value`` is (a function's own code, not the ``__module__`` that
    ``functools.wraps`` copies from what it wraps), or None when it cannot tell."""
    if isinstance(value, (staticmethod, classmethod)):
        value = value.__func__
    code = getattr(value, "__code__", None)
    if code is not None:
        return code.co_filename
    module = sys.modules.get(getattr(value, "__module__", None) or "")
    return getattr(module, "__file__", None)


class Patch:
    """``owner.name = replacement`` while installed; ``owner`` is ``module`` or ``module:Class``."""

    _MISSING = object()

    def __init__(self, owner: str, name: str, replacement: Any) -> None:
        self.owner_path = owner
        self.name = name
        self.replacement = replacement
        self._original: Any = self._MISSING

    def owner(self) -> Any:
        module_name, _, class_name = self.owner_path.partition(":")
        owner: Any = importlib.import_module(module_name)
        return getattr(owner, class_name) if class_name else owner

    @property
    def installed(self) -> bool:
        return self._original is not self._MISSING

    @property
    def original(self) -> Optional[Any]:
        """What the attribute was before ``install`` (None while not installed)."""
        return None if self._original is self._MISSING else self._original

    def install(self) -> None:
        if self.installed:
            return
        owner = self.owner()
        # a class's own attribute as stored (a staticmethod stays one when put back)
        found = vars(owner)[self.name] if self.name in vars(owner) \
            else getattr(owner, self.name)
        package = importlib.import_module(self.owner_path.split(".", 1)[0].split(":", 1)[0])
        home = os.path.dirname(os.path.abspath(package.__file__ or ""))
        defined_in = _defined_in(found)
        if defined_in is not None and not os.path.abspath(defined_in).startswith(home + os.sep):
            raise PatchConflict(
                f"{self.owner_path}.{self.name} was already replaced by code in {defined_in}; "
                f"install this patch before that one, so that it wraps this")
        self._original = found
        setattr(owner, self.name, self.replacement)

    def uninstall(self) -> None:
        if not self.installed:
            return
        setattr(self.owner(), self.name, self._original)
        self._original = self._MISSING
