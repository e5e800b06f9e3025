"""The surrender as the user lives it, end to end over HTTP: Rasa (trained model, REST channel),
the action server and the sandbox insurer, each a real process (harness.stack).

Needs the trained model (`.venv/bin/python -m bot.model train`, or TUIBAO_TEST_MODEL).
"""
from __future__ import annotations

import re
from typing import List

import pytest
import requests

from harness.stack import Stack

POLICY_1, SUFFIX_1, PHONE_1 = "SBX1000000000012", "31002X", "13800138000"


def say(stack: Stack, sender: str, text: str) -> str:
    answer = requests.post(stack.rest_url, json={"sender": sender, "message": text}, timeout=60)
    answer.raise_for_status()
    return "\n".join(m.get("text", "") for m in answer.json())


def case_numbers(text: str) -> List[str]:
    return re.findall(r"TB\d{14}", text)


def test_policy_1_surrender_then_status_in_a_new_conversation(stack):
    user = "live-user-1"
    assert "保单号" in say(stack, user, "我要退保")
    typo = say(stack, user, "SBX1000000000013")
    assert "输错" in typo and "SBX1000000000013" in typo
    assert "身份证" in say(stack, user, POLICY_1)
    assert "138****8000" in say(stack, user, SUFFIX_1)
    # A question in the middle of the form is answered, then the same question comes back.
    digression = say(stack, user, "钱多久到账")
    assert "工作日" in digression and "验证码" in digression
    readback = say(stack, user, stack.sms_code(PHONE_1))
    for figure in ("¥72.60", "¥25.41", "¥47.19", "2026年12月1日", "2026年12月25日", "招商银行 尾号6789", "保障立即终止"):
        assert figure in readback, (figure, readback)
    assert "确认" in readback

    first = say(stack, user, "确认")
    second = say(stack, user, "确认")  # a double tap
    [case] = case_numbers(first)
    assert case_numbers(second) == [case] and "不会重复提交" in second

    later = "live-user-1-later"
    assert "案件号" in say(stack, later, "我的退保申请到哪一步了")
    assert "身份证" in say(stack, later, case)
    assert "验证码" in say(stack, later, SUFFIX_1)
    status = say(stack, later, stack.sms_code(PHONE_1))
    assert case in status and "审核" in status and "¥47.19" in status


def test_request_human_in_the_middle_of_the_form_is_answered_with_a_way_to_a_person(stack):
    user = "live-user-human"
    say(stack, user, "我要退保")
    answer = say(stack, user, "转人工")
    assert "人工" in answer and re.search(r"RG\d{6}", answer)
    # The form is left: the next message is not taken as a policy-number answer.
    assert "您好" in say(stack, user, "你好")


def _surrender(stack: Stack, user: str, policy: str) -> str:
    say(stack, user, f"我要退保，保单号{policy}，身份证后六位{SUFFIX_1}")
    say(stack, user, stack.sms_code(PHONE_1))
    [case] = case_numbers(say(stack, user, "确认"))
    return case


def test_two_cases_withdrawn_in_one_chat_and_the_withdrawn_one_promises_nothing(stack):
    """Issue 11: after withdrawing one case, another case of the same holder is found (her
    identity is checked again for its policy), and a withdrawn case's status promises no money."""
    # Policy 1 was surrendered by the first test of this module: lay the seed data anew.
    requests.post(f"{stack.sandbox_url}/sandbox/reset", timeout=10).raise_for_status()
    first = _surrender(stack, "live-two-cases-a", POLICY_1)
    second = _surrender(stack, "live-two-cases-b", "SBX2000000000035")
    user = "live-two-cases"
    assert "案件号" in say(stack, user, "撤销退保申请")
    assert "身份证" in say(stack, user, first)
    assert "验证码" in say(stack, user, SUFFIX_1)
    asked = say(stack, user, stack.sms_code(PHONE_1))
    assert first in asked and "确认撤销" in asked and "正在审核" not in asked  # no status re-printed
    assert first in say(stack, user, "确认")

    again = say(stack, user, f"撤销退保申请{second}")
    assert "没有找到" not in again and "身份证" in again, again
    assert "验证码" in say(stack, user, SUFFIX_1)
    asked = say(stack, user, stack.sms_code(PHONE_1))
    assert second in asked and "确认撤销" in asked
    withdrawn = say(stack, user, "确认")
    assert second in withdrawn and "不会退款" in withdrawn

    status = say(stack, user, "查询退保进度")
    assert second in status and "已经撤销" in status, status
    for promise in ("到账", "¥2,972.20", "预计"):
        assert promise not in status, status
