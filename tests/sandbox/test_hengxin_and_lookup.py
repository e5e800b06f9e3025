"""Spec additions (December 2026) from the running service: why each deduction, the holder
lookup, SMS texts that name their purpose, and 恒信人寿 beside the sandbox insurer."""
import pytest

from sandbox_insurer.identifiers import is_valid_policy_number

from .client import HENGXIN_KEY, HOLDERS

ZHANG_WEI = ("13800138000", "31002X")
CMB = {"kind": "bank_card", "display": "招商银行 尾号6789"}
ACC_1Y_DEDUCTION = ("按《一年期意外险条款》第十二条，保障开始后退保，退还未满期净保费，即未满期保费的65%；"
                    "其余35%是已经发生的销售和管理费用，不予退还。")
TAKES_MONEY_AWAY = {"deduction", "paper_fee", "policy_loan", "claim_paid"}


# ---------------------------------------------------------------- 1. why each deduction
def test_acc_1y_deduction_names_the_rule_and_the_clause(sandbox):
    quote = sandbox.quote("SBX1000000000012", sandbox.login("SBX1000000000012")).json()
    lines = {line["code"]: line for line in quote["lines"]}
    assert lines["deduction"]["basis_text"] == ACC_1Y_DEDUCTION
    assert lines["premium_paid"]["basis_text"] is None  # nothing taken away there
    assert lines["unearned_premium"]["basis_text"] is None


@pytest.mark.parametrize("policy_number,product_title", [
    ("SBX1000000000023", "《百万医疗险条款》"), ("SBX2000000000035", "《终身重疾险条款》"),
    ("SBX1000000000056", "《一年期意外险条款》"), ("HX202600000121", "《一年期意外险条款》"),
])
def test_every_line_that_takes_money_away_says_why_in_its_products_terms(sandbox, policy_number,
                                                                         product_title):
    quote = sandbox.quote(policy_number, sandbox.login(policy_number)).json()
    taking = [line for line in quote["lines"] if line["code"] in TAKES_MONEY_AWAY]
    assert taking, quote["lines"]
    for line in taking:
        assert line["basis_text"].startswith("按" + product_title), line
        assert "条" in line["basis_text"] and line["basis_text"].endswith("。")


def test_cash_value_quote_explains_why_less_than_the_premiums_comes_back(sandbox):
    quote = sandbox.quote("SBX2000000000046", sandbox.login("SBX2000000000046")).json()
    cash_value = next(line for line in quote["lines"] if line["code"] == "cash_value")
    assert "现金价值" in cash_value["basis_text"] and "第八条" in cash_value["basis_text"]


# ---------------------------------------------------------------- 4. 恒信人寿
def test_hengxin_seed_numbers_carry_a_luhn_check_digit():
    for number in ("HX202600000121", "HX202600000238"):
        assert is_valid_policy_number(number), number
    assert not is_valid_policy_number("HX202600000122")  # check digit off by one
    assert not is_valid_policy_number("HX202600000211")  # two digits swapped


def test_h1_quote_to_the_fen(sandbox):
    response = sandbox.quote("HX202600000121", sandbox.login("HX202600000121"))
    assert response.status_code == 201, response.text
    quote = response.json()
    assert quote["basis"] == "unearned_premium"
    assert {l["code"]: l["amount_fen"] for l in quote["lines"]} == {
        "premium_paid": 20000, "unearned_premium": 14521, "deduction": 5083}
    assert quote["refund_fen"] == 9438
    assert quote["refund_route"] == CMB
    assert (quote["expected_refund_date"], quote["legal_latest_date"]) == ("2026-12-01", "2026-12-25")


def test_h2_quote_has_nothing_left_to_refund(sandbox):
    quote = sandbox.quote("HX202600000238", sandbox.login("HX202600000238")).json()
    assert {l["code"]: l["amount_fen"] for l in quote["lines"]} == {
        "premium_paid": 36500, "unearned_premium": 0, "deduction": 0}
    assert quote["refund_fen"] == 0


