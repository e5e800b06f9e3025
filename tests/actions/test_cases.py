"""Status and withdrawal in a later conversation: from the case number and the same identity
check, through the real actions and the real sandbox insurer."""
from __future__ import annotations

import asyncio

from rasa_sdk.events import SlotSet

from actions.cases import ActionCaseFollowup, ActionKeepCase, ActionStartCaseRequest, ActionWithdrawCase
from actions.forms import MASKED, ValidateCaseForm
from actions.quote import ActionQuoteSurrender
from actions.surrender import ActionSubmitSurrender

from .conversation import Conversation, responses, slot_values
from .test_surrender import POLICY_1, POLICY_7, verified

FORM = ValidateCaseForm()


async def surrender_policy_1(insurer, domain) -> str:
    """An earlier conversation that ended with a case."""
    earlier = Conversation("wx-user-earlier", domain)
    await verified(earlier, insurer, POLICY_1)
    await earlier.run(ActionQuoteSurrender())
    events, _ = await earlier.run(ActionSubmitSurrender(), intent="affirm")
    return slot_values(events)["case_number"]


async def verify_by_case(conv: Conversation, insurer, case_number: str, suffix: str, phone: str) -> None:
    conv.active_loop, conv.slots["requested_slot"] = "case_form", "case_number"
    events, messages = await conv.run(FORM, extracted={"case_number": case_number})
    assert messages == [] and SlotSet("requested_slot", "id_suffix") in events
    conv.slots["requested_slot"] = "id_suffix"
    events, _ = await conv.run(FORM, extracted={"id_suffix": suffix})
    assert slot_values(events)["id_suffix"] == MASKED
    assert SlotSet("requested_slot", "sms_code") in events
    conv.slots["requested_slot"] = "sms_code"
    events, _ = await conv.run(FORM, extracted={"sms_code": insurer.latest_code(phone)})
    assert slot_values(events)["stage"] == "verified" and SlotSet("requested_slot", None) in events
    conv.active_loop = None


def test_status_in_a_new_conversation_from_the_case_number(insurer, domain):
    conv = Conversation("wx-user-later", domain)

    async def flow():
        case_number = await surrender_policy_1(insurer, domain)
        start = await conv.run(ActionStartCaseRequest(), intent="check_surrender_status")
        await verify_by_case(conv, insurer, case_number, POLICY_1[1], POLICY_1[2])
        return case_number, start, await conv.run(ActionCaseFollowup())

    case_number, (start_events, _), (events, messages) = asyncio.run(flow())
    assert start_events == [SlotSet("case_request", "status"), SlotSet("stage", None)]
    assert responses(messages) == ["utter_case_status_apply"]
    said = conv.render(messages[0])
    for told in (case_number, "正在审核", "¥47.19", "2026年12月1日", "一年期意外险，保单号 SBX1********0012"):
        assert told in said, (told, said)
    assert slot_values(events)["stage"] == "case_shown"


def test_withdrawal_in_a_new_conversation_asks_first_then_revokes(insurer, domain):
    conv = Conversation("wx-user-withdraw", domain)

    async def flow():
        case_number = await surrender_policy_1(insurer, domain)
        await conv.run(ActionStartCaseRequest(), intent="withdraw_surrender")
        await verify_by_case(conv, insurer, case_number, POLICY_1[1], POLICY_1[2])
        shown = await conv.run(ActionCaseFollowup())
        done = await conv.run(ActionWithdrawCase(), intent="affirm")
        again = await conv.run(ActionCaseFollowup())
        return case_number, shown, done, again

    case_number, (shown_events, shown), (done_events, done), (_, again) = asyncio.run(flow())
    # Straight to the question, naming the case: the status is not printed before it.
    assert responses(shown) == ["utter_ask_confirm_withdraw"]
    assert case_number in conv.render(shown[0])
    assert slot_values(shown_events)["stage"] == "withdraw_ready"
    assert responses(done) == ["utter_case_withdrawn"]
    assert case_number in conv.render(done[0]) and "不会退款" in conv.render(done[0])
    assert slot_values(done_events)["stage"] == "withdrawn"
    # Asked again, the case is already withdrawn: said once, nothing asked.
    assert responses(again) == ["utter_case_already_withdrawn"]


def test_declining_the_withdrawal_keeps_the_case(insurer, domain):
    conv = Conversation("wx-user-keep", domain)
    conv.slots["case_number"] = "TB20261123000001"
    events, messages = asyncio.run(conv.run(ActionKeepCase(), intent="deny"))
    assert events == [SlotSet("stage", "case_shown")]
    assert responses(messages) == ["utter_case_kept"]


