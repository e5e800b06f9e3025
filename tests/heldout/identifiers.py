"""Identifier rules the held-out set is checked against, written from the specs alone.

Kept apart from the bot's own code on purpose: the evaluation set must not inherit a bug
from the code it evaluates.
"""
from __future__ import annotations

import re
from datetime import datetime

_FULL_WIDTH = {chr(c): chr(c - 0xFEE0) for c in range(0xFF01, 0xFF5F)}
_FULL_WIDTH["\u3000"] = " "
# As voice recognition writes digits (conversation contract, "Entities").
_CHINESE_DIGITS = dict(zip("零一二三四五六七八九幺两", "012345678912"))
_GB11643_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)

POLICY_RE = re.compile(r"SBX\d{12}[0-9X]")
PHONE_RE = re.compile(r"1[3-9]\d{9}")
SMS_CODE_RE = re.compile(r"\d{6}")
CASE_RE = re.compile(r"TB(\d{8})\d{6}")
# 恒信 (sandbox spec, "additions"): HX + 12 digits, the last a Luhn check over the 11 before it;
# cases HXC + submission date + a 4-digit sequence.
HX_POLICY_RE = re.compile(r"HX\d{12}")
HX_CASE_RE = re.compile(r"HXC(\d{8})\d{4}")
ID_FULL_RE = re.compile(r"\d{17}[0-9X]")
ID_SUFFIX_RE = re.compile(r"\d{4,6}|\d{3,5}X")


def normalise(surface: str) -> str:
    """The contract's normalisation: half-width, no spaces or dashes, upper-case, Arabic digits."""
    text = "".join(_FULL_WIDTH.get(ch, ch) for ch in surface)
    text = "".join(_CHINESE_DIGITS.get(ch, ch) for ch in text)
    return re.sub(r"[\s\-]", "", text).upper()


def policy_check_char(twelve_digits: str) -> str:
    """'0123456789X'[sum(digit_i * i) mod 11], i = 1..12 (sandbox-insurer spec)."""
    assert len(twelve_digits) == 12 and twelve_digits.isdigit()
    total = sum(int(d) * i for i, d in enumerate(twelve_digits, start=1))
    return "0123456789X"[total % 11]


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def valid_policy_number(value: str) -> bool:
    if HX_POLICY_RE.fullmatch(value):
        return luhn_valid(value[2:])
    return bool(POLICY_RE.fullmatch(value)) and policy_check_char(value[3:15]) == value[15]


def gb11643_check_char(seventeen_digits: str) -> str:
    """'10X98765432'[sum(d_i * w_i) mod 11] (GB 11643-1999)."""
    total = sum(int(d) * w for d, w in zip(seventeen_digits, _GB11643_WEIGHTS))
    return "10X98765432"[total % 11]


def _valid_date(yyyymmdd: str) -> bool:
    try:
        datetime.strptime(yyyymmdd, "%Y%m%d")
    except ValueError:
        return False
    return True


def valid_id_number(value: str) -> bool:
    """A whole GB 11643 number (check char and birth date), or its last 4-6 characters."""
    if len(value) == 18:
        return (
            bool(ID_FULL_RE.fullmatch(value))
            and _valid_date(value[6:14])
            and gb11643_check_char(value[:17]) == value[17]
        )
    return 4 <= len(value) <= 6 and bool(ID_SUFFIX_RE.fullmatch(value))


def valid_case_number(value: str) -> bool:
    match = CASE_RE.fullmatch(value) or HX_CASE_RE.fullmatch(value)
    return bool(match) and _valid_date(match.group(1))


VALIDATORS = {
    "policy_number": valid_policy_number,
    "id_number": valid_id_number,
    "phone_number": lambda v: bool(PHONE_RE.fullmatch(v)),
    "sms_code": lambda v: bool(SMS_CODE_RE.fullmatch(v)),
    "case_number": valid_case_number,
}


if __name__ == "__main__":
    # Prints extra valid numbers for writing the set, so none of them is guessed.
    import sys

    for arg in sys.argv[1:]:
        if len(arg) == 12:
            print("SBX" + arg + policy_check_char(arg))
        elif len(arg) == 17:
            print(arg + gb11643_check_char(arg))
