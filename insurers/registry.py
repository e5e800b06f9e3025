"""Which insurer issued a policy or case number, and the one adapter that talks to it.

The insurers are listed in ``insurers.yml`` (path from ``TUIBAO_INSURERS_FILE``). Each entry
says how its policy and case numbers look, how to spot a typo in a policy number (both read by
``ground.number_formats``, the one reader of number formats), which adapter class speaks its
API, where it lives and which environment variable holds its API key (read here).
Loading the file touches no network; an adapter is built on first use and then reused.
"""
from __future__ import annotations

import enum
import importlib
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, Union

from ground import identifiers
from ground.number_formats import (  # noqa: F401 - check rules are part of this module's interface
    CHECK_RULES,
    DEFAULT_INSURERS_FILE,
    INSURERS_FILE_ENV,
    NumberFormat,
    NumberFormatError,
    formats_from_document,
    luhn,
    read_insurers_document,
    sbx_mod11,
)
from insurers.base import InsurerAdapter, UnknownInsurer
from insurers.http import CallLimits


class InsurerConfigError(Exception):
    """insurers.yml or the environment it names is wrong; the message says what to fix."""


class MissingApiKey(InsurerConfigError):
    """The environment variable that should hold an insurer's API key is not set."""


# ---------------------------------------------------------------- entries
@dataclass(frozen=True)
class InsurerEntry:
    """One insurer as configured in insurers.yml."""

    id: str
    display_name: str
    policy_format: NumberFormat  # pattern and check rule, from ground.number_formats
    case_format: NumberFormat
    adapter: str  # dotted path of an InsurerAdapter subclass with from_entry(entry, api_key)
    base_url: str
    api_key_env: str
    limits: CallLimits
    # A key that may be used when the variable is unset: only for the public sandbox demo key.
    api_key_demo_default: Optional[str] = field(default=None, repr=False)

    def issues_policy(self, number: str) -> bool:
        return self.policy_format.shaped(number)

    def issues_case(self, number: str) -> bool:
        return self.case_format.shaped(number)

    def check_character_ok(self, number: str) -> bool:
        """True when the entry has no check rule or the number passes it."""
        return self.policy_format.passes_check(number)


class Verdict(str, enum.Enum):
    OK = "ok"
    TYPO = "typo"  # shaped like this insurer's numbers but the check character is wrong
    UNKNOWN = "unknown"  # no configured insurer issues numbers of this shape


@dataclass(frozen=True)
class PolicyNumberCheck:
    """What the bot may say about a policy number before asking any insurer."""

    verdict: Verdict
    policy_number: str  # normalised
    insurer: Optional[InsurerEntry] = None  # set for OK and TYPO


# ---------------------------------------------------------------- registry
class InsurerRegistry:
    """The configured insurers, in file order (the first matching pattern wins)."""

    def __init__(self, entries: List[InsurerEntry], environ: Optional[Mapping[str, str]] = None) -> None:
        ids = [entry.id for entry in entries]
        if len(set(ids)) != len(ids):
            raise InsurerConfigError(f"insurer ids must be unique: {ids}")
        self.entries: Tuple[InsurerEntry, ...] = tuple(entries)
        self._environ = environ
        self._adapters: Dict[str, InsurerAdapter] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_file(cls, path: Union[str, Path], environ: Optional[Mapping[str, str]] = None) -> "InsurerRegistry":
        """Read insurers.yml. ``environ`` (default ``os.environ``) supplies base-URL overrides
        now and API keys when an adapter is first built."""
        path = Path(path)
        env = os.environ if environ is None else environ
        try:
            document = read_insurers_document(path)
            formats = formats_from_document(document, str(path))
        except NumberFormatError as exc:
            raise InsurerConfigError(str(exc)) from None
        entries = [_parse_entry(raw, f"{path}: insurers[{i}]", env, formats.policy[i], formats.case[i])
                   for i, raw in enumerate(document["insurers"])]
        return cls(entries, environ)

    @classmethod
    def from_environment(cls, environ: Optional[Mapping[str, str]] = None) -> "InsurerRegistry":
        """The registry of ``$TUIBAO_INSURERS_FILE``, or insurers.yml at the repository root."""
        env = os.environ if environ is None else environ
        return cls.from_file(env.get(INSURERS_FILE_ENV) or DEFAULT_INSURERS_FILE, environ)

    def get(self, insurer_id: str) -> InsurerEntry:
        for entry in self.entries:
            if entry.id == insurer_id:
                return entry
        raise KeyError(f"no insurer with id {insurer_id!r}")

    def for_policy(self, policy_number: str) -> Union[InsurerEntry, UnknownInsurer]:
        """The insurer whose policy-number pattern matches (after normalisation)."""
        number = identifiers.normalise(policy_number)
        for entry in self.entries:
            if entry.issues_policy(number):
                return entry
        return UnknownInsurer(policy_number=number)

    def for_case(self, case_number: str) -> Union[InsurerEntry, UnknownInsurer]:
        """The insurer whose case-number pattern matches (after normalisation)."""
        number = identifiers.normalise(case_number)
        for entry in self.entries:
            if entry.issues_case(number):
                return entry
        return UnknownInsurer(policy_number=number)

    def check_policy_number(self, policy_number: str) -> PolicyNumberCheck:
        """ok / typo / unknown, decided locally so a typo is pointed out before any insurer call."""
        number = identifiers.normalise(policy_number)
        found = self.for_policy(number)
        if isinstance(found, UnknownInsurer):
            return PolicyNumberCheck(Verdict.UNKNOWN, number)
        verdict = Verdict.OK if found.check_character_ok(number) else Verdict.TYPO
        return PolicyNumberCheck(verdict, number, found)

    def adapter_for(self, insurer: Union[InsurerEntry, str]) -> InsurerAdapter:
        """The adapter of an insurer (entry or id), built on first use and then shared.

        Raises ``MissingApiKey`` when the insurer's key variable is unset (and it has no demo
        default), ``InsurerConfigError`` when its adapter class cannot be loaded."""
        entry = self.get(insurer) if isinstance(insurer, str) else insurer
        with self._lock:
            adapter = self._adapters.get(entry.id)
            if adapter is None:
                adapter = _build_adapter(entry, os.environ if self._environ is None else self._environ)
                self._adapters[entry.id] = adapter
            return adapter

    def missing_api_keys(self) -> List[Tuple[str, str]]:
        """(insurer id, variable) for every insurer whose key is not available: for a start-up warning."""
        env = os.environ if self._environ is None else self._environ
        return [(e.id, e.api_key_env) for e in self.entries if not (env.get(e.api_key_env) or e.api_key_demo_default)]

    def close(self) -> None:
        """Close every adapter built so far (those that have a ``close``)."""
        with self._lock:
            adapters, self._adapters = list(self._adapters.values()), {}
        for adapter in adapters:
            close = getattr(adapter, "close", None)
            if callable(close):
                close()


