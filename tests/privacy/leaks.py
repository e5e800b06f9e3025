"""Find personal data in clear in whatever a store or a log holds.

A secret is found however it is written: digits, full-width, spaced or dashed, Chinese
numerals (every one, 大写 and radio forms too, and 叉 for the ID's X after a digit), and inside
JSON with ``\\uXXXX`` escapes (the tracker store's rows are ``json.dumps`` output).

Independent of the product on purpose (issue 17): the redactor reads identifiers with
``ground.identifiers.identifier_view``; a detector built on the same function would share its
blind spots, and a clean scan would prove nothing. Nothing here imports product code, and it
reads more eagerly than the product: every Chinese digit, whatever the length of its run."""
from __future__ import annotations

import re
import unicodedata
from typing import Dict, Iterable, List

_UNICODE_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")
_SEP = r"[\s\-_\u00a0]{0,2}"


_DIGITS = {**dict.fromkeys("零〇○洞", "0"), **dict.fromkeys("一幺壹", "1"), **dict.fromkeys("二两贰", "2"),
           **dict.fromkeys("三叁", "3"), **dict.fromkeys("四肆", "4"), **dict.fromkeys("五伍", "5"),
           **dict.fromkeys("六陆", "6"), **dict.fromkeys("七柒拐", "7"), **dict.fromkeys("八捌", "8"),
           **dict.fromkeys("九玖勾", "9")}
_SPOKEN_X = re.compile(r"(?<=[0-9])([\s\-_\u00a0]{0,2})叉")


def readable(text: str) -> str:
    """``text`` with JSON unicode escapes decoded, width folded (NFKC), upper-cased, every
    Chinese digit as Arabic and a dictated 叉 after a digit as X."""
    text = _UNICODE_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)
    text = unicodedata.normalize("NFKC", text).upper()
    text = "".join(_DIGITS.get(c, c) for c in text)
    return _SPOKEN_X.sub(lambda m: m.group(1) + "X", text)


def _pattern(secret: str) -> "re.Pattern[str]":
    body = _SEP.join(re.escape(c) for c in secret.upper())
    edge_before = r"(?<![0-9A-Za-z])" if secret[:1].isdigit() else ""
    edge_after = r"(?![0-9])" if secret[-1:].isdigit() or secret[-1:] in "Xx" else ""
    return re.compile(edge_before + body + edge_after)


def find_leaks(text: str, secrets: Dict[str, str]) -> List[str]:
    """Names of the secrets (name → value) that appear in clear in ``text``."""
    raw, view = text, readable(text)
    found = []
    for name, value in secrets.items():
        if not value:
            continue
        if value.isdigit() or re.fullmatch(r"\d+X", value, re.I):
            if _pattern(value).search(view):
                found.append(name)
        elif value in raw or value.upper() in view:
            found.append(name)
    return found


def scan(sources: Dict[str, Iterable[str]], secrets: Dict[str, str]) -> Dict[str, List[str]]:
    """{source: [leaked secret names]} for every source with a leak (empty: nothing leaked)."""
    report: Dict[str, List[str]] = {}
    for source, texts in sources.items():
        for text in texts:
            leaked = find_leaks(text, secrets)
            if leaked:
                report.setdefault(source, []).extend(sorted(set(leaked) - set(report.get(source, []))))
    return report
