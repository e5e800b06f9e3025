"""Where actions meet insurers: the registry (built once, lazily) and the holder's session.

Actions only ever see the typed outcomes of ``insurers.base``; this module turns a policy or
case number into the adapter of the insurer that issued it and keeps the identity session:
the token in the credentials store, a non-secret marker (policy, expiry) in slots.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any, Dict, Optional

from rasa_sdk import Tracker

from actions.config import load_settings
from insurers.base import HolderSession, InsurerAdapter, UnknownInsurer
from insurers.registry import default_registry, reset_default_registry
from privacy.credentials import credential_store

log = logging.getLogger(__name__)

# One registry per process, shared with everything else that asks insurers (lazy: no file is
# read and no adapter built at import).
registry = default_registry
reset_registry = reset_default_registry


def policy_number_check(policy_number: str) -> str:
    """``ok`` | ``typo`` | ``unknown`` (no configured insurer issues numbers of this shape)."""
    return registry().check_policy_number(policy_number).verdict.value


def _as_adapter(found: Any) -> Optional[InsurerAdapter]:
    if found is None or isinstance(found, UnknownInsurer):
        return None
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
        if (entry is None or isinstance(entry, UnknownInsurer)) and case_number:
            entry = reg.for_case(case_number)
    except Exception:  # a broken registry must not stop a handoff
        log.exception("registry lookup for the handoff failed")
    if entry is None or isinstance(entry, UnknownInsurer):
        return InsurerContact(name=settings.fallback_service_name, hotline=settings.fallback_hotline)
    # insurers.yml has no hotline field yet: an entry may grow one, else the configured line.
    return InsurerContact(name=f"{entry.display_name}客服",
                          hotline=getattr(entry, "hotline", None) or settings.fallback_hotline)


# ---------------------------------------------------------------- the holder's session
# The tracker keeps a non-secret marker (which policy was verified, until when); the bearer
# token itself lives in the action server's credentials store (privacy.credentials).
SESSION_SLOTS = ("holder_policy", "holder_expires")


@dataclass(frozen=True)
class VerifiedMarker:
    """What the tracker says about the identity check: the policy and when it lapses."""

    policy_number: str
    expires_at: dt.datetime


async def keep_session(conversation_id: str, session: HolderSession) -> Dict[str, Any]:
    """Store the token server-side; return the marker slots for the tracker (no token)."""
    await credential_store().put_async(conversation_id, session)
    return {
        "holder_policy": session.policy_number,
        "holder_expires": session.expires_at.isoformat(),
    }


def cleared_session_slots() -> Dict[str, Any]:
    return {name: None for name in SESSION_SLOTS}


def verified_marker(tracker: Tracker) -> Optional[VerifiedMarker]:
    """The marker the tracker holds, if any (no store access: cheap, synchronous)."""
    holder_policy = tracker.get_slot("holder_policy")
    if not holder_policy:
        return None
    try:
        expires_at = dt.datetime.fromisoformat(tracker.get_slot("holder_expires") or "")
    except ValueError:
        expires_at = dt.datetime.now(dt.timezone.utc)
    return VerifiedMarker(policy_number=holder_policy, expires_at=expires_at)


async def session_from(tracker: Tracker, policy_number: Optional[str] = None) -> Optional[HolderSession]:
    """The identity session of this conversation, if the tracker's marker and the credentials
    store agree on one and, when ``policy_number`` is given, it covers that very policy.

    Expiry is judged by the insurer's clock (it may differ from ours): a lapsed token shows up
    as ``SessionExpired`` and the actions check identity again. The store drops tokens past
    their expiry, and the conversation's 30-minute session expiry clears the marker."""
    marker = verified_marker(tracker)
    if marker is None or (policy_number and policy_number != marker.policy_number):
        return None
    kept = await credential_store().get_async(tracker.sender_id)
    if kept is None or kept.policy_number != marker.policy_number:
        return None
    return kept.as_session()
