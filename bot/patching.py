"""One attribute of an installed package replaced at run time, and put back.

The server's changes to Rasa 3.6 (bot/nlu_cache.py, bot/slot_validation.py, bot/graph_runner.py)
each replace one attribute of one Rasa module or class. ``Patch`` keeps the bookkeeping in one
place: the owner is imported only when the patch is installed, installing twice changes
nothing, and ``uninstall`` puts back exactly what was there (tests install and uninstall).
"""
from __future__ import annotations

import importlib
from typing import Any, Optional


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
        self._original = vars(owner)[self.name] if self.name in vars(owner) \
            else getattr(owner, self.name)
        setattr(owner, self.name, self.replacement)

    def uninstall(self) -> None:
        if not self.installed:
            return
        setattr(self.owner(), self.name, self._original)
        self._original = self._MISSING