def test_hengxin_case_number_is_hxc_date_and_four_digit_sequence(sandbox):
    token = sandbox.login("HX202600000121")
    quote_id = sandbox.quote("HX202600000121", token).json()["quote_id"]
    case = sandbox.submit("HX202600000121", token, quote_id, "hx-key-1")
    assert case.status_code == 201, case.text
    assert case.json()["case_number"] == "HXC202611250001"
    # the sandbox insurer's numbering goes on by itself: policy 7's seed case is 000001
    sbx_token = sandbox.login("SBX1000000000012")
    sbx_quote = sandbox.quote("SBX1000000000012", sbx_token).json()["quote_id"]
    assert sandbox.submit("SBX1000000000012", sbx_token, sbx_quote, "k").json()["case_number"] == \
        "TB20261125000002"
    # and 恒信's next case is 0002
    token2 = sandbox.login("HX202600000238")
    quote2 = sandbox.quote("HX202600000238", token2).json()["quote_id"]
    assert sandbox.submit("HX202600000238", token2, quote2, "hx-key-2").json()["case_number"] == \
        "HXC202611250002"


def test_one_insurers_key_never_sees_the_others_policies(sandbox):
    nothing = sandbox.verify("31002X", "SBX1000000000100")  # exists nowhere
    across = sandbox.verify("31002X", "HX202600000121")  # 恒信's, asked with the sandbox key
    back = sandbox.verify("31002X", "SBX1000000000012", api_key=HENGXIN_KEY)
    assert nothing.status_code == across.status_code == back.status_code == 403
    assert nothing.json() == across.json() == back.json()
    assert sandbox.sms("13800138000") == []  # no code went out


def test_one_insurers_token_and_cases_are_invisible_to_the_other(sandbox):
    token = sandbox.login("HX202600000121")
    quote_id = sandbox.quote("HX202600000121", token).json()["quote_id"]
    case_number = sandbox.submit("HX202600000121", token, quote_id, "iso").json()["case_number"]
    # the case is there for 恒信's key …
    assert sandbox.call("GET", f"/v1/cases/{case_number}", token=token, api_key=HENGXIN_KEY).status_code == 200
    # … and not for the sandbox's: the token is not the sandbox's, the case does not exist there
    assert sandbox.call("GET", f"/v1/cases/{case_number}", token=token).status_code == 401
    sbx_token = sandbox.login("SBX1000000000012")
    hidden = sandbox.call("GET", f"/v1/cases/{case_number}", token=sbx_token)
    assert hidden.status_code == 404 and hidden.json()["error"] == "case_not_found"
    assert sandbox.quote("HX202600000121", sbx_token, api_key=sandbox.api_key).status_code == 403
    # by case number with the sandbox key: the same "no" as for a case that never existed
    assert sandbox.verify("31002X", case_number=case_number).json() == \
        sandbox.verify("31002X", case_number="HXC202611259999").json()


# ---------------------------------------------------------------- 2. holder lookup
def _lookup(sandbox, phone, suffix, api_key="default"):
    challenge = sandbox.lookup(phone, suffix, api_key=api_key)
    assert challenge.status_code == 200, challenge.text
    code = sandbox.latest_code(phone)
    return sandbox.confirm_lookup(challenge.json()["challenge_id"], code, api_key=api_key)


def test_zhang_wei_finds_his_three_sandbox_policies_and_one_at_hengxin(sandbox):
    found = _lookup(sandbox, *ZHANG_WEI)
    assert found.status_code == 200, found.text
    policies = found.json()["policies"]
    assert [p["policy_number"] for p in policies] == [
        "SBX1000000000012", "SBX1000000000056", "SBX2000000000035"]
    assert policies[0] == {"policy_number": "SBX1000000000012", "product_name": "一年期意外险",
                           "status": "in_force", "cover_start": "2026-08-18",
                           "cover_end": "2027-08-17"}
    at_hengxin = _lookup(sandbox, *ZHANG_WEI, api_key=HENGXIN_KEY).json()["policies"]
    assert [p["policy_number"] for p in at_hengxin] == ["HX202600000121"]


