"""The surrender funnel, read from a conversation's events: one definition for the action
server's ``tuibao_surrender_funnel_total`` and for ``tuibao report funnel``.

A conversation reaches, per policy, once each:

| step | event |
|---|---|
| ``started`` | ``action_start_surrender`` ran about a known policy: kept by the start, or set by an action since (the form's validation) |
| ``verified`` | slot ``stage`` set to ``verified`` (the identity check passed) |
| ``quoted`` | ``stage`` = ``quote_ready`` (the quote was read back) |
| ``confirmed`` | ``action_submit_surrender`` ran (the user said yes to the quote) |
| ``case_created`` | ``stage`` = ``submitted`` (the insurer gave a case number) |
| ``withdrawn`` | ``stage`` = ``withdrawn`` |

Events are Rasa's serialised events (``Event.as_dict()``, what the SQL tracker store keeps and
what the action server receives). The insurer of a policy comes from the caller
(``insurer_of``): this module knows no insurer.

Every step is reached by an action's own events, never by events Rasa adds on its own (a
form's slot candidates from the user's words): the action server sees a call's tracker and
what the action returns, and counts exactly what the call adds, so a step counts once however
many calls a turn makes (``new_steps``).
"""
from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

from observability.metrics import FUNNEL_STEPS

InsurerOf = Callable[[str], Optional[str]]
STAGE_STEPS = {"verified": "verified", "quote_ready": "quoted", "submitted": "case_created",
               "withdrawn": "withdrawn"}
START_ACTION = "action_start_surrender"
CONFIRM_ACTION = "action_submit_surrender"
FALLBACK_INTENT = "nlu_fallback"
SLOT_MAPPING_ACTIONS = ("action_validate_slot_mappings", "action_extract_slots")
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Reached:
    """One step a conversation reached for one policy."""

    policy: str
    step: str
    timestamp: Optional[float]


def steps_reached(events: Iterable[Mapping[str, Any]]) -> List[Reached]:
    """Every (policy, step) the events reach, first time only, in order."""
    reached: List[Reached] = []
    seen: Set[Tuple[str, str]] = set()
    policy: Optional[str] = None
    quoted_policy: Optional[str] = None
    pending_start = False

    def reach(number: Optional[str], step: str, ts: Optional[float]) -> None:
        if number and (number, step) not in seen:
            seen.add((number, step))
            reached.append(Reached(number, step, ts))

    in_start_run = False  # reading the slot events action_start_surrender returned
    after_action = False  # the last event that was not a slot event was an action's

    for event in events:
        kind, ts = event.get("event"), event.get("timestamp")
        if kind != "slot":
            if in_start_run and policy:  # the start kept the policy it had: about that one
                reach(policy, "started", ts)
                pending_start = False
            in_start_run = False
            after_action = kind == "action"
        if kind == "action":
            name = event.get("name")
            if name == START_ACTION:
                pending_start = in_start_run = True
            elif name == CONFIRM_ACTION:
                reach(quoted_policy or policy, "confirmed", ts)
        elif kind == "slot":
            name, value = event.get("name"), event.get("value")
            if name == "policy_number":
                policy = str(value) if value else None
                # An action set it (a form's validation confirms the number), not Rasa's
                # candidate from the user's words, which the validation may still refuse.
                if pending_start and policy and after_action and not in_start_run:
                    reach(policy, "started", ts)
                    pending_start = False
            elif name == "quote":
                quoted_policy = (value or {}).get("policy_number") if isinstance(value, dict) \
                    else None
            elif name == "stage" and value in STAGE_STEPS:
                step = STAGE_STEPS[value]
                number = quoted_policy or policy if step in ("quoted", "case_created") else policy
                reach(number, step, ts)
    if in_start_run and policy:
        reach(policy, "started", None)
    return reached


def new_steps(before: Sequence[Mapping[str, Any]], added: Sequence[Mapping[str, Any]]
              ) -> List[Reached]:
    """The steps that ``added`` (an action's events) reaches for the first time."""
    known = {(r.policy, r.step) for r in steps_reached(before)}
    return [r for r in steps_reached([*before, *added]) if (r.policy, r.step) not in known]


