"""How each configured insurer's policy and case numbers look, read from insurers.yml: the one
reader of the number formats. The identifier rules (``ground.identifiers``, and through them the
NLU extractor, form validation and redaction), the typo check and the insurer registry
(``insurers.registry``, which reads the rest of each entry) all take them from here.

Light on purpose (``re`` and ``yaml`` only, no adapters, no network) so every part, the model's
own code too, can use it at training and at run time. The file is read on first use, never at
import.

A policy pattern may name a check rule (``check: sbx_mod11 | luhn``); a case pattern may carry a
named group ``date`` (the submission date, YYYYMMDD) that must be a real date.
"""
from __future__ import annotations

import datetime as dt
import functools
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Mapping, Optional, Tuple, Union

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_INSURERS_FILE = REPO_ROOT / "insurers.yml"
INSURERS_FILE_ENV = "TUIBAO_INSURERS_FILE"

POLICY = "policy"
CASE = "case"


# ---------------------------------------------------------------- check-character rules
def sbx_check_character(twelve_digits: str) -> str:
    """The sandbox's check character of 12 digits: "0123456789X"[Σ dᵢ·i mod 11]."""
    total = sum(int(d) * i for i, d in enumerate(twelve_digits, start=1))
    return "0123456789X"[total % 11]


def sbx_mod11(number: str) -> bool:
    """Sandbox rule: the last character is the check character of the 12 digits before it."""
    body, check = number[-13:-1], number[-1:]
    if len(body) != 12 or not body.isdigit():
        return False
    return sbx_check_character(body) == check


def luhn(number: str) -> bool:
    """Luhn (mod 10) over all digits of the number; letters and the prefix are ignored."""
    digits = [int(c) for c in number if c.isdigit()]
    if len(digits) < 2:
        return False
    total = 0
    for position, digit in enumerate(reversed(digits)):
        if position % 2 == 1:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


CHECK_RULES: Dict[str, Callable[[str], bool]] = {"sbx_mod11": sbx_mod11, "luhn": luhn}


class NumberFormatError(ValueError):
    """insurers.yml holds a number format that cannot be used; the message says where."""


# ---------------------------------------------------------------- formats
@dataclass(frozen=True)
class NumberFormat:
    """One insurer's policy or case numbers."""

    insurer_id: str
    kind: str  # POLICY | CASE
    pattern: "re.Pattern[str]"
    check_rule: Optional[str] = None

    @property
    def prefix(self) -> str:
        """The letters every such number starts with (SBX, HX, TB, HXC)."""
        match = re.match(r"\^?([A-Z]+)", self.pattern.pattern)
        return match.group(1) if match else ""

    @property
    def width(self) -> Tuple[int, int]:
        """(shortest, longest) length of a whole number."""
        return _width(self.pattern.pattern)

    def shaped(self, number: str) -> bool:
        return self.pattern.fullmatch(number) is not None

    def passes_check(self, number: str) -> bool:
        """True when the format has no check rule or the number passes it."""
        return self.check_rule is None or CHECK_RULES[self.check_rule](number)

    def valid(self, number: str) -> bool:
        """Shaped right and passing its check rule (policy) or with a real date (case)."""
        match = self.pattern.fullmatch(number)
        if match is None:
            return False
        if not self.passes_check(number):
            return False
        date = match.groupdict().get("date")
        return date is None or real_date(date)


def _width(pattern: str) -> Tuple[int, int]:
    import sre_parse  # the regex engine's own parser knows a pattern's length bounds

    return sre_parse.parse(pattern).getwidth()


def real_date(yyyymmdd: str) -> bool:
    """A calendar date between 1900 and 2100 (case numbers' submission dates, ID numbers'
    birth dates)."""
    try:
        day = dt.date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))
    except ValueError:
        return False
    return 1900 <= day.year <= 2100


