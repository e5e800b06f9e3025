"""The house style of every bot sentence, checked where the sentences live: domain.yml
responses, the FAQ answers (nlu/faq.yml), actions/wording.py, the WeChat channel's own lines,
and every response rendered with the values the actions really fill in (an insurer's product
name with brackets, an estimated date), so a template cannot nest brackets through a value.

Rules: 您, never 你; a date is written once in a message; no full-width bracket inside another.
The checker is itself tested on the issue's bad examples, so it cannot quietly pass everything.
"""
from __future__ import annotations

import ast
import datetime as dt
import re
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import pytest
import yaml

from actions import wording
from handoff.desk import Desk
from insurers.base import QuoteLine, RefundRoute, SurrenderCase, SurrenderQuote

ROOT = Path(__file__).resolve().parents[2]

_OPEN, _CLOSE = "（【「〔〖", "）】」〕〗"
_CN_DATE = re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日")
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_CJK = re.compile(r"[\u4e00-\u9fff]")


def style_faults(text: str) -> List[str]:
    """What in ``text`` breaks the house style (empty when nothing does)."""
    faults = []
    if "你" in text:
        faults.append("你 instead of 您")
    depth = 0
    for char in text:
        if char in _OPEN:
            depth += 1
            if depth > 1:
                faults.append("a full-width bracket inside another")
                break
        elif char in _CLOSE:
            depth = max(0, depth - 1)
    dates = [dt.date(*map(int, m.groups())) for m in _CN_DATE.finditer(text)]
    dates += [dt.date(*map(int, m.groups())) for m in _ISO_DATE.finditer(text)]
    twice = {d for d in dates if dates.count(d) > 1}
    if twice:
        faults.append(f"a date written twice: {sorted(twice)}")
    return faults


@pytest.mark.parametrize("bad", [
    "退保申请已提交，预计 2026年12月1日（2026-12-01）到账。",
    "验证码已经发给你了。",
    "案件 TB20261123000001（终身重疾险（20年交））：已撤销。",
    "您的保单「终身重疾险【20年交】」",
])
def test_the_checker_catches_the_issues_examples(bad):
    assert style_faults(bad)


def test_the_checker_passes_good_sentences():
    assert style_faults("保单：终身重疾险（20年交），保单号 SBX2********0046。预计2026年12月1日到账，"
                        "最晚不超过2026年12月25日。") == []


