"""insurers.yml is the only source of number formats: the extractor, validation and the typo
check read every configured insurer's patterns and check rules there (issue 11, point 7)."""
from __future__ import annotations

import os
import textwrap

import pytest

from bot import model
from ground import identifiers
from bot.components.identifiers import identifier_entities
from ground import number_formats as formats
from insurers.registry import InsurerRegistry, Verdict


def entities(text):
    return [(e["entity"], e["value"], e["valid"]) for e in identifier_entities(text)]


def test_a_hengxin_policy_number_is_read_as_a_policy_number():
    assert entities("我要退保，保单号HX202600000121") == [("policy_number", "HX202600000121", True)]
    assert entities("恒信的单子 hx-2026-0000-0121 退了吧") == [("policy_number", "HX202600000121", True)]


def test_a_mistyped_hengxin_number_is_read_but_marked_as_a_typo():
    assert entities("保单号HX202600000122") == [("policy_number", "HX202600000122", False)]
    assert not identifiers.is_valid_policy_number("HX202600000122")
    assert InsurerRegistry.from_file(formats.DEFAULT_INSURERS_FILE, environ={}) \
        .check_policy_number("HX202600000122").verdict is Verdict.TYPO


def test_hengxin_case_numbers_with_a_real_date_only():
    assert entities("查一下HXC202611250001") == [("case_number", "HXC202611250001", True)]
    assert identifiers.is_valid_case_number("HXC202611250001")
    assert not identifiers.is_valid_case_number("HXC202613250001")  # month 13
    assert entities("案件HXC202613250001") == [("case_number", "HXC202613250001", False)]


def test_sbx_and_tb_still_read_as_before():
    assert entities("SBX1000000000012 和 TB20261125000001") == [
        ("policy_number", "SBX1000000000012", True), ("case_number", "TB20261125000001", True)]


def test_another_insurers_file_brings_its_own_formats(tmp_path, monkeypatch):
    path = tmp_path / "insurers.yml"
    path.write_text(textwrap.dedent("""
        insurers:
          - id: pingan
            display_name: 平安演示
            policy_number: {pattern: '^PA\\d{10}$', check: luhn}
            case_number: {pattern: '^PAC(?P<date>\\d{8})\\d{5}$'}
            adapter: insurers.http.RestInsurerAdapter
            base_url: http://127.0.0.1:9
            api_key_env: PINGAN_KEY
    """), encoding="utf-8")
    monkeypatch.setenv(formats.INSURERS_FILE_ENV, str(path))
    good = next("PA123456789" + d for d in "0123456789" if formats.luhn("123456789" + d))
    assert entities(f"保单号{good}") == [("policy_number", good, True)]
    assert identifiers.is_valid_case_number("PAC2026112500001")
    # SBX is no longer anyone's format: its letters are not a policy number prefix any more
    assert not identifiers.is_valid_policy_number("SBX1000000000012")
    assert ("policy_number", "SBX1000000000012", True) not in entities("保单号SBX1000000000012")


def test_the_model_is_retrained_when_the_number_formats_change():
    inputs = {p.relative_to(model.ROOT).as_posix() for p in model._files(model.MODEL_INPUTS)}
    assert {"insurers.yml", "ground/number_formats.py", "ground/identifiers.py"} <= inputs


def test_a_bad_format_in_insurers_yml_is_named(tmp_path):
    path = tmp_path / "insurers.yml"
    path.write_text("insurers:\n  - id: x\n    policy_number: {pattern: '^(X'}\n    case_number: {pattern: 'Y'}\n",
                    encoding="utf-8")
    with pytest.raises(formats.NumberFormatError, match=r"\(x\): policy_number.pattern"):
        formats.number_formats(path)


def test_an_edit_of_the_configured_file_is_seen_within_a_second(tmp_path, monkeypatch):
    entry = ("insurers:\n  - id: x\n    display_name: X\n    policy_number: {pattern: '^%s\\d{8}$'}\n"
             "    case_number: {pattern: '^XC\\d{8}$'}\n"
             "    adapter: insurers.http.RestInsurerAdapter\n    base_url: http://127.0.0.1:9\n")
    path = tmp_path / "insurers.yml"
    path.write_text(entry % "AA", encoding="utf-8")
    monkeypatch.setenv(formats.INSURERS_FILE_ENV, str(path))
    clock = [1000.0]
    monkeypatch.setattr(formats.time, "monotonic", lambda: clock[0])
    before = formats.number_formats()
    assert before is formats.number_formats(path)
    path.write_text(entry % "BB", encoding="utf-8")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    clock[0] += 0.5
    assert formats.number_formats() is before  # not looked at again yet
    clock[0] += 0.6
    assert formats.number_formats() is not before
    assert formats.number_formats() is formats.number_formats(path)  # the edited file's
