"""The one masker of personal data (PIPL) for stores, logs and screens.

Every part of Tuibao that writes text somewhere a person may read it later (the tracker store,
the handoff store, the channel's logs, the adapters' logs, the simulator, the sandbox insurer's
logs) masks it here, so one identifier is masked the same way everywhere.

What is masked, and how. Identifiers are read as ``ground.identifiers`` reads them (the NLU
extractor's own normalisation), so dictated, spaced, dashed, full-width digits and Chinese
numerals (零一二三四五六七八九幺两, 叉 for X) are caught too:
- mobile numbers: ``138****8000`` (the form users know from their bank's SMS);
- whole ID numbers: the first two and the last character kept, ``11***************X``;
- ID suffixes and SMS codes (the secrets of the identity check): every character, ``******``;
- bank card numbers (15–19 digits, also glued to letters or Chinese): the last four kept,
  ``************6789``;
- bearer tokens, API keys, secrets and passwords after their usual labels
  (``Bearer …``, ``token=…``, ``"api_key": "…"``) and any secret registered with
  :func:`register_secret` (insurer session tokens the action server holds): ``***``.
Policy and case numbers are not personal data on their own and stay readable for agents;
:func:`mask_policy_number` shortens them for logs. So do numbers that name no person
(:data:`_READABLE`): the desk's handoff references (``RG000001``), 400/800 service hotlines
(``400-000-0000``, ten digits, never a mobile, ID or card), and a card's last four digits the
insurer already shows masked (``尾号6789``, unless an ID or code cue precedes it). A number is
kept only when the whole masked span lies inside such a reading; anything longer around it
(``400 123 4567 8901`` is a card) is masked as before.
"""
from __future__ import annotations

import re
import threading
from collections import OrderedDict
from typing import Any, List, Optional, Tuple

from ground.identifiers import (
    CASE_NUMBER,
    ID_NUMBER,
    POLICY_NUMBER,
    PHONE_NUMBER,
    SMS_CODE,
    find_identifiers,
    identifier_view,
    may_hold_identifier,
    normalise,
    normalise_phone,
)

__all__ = [
    "SENSITIVE_ENTITIES", "SECRET_MASK", "mask_bank_card", "mask_id_number", "mask_openid",
    "mask_phone", "mask_policy_number", "mask_secret", "mask_value", "redact", "redact_value",
    "register_secret",
]

SENSITIVE_ENTITIES = (ID_NUMBER, PHONE_NUMBER, SMS_CODE)
SECRET_MASK = "***"
# 15–19 digits, wherever they stand: after or before letters or Chinese ("card6222…",
# "6222…abc", "卡号6222…") too. Not the decimals of a number: 0.999999999998149 is a
# confidence, not a card. A run that takes in a policy or case number ("SBX…0012 31002X") is
# that number and what follows it, not a card (_NOT_CARDS).
_BANK_CARD = re.compile(r"(?<![0-9])(?<![0-9]\.)\d(?:[ \-]?\d){14,18}(?![0-9])")
_NOT_CARDS = (POLICY_NUMBER, CASE_NUMBER)
# A mobile number one digit short, as people mistype theirs (1370013700): ten digits starting
# like a mobile, on their own. Masked but its first three (``137*******``). Not a Unix time
# (1764835200 after "time", "timestamp", "_at" …) nor the decimals of a number.
_SHORT_PHONE = re.compile(r"(?<![0-9])(?<![0-9]\.)1[3-9](?:[ \-]?\d){8}(?![0-9])(?!\.\d)")
_TIME_LABEL = re.compile(r"(?i)(?:time|stamp|_at|\bts|expires?(?:_in)?|date)[\"'>\s:=]{0,4}$")
# Readings of the (half-width, upper-case) identifier view that name no person.
_READABLE = re.compile(
    r"(?<![A-Z0-9])RG\d{6,8}(?![0-9A-Z])"  # handoff reference (actions/handoff.py)
    r"|(?<![0-9])(?<![0-9][ \-])[48]00[ \-]?\d{3}[ \-]?\d{4}(?![0-9])(?![ \-][0-9])"  # hotline
    r"|尾号[:：]?\s?\d{4}(?![0-9X])")  # last four of a card, as the insurer masks it
