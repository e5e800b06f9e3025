"""What a new user meets after the figures are right (issue 11): every case state told truly,
a second case in the same chat, why money is deducted, a big loss said plainly, and the policy
named in the read-back. Real actions, the real sandbox insurer (today 2026-11-25)."""
from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal

import pytest
import requests
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import wording
from privacy.credentials import credential_store
from actions.cases import ActionCaseFollowup, ActionStartCaseRequest, ActionWithdrawCase
from actions.forms import MASKED, ValidateCaseForm
from actions.quote import ActionAnswerFee, ActionQuoteSurrender
from actions.surrender import ActionSubmitSurrender
from insurers.base import RefundRoute, SurrenderCase

from .conversation import Conversation, responses, slot_values
from .test_cases import verify_by_case
from .test_surrender import POLICY_1, verified

POLICY_3 = ("SBX2000000000035", "31002X", "13800138000")  # 张伟 too: cooling-off, ¥2,972.20 back
POLICY_4 = ("SBX2000000000046", "150028", "13900139000")  # 李娜: ¥8,946.60 paid, ¥383.99 back
CASE_FORM = ValidateCaseForm()


async def open_case(insurer, domain, policy) -> str:
    """An earlier conversation that ended with a case for ``policy``."""
    earlier = Conversation(f"wx-earlier-{policy[0]}", domain)
    await verified(earlier, insurer, policy)
    await earlier.run(ActionQuoteSurrender())
    events, _ = await earlier.run(ActionSubmitSurrender(), intent="affirm")
    return slot_values(events)["case_number"]


# ---------------------------------------------------------------- 1. every state, truly
def _case(state: str) -> SurrenderCase:
    return SurrenderCase(case_number="TB20261123000001", policy_number="SBX2000000000079",
                         product_name="百万医疗险", state=state, submitted_on=dt.date(2026, 11, 23),
                         expected_refund_date=dt.date(2026, 11, 27), legal_latest_date=dt.date(2026, 12, 23),
                         refund=Decimal("119.07"), route=RefundRoute("bank_card", "建设银行 尾号5555"))


PROMISES_MONEY = ("到账", "预计", "将退到")


@pytest.mark.parametrize("state, must_say, money_promised", [
    ("APPLY", ["正在审核", "2026年11月23日", "¥119.07 将退到建设银行 尾号5555", "2026年11月27日到账"], True),
    ("AGREE", ["已审核通过", "¥119.07 将退到建设银行 尾号5555", "2026年11月27日到账"], True),
    ("REFUND", ["已经办完", "¥119.07 已退到建设银行 尾号5555"], False),
    ("REJECT", ["没有通过", "不会退款", "保单也没有退掉"], False),
    ("REVOKE", ["已经撤销", "不会退款", "保单继续有效"], False),
])
def test_each_case_state_has_its_own_true_sentence(domain, state, must_say, money_promised):
    conv = Conversation("wx-user-states", domain)
    conv.slots["case_request"] = "status"
    dispatcher = CollectingDispatcher()
    events = ActionCaseFollowup._show(dispatcher, conv.tracker("check_surrender_status", {}), _case(state))
    assert responses(dispatcher.messages) == [f"utter_case_status_{state.lower()}"]
    said = conv.render(dispatcher.messages[0])
    for words in must_say + ["TB20261123000001", "百万医疗险，保单号 SBX2********0079"]:
        assert words in said, (words, said)
    assert any(p in said for p in PROMISES_MONEY) == money_promised, said
    assert SlotSet("stage", "case_shown") in events


