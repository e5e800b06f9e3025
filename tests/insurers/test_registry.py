"""The insurer registry: routing numbers to insurers, typo detection, configuration errors.

No network here: building a registry or an adapter must not contact any insurer.
"""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from insurers.base import UnknownInsurer
from insurers.http import RestInsurerAdapter
from insurers.registry import (
    DEFAULT_INSURERS_FILE,
    InsurerConfigError,
    InsurerRegistry,
    MissingApiKey,
    Verdict,
    check_policy_number,
    luhn,
    sbx_mod11,
)

# Closed port: a registry or adapter that reached for the network would fail loudly, not hang.
NO_SERVER = "http://127.0.0.1:9"


@pytest.fixture
def registry() -> InsurerRegistry:
    return InsurerRegistry.from_file(DEFAULT_INSURERS_FILE, environ={"TUIBAO_SANDBOX_URL": NO_SERVER})


def with_luhn_digit(stem: str) -> str:
    """Append the digit that makes ``stem`` pass Luhn (to build valid second-insurer numbers)."""
    return next(stem + d for d in "0123456789" if luhn(stem + d))


SEED_POLICIES = ["SBX1000000000012", "SBX1000000000023", "SBX2000000000035", "SBX2000000000046",
                 "SBX1000000000056", "SBX3000000000069", "SBX2000000000079", "SBX1000000000089"]


@pytest.mark.parametrize("number", SEED_POLICIES)
def test_every_seed_policy_routes_to_the_sandbox_and_passes_its_check(registry, number):
    entry = registry.for_policy(number)
    assert entry.id == "sandbox"
    assert registry.check_policy_number(number).verdict is Verdict.OK


def test_numbers_as_users_type_them_are_normalised_before_routing(registry):
    for typed in ["sbx1000000000012", "SBX 1000 0000 0001 2", "SBX-1000000-000012", "ＳＢＸ１００００００００００１２", "sbx一零零零零零零零零零零一二"]:
        result = registry.check_policy_number(typed)
        assert (result.verdict, result.policy_number, result.insurer.id) == (Verdict.OK, "SBX1000000000012", "sandbox")


def test_one_wrong_digit_is_a_typo_caught_before_any_insurer_call(registry):
    result = registry.check_policy_number("SBX1000000000013")  # check character should be 2
    assert result.verdict is Verdict.TYPO
    assert result.insurer.id == "sandbox"
    # two swapped digits are caught as well (weights differ by position)
    assert registry.check_policy_number("SBX0100000000012").verdict is Verdict.TYPO


def test_sbx_rule_matches_the_documented_formula():
    # "0123456789X"[Σ digit_i × i mod 11]: 1×1 + 1×12 = 13 → 2; 2×1 + 3×12 = 38 → 5
    assert sbx_mod11("SBX1000000000012") and sbx_mod11("SBX2000000000035")
    assert not sbx_mod11("SBX1000000000015")
    # a sum ≡ 10 (mod 11) gives the check character X
    body = next(f"{n:012d}" for n in range(1, 10_000) if sum(int(d) * i for i, d in enumerate(f"{n:012d}", 1)) % 11 == 10)
    assert sbx_mod11(f"SBX{body}X") and not sbx_mod11(f"SBX{body}0")


def test_second_insurer_has_its_own_number_format_and_rule(registry):
    number = with_luhn_digit("HX20260001234")
    dashed = f"{number[:2]}-{number[2:6]}-{number[6:]}"  # HX-2026-0001234d as printed on its policies
    result = registry.check_policy_number(dashed)
    assert (result.verdict, result.insurer.id, result.insurer.display_name) == (Verdict.OK, "hengxin", "恒信人寿")
    wrong = number[:-1] + str((int(number[-1]) + 1) % 10)
    assert registry.check_policy_number(wrong).verdict is Verdict.TYPO
    assert registry.for_case("HXC202611250001").id == "hengxin"
    assert registry.for_case("TB20261125000001").id == "sandbox"