# A 尾号 after one of these is part of an ID or a code: masked as before.
_SECRET_TAIL_CUE = re.compile(r"(?:身份|证件|证号|验证|校验|密码|动态码)[^，。,.;；\n]{0,6}$")
# Credentials after the labels they travel with: HTTP headers, query strings, JSON and reprs.
_SECRET_LABEL = (r"(?:holder_token|access_token|refresh_token|token|api[_-]?key|x-api-key|"
                 r"app_?secret|secret|password|passwd|authorization|encoding_aes_key)")
_LABELLED_SECRET = re.compile(
    r"(?i)(?<![A-Za-z0-9])(" + _SECRET_LABEL + r"[\"']?\s*[:=]\s*[\"']?(?:Bearer\s+)?)"
    r"(?!\*\*\*)([A-Za-z0-9._~+/=\-]{6,})")
_BEARER = re.compile(r"(?i)(\bBearer\s+)(?!\*\*\*)([A-Za-z0-9._~+/=\-]{6,})")
# Digit groups joined by dots, slashes, commas or spaces (``138.0013.8000``,
# ``110105/19491231/002X``, ``6225,8801,2345,6789``), read as one number: masked when the
# digits make a mobile number, an ID number or a card; never an amount (``1,234.56``,
# ``12,345,678``), a date or a version (too few digits, or a thousands/decimal pattern).
_GROUPED = re.compile(r"(?<![0-9A-Z./])\d{1,8}(?:[.,/，、·\s]{1,2}\d{1,8}){1,6}X?(?![0-9A-Z])")
# Within a run that is none of them as a whole (two phones in a list): each tighter run.
_GROUPED_TIGHT = re.compile(r"(?<![0-9A-Z])\d{1,8}(?:[./·]\d{1,8}){1,6}X?(?![0-9A-Z])")
_GROUP_JOINT = re.compile(r"[.,/，、·]")
_AMOUNT = re.compile(r"^\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?$|\.\d{1,2}$")
_ID_SHAPE = re.compile(r"^\d{6}(?:19|20)\d\d(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[0-9X]$")
_MOBILE_SHAPE = re.compile(r"^1[3-9]\d{9}$")


def _grouped_identifier(group: str) -> Optional[str]:
    """The masked form of a separator-joined number that is a phone, an ID or a card."""
    if not _GROUP_JOINT.search(group) or _AMOUNT.search(group.strip()):
        return None
    value = re.sub(r"[^0-9X]", "", group)
    if _MOBILE_SHAPE.match(value):
        return mask_phone(value)
    if _ID_SHAPE.match(value):
        return mask_id_number(value)
    if value.isdigit() and 15 <= len(value) <= 19:
        return mask_bank_card(value)
    return None


# Keys of structured values whose value is a secret wherever it appears.
_SECRET_KEY = re.compile(r"(?i)^(?:" + _SECRET_LABEL + r"|.*_token|.*secret.*|.*password.*)$")

# Secrets this process handles (insurer session tokens), masked wherever they turn up, even
# without a label. Bounded: the oldest are forgotten first (they have expired by then).
# Found without a pattern of all of them (compiling an alternation of thousands of tokens at
# every new one was the action server's largest cost under load, docs/benchmarks.md): a token
# lies inside a run of the characters tokens are made of, so only such runs as long as the
# shortest token are looked at, and in them only substrings of a registered token's length.
_REGISTERED_LIMIT = 10_000
_registered: "OrderedDict[str, None]" = OrderedDict()
_registered_lock = threading.Lock()
_registered_lengths: Tuple[int, ...] = ()  # longest first, as the alternation tried them
_registered_length_counts: "dict[int, int]" = {}
_registered_chars: "set[str]" = set()
_registered_runs: Optional["re.Pattern[str]"] = None