def test_a_withdrawn_case_asked_about_later_promises_no_money(insurer, domain):
    """The issue's transcript: withdraw, then ask the status in the same chat."""
    conv = Conversation("wx-user-withdrawn-status", domain)

    async def flow():
        case_number = await open_case(insurer, domain, POLICY_1)
        await conv.run(ActionStartCaseRequest(), intent="withdraw_surrender")
        await verify_by_case(conv, insurer, case_number, POLICY_1[1], POLICY_1[2])
        await conv.run(ActionCaseFollowup())
        await conv.run(ActionWithdrawCase(), intent="affirm")
        await conv.run(ActionStartCaseRequest(), intent="check_surrender_status")
        return case_number, await conv.run(ActionCaseFollowup())

    case_number, (events, messages) = asyncio.run(flow())
    assert responses(messages) == ["utter_case_status_revoke"]
    said = conv.render(messages[0])
    assert case_number in said and "已经撤销" in said and "不会退款" in said
    for promise in ("¥47.19", "到账", "招商银行", "预计"):
        assert promise not in said, said
    assert slot_values(events)["stage"] == "case_shown"


# ---------------------------------------------------------------- 2. a second case, same chat
def test_a_second_case_of_the_same_holder_in_the_same_chat_is_found_and_withdrawn(insurer, domain):
    conv = Conversation("wx-user-two-cases", domain)

    async def flow():
        first = await open_case(insurer, domain, POLICY_1)
        second = await open_case(insurer, domain, POLICY_3)
        await conv.run(ActionStartCaseRequest(), intent="withdraw_surrender")
        await verify_by_case(conv, insurer, first, POLICY_1[1], POLICY_1[2])
        await conv.run(ActionCaseFollowup())
        await conv.run(ActionWithdrawCase(), intent="affirm")
        # "再撤销 TB…（第二个）": the token covers the first policy only.
        start = await conv.run(ActionStartCaseRequest(), intent="withdraw_surrender", extracted={"case_number": second},
                               entities=[{"entity": "case_number", "value": second}])
        conv.active_loop, conv.slots["requested_slot"] = "case_form", "case_number"
        named = await conv.run(CASE_FORM, extracted={"case_number": second})
        conv.slots["requested_slot"] = "id_suffix"
        await conv.run(CASE_FORM, extracted={"id_suffix": POLICY_3[1]})
        conv.slots["requested_slot"] = "sms_code"
        code = await conv.run(CASE_FORM, extracted={"sms_code": insurer.latest_code(POLICY_3[2])})
        conv.active_loop = None
        asked = await conv.run(ActionCaseFollowup())
        done = await conv.run(ActionWithdrawCase(), intent="affirm")
        return first, second, start, named, code, asked, done

    first, second, (start_events, _), (named_events, named_messages), (code_events, _), \
        (asked_events, asked), (done_events, done) = asyncio.run(flow())
    assert first != second
    assert SlotSet("case_request", "withdraw") in start_events
    # Not "没有找到": the identity is checked again for the policy of the second case.
    assert named_messages == []
    assert SlotSet("requested_slot", "id_suffix") in named_events
    assert slot_values(named_events)["holder_policy"] is None
    assert slot_values(code_events)["stage"] == "verified"
    assert responses(asked) == ["utter_ask_confirm_withdraw"] and second in conv.render(asked[0])
    assert slot_values(asked_events)["policy_number"] == POLICY_3[0]
    assert responses(done) == ["utter_case_withdrawn"] and second in conv.render(done[0])
    assert slot_values(done_events)["stage"] == "withdrawn"


def test_a_case_of_the_policy_already_checked_needs_no_second_code(insurer, domain):
    """The insurer is asked whether the token covers the case; when it does, no SMS is sent."""
    conv = Conversation("wx-user-same-policy", domain)

    async def flow():
        case_number = await open_case(insurer, domain, POLICY_1)
        await verified(conv, insurer, POLICY_1)
        sent_before = len(insurer.sms(POLICY_1[2]))
        await conv.run(ActionStartCaseRequest(), intent="check_surrender_status")
        conv.active_loop, conv.slots["requested_slot"] = "case_form", "case_number"
        events, messages = await conv.run(CASE_FORM, extracted={"case_number": case_number, "id_suffix": MASKED,
                                                                "sms_code": MASKED})
        return sent_before, case_number, events, messages

    sent_before, case_number, events, messages = asyncio.run(flow())
    assert messages == [] and slot_values(events)["stage"] == "verified"
    assert len(insurer.sms(POLICY_1[2])) == sent_before


