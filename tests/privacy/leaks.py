"""Find personal data in clear in whatever a store or a log holds.

A secret is found however it is written: digits, full-width, spaced or dashed, Chinese
numerals (read as ``bot.identifiers.identifier_view`` reads them), and inside JSON with
``\\uXXXX`` escapes (the tracker store's rows are ``json.dumps`` output)."""
from __future__ import annotations

import re
from typing import Dict, Iterable, List

from bot.identifiers import identifier_view

_UNICODE_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")
_SEP = r"[\s\-_\u00a0]{0,2}"


def readable(text: str) -> str:
    """``text`` with JSON unicode escapes decoded and identifiers read as the extractor reads
    them (half-width, upper-case, Chinese digit runs as Arabic)."""
    return identifier_view(_UNICODE_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text))


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
