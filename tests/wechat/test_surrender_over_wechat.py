"""A whole surrender of seed policy 1, as a follower lives it in WeChat: every message signed
and AES-encrypted, every answer a passive reply decrypted with the account's key."""
from __future__ import annotations

import re

from harness.wechat_caller import new_openid


def test_surrender_of_policy_1_from_start_to_case_number(stack, wechat):
    openid = new_openid()

    def say(text: str) -> str:
        delivery = wechat.say(openid, text)
        assert delivery.status == 200 and delivery.elapsed < 5, (text, delivery)
        assert delivery.reply_text, f"no passive reply to {text!r}"
        return delivery.reply_text

    assert "保单号" in say("我要退保")
    assert "身份证" in say("SBX1000000000012")
    assert "138****8000" in say("31002X")
    quote = say(stack.sms_code("13800138000"))
    # Read back before any confirmation: figures, deductions, route, dates, end of cover.
    for figure in ("47.19", "72.60", "25.41", "尾号6789", "2026年12月1日", "2026年12月25日", "保障"):
        assert figure in quote, figure
    assert "确认" in quote

    submitted = say("确认")
    case_number = re.search(r"TB20261125\d{6}", submitted)
    assert case_number, submitted
    assert "2026年12月1日" in submitted and "2026年12月25日" in submitted

    # A second "确认" (double tap) never creates a second case: the user is shown the same case
    # number, and the insurer itself lists exactly that one case for the policy.
    again = say("确认")
    assert re.findall(r"TB\d{14}", again) == [case_number.group()], again
    assert "不会重复提交" in again
    assert stack.cases_at_insurer("SBX1000000000012", "31002X", "13800138000") == [case_number.group()]
    # What the user typed never appears in the channel's answers as a whole ID number.
    assert "11010519491231002X" not in quote + submitted
