"""Identifiers a surrendering user types or dictates: normalise, validate, find.

Pure functions, no I/O but the number formats of insurers.yml (``ground.number_formats``, read
once per version of the file), shared by the NLU extractor (``bot.components.identifiers``),
redaction (``redaction``), the insurer registry, evaluation and the dialogue's form validation.

Kinds (entity names of the conversation contract):
- ``policy_number``: any configured insurer's policy number: its pattern and check rule come
  from insurers.yml (``ground.number_formats``), e.g. ``SBX`` + 12 digits + check character
  "0123456789X"[Σ dᵢ·i mod 11], or 恒信人寿's ``HX`` + 12 digits with a Luhn check digit.
- ``id_number``: the whole GB 11643 number (17 digits + check character, valid birth date) or
  its last 4–6 characters.
- ``phone_number``: mainland mobile ``1[3-9]\\d{9}``, optionally written with +86 / 0086.
- ``sms_code``: 6 digits.
- ``case_number``: any configured insurer's case number (insurers.yml), e.g. ``TB`` +
  submission date YYYYMMDD + 6-digit sequence, ``HXC`` + date + 4-digit sequence.

Normalising is what voice recognition and WeChat keyboards make necessary: full-width to
half-width, spaces and dashes removed, letters upper-case, Chinese digits (零〇一二三四五六七八九
幺两 and their 大写 forms) to Arabic where they form an identifier.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from ground import number_formats as formats

POLICY_NUMBER = "policy_number"
ID_NUMBER = "id_number"
PHONE_NUMBER = "phone_number"
SMS_CODE = "sms_code"
CASE_NUMBER = "case_number"
IDENTIFIER_ENTITIES = (POLICY_NUMBER, ID_NUMBER, PHONE_NUMBER, SMS_CODE, CASE_NUMBER)

_CHINESE_DIGITS = {
    "零": "0", "〇": "0", "○": "0", "洞": "0",
    "一": "1", "幺": "1", "壹": "1",
    "二": "2", "两": "2", "贰": "2",
    "三": "3", "叁": "3",
    "四": "4", "肆": "4",
    "五": "5", "伍": "5",
    "六": "6", "陆": "6",
    "七": "7", "柒": "7", "拐": "7",
    "八": "8", "捌": "8",
    "九": "9", "玖": "9", "勾": "9",
}
# 洞/拐/勾 are radio-style digits some people dictate; they only count inside digit runs.
_CN_DIGIT_CLASS = "".join(_CHINESE_DIGITS)
# Any character an identifier can be read from: a digit of any script (full-width included)
# or a Chinese digit. A text without one holds no identifier of any kind.
_ANY_DIGIT = re.compile(r"[\d" + _CN_DIGIT_CLASS + r"]")


def may_hold_identifier(text: str) -> bool:
    """False when ``text`` has no digit at all (Arabic, full-width or Chinese): then neither
    ``find_identifiers`` nor any reading of digits can find anything in it."""
    return _ANY_DIGIT.search(text) is not None
_SEPARATORS = " \t\u00a0-_–—‐‑‒―−~"
_SEP = "[" + re.escape(_SEPARATORS) + "]"
# A run of digits (Arabic or Chinese) with at most two separator characters between them.
_DIGIT_RUN = re.compile(
    "[0-9" + _CN_DIGIT_CLASS + "](?:" + _SEP + "{0,2}[0-9" + _CN_DIGIT_CLASS + "])*"
)
_SPOKEN_X = re.compile(r"(?<=\d\d\d)叉")
# Chinese digits are converted only in runs this long: shorter ones are words (一下, 两个).
_MIN_CHINESE_RUN = 4
# A Chinese digit right before one of these ends a dictated number's run and starts a word
# (一直, 一下, 一定, 两个, 三天 …): voice input writes "幺三八…零零零一直收不到" with no pause.
_WORD_AFTER_DIGIT = frozenset("直下样定起般共些点次个天周遍会旦切向再块元")


def _half_width_char(char: str) -> str:
    code = ord(char)
    if code == 0x3000:
        return " "
    if 0xFF01 <= code <= 0xFF5E:
        return chr(code - 0xFEE0)
    return char


def to_half_width(text: str) -> str:
    """Full-width ASCII (WeChat's Chinese keyboards) to half-width; length is unchanged."""
    return "".join(_half_width_char(c) for c in text)


def identifier_view(text: str) -> str:
    """``text`` as identifiers are read in it, character for character (same length, so spans
    found in the view are spans of ``text``): half-width, ASCII upper-case, and Chinese digits
    as Arabic inside runs of at least four digits."""
    view = to_half_width(text)
    view = "".join(c.upper() if c.isascii() else c for c in view)

    def arabic(match: "re.Match[str]") -> str:
        run, string = match.group(0), match.string
        start, end = match.start(), match.end()
        tail = ""
        if end < len(string) and run[-1] in _CHINESE_DIGITS and string[end] in _WORD_AFTER_DIGIT:
            # …零零零一直收不到: the last 一 starts the word 一直, it is not a digit of the number
            run, tail = run[:-1], run[-1]
        if start > 0 and string[start - 1] in "后末前第" and run[:1] in _CHINESE_DIGITS:
            # 后六31002X: the 六 belongs to the cue word "后六(位)", not to the number
            return run[0] + arabic_run(run[1:]) + tail
        return arabic_run(run) + tail

    def arabic_run(run: str) -> str:
        digits = sum(1 for c in run if c.isdigit() or c in _CHINESE_DIGITS)
        if digits < _MIN_CHINESE_RUN or not any(c in _CHINESE_DIGITS for c in run):
            return run
        return "".join(_CHINESE_DIGITS.get(c, c) for c in run)

    view = _DIGIT_RUN.sub(arabic, view)
    # 叉 is how the ID's check character X is dictated: only right after a digit run.
    return _SPOKEN_X.sub("X", view)


def normalise(value: str) -> str:
    """An identifier as the insurer expects it: half-width, no spaces or dashes, upper-case,
    Chinese digits as Arabic (``ｓｂｘ 一零零…`` → ``SBX100…``, ``+86 138-0013-8000`` →
    ``13800138000`` is left to :func:`normalise_phone`)."""
    value = to_half_width(value).upper()
    value = "".join(_CHINESE_DIGITS.get(c, c) for c in value)
    return "".join(c for c in value if c not in _SEPARATORS and not c.isspace())


# ---------------------------------------------------------------- validators
_ID_RE = re.compile(r"(\d{17})([0-9X])")
_PHONE_RE = re.compile(r"(?:\+?86|0086)?(1[3-9]\d{9})")
_SMS_RE = re.compile(r"\d{6}")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def policy_check_character(twelve_digits: str) -> str:
    """The sandbox's check character of a policy number's 12 digits: "0123456789X"[Σ dᵢ·i mod 11]."""
    return formats.sbx_check_character(twelve_digits)


def is_valid_policy_number(value: str) -> bool:
    """Shaped like a configured insurer's policy number and passing its check rule (after
    :func:`normalise`)."""
    number = normalise(value)
    found = formats.number_formats().find(formats.POLICY, number)
    return found is not None and found.valid(number)


def id_check_character(seventeen_digits: str) -> str:
    """GB 11643-1999 check character: "10X98765432"[Σ dᵢ·wᵢ mod 11]."""
    total = sum(int(d) * w for d, w in zip(seventeen_digits, _ID_WEIGHTS))
    return "10X98765432"[total % 11]


def is_valid_id_number(value: str) -> bool:
    """A whole 18-character ID number: right check character and a real birth date."""
    match = _ID_RE.fullmatch(normalise(value))
    return (
        bool(match)
        and id_check_character(match.group(1)) == match.group(2)
        and formats.real_date(match.group(1)[6:14])
    )


def normalise_phone(value: str) -> Optional[str]:
    """The 11-digit mobile number, without +86/0086, or None if it is not one."""
    match = _PHONE_RE.fullmatch(normalise(value))
    return match.group(1) if match else None


def is_valid_phone_number(value: str) -> bool:
    """A mainland mobile number, optionally with +86 / 0086."""
    return normalise_phone(value) is not None


def is_valid_sms_code(value: str) -> bool:
    """Exactly six digits."""
    return bool(_SMS_RE.fullmatch(normalise(value)))


def is_valid_case_number(value: str) -> bool:
    """Shaped like a configured insurer's case number, with a real submission date."""
    number = normalise(value)
    found = formats.number_formats().find(formats.CASE, number)
    return found is not None and found.valid(number)


def id_suffix(value: str) -> Optional[str]:
    """The last six characters the insurer's identity check wants, from a whole ID number or
    a suffix of six; None for shorter suffixes (the user must be asked again)."""
    value = normalise(value)
    if re.fullmatch(r"\d{5}[0-9X]", value) or _ID_RE.fullmatch(value):
        return value[-6:]
    return None


# ---------------------------------------------------------------- finder
@dataclass(frozen=True)
class IdentifierSpan:
    """One identifier found in a message.

    ``valid`` is False for something shaped like an identifier that fails its check (a policy
    number with a wrong check character or length: a typo the bot can point out). ``ambiguous``
    is True when a bare 6-digit number is reported both as ``sms_code`` and ``id_number``.
    """

    entity: str
    start: int
    end: int
    value: str
    valid: bool = True
    ambiguous: bool = False


# Cue words, longest first so that 手机尾号 is one cue (phone) and not 尾号 (ID).
_CUES: Tuple[Tuple[str, str], ...] = (
    ("手机尾号", PHONE_NUMBER), ("电话尾号", PHONE_NUMBER), ("卡尾号", "bank_card"),
    ("银行卡", "bank_card"),
    ("身份证", ID_NUMBER), ("证件", ID_NUMBER), ("身份", ID_NUMBER),
    # "后六" without 位 too: people drop it ("证件后六 31002X")
    ("后六", ID_NUMBER), ("后6", ID_NUMBER), ("后五", ID_NUMBER), ("后5", ID_NUMBER),
    ("后四", ID_NUMBER), ("后4", ID_NUMBER), ("末六", ID_NUMBER), ("末6", ID_NUMBER),
    ("末四", ID_NUMBER), ("末4", ID_NUMBER), ("最后六", ID_NUMBER), ("尾号", ID_NUMBER),
    ("尾数", ID_NUMBER), ("ID", ID_NUMBER), ("SFZ", ID_NUMBER),
    ("验证码", SMS_CODE), ("校验码", SMS_CODE), ("动态码", SMS_CODE), ("短信", SMS_CODE),
    ("CODE", SMS_CODE), ("YZM", SMS_CODE), ("验证", SMS_CODE), ("码是", SMS_CODE),
    ("手机", PHONE_NUMBER), ("电话", PHONE_NUMBER),
    ("保单", POLICY_NUMBER), ("单号", POLICY_NUMBER),
    ("案件", CASE_NUMBER), ("申请号", CASE_NUMBER), ("受理号", CASE_NUMBER),
)
_CUE_RE = re.compile("|".join(re.escape(word) for word, _ in _CUES))
_CUE_KIND = dict(_CUES)
_CLAUSE_END = "，。,;；！!？?\n、：:"  # a cue does not reach across these …
_CLAUSE_END_RE = re.compile("[" + re.escape("，。,;；！!？?\n") + "]")  # … except colons

@dataclass(frozen=True)
class _Grammar:
    """What the finder needs from insurers.yml: the letter prefixes of policy and case numbers,
    which entity each names, and how long the part after the prefix may be to be read at all
    (a number a few characters short or long is still read, as invalid: a typo to point out)."""

    chunk: "re.Pattern[str]"
    entity_of: Dict[str, str]
    body_lengths: Dict[str, Tuple[int, int]]


@functools.lru_cache(maxsize=4)
def _grammar_for(number_formats: "formats.NumberFormats") -> _Grammar:
    entity_of: Dict[str, str] = {}
    body_lengths: Dict[str, Tuple[int, int]] = {}
    for kind, entity in ((formats.POLICY, POLICY_NUMBER), (formats.CASE, CASE_NUMBER)):
        for number_format in number_formats.of(kind):
            prefix = number_format.prefix
            if not prefix:
                continue
            low, high = number_format.width
            entity_of.setdefault(prefix, entity)
            old = body_lengths.get(prefix, (low - len(prefix), high - len(prefix)))
            body_lengths[prefix] = (min(old[0], low - len(prefix)), max(old[1], high - len(prefix)))
    body_lengths = {p: (low - 3, high + 2) for p, (low, high) in body_lengths.items()}
    # Longest prefix first (HXC before HX); letters may be split by separators ("S B X").
    spelled = [(_SEP + "{0,2}").join(re.escape(c) for c in prefix)
               for prefix in sorted(entity_of, key=len, reverse=True)]
    prefixes = "|".join(spelled) or "(?!)"
    chunk = re.compile(
        r"(?<![0-9])(?:(?<![A-Z])(" + prefixes + ")" + _SEP + r"{0,2})?(\d(?:" + _SEP
        + r"{0,2}\d)*(?:" + _SEP + r"{0,2}X)?)(?![0-9])"
    )
    return _Grammar(chunk, entity_of, body_lengths)


def _grammar() -> _Grammar:
    return _grammar_for(formats.number_formats())


def _cue_before(view: str, start: int, floor: int) -> Optional[str]:
    window = view[max(floor, start - 16):start]
    ends = list(_CLAUSE_END_RE.finditer(window))
    if ends:
        window = window[ends[-1].end():]
    cues = list(_CUE_RE.finditer(window))
    return _CUE_KIND[cues[-1].group(0)] if cues else None


def _cue_after(view: str, end: int, ceiling: int) -> Optional[str]:
    window = view[end:min(ceiling, end + 8)]
    stop = _CLAUSE_END_RE.search(window)
    if stop:
        window = window[:stop.start()]
    cue = _CUE_RE.search(window)
    return _CUE_KIND[cue.group(0)] if cue else None


def _classify(value: str, prefix: str, cue: Optional[str],
              follows_reference: bool = False) -> List[Tuple[str, str, bool]]:
    """(entity, normalised value, valid) readings of one candidate, most specific first.

    ``follows_reference``: the candidate comes right after a policy or case number with no cue
    of its own ("SBX… 41621"): what follows a policy number is the holder's ID suffix."""
    if prefix:
        entity = _grammar().entity_of[prefix]
        valid = is_valid_policy_number(value) if entity == POLICY_NUMBER else is_valid_case_number(value)
        return [(entity, value, valid)]
    phone = normalise_phone(value)
    if phone and len(value) in (11, 13, 15):
        return [(PHONE_NUMBER, phone, True)]
    if _ID_RE.fullmatch(value):
        return [(ID_NUMBER, value, is_valid_id_number(value))]
    if re.fullmatch(r"\d{3,5}X", value):
        return [(ID_NUMBER, value, True)]
    if re.fullmatch(r"\d{6}", value):
        if cue == SMS_CODE:
            return [(SMS_CODE, value, True)]
        if cue == ID_NUMBER:
            return [(ID_NUMBER, value, True)]
        if cue in (PHONE_NUMBER, "bank_card", CASE_NUMBER, POLICY_NUMBER):
            return []
        return [(SMS_CODE, value, True), (ID_NUMBER, value, True)]
    if re.fullmatch(r"\d{4,5}", value) and (cue == ID_NUMBER or (cue is None and follows_reference)):
        return [(ID_NUMBER, value, True)]
    return []


def _is_candidate(value: str, prefix: str) -> bool:
    if prefix:
        # Join groups only up to about the identifier's length: "SBX… 19002X" is two things,
        # but a policy number one digit short or long is still read (as invalid).
        low, high = _grammar().body_lengths[prefix]
        return low <= len(value) - len(prefix) <= high
    return bool(
        _PHONE_RE.fullmatch(value) or _ID_RE.fullmatch(value)
        or re.fullmatch(r"\d{3,5}X|\d{4,6}", value)
    )


# Dates ("2026-12-01", "2026/12/1", "2026年12月1日") are never identifiers: "2026-12" would
# otherwise read as a six-digit code once its dash is dropped.
_DATE = re.compile(r"(?<![0-9])(?:19|20)\d\d(?:[-/.](?:0?[1-9]|1[0-2])[-/.]|年(?:0?[1-9]|1[0-2])月)"
                   r"(?:0?[1-9]|[12]\d|3[01])(?![0-9])")


# "SBX… 2000元" is an amount, not an ID suffix.
_UNIT_AFTER = re.compile(r"\s*[元块天年月日号%岁个次万千百]")


def _without_dates(view: str) -> str:
    return _DATE.sub(lambda date: "#" * len(date.group(0)), view)


def find_identifiers(text: str) -> List[IdentifierSpan]:
    """Every identifier in ``text`` with its character span in ``text`` and normalised value.

    Digits split by spaces or dashes are joined when the whole is an identifier
    (``138 0013 8000``); otherwise the groups are read separately, longest reading first
    (``13800138000 123456`` is a phone and a code). A bare 6-digit number is read by the
    nearest cue word (验证码 → sms_code, 身份证/后六位/尾号 → id_number); with none it is
    reported twice, as ``sms_code`` and ``id_number`` with ``ambiguous=True``.
    """
    view = _without_dates(identifier_view(text))
    spans: List[IdentifierSpan] = []
    floor = 0
    chunks = list(_grammar().chunk.finditer(view))
    for index, chunk in enumerate(chunks):
        prefix = normalise(chunk.group(1) or "")
        body_start = chunk.start(2)
        # groups: (start, end) of each separator-free piece of the digits
        groups = [
            (body_start + m.start(), body_start + m.end())
            for m in re.finditer(r"[^" + re.escape(_SEPARATORS) + r"]+", chunk.group(2))
        ]
        i = 0
        while i < len(groups):
            taken = False
            for j in range(len(groups), i, -1):
                start = chunk.start() if (i == 0 and prefix) else groups[i][0]
                end = groups[j - 1][1]
                value = prefix * (i == 0) + normalise(view[groups[i][0]:end])
                if not _is_candidate(value, prefix if i == 0 else ""):
                    continue
                if start > 0 and view[start - 1] == "+":
                    start -= 1  # keep +86 whole in the span
                ceiling = chunks[index + 1].start() if index + 1 < len(chunks) else len(view)
                cue = _cue_before(view, start, floor) or _cue_after(view, end, ceiling)
                follows = (bool(spans) and spans[-1].entity in (POLICY_NUMBER, CASE_NUMBER)
                           and not _UNIT_AFTER.match(view, end))
                readings = _classify(value, prefix if i == 0 else "", cue, follows)
                if not readings:
                    continue
                for entity, normalised, valid in readings:
                    spans.append(IdentifierSpan(entity, start, end, normalised, valid,
                                                ambiguous=len(readings) > 1))
                floor = end
                i = j
                taken = True
                break
            if not taken:
                i += 1
    return spans