def without_form_candidates(events: Sequence[Mapping[str, Any]], action_name: str
                            ) -> Sequence[Mapping[str, Any]]:
    """The tracker of a form's validation call without what Rasa appends only for that call
    (the form's ActionExecuted and the slot candidates it is asked to validate): the store
    keeps the validated values in their place instead."""
    if not action_name.startswith("validate_"):
        return events
    form = action_name[len("validate_"):]
    for index in range(len(events) - 1, -1, -1):
        kind = events[index].get("event")
        if kind == "slot":
            continue
        if kind == "action" and events[index].get("name") == form:
            return events[:index]
        break
    return events


def count_action(tracker: Mapping[str, Any], action_name: str,
                 returned: Sequence[Mapping[str, Any]], insurer_of: InsurerOf) -> List[Reached]:
    """Move ``tuibao_surrender_funnel_total`` for what one action call adds to a tracker (the
    action server's hook: ``tracker`` as Rasa sent it, ``returned`` the action's events)."""
    from observability import metrics

    # Rasa logs no ActionExecuted for its slot-filling step (action_validate_slot_mappings, a
    # custom one here): its slot events follow the user's message directly in the tracker, so
    # they are counted as the tracker will hold them, not as an action's.
    ran = [] if action_name in SLOT_MAPPING_ACTIONS else [{"event": "action", "name": action_name}]
    found = new_steps(without_form_candidates(tracker.get("events") or [], action_name),
                      [*ran, *returned])
    for reached in found:
        metrics.funnel_step(_insurer(insurer_of, reached.policy), reached.step)
    return found


def _insurer(insurer_of: InsurerOf, policy: str) -> str:
    try:
        return insurer_of(policy) or UNKNOWN
    except Exception:
        return UNKNOWN


# ---------------------------------------------------------------- the report's figures
def _percentile(values: Sequence[float], share: float) -> Optional[float]:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(round(share * (len(ordered) - 1)))))
    return round(ordered[index], 1)


def _summary(values: Sequence[float]) -> Dict[str, Any]:
    return {"count": len(values),
            "median_s": round(statistics.median(values), 1) if values else None,
            "p90_s": _percentile(values, 0.9)}


def _last_question(events: Sequence[Mapping[str, Any]]) -> str:
    """What the bot last asked (its response name), or the slot the form last requested."""
    for event in reversed(events):
        if event.get("event") == "bot":
            name = (event.get("metadata") or {}).get("utter_action")
            if name:
                return name
        if event.get("event") == "slot" and event.get("name") == "requested_slot" \
                and event.get("value"):
            return f"requested_slot:{event['value']}"
    return "(nothing asked)"


