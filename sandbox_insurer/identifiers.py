"""Identifier checks (GB 11643 ID numbers, policy numbers) and masking of personal data."""
from __future__ import annotations

import logging
import re

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
    """13800138000 → 138****8000."""
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 7 else "****"


def mask_name(name: str) -> str:
    """张伟 → 张*: the family name is enough for a person to recognise the policy."""
    return name[:1] + "*" * max(len(name) - 1, 1)


# Personal data that may appear in a log line (a URL query, an echoed value): resident ID
# numbers, mainland mobiles, and 6-digit SMS codes written as code=123456.
_ID_RE = re.compile(r"(?<![0-9A-Za-z])(\d{6})\d{8}(\d{3}[\dXx])(?![0-9A-Za-z])")
_PHONE_RE = re.compile(r"(?<!\d)(?:\+?86)?(1[3-9]\d)\d{4}(\d{4})(?!\d)")
_CODE_RE = re.compile(r"((?:code|sms_code|id_suffix)\W{1,3})[0-9Xx]{4,6}", re.IGNORECASE)


def mask_personal_data(text: str) -> str:
    """Mask ID numbers, phones and SMS codes anywhere in ``text`` (PIPL)."""
    text = _ID_RE.sub(lambda m: m.group(1)[:3] + "*" * 11 + m.group(2)[-4:], text)
    text = _PHONE_RE.sub(r"\1****\2", text)
    return _CODE_RE.sub(r"\1******", text)


class PersonalDataFilter(logging.Filter):
    """Logging filter that masks personal data in each record's message and arguments
    (arguments stay separate because formatters such as uvicorn's access log unpack them)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = mask_personal_data(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(mask_personal_data(a) if isinstance(a, str) else a
                                for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: mask_personal_data(v) if isinstance(v, str) else v
                           for k, v in record.args.items()}
        return True