def test_a_policy_number_after_a_case_was_not_found_continues_the_same_request(domain):
    conv = Conversation("wx-user-not-found", domain)
    conv.slots.update(case_request="withdraw", stage="case_not_found")
    events, messages = asyncio.run(conv.run(
        ActionStartCaseRequest(), intent="inform", text="不对啊，保单号SBX2000000000035",
        entities=[{"entity": "policy_number", "value": POLICY_3[0]}]))
    assert messages == []
    assert events == [SlotSet("case_request", "withdraw"), SlotSet("stage", None), SlotSet("case_number", None)]


def test_a_case_that_is_not_found_is_said_with_the_way_forward(insurer, domain):
    conv = Conversation("wx-user-no-such-case", domain)

    async def flow():
        await verified(conv, insurer, POLICY_1)
        conv.slots.update(case_request="status", case_number="TB20261125999999", identity_reference=None)
        return await conv.run(ActionCaseFollowup())

    events, messages = asyncio.run(flow())
    assert responses(messages) == ["utter_case_not_found"]
    assert "发保单号" in conv.render(messages[0])
    assert slot_values(events)["stage"] == "case_not_found"


# ---------------------------------------------------------------- 3. why money is deducted
CLAUSE = ("按《一年期意外险条款》第十二条，保障开始后退保，退还未满期净保费，即未满期保费的65%；"
          "其余35%是已经发生的销售和管理费用，不予退还。")


def test_why_the_deduction_is_answered_with_its_clause(domain):
    conv = Conversation("wx-user-why", domain)
    conv.slots["stage"] = "quote_ready"
    conv.slots["quote"] = {
        "quote_id": "q-1", "policy_number": POLICY_1[0], "product_name": "一年期意外险",
        "basis": "unearned_premium", "refund": "47.19", "route": "招商银行 尾号6789", "route_kind": "bank_card",
        "expected_refund_date": "2026-12-01", "legal_latest_date": "2026-12-25",
        "lines": [{"code": "premium_paid", "label": "已交保费", "amount": "100.00", "basis_text": None},
                  {"code": "unearned_premium", "label": "未满期保费", "amount": "72.60", "basis_text": None},
                  {"code": "deduction", "label": "扣除手续费（35%）", "amount": "25.41", "basis_text": CLAUSE}],
    }
    events, messages = asyncio.run(conv.run(ActionAnswerFee(), intent="ask_surrender_fee", text="为什么要扣钱"))
    assert events == []
    assert responses(messages) == ["utter_fee_quote", "utter_ask_confirm_surrender"]
    said = conv.render(messages[0])
    assert f"· 扣除手续费（35%） ¥25.41：{CLAUSE}" in said, said
    assert "实际退款 ¥47.19" in said


def test_why_the_deduction_against_the_sandbox_reads_back_what_the_insurer_gave(insurer, domain):
    """Whatever reason the insurer attaches to the deduction is what the user hears; a line it
    gives no reason for is said to have none (and a person is offered), never glossed over."""
    conv = Conversation("wx-user-why-sandbox", domain)

    async def flow():
        await verified(conv, insurer, POLICY_1)
        await conv.run(ActionQuoteSurrender())
        return await conv.run(ActionAnswerFee(), intent="ask_surrender_fee", text="为什么要扣钱")

    events, messages = asyncio.run(flow())
    token = credential_store().get(conv.sender_id).token
    raw = requests.post(f"{insurer.url}/v1/policies/{POLICY_1[0]}/quotes", timeout=10,
                        headers={"X-Api-Key": insurer.api_key,
                                 "Authorization": f"Bearer {token}"}).json()
    [deduction] = [line for line in raw["lines"] if line["code"] == "deduction"]
    assert responses(messages) == ["utter_fee_quote", "utter_ask_confirm_surrender"]
    said = conv.render(messages[0])
    reason = deduction.get("basis_text") or wording.NO_CLAUSE
    assert f"· 扣除手续费（35%） ¥25.41：{reason}" in said, said