# ---------------------------------------------------------------- where the sentences are
def _response_texts(path: Path) -> Iterator[Tuple[str, str]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    for name, variants in (data.get("responses") or {}).items():
        for variant in variants:
            yield name, variant.get("text", "")
            for button in variant.get("buttons") or []:
                yield f"{name} button", button["title"]


def _literals(path: Path) -> Iterator[Tuple[str, str]]:
    """String constants with Chinese in a module, docstrings and comments aside."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant)}
    for node in ast.walk(tree):
        if (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
                and _CJK.search(node.value)):
            yield f"{path.relative_to(ROOT)}:{node.lineno}", node.value


# Every insurer extension's responses too (extensions/<insurer>/domain/*.yml).
SOURCES = [ROOT / "domain.yml", ROOT / "nlu" / "faq.yml",
           *sorted(ROOT.glob("extensions/*/domain/*.yml"))]
# Every module that writes to users: the actions, every channel and their shared pipeline, the
# agent console's desk notices, the limits.
MODULES = [ROOT / "actions" / "wording.py", ROOT / "connectors" / "wording.py",
           *sorted((ROOT / "connectors" / "wechat").glob("*.py")),
           *sorted((ROOT / "connectors" / "telegram").glob("*.py")),
           ROOT / "connectors" / "limits.py", ROOT / "console" / "wording.py"]


def test_every_place_that_writes_to_users_is_read():
    read = {str(p.relative_to(ROOT)) for p in SOURCES + MODULES}
    assert {"connectors/telegram/wording.py", "console/wording.py", "connectors/limits.py",
            "connectors/wording.py", "extensions/hengxin/domain/cancel_auto_renewal.yml"} <= read
    per_file = defaultdict(int)
    for where, _ in all_sentences():
        per_file[where.split(":")[0]] += 1
    for path in ("connectors/telegram/wording.py", "console/wording.py", "connectors/wording.py"):
        assert per_file[path] > 0, f"no sentence read from {path}"


def all_sentences() -> List[Tuple[str, str]]:
    found = [(f"{path.relative_to(ROOT)}:{name}", text)
             for path in SOURCES for name, text in _response_texts(path)]
    return found + [item for path in MODULES for item in _literals(path)]


def test_every_bot_sentence_keeps_the_house_style():
    sentences = all_sentences()
    assert len(sentences) > 60  # the sources were read
    faults = {where: style_faults(text) for where, text in sentences if style_faults(text)}
    assert not faults, faults


# ---------------------------------------------------------------- rendered with real values
def _sample_values() -> Dict[str, str]:
    lines = (QuoteLine("premium_paid", "已交保费", Decimal("8946.60")),
             QuoteLine("cash_value", "保单现金价值", Decimal("383.99")),
             QuoteLine("paper_fee", "纸质保单工本费", Decimal("10.00"), "按《终身重疾险条款》第八条（犹豫期），扣工本费。"))
    quote = SurrenderQuote(
        quote_id="q", policy_number="SBX2000000000046", product_code="CI_WL_20PAY",
        product_name="终身重疾险（20年交）", basis="cash_value", lines=lines, refund=Decimal("383.99"),
        route=RefundRoute("wechat_pay", "微信支付原路退回"), expected_refund_date=dt.date(2027, 1, 4),
        legal_latest_date=dt.date(2027, 1, 24), valid_until=dt.datetime(2026, 11, 25, 10, 30),
        expected_refund_date_basis="weekdays_estimate")
    case = SurrenderCase(
        case_number="TB20261225000001", policy_number="SBX2000000000046", product_name="终身重疾险（20年交）",
        state="APPLY", submitted_on=dt.date(2026, 12, 25), expected_refund_date=dt.date(2027, 1, 4),
        legal_latest_date=dt.date(2027, 1, 24), refund=Decimal("383.99"),
        route=RefundRoute("bank_card", "工商银行 尾号1234"), expected_refund_date_basis="weekdays_estimate")
    kept = wording.quote_to_slot(quote)
    values: Dict[str, str] = {
        "policy_number": "SBX2000000000046", "case_number": "TB20261225000001", "phone_masked": "139****9000",
        "locked_until": "11月25日 10:30", "attempts_left": "4", "handoff_reference": "RG20261125ABCD",
        "service_name": "沙盒保险公司客服", "hotline": "400-000-0000", "insurer_message": "保单已终止。",
    }
    values.update(wording.quote_readback(quote))
    values.update(wording.loss_values(quote.lines, quote.refund) or {})
    values.update(wording.fee_answer(kept)[1])
    values.update(wording.refund_time_from_slot(kept))
    values.update(wording.case_values(case))  # the same dates as the quote's: none is doubled here
    # The desk's hours stand inside brackets in the out-of-hours answer: every kind of desk.
    values["desk_hours"] = Desk(dt.time(9), dt.time(21), "all").hours_text()
    values["next_opening"] = "12月2日 09:00"
    return values


def test_every_response_rendered_with_real_values_keeps_the_house_style():
    values = _sample_values()
    faults = {}
    for path in SOURCES:
        for name, text in _response_texts(path):
            rendered = text.format_map(defaultdict(str, values))
            if style_faults(rendered):
                faults[name] = (style_faults(rendered), rendered)
    assert not faults, faults


def test_the_rendered_check_would_catch_a_product_name_put_in_brackets():
    values = _sample_values()
    old_template = "案件 {case_number}（{product_name}）：{case_state}。"
    rendered = old_template.format_map(defaultdict(str, {**values, "product_name": "终身重疾险（20年交）"}))
    assert "a full-width bracket inside another" in style_faults(rendered)


# The form asks its question again right after a validation note, so a note that asks too
# makes the user read the same request twice.
VALIDATION_NOTES = ["utter_policy_number_typo", "utter_id_suffix_need_six", "utter_identity_mismatch",
                    "utter_sms_code_format", "utter_sms_code_wrong", "utter_sms_code_wrong_attempts",
                    "utter_case_number_invalid"]
ASKS = ("再发", "重新发", "发给我", "再输入", "请回复", "请发", "？")


@pytest.mark.parametrize("note", VALIDATION_NOTES)
def test_a_validation_note_does_not_ask_again_before_the_forms_question(domain, note):
    text = domain["responses"][note][0]["text"]
    assert not [word for word in ASKS if word in text], text
