"""Masking of personal data (PIPL) in free text, for logs, error messages and stored transcripts.

What is masked, and how (the shapes are read as ``bot.identifiers`` reads them, so dictated or
full-width digits are caught too):
- mobile numbers: ``138****8000`` (the form users know from their bank's SMS);
- whole ID numbers: the first two and the last character kept, ``11***************X``;
- ID suffixes and SMS codes (the secrets of the identity check): every character, ``******``;
- bank card numbers (15–19 digits): the last four kept, ``************6789``.
Policy and case numbers are not personal data on their own and stay readable for agents.
"""
from __future__ import annotations

import re
from typing import Any, List, Optional, Tuple

from bot.identifiers import (
    ID_NUMBER,
    PHONE_NUMBER,
    SMS_CODE,
    find_identifiers,
    identifier_view,
    normalise,
    normalise_phone,
)

SENSITIVE_ENTITIES = (ID_NUMBER, PHONE_NUMBER, SMS_CODE)
_BANK_CARD = re.compile(r"(?<![0-9A-Z])\d(?:[ \-]?\d){14,18}(?![0-9])")


def mask_phone(phone: str) -> str:
    """``13800138000`` → ``138****8000``."""
    digits = normalise_phone(phone) or normalise(phone)
    if len(digits) < 8:
        return "*" * len(digits)
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


def mask_value(entity: str, value: Any) -> Any:
    """The masked form of one identifier value of kind ``entity`` (non-strings unchanged)."""
    if not isinstance(value, str) or not value:
        return value
    if entity == PHONE_NUMBER:
        return mask_phone(value)
    if entity in (ID_NUMBER, "id_suffix"):
        return mask_id_number(value)
    return mask_secret(value)


def redact(text: Optional[str]) -> Optional[str]:
    """``text`` with ID numbers, phones, SMS codes (and bare 6-digit numbers that may be
    either) and bank card numbers masked; everything else unchanged."""
    if not text:
        return text
    cuts: List[Tuple[int, int, str]] = []
    for span in find_identifiers(text):
        if span.entity in SENSITIVE_ENTITIES:
            cuts.append((span.start, span.end, mask_value(span.entity, span.value)))
    view = identifier_view(text)
    for card in _BANK_CARD.finditer(view):
        if not any(start < card.end() and card.start() < end for start, end, _ in cuts):
            cuts.append((card.start(), card.end(), mask_bank_card(card.group(0))))
    result = text
    seen = set()
    for start, end, masked in sorted(cuts, key=lambda cut: -cut[0]):
        if (start, end) in seen:  # an ambiguous 6-digit number is reported twice
            continue
        seen.add((start, end))
        result = result[:start] + masked + result[end:]
    return result
