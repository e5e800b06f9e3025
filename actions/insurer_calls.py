"""Where actions meet insurers: the registry (built once, lazily) and the holder's session.

Actions only ever see the typed outcomes of ``insurers.base``; this module turns a policy or
case number into the adapter of the insurer that issued it and keeps the identity session
(token, policy, expiry) in and out of slots.
"""
from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass
from typing import Any, Dict, Optional

from rasa_sdk import Tracker

from actions.config import load_settings
from insurers.base import HolderSession, InsurerAdapter

log = logging.getLogger(__name__)

_lock = threading.Lock()
_registry: Any = None


def registry() -> Any:
    """The process-wide ``InsurerRegistry`` (read from its file and the environment on first use)."""
    global _registry
    with _lock:
        if _registry is None:
            from insurers.registry import InsurerRegistry

            _registry = InsurerRegistry.from_file()
        return _registry


def reset_registry() -> None:
    """Forget the registry, so the next call reads configuration again (tests change it)."""
    global _registry
    with _lock:
        _registry = None


def policy_number_check(policy_number: str) -> str:
    """``ok`` | ``typo`` | ``unknown`` (no configured insurer issues numbers of this shape)."""
    from insurers.registry import check_policy_number

    result = check_policy_number(policy_number)
    return str(getattr(result, "value", result)).lower()


def _as_adapter(found: Any) -> Optional[InsurerAdapter]:
    if found is None or isinstance(found, InsurerAdapter):
        return found
    return registry().adapter_for(found)


def adapter_for_policy(policy_number: str) -> Optional[InsurerAdapter]:
    """The adapter of the insurer that issued ``policy_number``, or None."""
    return _as_adapter(registry().for_policy(policy_number))


def adapter_for_case(case_number: str) -> Optional[InsurerAdapter]:
    """The adapter of the insurer that holds surrender case ``case_number``, or None."""
    return _as_adapter(registry().for_case(case_number))


@dataclass(frozen=True)
class InsurerContact:
    """How a person reaches the insurer's own service desk."""

    name: str
    hotline: str


def contact_for(policy_number: Optional[str], case_number: Optional[str]) -> InsurerContact:
    """The insurer's service name and hotline from the registry; the configured fallback when
    the policy is unknown or the registry has none."""
    settings = load_settings()
    entry: Any = None
    try:
        reg = registry()
        if policy_number:
            entry = reg.for_policy(policy_number)
        if entry is None and case_number:
            entry = reg.for_case(case_number)
    except Exception:  # a broken registry must not stop a handoff
        log.exception("registry lookup for the handoff failed")
    # The registry may hand back an entry or an adapter; both may carry the contact.
    for candidate in (entry, getattr(entry, "entry", None)):
        hotline = getattr(candidate, "hotline", None)
        if hotline:
            name = getattr(candidate, "display_name", None) or getattr(candidate, "name", None)
            return InsurerContact(name=name or settings.fallback_service_name, hotline=hotline)
    return InsurerContact(name=settings.fallback_service_name, hotline=settings.fallback_hotline)


# ---------------------------------------------------------------- the holder's session in slots
SESSION_SLOTS = ("holder_token", "holder_policy", "holder_expires")


def session_slots(session: HolderSession) -> Dict[str, Any]:
    """Slot values that keep ``session`` for the next turns (non-influencing slots)."""
    return {
        "holder_token": session.token,
        "holder_policy": session.policy_number,
        "holder_expires": session.expires_at.isoformat(),
    }


def cleared_session_slots() -> Dict[str, Any]:
    return {name: None for name in SESSION_SLOTS}


def session_from(tracker: Tracker, policy_number: Optional[str] = None) -> Optional[HolderSession]:
    """The identity session kept in the tracker, if it is still valid and, when
    ``policy_number`` is given, covers that very policy."""
    token = tracker.get_slot("holder_token")
    holder_policy = tracker.get_slot("holder_policy")
    expires = tracker.get_slot("holder_expires")
    if not (token and holder_policy and expires):
        return None
    if policy_number and policy_number != holder_policy:
        return None
    try:
        expires_at = dt.datetime.fromisoformat(expires)
    except (TypeError, ValueError):
        return None
    now = dt.datetime.now(expires_at.tzinfo or dt.timezone.utc)
    if expires_at.tzinfo is None:
        now = dt.datetime.utcnow()
    if expires_at - now < dt.timedelta(seconds=load_settings().session_margin_seconds):
        return None
    return HolderSession(token=token, policy_number=holder_policy, expires_at=expires_at)