# ---------------------------------------------------------------- 4 and 6. loss, policy named
def test_policy_4_read_back_names_the_policy_and_says_the_loss_once(insurer, domain):
    conv = Conversation("wx-user-policy-4", domain)

    async def flow():
        await verified(conv, insurer, POLICY_4)
        return await conv.run(ActionQuoteSurrender())

    events, messages = asyncio.run(flow())
    assert responses(messages) == ["utter_quote_readback", "utter_surrender_loss", "utter_ask_confirm_surrender"]
    readback, loss = conv.render(messages[0]), conv.render(messages[1])
    assert readback.startswith("保单：终身重疾险（20年交），保单号 SBX2********0046\n"), readback
    assert loss == "请留意：这张保单已交保费 ¥8,946.60，现在退保退回 ¥383.99，比已交的保费少 ¥8,562.61。"
    everything = "\n".join(conv.render(m) for m in messages)
    assert everything.count("¥8,562.61") == 1  # once
    assert "？" not in loss and "建议" not in loss  # a fact, no question, no push either way


def test_a_cooling_off_refund_carries_no_loss_sentence(insurer, domain):
    conv = Conversation("wx-user-policy-3", domain)

    async def flow():
        await verified(conv, insurer, POLICY_3)
        return await conv.run(ActionQuoteSurrender())

    _, messages = asyncio.run(flow())
    assert responses(messages) == ["utter_quote_readback", "utter_ask_confirm_surrender"]
    assert conv.render(messages[0]).startswith("保单：终身重疾险（20年交），保单号 SBX2********0035\n")


def test_a_zero_refund_because_the_cover_ends_today_says_so_before_the_confirmation(insurer, domain):
    """恒信's H2 (王芳): a one-year cover started 364 days ago ends today, so nothing is left to
    refund. The read-back says the day the cover ends and that an expiring policy needs no
    surrender, before asking to confirm (issue 19: it used to offer the ¥0 surrender silently)."""
    conv = Conversation("wx-user-hx-h2", domain)

    async def flow():
        await verified(conv, insurer, ("HX202600000238", "01001X", "13700137000"))
        return await conv.run(ActionQuoteSurrender())

    _, messages = asyncio.run(flow())
    assert responses(messages) == ["utter_quote_readback_no_refund", "utter_quote_cover_used_up",
                                   "utter_ask_confirm_surrender_cover_ends"]
    assert "¥0.00" in conv.render(messages[0])
    today = insurer.today()
    note = conv.render(messages[1])
    assert f"保障到{today.year}年{today.month}月{today.day}日就结束了" in note, note
    assert "自然终止" in note and "自动续费" in note
    # The policy ends either way: the question must not promise it stays in force.
    asked = conv.render(messages[2])
    assert "继续有效" not in asked and f"{today.month}月{today.day}日自然结束" in asked, asked


def test_a_zero_refund_for_a_paid_claim_carries_no_cover_end_note(insurer, domain):
    conv = Conversation("wx-user-policy-5", domain)

    async def flow():
        await verified(conv, insurer, ("SBX1000000000056", "31002X", "13800138000"))
        return await conv.run(ActionQuoteSurrender())

    _, messages = asyncio.run(flow())
    assert "utter_quote_cover_used_up" not in responses(messages)


def test_why_so_little_back_on_policy_4_is_answered_not_just_repeated(insurer, domain):
    conv = Conversation("wx-user-policy-4-why", domain)

    async def flow():
        await verified(conv, insurer, POLICY_4)
        await conv.run(ActionQuoteSurrender())
        return await conv.run(ActionAnswerFee(), intent="ask_surrender_fee", text="为什么要扣钱")

    _, messages = asyncio.run(flow())
    assert responses(messages) == ["utter_fee_quote_no_deduction", "utter_ask_confirm_surrender"]
    said = conv.render(messages[0])
    assert "现金价值" in said and "销售和管理费用" in said and "现金价值表" in said
    # The insurer's own clause comes first, when it gives one (the sandbox does).
    assert "《终身重疾险条款》" in said