def register_secret(value: Optional[str]) -> None:
    """Mask ``value`` in everything this process redacts from now on (tokens it receives)."""
    global _registered_lengths, _registered_runs
    if not value or len(value) < 8:
        return
    with _registered_lock:
        if value in _registered:
            return
        _registered[value] = None
        counts = _registered_length_counts
        counts[len(value)] = counts.get(len(value), 0) + 1
        while len(_registered) > _REGISTERED_LIMIT:
            forgotten, _ = _registered.popitem(last=False)
            counts[len(forgotten)] -= 1
            if not counts[len(forgotten)]:
                del counts[len(forgotten)]
        new_chars = set(value) - _registered_chars
        if new_chars or _registered_runs is None or min(counts) != min(_registered_lengths):
            _registered_chars.update(new_chars)
            chars = "".join(re.escape(c) for c in sorted(_registered_chars))
            _registered_runs = re.compile(f"[{chars}]{{{min(counts)},}}")
        _registered_lengths = tuple(sorted(counts, reverse=True))


def _mask_registered(text: str) -> str:
    runs, lengths, known = _registered_runs, _registered_lengths, _registered
    if runs is None:
        return text
    out: List[str] = []
    done = 0
    for found in runs.finditer(text):
        run, at, start = found.group(), 0, found.start()
        while at < len(run):
            for length in lengths:
                candidate = run[at:at + length]
                if len(candidate) == length and candidate in known:
                    out += [text[done:start + at], SECRET_MASK]
                    at += length
                    done = start + at
                    break
            else:
                at += 1
    return "".join(out) + text[done:] if out else text


def mask_phone(phone: Optional[str]) -> str:
    """``13800138000`` → ``138****8000``; something too short to be a phone is hidden."""
    if not phone:
        return "-"
    digits = normalise_phone(phone) or normalise(phone)
    if len(digits) < 8:
        return "*" * len(digits) if digits else "***"
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def mask_id_number(value: str) -> str:
    """A whole ID keeps its first two and last character; a suffix is masked entirely."""
    value = normalise(value)
    if len(value) >= 15:
        return value[:2] + "*" * (len(value) - 3) + value[-1]
    return "*" * len(value)


def mask_secret(value: str) -> str:
    """SMS codes and anything else secret: every character replaced."""
    return "*" * len(normalise(value) or value)


def mask_bank_card(value: str) -> str:
    """``6225880112345678`` → ``************5678``."""
    digits = normalise(value)
    return "*" * (len(digits) - 4) + digits[-4:]


def mask_policy_number(number: Optional[str]) -> str:
    """``SBX1000000000012`` → ``SBX1********0012``: prefix and last four stay readable
    (logs only; agents and users see the whole number)."""
    if not number:
        return "-"
    if len(number) <= 8:
        return number[:1] + "*" * (len(number) - 1)
    return number[:4] + "*" * (len(number) - 8) + number[-4:]


def mask_openid(openid: Optional[str]) -> str:
    """Enough of an openid to tell users apart in logs, not enough to message them."""
    if not openid:
        return "-"
    return f"{openid[:4]}…{openid[-3:]}" if len(openid) > 8 else "***"


def mask_value(entity: str, value: Any) -> Any:
    """The masked form of one identifier value of kind ``entity``: a value nested in lists or
    objects (``/inform{"id_number":[["…"]]}`` typed in Rasa's slash syntax) is masked inside,
    and a number (``{"phone_number": 13800138000}``) as its digits."""
    if isinstance(value, (list, tuple)):
        return [mask_value(entity, item) for item in value]
    if isinstance(value, dict):
        return {key: mask_value(entity, item) for key, item in value.items()}
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value:
        return value
    if entity == PHONE_NUMBER:
        return mask_phone(value)
    if entity in (ID_NUMBER, "id_suffix"):
        return mask_id_number(value)
    return mask_secret(value)


def _redact_secrets(text: str) -> str:
    text = _mask_registered(text)
    text = _BEARER.sub(lambda m: m.group(1) + SECRET_MASK, text)
    return _LABELLED_SECRET.sub(lambda m: m.group(1) + SECRET_MASK, text)


