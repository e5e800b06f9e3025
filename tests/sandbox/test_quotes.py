"""Every expected quote of the spec's seed table, to the fen, from the running service."""
import pytest

from sandbox_insurer.identifiers import is_valid_id_number, is_valid_policy_number

from .client import HOLDERS

WECHAT = {"kind": "wechat_pay", "display": "微信支付原路退回"}
CMB = {"kind": "bank_card", "display": "招商银行 尾号6789"}
ICBC = {"kind": "bank_card", "display": "工商银行 尾号1234"}

SEED_QUOTES = [
    # policy, basis, {line code: fen}, refund fen, route
    ("SBX1000000000012", "unearned_premium",
     {"premium_paid": 10000, "unearned_premium": 7260, "deduction": 2541}, 4719, CMB),
    ("SBX1000000000023", "unearned_premium",
     {"premium_paid": 29900, "unearned_premium": 13516, "deduction": 4730}, 8786, ICBC),
    ("SBX2000000000035", "cooling_off", {"premium_paid": 298220, "paper_fee": 1000}, 297220, WECHAT),
    ("SBX2000000000046", "cash_value", {"premium_paid": 894660, "cash_value": 38399}, 38399, ICBC),
    ("SBX1000000000056", "claim_paid", {"premium_paid": 10000, "claim_paid": 80000}, 0, CMB),
    ("SBX3000000000069", "not_started", {"premium_paid": 3000}, 3000, WECHAT),
]


@pytest.mark.parametrize("policy_number,basis,lines,refund_fen,route", SEED_QUOTES,
                         ids=[row[0] for row in SEED_QUOTES])
def test_seed_policy_quotes_to_the_fen(sandbox, policy_number, basis, lines, refund_fen, route):
    token = sandbox.login(policy_number)
    response = sandbox.quote(policy_number, token)
    assert response.status_code == 201, response.text
    quote = response.json()
    assert quote["basis"] == basis
    assert {line["code"]: line["amount_fen"] for line in quote["lines"]} == lines
    assert all(line["label"] for line in quote["lines"])  # every amount is named for the user
    assert quote["refund_fen"] == refund_fen
    assert quote["refund_route"] == route
    assert quote["expected_refund_date"] == "2026-12-01"
    assert quote["expected_refund_date_basis"] == "official_calendar"
    assert quote["legal_latest_date"] == "2026-12-25"
    assert quote["valid_until"].startswith("2026-11-25T10:3")  # 30 minutes after 10:00


def test_policy_1_reads_back_as_the_spec_says(sandbox):
    token = sandbox.login("SBX1000000000012")
    quote = sandbox.quote("SBX1000000000012", token).json()
    lines = {line["code"]: line for line in quote["lines"]}
    assert (lines["unearned_premium"]["amount_fen"], lines["deduction"]["amount_fen"],
            quote["refund_fen"]) == (7260, 2541, 4719)  # ¥72.60 − ¥25.41 = ¥47.19
    assert lines["deduction"]["label"] == "扣除手续费（35%）"
    assert lines["unearned_premium"]["label"] == "未满期保费"


def test_policy_with_open_case_is_refused_naming_the_case(sandbox):
    token = sandbox.login("SBX2000000000079")
    response = sandbox.quote("SBX2000000000079", token)
    assert response.status_code == 409
    body = response.json()
    assert (body["error"], body["reason"]) == ("not_eligible", "case_open")
    assert body["open_case_number"] == "TB20261123000001"  # submitted today − 2, sequence 1
    assert "TB20261123000001" in body["message"]
    # Submitting anyway gives the same reason, and creates nothing.
    submitted = sandbox.submit("SBX2000000000079", token, "x" * 24, "retry-1")
    assert submitted.status_code == 409 and submitted.json()["reason"] == "case_open"
    assert [c["case_number"] for c in sandbox.cases("SBX2000000000079", token)] == ["TB20261123000001"]
    summary = sandbox.call("GET", "/v1/policies/SBX2000000000079", token=token).json()
    assert summary["open_case_number"] == "TB20261123000001"


def test_terminated_policy_is_refused_with_reason(sandbox):
    token = sandbox.login("SBX1000000000089")
    response = sandbox.quote("SBX1000000000089", token)
    assert response.status_code == 409
    assert response.json()["reason"] == "terminated"
    assert "终止" in response.json()["message"]
    submitted = sandbox.submit("SBX1000000000089", token, "x" * 24, "retry-1")
    assert submitted.status_code == 409 and submitted.json()["reason"] == "terminated"
    summary = sandbox.call("GET", "/v1/policies/SBX1000000000089", token=token).json()
    assert summary["status"] == "terminated"


def test_seed_identifiers_pass_their_check_characters():
    for policy_number in HOLDERS:
        assert is_valid_policy_number(policy_number), policy_number
    for id_number in ("11010519491231002X", "440106199003150028", "34052419800101001X"):
        assert is_valid_id_number(id_number), id_number
    assert not is_valid_policy_number("SBX1000000000013")  # one typo in the check character
    assert not is_valid_id_number("110105194912310021")
