"""Colloquial answers at every confirmation, and a complaint around a request, end to end over
HTTP (issue 12): Rasa with the trained model (its NLU reads the real words), the action server
and the sandbox insurer, each a real process (harness.stack).

Needs the trained model (`.venv/bin/python -m bot.model train`, or TUIBAO_TEST_MODEL).
"""
from __future__ import annotations

import re

import pytest
import requests

from harness.stack import Stack

LI_NA = ("150028", "13900139000")
ZHANG_WEI = ("31002X", "13800138000")


def say(stack: Stack, sender: str, text: str) -> str:
    answer = requests.post(stack.rest_url, json={"sender": sender, "message": text}, timeout=60)
    answer.raise_for_status()
    return "\n".join(m.get("text", "") for m in answer.json())


def to_the_quote(stack: Stack, user: str, policy: str, holder) -> str:
    suffix, phone = holder
    assert "保单号" in say(stack, user, "我要退保")
    assert "身份证" in say(stack, user, policy)
    assert "验证码" in say(stack, user, suffix)
    readback = say(stack, user, stack.sms_code(phone))
    assert "确认要退保吗" in readback, readback
    return readback


def cases_in(text: str):
    return re.findall(r"TB\d{14}", text)


def test_haodi_at_the_quote_submits_and_tuole_at_the_withdrawal_withdraws(stack):
    user = "colloquial-yes"
    to_the_quote(stack, user, "SBX1000000000023", LI_NA)
    submitted = say(stack, user, "好滴")
    [case] = cases_in(submitted)
    assert "退保申请已提交" in submitted
    assert "再见" not in submitted
    assert "不客气" in say(stack, user, "谢谢")  # the chat goes on

    later = "colloquial-yes-later"
    assert "案件号" in say(stack, later, "撤销退保申请")
    assert "身份证" in say(stack, later, case)
    assert "验证码" in say(stack, later, LI_NA[0])
    prompt = say(stack, later, stack.sms_code(LI_NA[1]))
    assert "确认撤销吗" in prompt, prompt
    withdrawn = say(stack, later, "妥了，撤吧")
    assert "已撤销退保申请" in withdrawn and case in withdrawn, withdrawn


def test_xian_huanhuan_at_the_quote_keeps_the_policy_and_the_chat(stack):
    user = "colloquial-no"
    to_the_quote(stack, user, "SBX1000000000012", ZHANG_WEI)
    kept = say(stack, user, "先缓缓别交")
    assert "没有提交退保" in kept and not cases_in(kept), kept
    assert "再见" not in kept
    # Still talking: asked again, the same policy's quote is read back (identity already checked).
    again = say(stack, user, "我要退保")
    assert "办理退保" in again and "确认要退保吗" in again, again


def test_a_bare_goodbye_at_the_quote_asks_again_then_a_yes_submits(stack):
    user = "colloquial-bye"
    to_the_quote(stack, user, "SBX2000000000046", LI_NA)
    again = say(stack, user, "拜拜")
    assert "还没有提交" in again and "再见" not in again, again
    assert cases_in(say(stack, user, "妥了，交吧"))


def test_a_complaint_with_a_surrender_request_starts_it_and_is_acknowledged(stack):
    answer = say(stack, "colloquial-angry", "客服热线打了三天都没人接，烦死了，帮我把这份保险退掉")
    assert "抱歉" in answer and "投诉" in answer, answer
    assert "办理退保" in answer and "保单号" in answer, answer
    assert "登记号" not in answer  # not handed to a person instead of doing what was asked


def test_a_yes_word_with_a_refusal_at_the_quote_submits_nothing(stack):
    # "确认，不退了" is read by the NLU as affirm now and then: the words decide, not the label.
    user = "colloquial-mixed"
    to_the_quote(stack, user, "SBX2000000000035", ZHANG_WEI)
    kept = say(stack, user, "确认，不退了")
    assert "没有提交退保" in kept and not cases_in(kept), kept


def test_a_fee_question_naming_a_policy_offers_its_quote_and_one_tap_starts_it(stack):
    answer = say(stack, "colloquial-named", "SBX1000000000012 退了能拿回多少")
    assert "SBX1000000000012" in answer and "不会直接提交" in answer, answer
    # The button's payload: the form starts with the number already taken.
    assert "身份证" in say(stack, "colloquial-named", "/request_surrender")