@dataclass(frozen=True)
class NumberFormats:
    policy: Tuple[NumberFormat, ...]
    case: Tuple[NumberFormat, ...]

    def of(self, kind: str) -> Tuple[NumberFormat, ...]:
        return self.policy if kind == POLICY else self.case

    def find(self, kind: str, number: str) -> Optional[NumberFormat]:
        """The first format (file order) the whole number is shaped like."""
        return next((f for f in self.of(kind) if f.shaped(number)), None)


def compile_pattern(value: object, where: str) -> "re.Pattern[str]":
    if not isinstance(value, str) or not value:
        raise NumberFormatError(f"{where} must be a regular expression")
    try:
        return re.compile(value)
    except re.error as exc:
        raise NumberFormatError(f"{where} is not a valid regular expression: {exc}") from None


def formats_from_document(document: object, where: str) -> NumberFormats:
    """The number formats of an insurers.yml document (already parsed)."""
    if not isinstance(document, dict) or not isinstance(document.get("insurers"), list):
        raise NumberFormatError(f"{where}: expected a top-level list `insurers:`")
    policy, case = [], []
    for i, raw in enumerate(document["insurers"]):
        here = f"{where}: insurers[{i}]"
        if not isinstance(raw, dict):
            raise NumberFormatError(f"{here}: expected a mapping")
        insurer_id = str(raw.get("id", "?"))
        here = f"{here} ({insurer_id})"
        policy_spec, case_spec = raw.get("policy_number"), raw.get("case_number")
        if not isinstance(policy_spec, dict) or not isinstance(case_spec, dict):
            raise NumberFormatError(f"{here}: `policy_number` and `case_number` must be mappings with a `pattern`")
        check = policy_spec.get("check")
        if check is not None and check not in CHECK_RULES:
            raise NumberFormatError(f"{here}: unknown check rule {check!r}; known: {sorted(CHECK_RULES)}")
        policy.append(NumberFormat(insurer_id, POLICY,
                                   compile_pattern(policy_spec.get("pattern"), f"{here}: policy_number.pattern"),
                                   check))
        case.append(NumberFormat(insurer_id, CASE,
                                 compile_pattern(case_spec.get("pattern"), f"{here}: case_number.pattern")))
    return NumberFormats(tuple(policy), tuple(case))


def insurers_file(environ: Optional[Mapping[str, str]] = None) -> Path:
    env = os.environ if environ is None else environ
    return Path(env.get(INSURERS_FILE_ENV) or DEFAULT_INSURERS_FILE)


def read_insurers_document(path: Union[str, Path]) -> object:
    """insurers.yml parsed (not yet checked): the registry reads the rest of each entry from it."""
    try:
        return yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise NumberFormatError(f"cannot read insurer list {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise NumberFormatError(f"{path} is not valid YAML: {exc}") from None


@functools.lru_cache(maxsize=8)
def _load(path: str, mtime_ns: int) -> NumberFormats:
    return formats_from_document(read_insurers_document(path), path)


# The configured file's version is looked at most this often (seconds): every redaction of a
# log line asks for the formats, and a stat per line was a few per cent of a busy action server.
RECHECK_S = 1.0
_configured: Dict[str, Tuple[float, int]] = {}  # file -> (when looked at, its mtime)


def number_formats(path: Union[str, Path, None] = None) -> NumberFormats:
    """The formats of insurers.yml (``$TUIBAO_INSURERS_FILE`` or the repository's), read once
    per version of the file. A path given is looked at on every call; the configured file at
    most once every ``RECHECK_S`` seconds, so an edit is seen within a second."""
    if path is not None:
        return _load(str(path), _mtime(Path(path)))
    file = str(insurers_file())
    now = time.monotonic()
    seen = _configured.get(file)
    if seen is None or now - seen[0] >= RECHECK_S:
        seen = _configured[file] = (now, _mtime(Path(file)))
    return _load(file, seen[1])


def _mtime(file: Path) -> int:
    try:
        return file.stat().st_mtime_ns
    except OSError:
        return -1
