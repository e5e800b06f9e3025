"""The SMS code names what it is for: the insurer's text says 办理退保, 查询退保进度 or 撤销退保申请
as the conversation asked (spec addition 3; the issue's 'SMS says 退保身份验证 when withdrawing')."""
from __future__ import annotations

import asyncio

import pytest

from actions.cases import ActionStartCaseRequest
from actions.forms import ValidateCaseForm, ValidateSurrenderForm

from .conversation import Conversation

WANG_FANG_CASE, WANG_FANG_SUFFIX, WANG_FANG_PHONE = "TB20261123000001", "01001X", "13700137000"


@pytest.mark.parametrize("intent,words", [("check_surrender_status", "查询退保进度"),
                                          ("withdraw_surrender", "撤销退保申请")])
def test_case_requests_send_a_code_that_says_why(insurer, domain, intent, words):
    conv = Conversation(f"wx-purpose-{intent}", domain)

    async def flow():
        await conv.run(ActionStartCaseRequest(), intent=intent)
        conv.active_loop, conv.slots["requested_slot"] = "case_form", "case_number"
        await conv.run(ValidateCaseForm(), extracted={"case_number": WANG_FANG_CASE,
                                                      "id_suffix": WANG_FANG_SUFFIX})

    asyncio.run(flow())
    text = insurer.sms(WANG_FANG_PHONE)[0]["text"]
    assert words in text and "办理退保" not in text


def test_a_surrender_sends_a_code_for_the_surrender(insurer, domain):
    conv = Conversation("wx-purpose-surrender", domain)
    conv.active_loop, conv.slots["requested_slot"] = "surrender_form", "policy_number"
    asyncio.run(conv.run(ValidateSurrenderForm(), extracted={"policy_number": "SBX1000000000012",
                                                             "id_suffix": "31002X"}))
    text = insurer.sms("13800138000")[0]["text"]
    assert "办理退保" in text and "撤销" not in text