def test_lookup_token_opens_every_listed_policy_without_a_second_code(sandbox):
    token = _lookup(sandbox, *ZHANG_WEI).json()["token"]
    sent_before = len(sandbox.sms("13800138000"))
    assert sandbox.quote("SBX1000000000012", token).json()["refund_fen"] == 4719
    assert sandbox.quote("SBX2000000000035", token).json()["refund_fen"] == 297220
    assert len(sandbox.sms("13800138000")) == sent_before
    # not another holder's policy, nor another insurer's
    assert sandbox.quote("SBX1000000000023", token).status_code == 403
    assert sandbox.quote("HX202600000121", token).status_code == 401


def test_lookup_wrong_pair_and_unknown_holder_get_the_same_answer(sandbox):
    wrong_suffix = sandbox.lookup("13800138000", "000000")
    unknown_phone = sandbox.lookup("13600136000", "31002X")
    other_holder = sandbox.lookup("13900139000", "31002X")  # 李娜's phone, 张伟's suffix
    assert wrong_suffix.status_code == unknown_phone.status_code == other_holder.status_code == 403
    assert wrong_suffix.json() == unknown_phone.json() == other_holder.json()
    assert sandbox.sms("13800138000") == [] and sandbox.sms("13900139000") == []


def test_lookup_failures_lock_that_phone(sandbox):
    answers = [sandbox.lookup("13800138000", "000000") for _ in range(5)]
    assert [a.status_code for a in answers] == [403, 403, 403, 403, 423]
    locked = sandbox.lookup(*ZHANG_WEI)  # even the right pair now
    assert locked.status_code == 423 and "锁定" in locked.json()["message"]
    # other phones, and 恒信's check of the same phone, are not locked
    assert sandbox.lookup("13900139000", "150028").status_code == 200
    assert sandbox.lookup(*ZHANG_WEI, api_key=HENGXIN_KEY).status_code == 200


def test_lookup_wrong_codes_count_towards_the_lock_and_codes_are_single_use(sandbox):
    challenge = sandbox.lookup(*ZHANG_WEI).json()["challenge_id"]
    code = sandbox.latest_code("13800138000")
    wrong = "000000" if code != "000000" else "111111"
    first = sandbox.confirm_lookup(challenge, wrong)
    assert first.status_code == 403 and first.json()["attempts_left"] == 4
    assert sandbox.confirm_lookup(challenge, code).status_code == 200
    assert sandbox.confirm_lookup(challenge, code).status_code == 403


def test_lookup_code_of_one_insurer_is_nothing_at_the_other(sandbox):
    challenge = sandbox.lookup(*ZHANG_WEI).json()["challenge_id"]
    code = sandbox.latest_code("13800138000")
    assert sandbox.confirm_lookup(challenge, code, api_key=HENGXIN_KEY).status_code == 403


# ---------------------------------------------------------------- 3. SMS texts name their purpose
@pytest.mark.parametrize("purpose,words", [
    (None, "办理退保"), ("surrender", "办理退保"), ("status", "查询退保进度"),
    ("withdraw", "撤销退保申请"),
])
def test_identity_sms_names_its_purpose(sandbox, purpose, words):
    assert sandbox.verify("31002X", "SBX1000000000012", purpose=purpose).status_code == 200
    text = sandbox.sms("13800138000")[0]["text"]
    assert text.startswith("【沙箱保险】") and words in text
    others = {"办理退保", "查询退保进度", "撤销退保申请", "查找名下保单"} - {words}
    assert not any(other in text for other in others)


def test_lookup_sms_says_find_your_policies_and_is_signed_by_the_insurer(sandbox):
    sandbox.lookup(*ZHANG_WEI, api_key=HENGXIN_KEY)
    text = sandbox.sms("13800138000")[0]["text"]
    assert text.startswith("【恒信人寿】") and "查找名下保单" in text


def test_unknown_purpose_is_refused(sandbox):
    response = sandbox.verify("31002X", "SBX1000000000012", purpose="marketing")
    assert response.status_code == 422 and sandbox.sms("13800138000") == []


def test_hengxin_holders_table_matches_seed(sandbox):
    for number in ("HX202600000121", "HX202600000238"):
        suffix, _phone = HOLDERS[number]
        assert sandbox.verify(suffix, number, api_key=HENGXIN_KEY).status_code == 200