def redact(text: Optional[str]) -> Optional[str]:
    """``text`` with ID numbers and suffixes, phones, SMS codes (and bare 6-digit numbers that
    may be either), bank card numbers and credentials masked; everything else unchanged."""
    if not text or not isinstance(text, str):
        return text
    text = _redact_secrets(text)
    if not may_hold_identifier(text):
        # Every reading below is of digits. Most log arguments and format strings have none:
        # a log line cost 430 µs with every part read, ten times an unredacted one.
        return text
    cuts: List[Tuple[int, int, str]] = []
    numbers: List[Tuple[int, int]] = []  # policy and case numbers: readable, never a card
    for span in find_identifiers(text):
        if span.entity in SENSITIVE_ENTITIES:
            cuts.append((span.start, span.end, mask_value(span.entity, span.value)))
        elif span.entity in _NOT_CARDS:
            numbers.append((span.start, span.end))
    view = identifier_view(text)
    for card in _BANK_CARD.finditer(view):
        if any(start < card.end() and card.start() < end for start, end in numbers):
            continue
        inside = [cut for cut in cuts if cut[0] < card.end() and card.start() < cut[1]]
        if not inside:
            cuts.append((card.start(), card.end(), mask_bank_card(card.group(0))))
            continue
        # Part of the card was read as something shorter (622 588 → a 6-digit code): the
        # digits no reading covers are masked too.
        covered = set()
        for start, end, _ in inside:
            covered.update(range(start, end))
        left = [i for i in range(card.start(), card.end())
                if i not in covered and view[i].isdigit()]
        if not left:
            continue  # wholly other identifiers (a phone and a code side by side)
        tail_free = all(i not in covered for i in range(card.end() - 4, card.end()))
        if tail_free and all(card.start() <= c[0] and c[1] <= card.end() for c in inside):
            cuts = [cut for cut in cuts if cut not in inside]  # one card, last four shown
            cuts.append((card.start(), card.end(), mask_bank_card(card.group(0))))
        else:
            cuts.extend((i, i + 1, "*") for i in left)
    groups = []
    for loose in _GROUPED.finditer(view):
        masked = _grouped_identifier(loose.group(0))
        if masked is not None:
            groups.append((loose.start(), loose.end(), masked))
            continue
        for tight in _GROUPED_TIGHT.finditer(loose.group(0)):
            masked = _grouped_identifier(tight.group(0))
            if masked is not None:
                groups.append((loose.start() + tight.start(), loose.start() + tight.end(), masked))
    for g_start, g_end, masked in groups:
        if any(start < g_end and g_start < end for start, end in numbers):
            continue
        cuts = [cut for cut in cuts if not (g_start <= cut[0] and cut[1] <= g_end)]
        if any(start < g_end and g_start < end for start, end, _ in cuts):
            continue  # partly something else already: leave that reading
        cuts.append((g_start, g_end, masked))
    for short in _SHORT_PHONE.finditer(view):
        if (not any(cut[0] < short.end() and short.start() < cut[1] for cut in cuts)
                and not _TIME_LABEL.search(view[max(0, short.start() - 16):short.start()])):
            digits = re.sub(r"[ \-]", "", short.group(0))
            cuts.append((short.start(), short.end(), digits[:3] + "*" * (len(digits) - 3)))
    readable = [(m.start(), m.end()) for m in _READABLE.finditer(view)
                if not (m.group(0).startswith("尾号")
                        and _SECRET_TAIL_CUE.search(view[max(0, m.start() - 12):m.start()]))]
    cuts = [cut for cut in cuts
            if not any(start <= cut[0] and cut[1] <= end for start, end in readable)]
    result = text
    seen = set()
    for start, end, masked in sorted(cuts, key=lambda cut: -cut[0]):
        if (start, end) in seen:  # an ambiguous 6-digit number is reported twice
            continue
        seen.add((start, end))
        result = result[:start] + masked + result[end:]
    return result


def redact_value(value: Any) -> Any:
    """A redacted copy of a structured value (dicts, lists, strings): strings through
    :func:`redact`, and the whole value of a key that names a secret (``token``,
    ``api_key``, ``*_secret`` …) replaced by ``***``."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: (SECRET_MASK if isinstance(key, str) and _SECRET_KEY.match(key)
                      and isinstance(item, str) and item else redact_value(item))
                for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact_value(item) for item in value)
    return value