_default_registry: Optional[InsurerRegistry] = None
_default_lock = threading.Lock()


def default_registry() -> InsurerRegistry:
    """The process-wide registry from the environment, loaded on first use."""
    global _default_registry
    with _default_lock:
        if _default_registry is None:
            _default_registry = InsurerRegistry.from_environment()
        return _default_registry


def insurer_id_of(policy_number: str) -> Optional[str]:
    """The id of the insurer that issued ``policy_number`` (None: no configured insurer)."""
    found = default_registry().for_policy(policy_number)
    return None if isinstance(found, UnknownInsurer) else found.id


def reset_default_registry() -> None:
    """Forget the process-wide registry (closing its adapters), so the next use reads the
    configuration again (tests change it)."""
    global _default_registry
    with _default_lock:
        old, _default_registry = _default_registry, None
    if old is not None:
        old.close()


def check_policy_number(policy_number: str, registry: Optional[InsurerRegistry] = None) -> PolicyNumberCheck:
    """ok / typo / unknown for a policy number, using ``registry`` or the default one."""
    return (registry or default_registry()).check_policy_number(policy_number)


# ---------------------------------------------------------------- parsing insurers.yml
_ENTRY_KEYS = {"id", "display_name", "policy_number", "case_number", "adapter", "base_url", "base_url_env",
               "api_key_env", "api_key_demo_default", "timeouts"}
_TIMEOUT_KEYS = {"connect": "connect_timeout", "read": "read_timeout", "budget": "call_budget",
                 "max_attempts": "max_attempts", "backoff_base": "backoff_base", "backoff_max": "backoff_max",
                 "max_workers": "max_workers"}


def _parse_entry(raw: Any, where: str, env: Mapping[str, str], policy_format: NumberFormat,
                 case_format: NumberFormat) -> InsurerEntry:
    """The rest of an entry whose number formats ``ground.number_formats`` has already read."""
    where = f"{where} ({raw.get('id', '?')})"
    unknown = set(raw) - _ENTRY_KEYS
    if unknown:
        raise InsurerConfigError(f"{where}: unknown keys {sorted(unknown)}")

    def text(key: str, required: bool = True) -> Optional[str]:
        value = raw.get(key)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value.strip():
            raise InsurerConfigError(f"{where}: `{key}` must be a non-empty string")
        return value.strip()

    timeouts = raw.get("timeouts") or {}
    if not isinstance(timeouts, dict) or set(timeouts) - set(_TIMEOUT_KEYS):
        raise InsurerConfigError(f"{where}: `timeouts` may only have {sorted(_TIMEOUT_KEYS)}")
    try:
        limits = CallLimits(**{_TIMEOUT_KEYS[k]: v for k, v in timeouts.items()})
    except ValueError as exc:
        raise InsurerConfigError(f"{where}: timeouts: {exc}") from None

    base_url_env = text("base_url_env", required=False)
    base_url = (env.get(base_url_env) if base_url_env else None) or text("base_url")
    if not re.match(r"^https?://", base_url or ""):
        raise InsurerConfigError(f"{where}: base_url must start with http:// or https://, not {base_url!r}")

    return InsurerEntry(
        id=text("id"),
        display_name=text("display_name"),
        policy_format=policy_format,
        case_format=case_format,
        adapter=text("adapter"),
        base_url=base_url,
        api_key_env=text("api_key_env"),
        limits=limits,
        api_key_demo_default=text("api_key_demo_default", required=False),
    )


def _build_adapter(entry: InsurerEntry, env: Mapping[str, str]) -> InsurerAdapter:
    api_key = env.get(entry.api_key_env) or entry.api_key_demo_default
    if not api_key:
        raise MissingApiKey(
            f"insurer {entry.id!r} ({entry.display_name}) needs its API key in the environment variable "
            f"{entry.api_key_env}, which is not set"
        )
    module_name, _, class_name = entry.adapter.rpartition(".")
    try:
        adapter_class = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError):
        raise InsurerConfigError(f"insurer {entry.id!r}: cannot load adapter class {entry.adapter!r}") from None
    if not (isinstance(adapter_class, type) and issubclass(adapter_class, InsurerAdapter)):
        raise InsurerConfigError(f"insurer {entry.id!r}: {entry.adapter!r} is not an InsurerAdapter")
    if not callable(getattr(adapter_class, "from_entry", None)):
        raise InsurerConfigError(f"insurer {entry.id!r}: {entry.adapter!r} has no from_entry(entry, api_key)")
    return adapter_class.from_entry(entry, api_key)
