"""Masking of personal data before it reaches a log line or an error message (PIPL).

ID numbers, ID suffixes and SMS codes are never logged at all; these helpers cover what
may appear partially so that a support engineer can still tell two requests apart.
"""
from __future__ import annotations

import re

_PHONE = re.compile(r"^(\d{3})\d{4}(\d{4})$")


def mask_policy_number(number: str | None) -> str:
    """``SBX1000000000012`` → ``SBX1********0012``: prefix and last four stay readable."""
    if not number:
        return "-"
    if len(number) <= 8:
        return number[:1] + "*" * (len(number) - 1)
    return number[:4] + "*" * (len(number) - 8) + number[-4:]


def mask_phone(phone: str | None) -> str:
    """``13800138000`` → ``138****8000``; anything else is hidden entirely."""
    if not phone:
        return "-"
    match = _PHONE.match(phone)
    return f"{match.group(1)}****{match.group(2)}" if match else "***"
