"""Identifier checks (GB 11643 ID numbers, policy numbers) and masking of personal data.

Log masking is the project's one redaction module (``redaction.logs``)."""
from __future__ import annotations

import redaction

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def id_check_char(first17: str) -> str:
    """GB 11643-1999 check character of an 18-character resident ID number."""
    return "10X98765432"[sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS)) % 11]


def is_valid_id_number(id_number: str) -> bool:
    return (len(id_number) == 18 and id_number[:17].isdigit()
            and id_check_char(id_number[:17]) == id_number[17].upper())


def policy_check_char(digits12: str) -> str:
    """Check character of a sandbox policy number: "0123456789X"[Σ digit_i × i mod 11]."""
    return "0123456789X"[sum(int(d) * i for i, d in enumerate(digits12, start=1)) % 11]


def luhn_ok(digits: str) -> bool:
    """Luhn (mod 10) over ``digits``, the last being the check digit."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def is_valid_policy_number(policy_number: str) -> bool:
    """A sandbox number (SBX + 12 digits + mod-11 check character) or a 恒信人寿 number
    (HX + 12 digits, the last a Luhn check digit)."""
    if len(policy_number) == 14 and policy_number.startswith("HX"):
        return policy_number[2:].isdigit() and luhn_ok(policy_number[2:])
    return (len(policy_number) == 16 and policy_number.startswith("SBX")
            and policy_number[3:15].isdigit()
            and policy_check_char(policy_number[3:15]) == policy_number[15])


def mask_phone(phone: str) -> str:
    """13800138000 → 138****8000 (the one redaction module's form)."""
    return redaction.mask_phone(phone)


def mask_name(name: str) -> str:
    """张伟 → 张*: the family name is enough for a person to recognise the policy."""
    return name[:1] + "*" * max(len(name) - 1, 1)