def conversation_report(
    conversations: Mapping[str, Sequence[Mapping[str, Any]]],
    insurer_of: InsurerOf,
    *,
    since: Optional[float] = None,
    until: Optional[float] = None,
    insurer: Optional[str] = None,
    timezone: dt.tzinfo = dt.timezone.utc,
    redact: Callable[[str], str] = lambda text: text,
    top: int = 10,
) -> Dict[str, Any]:
    """Per insurer: conversations at each step, where those who stopped left, the time from
    first message to case; daily volumes; the messages not understood most often (masked by
    ``redact``). A conversation counts when its first event falls in ``[since, until)``."""
    per_insurer: Dict[str, Dict[str, Any]] = {}
    daily: Dict[str, Counter] = defaultdict(Counter)
    fallbacks: Dict[str, Dict[str, Any]] = {}

    def figures_of(name: str) -> Dict[str, Any]:
        return per_insurer.setdefault(name, {
            "steps": {step: 0 for step in FUNNEL_STEPS}, "stopped_at": Counter(),
            "_to_case": []})

    for sender_id, events in conversations.items():
        stamps = [e["timestamp"] for e in events if e.get("timestamp") is not None]
        if not stamps:
            continue
        first = min(stamps)
        if (since is not None and first < since) or (until is not None and first >= until):
            continue
        first_user = min((e["timestamp"] for e in events
                          if e.get("event") == "user" and e.get("timestamp") is not None),
                         default=first)
        day = dt.datetime.fromtimestamp(first, timezone).date().isoformat()
        daily[day]["conversations"] += 1
        by_insurer: Dict[str, Dict[str, Reached]] = defaultdict(dict)
        for reached in steps_reached(events):
            name = _insurer(insurer_of, reached.policy)
            if insurer and name != insurer:
                continue
            # per conversation and insurer: a step counts once however many policies
            by_insurer[name].setdefault(reached.step, reached)
        for name, steps in by_insurer.items():
            figures = figures_of(name)
            for step in steps:
                figures["steps"][step] += 1
            if "case_created" in steps:
                daily[day]["cases"] += 1
                ts = steps["case_created"].timestamp
                if ts is not None:
                    figures["_to_case"].append(ts - first_user)
            elif "started" in steps and "withdrawn" not in steps:
                figures["stopped_at"][_last_question(events)] += 1
        for event in events:
            if event.get("event") != "user":
                continue
            intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
            text = (event.get("text") or "").strip()
            if intent != FALLBACK_INTENT or not text or text.startswith("/"):
                continue
            masked = redact(text)
            entry = fallbacks.setdefault(masked, {"text": masked, "count": 0, "senders": set()})
            entry["count"] += 1
            entry["senders"].add(sender_id)

    insurers_out = {}
    for name, figures in sorted(per_insurer.items()):
        insurers_out[name] = {
            "steps": figures["steps"],
            "stopped_at": [{"question": q, "conversations": n}
                           for q, n in figures["stopped_at"].most_common()],
            "time_to_case": _summary(figures["_to_case"]),
        }
    not_understood = sorted(fallbacks.values(), key=lambda e: (-e["count"], e["text"]))[:top]
    return {
        "insurers": insurers_out,
        "daily": [{"date": day, "conversations": c["conversations"], "cases": c["cases"]}
                  for day, c in sorted(daily.items())],
        "not_understood": [{"text": e["text"], "count": e["count"],
                            "conversations": len(e["senders"])} for e in not_understood],
    }


def handoff_report(handoffs: Iterable[Mapping[str, Any]]) -> Dict[str, Any]:
    """Handoffs by reason with their waits. Each item: ``reason``, ``requested_at`` and
    ``taken_at`` (aware datetimes; ``taken_at`` None while nobody took it)."""
    by_reason: Dict[str, Dict[str, Any]] = {}
    all_waits: List[float] = []
    for chat in handoffs:
        entry = by_reason.setdefault(chat["reason"], {"count": 0, "waiting": 0, "_waits": []})
        entry["count"] += 1
        if chat.get("taken_at") and chat.get("requested_at"):
            wait = (chat["taken_at"] - chat["requested_at"]).total_seconds()
            entry["_waits"].append(wait)
            all_waits.append(wait)
        elif chat.get("state", "waiting") == "waiting":
            entry["waiting"] += 1
    return {
        "total": sum(e["count"] for e in by_reason.values()),
        "wait": _summary(all_waits),
        "by_reason": {reason: {"count": e["count"], "waiting": e["waiting"],
                               "wait": _summary(e["_waits"])}
                      for reason, e in sorted(by_reason.items())},
    }


def action_server_hook(insurer_of: InsurerOf):
    """The action server's after-response hook (``observability.web.attach_sanic``): counts
    the funnel steps each successful ``/webhook`` call adds, and logs the action's name (with
    the trace id) so a message can be followed through the action server."""
    import json
    import logging

    log = logging.getLogger("observability.actions")

    def is_action_call(request: Any) -> bool:
        return request.path == "/webhook" and request.method == "POST"

    async def before_request(request: Any) -> None:
        # rasa_sdk appends an action's slot events to the very list it was sent: keep the
        # tracker's events as they came.
        if is_action_call(request):
            tracker = (request.json or {}).get("tracker") or {}
            request.ctx.tracker_events = list(tracker.get("events") or [])

    async def after_response(request: Any, response: Any) -> None:
        if not is_action_call(request) or response.status != 200:
            return
        before = getattr(request.ctx, "tracker_events", None)
        if before is None:
            return
        call = request.json or {}
        answer = json.loads(response.body or b"{}")
        reached = count_action({"events": before}, call.get("next_action") or "",
                               answer.get("events") or [], insurer_of)
        log.info("action %s ran: %d event(s)%s", call.get("next_action"),
                 len(answer.get("events") or []),
                 "".join(f", funnel {r.step}" for r in reached))

    return before_request, after_response