def test_status_from_a_policy_number_finds_the_open_case(insurer, domain):
    conv = Conversation("wx-user-policy-7", domain)

    async def flow():
        await conv.run(ActionStartCaseRequest(), intent="check_surrender_status")
        conv.active_loop, conv.slots["requested_slot"] = "case_form", "case_number"
        # The user gives a policy number (and the ID suffix) where the case number was asked.
        events, messages = await conv.run(FORM, extracted={"policy_number": POLICY_7[0],
                                                           "id_suffix": POLICY_7[1]})
        assert messages == [] and SlotSet("requested_slot", "sms_code") in events
        conv.slots["requested_slot"] = "sms_code"
        await conv.run(FORM, extracted={"sms_code": insurer.latest_code(POLICY_7[2])})
        return await conv.run(ActionCaseFollowup())

    events, messages = asyncio.run(flow())
    assert responses(messages) == ["utter_case_status_apply"]
    assert "TB20261123000001" in conv.render(messages[0])


def test_malformed_case_number_is_pointed_out(insurer, domain):
    conv = Conversation("wx-user-badcase", domain)
    conv.active_loop, conv.slots["requested_slot"] = "case_form", "case_number"
    events, messages = asyncio.run(conv.run(FORM, extracted={"case_number": "TB2026139900001"}))
    assert responses(messages) == ["utter_case_number_invalid"]
    assert slot_values(events)["case_number"] is None


def test_naming_a_policy_forgets_a_case_remembered_from_earlier(insurer, domain):
    conv = Conversation("wx-user-other-policy", domain)
    conv.slots["case_number"] = "TB20261125000002"
    events, _ = asyncio.run(conv.run(
        ActionStartCaseRequest(), intent="check_surrender_status",
        entities=[{"entity": "policy_number", "value": POLICY_7[0]}]))
    assert events == [SlotSet("case_request", "status"), SlotSet("stage", None), SlotSet("case_number", None)]


def test_digits_typed_at_the_menu_are_not_sent_as_the_id_suffix_of_a_later_request(insurer, domain):
    """The user's finding: after a case was filed, six digits typed while no form asked (an old
    SMS code) filled the ID suffix slot; "我要查一下进度" then sent them to the insurer, answered
    "对不上" and asked for the suffix again, though the identity had been checked minutes
    before. Now the case is shown at once; without a checked identity the suffix is asked for,
    with no "对不上" for words never said."""
    conv = Conversation("wx-user-digits-at-menu", domain)

    async def flow():
        await verified(conv, insurer, POLICY_1)
        await conv.run(ActionQuoteSurrender())
        filed = slot_values((await conv.run(ActionSubmitSurrender(), intent="affirm"))[0])
        conv.slots["id_suffix"] = "626336"  # the mapping with active_loop null, at the menu
        start = await conv.run(ActionStartCaseRequest(), intent="check_surrender_status")
        conv.active_loop, conv.slots["requested_slot"] = "case_form", None
        form = await conv.run(FORM, intent="check_surrender_status", carried=["id_suffix"],
                              extracted={"id_suffix": "626336", "case_number": filed["case_number"]})
        conv.active_loop = None
        return filed["case_number"], start, form, await conv.run(ActionCaseFollowup())

    case_number, (_, start), (events, checked), (_, shown) = asyncio.run(flow())
    assert start == []  # verified in this conversation: no "我来帮您查询" before the answer
    assert checked == [] and slot_values(events)["id_suffix"] == MASKED
    assert SlotSet("requested_slot", None) in events
    assert responses(shown) == ["utter_case_status_apply"] and case_number in conv.render(shown[0])

    stranger = Conversation("wx-user-digits-no-identity", domain)
    stranger.slots["id_suffix"] = "626336"
    _, start = asyncio.run(stranger.run(ActionStartCaseRequest(), intent="withdraw_surrender"))
    assert [stranger.render(m) for m in start] == ["好的，我来帮您撤销退保申请。"]
    stranger.active_loop = "case_form"
    events, said = asyncio.run(stranger.run(FORM, intent="withdraw_surrender", carried=["id_suffix"],
                                            extracted={"id_suffix": "626336",
                                                       "case_number": case_number}))
    assert said == [] and slot_values(events)["id_suffix"] is None  # asked, not "对不上"
    assert SlotSet("requested_slot", "id_suffix") in events