def test_unknown_number_shape_names_the_number(registry):
    for number in ["PA1234567890", "SBX10000000000", "12345", "TB20261125000001"]:
        found = registry.for_policy(number)
        assert isinstance(found, UnknownInsurer) and found.policy_number == number
        assert registry.check_policy_number(number).verdict is Verdict.UNKNOWN
        assert registry.check_policy_number(number).insurer is None
    assert isinstance(registry.for_case("XX1"), UnknownInsurer)


def test_adapters_are_built_lazily_once_per_insurer_with_env_overrides():
    registry = InsurerRegistry.from_file(
        DEFAULT_INSURERS_FILE,
        environ={"TUIBAO_SANDBOX_URL": "http://127.0.0.1:18090", "TUIBAO_HENGXIN_API_KEY": "hx-key"},
    )
    try:
        sandbox = registry.adapter_for(registry.for_policy("SBX1000000000012"))
        assert isinstance(sandbox, RestInsurerAdapter)
        assert sandbox.base_url == "http://127.0.0.1:18090"
        assert registry.adapter_for("sandbox") is sandbox
        hengxin = registry.adapter_for("hengxin")
        assert hengxin is not sandbox and hengxin.limits.call_budget == 5.0
        assert "hx-key" not in repr(hengxin)
    finally:
        registry.close()


def test_missing_api_key_is_a_clear_error_naming_the_variable(tmp_path):
    registry = InsurerRegistry.from_file(write(tmp_path, ENTRY % ("", "insurers.http.RestInsurerAdapter", "{}")),
                                         environ={})
    with pytest.raises(MissingApiKey) as raised:
        registry.adapter_for("demo")
    assert "DEMO_KEY" in str(raised.value) and "demo" in str(raised.value)
    assert registry.missing_api_keys() == [("demo", "DEMO_KEY")]


def test_insurers_the_sandbox_plays_have_their_demo_keys(registry):
    assert registry.missing_api_keys() == []
    assert registry.get("hengxin").api_key_demo_default == "hengxin-demo-key"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "insurers.yml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


ENTRY = """
    insurers:
      - id: demo
        display_name: 演示
        policy_number: {pattern: '^DM\\d{6}$'%s}
        case_number: {pattern: '^DC\\d{6}$'}
        adapter: %s
        base_url: http://127.0.0.1:9
        api_key_env: DEMO_KEY
        timeouts: %s
"""


@pytest.mark.parametrize(
    "check, adapter, timeouts, message",
    [
        (", check: crc99", "insurers.http.RestInsurerAdapter", "{}", "unknown check rule 'crc99'"),
        ("", "insurers.http.RestInsurerAdapter", "{budget: -1}", "timeouts"),
        ("", "insurers.http.RestInsurerAdapter", "{retries: 3}", "timeouts"),
    ],
)
def test_bad_entries_fail_at_load_with_the_place_named(tmp_path, check, adapter, timeouts, message):
    with pytest.raises(InsurerConfigError) as raised:
        InsurerRegistry.from_file(write(tmp_path, ENTRY % (check, adapter, timeouts)), environ={})
    assert message in str(raised.value) and "(demo)" in str(raised.value)


def test_adapter_class_that_cannot_be_loaded_is_reported(tmp_path):
    registry = InsurerRegistry.from_file(write(tmp_path, ENTRY % ("", "insurers.nowhere.Adapter", "{}")),
                                         environ={"DEMO_KEY": "k"})
    with pytest.raises(InsurerConfigError, match="cannot load adapter class 'insurers.nowhere.Adapter'"):
        registry.adapter_for("demo")


def test_insurers_file_comes_from_the_environment(tmp_path):
    path = write(tmp_path, ENTRY % ("", "insurers.http.RestInsurerAdapter", "{}"))
    registry = InsurerRegistry.from_environment({"TUIBAO_INSURERS_FILE": str(path)})
    assert [e.id for e in registry.entries] == ["demo"]
    assert check_policy_number("DM123456", registry).verdict is Verdict.OK
    assert check_policy_number("SBX1000000000012", registry).verdict is Verdict.UNKNOWN
    with pytest.raises(InsurerConfigError, match="cannot read insurer list"):
        InsurerRegistry.from_environment({"TUIBAO_INSURERS_FILE": str(tmp_path / "missing.yml")})
