"""What an agent sees of a conversation: the turns of user, bot and agents in time order, and
what the bot knows, all masked. The tracker store already redacts personal data; everything is
masked again here, so a transcript is safe whatever store it came from."""
from __future__ import annotations

import datetime as dt
from typing import Any, Dict, List, Optional

from console.labels import STAGE_TEXT
from ground.stages import Stage
from redaction import redact
from redaction import mask_policy_number

# The intent of a user message that says the user is upset (the side panel's flag).
UPSET_INTENTS = ("complain",)


def _at(timestamp: Optional[float]) -> Optional[str]:
    if timestamp is None:
        return None
    return dt.datetime.fromtimestamp(float(timestamp), dt.timezone.utc).isoformat()


def _bot_text(event: Dict[str, Any]) -> str:
    text = event.get("text") or ""
    buttons = (event.get("data") or {}).get("buttons") or []
    if buttons:
        text += "\n" + " / ".join(f"[{b.get('title', '')}]" for b in buttons)
    return text


def tracker_turns(tracker: Dict[str, Any]) -> List[Dict[str, Any]]:
    """User and bot turns of a Rasa tracker, plus when the bot was paused and resumed."""
    turns: List[Dict[str, Any]] = []
    paused = False
    for event in tracker.get("events") or []:
        kind = event.get("event")
        if kind == "user" and event.get("text") is not None:
            turns.append({"who": "user", "text": redact(event.get("text")) or "",
                          "at": _at(event.get("timestamp")), "while_paused": paused})
        elif kind == "bot":
            turns.append({"who": "bot", "text": redact(_bot_text(event)) or "",
                          "at": _at(event.get("timestamp"))})
        elif kind == "pause":
            paused = True
            turns.append({"who": "system", "text": "机器人已暂停，人工接手",
                          "at": _at(event.get("timestamp"))})
        elif kind == "resume":
            paused = False
            turns.append({"who": "system", "text": "机器人已恢复",
                          "at": _at(event.get("timestamp"))})
    return turns


# The desk's rows as the transcript shows them: an agent's reply, an internal note, or a notice
# the desk sent the user in the agent's name (joined, left).
WHO_BY_KIND = {"reply": "agent", "note": "note", "notice": "system"}


def agent_turns(rows: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    return [{"who": WHO_BY_KIND.get(row["kind"], "note"), "author": row["author"],
             "text": redact(row["text"]) or "", "at": row["at"].isoformat(),
             "delivered": bool(row["delivered"]), "problem": row.get("delivery_error")}
            for row in rows]


def _stamp(value: Optional[dt.datetime]) -> Optional[float]:
    return value.timestamp() if value is not None else None


def tracker_until(tracker: Dict[str, Any], until: Optional[dt.datetime]) -> Dict[str, Any]:
    """The tracker as it stood at ``until`` (a closed handoff's end): its events up to then,
    and the slots, form and pause those events leave. Unchanged when ``until`` is None."""
    if until is None:
        return tracker
    cut = _stamp(until)
    events = [e for e in tracker.get("events") or []
              if e.get("timestamp") is None or float(e["timestamp"]) <= cut]
    slots: Dict[str, Any] = {}
    loop: Optional[str] = None
    paused = False
    for event in events:
        kind = event.get("event")
        if kind == "slot":
            slots[event.get("name")] = event.get("value")
        elif kind in ("restart", "reset_slots", "session_started"):
            slots = {} if kind != "session_started" else slots
            loop = None if kind == "restart" else loop
        elif kind == "active_loop":
            loop = event.get("name")
        elif kind in ("pause", "resume"):
            paused = kind == "pause"
    return {**tracker, "events": events, "slots": slots, "paused": paused,
            "active_loop": {"name": loop} if loop else {}}


def merged(tracker: Dict[str, Any], rows: List[Dict[str, Any]],
           until: Optional[dt.datetime] = None) -> List[Dict[str, Any]]:
    """Both sources in time order (a stable sort keeps each source's own order); of a closed
    handoff the conversation only up to its end (``until``): what the user told the bot
    afterwards is not the agent's to read (a supervisor's later notes are shown)."""
    turns = tracker_turns(tracker_until(tracker, until)) + agent_turns(rows)
    return sorted(turns, key=lambda turn: turn.get("at") or "")


def user_upset(tracker: Dict[str, Any]) -> bool:
    """Whether any message of the user was read as a complaint (angry words, 投诉)."""
    return any(((event.get("parse_data") or {}).get("intent") or {}).get("name") in UPSET_INTENTS
               for event in tracker.get("events") or [] if event.get("event") == "user")


def verified_policy(slots: Dict[str, Any]) -> Optional[str]:
    """The policy whose holder proved who they are with the SMS code: the bot's marker
    (``holder_policy``, set only once the insurer accepted the code, cleared when the session
    lapses), not the policy the check started from (``identity_reference`` is set as soon as a
    code is sent). Its expiry is the insurer's to judge (its clock may differ from ours)."""
    policy = slots.get("holder_policy")
    if not policy or slots.get("stage") in (Stage.LOCKED, Stage.REVERIFY):
        return None
    return policy


def bot_knowledge(tracker: Dict[str, Any], until: Optional[dt.datetime] = None) -> Dict[str, Any]:
    """The side panel: policy (masked), verification, quote lines, case and state. Never the
    holder's token, ID suffix, SMS code or unmasked numbers. For a closed handoff, as it stood
    when the handoff ended (``until``)."""
    tracker = tracker_until(tracker, until)
    slots = tracker.get("slots") or {}
    policy = slots.get("policy_number")
    stage = slots.get("stage")
    quote = slots.get("quote") or None
    proven = verified_policy(slots)
    # Verified means for the policy in hand (a case's check names its policy in the marker).
    verified = bool(proven) and (not policy or proven == policy)
    panel: Dict[str, Any] = {
        "policy_number": mask_policy_number(policy) if policy else None,
        "stage": stage,
        "stage_text": STAGE_TEXT.get(stage, STAGE_TEXT[None]),
        "verified": verified,
        "verification_text": ("身份已验证" if verified else
                              "身份验证已锁定" if stage == Stage.LOCKED else
                              f"未验证（已验证的是保单 {mask_policy_number(proven)}）" if proven
                              else "未验证"),
        "verified_policy": mask_policy_number(proven) if proven else None,
        "phone": redact(slots.get("phone_masked")) if slots.get("phone_masked") else None,
        "case_number": slots.get("case_number"),
        "active_form": (tracker.get("active_loop") or {}).get("name"),
        "paused": bool(tracker.get("paused")),
        "upset": user_upset(tracker),
        "quote": None,
    }
    if isinstance(quote, dict):
        panel["quote"] = {
            "product_name": quote.get("product_name"),
            "lines": [{"label": line.get("label"), "amount": line.get("amount")}
                      for line in quote.get("lines") or []],
            "refund": quote.get("refund"),
            # The insurer sends the account already masked (招商银行 尾号6789).
            "route": quote.get("route"),
            "expected_refund_date": quote.get("expected_refund_date"),
            "legal_latest_date": quote.get("legal_latest_date"),
        }
    return panel
