"""No policy number: the holder lookup as the user lives it, end to end over HTTP (Rasa with the
trained model on the REST channel, the action server, the sandbox insurer playing both the
sandbox insurer and 恒信人寿). Issue 11, points 5 and 7.

The transcript of the lookup conversation is written to .test-logs/lookup-transcript.txt.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Dict, List

import pytest
import requests

from harness.services import ROOT
from harness.stack import Stack

PHONE, SUFFIX = "13800138000", "31002X"  # 张伟
ZHANG_WEIS_POLICIES = ["SBX1000000000012", "SBX2000000000035", "SBX1000000000056", "HX202600000121"]
TRANSCRIPT = ROOT / ".test-logs" / "lookup-transcript.txt"


class Chat:
    """One user's conversation over the REST channel, kept as a transcript."""

    def __init__(self, stack: Stack, sender: str) -> None:
        self.stack, self.sender = stack, sender
        self.lines: List[str] = []

    def say(self, text: str, shown_as: str = "") -> List[Dict[str, Any]]:
        answer = requests.post(self.stack.rest_url, json={"sender": self.sender, "message": text},
                               timeout=60)
        answer.raise_for_status()
        messages = answer.json()
        self.lines.append(f"用户：{shown_as or text}")
        for message in messages:
            self.lines.append(f"助手：{message.get('text', '')}")
            for button in message.get("buttons") or []:
                self.lines.append(f"      [按钮] {button['title']}  → {button['payload']}")
        return messages

    def text(self, text: str, shown_as: str = "") -> str:
        return "\n".join(m.get("text", "") for m in self.say(text, shown_as))


def sms_from(stack: Stack, insurer_name: str, phone: str = PHONE) -> List[Dict[str, Any]]:
    """SMS sent to ``phone`` signed by ``insurer_name``, newest first."""
    answer = requests.get(f"{stack.sandbox_url}/sandbox/sms", params={"phone": phone}, timeout=10)
    answer.raise_for_status()
    return [m for m in answer.json() if m["text"].startswith(f"【{insurer_name}】")]


def reset(stack: Stack) -> None:
    requests.post(f"{stack.sandbox_url}/sandbox/reset", timeout=10).raise_for_status()


def test_zhang_wei_finds_four_policies_at_two_insurers_and_surrenders_the_hengxin_one(stack):
    reset(stack)
    chat = Chat(stack, "lookup-zhang-wei")
    asked = chat.text("我不知道保单号在哪")
    assert "手机号" in asked and "后六位" in asked

    code_asked = chat.text(f"{PHONE} {SUFFIX}", shown_as="138****8000 31002X")
    assert "沙箱保险" in code_asked and "138****8000" in code_asked and "验证码" in code_asked
    sandbox_sms = sms_from(stack, "沙箱保险")
    hengxin_sms = sms_from(stack, "恒信人寿")
    assert len(sandbox_sms) == 1 and len(hengxin_sms) == 1  # each insurer texts its own code
    assert "查找名下保单" in sandbox_sms[0]["text"] and "查找名下保单" in hengxin_sms[0]["text"]

    next_asked = chat.text(sandbox_sms[0]["code"], shown_as="（沙箱保险的验证码）")
    assert "恒信人寿" in next_asked and "验证码" in next_asked

    listed = chat.say(hengxin_sms[0]["code"], shown_as="（恒信人寿的验证码）")
    listing = "\n".join(m.get("text", "") for m in listed)
    for number in ZHANG_WEIS_POLICIES:
        assert number in listing, (number, listing)
    assert "4张保单" in listing and "恒信人寿" in listing and "沙箱保险" in listing
    buttons = [b for m in listed for b in (m.get("buttons") or [])]
    payloads = {json.loads(b["payload"][b["payload"].index("{"):])["policy_number"]: b for b in buttons}
    assert all(b["payload"].startswith("/request_surrender{") for b in buttons)
    assert sorted(payloads) == sorted(ZHANG_WEIS_POLICIES)
    # The identity of one insurer's holder shows nowhere else: no ID number, no full phone.
    assert PHONE not in listing and "11010519491231002X" not in listing

    sent_before = len(sms_from(stack, "沙箱保险")) + len(sms_from(stack, "恒信人寿"))
    tapped = payloads["HX202600000121"]
    readback = chat.text(tapped["payload"], shown_as=f"（点按钮）{tapped['title']}")
    for figure in ("¥94.38", "¥145.21", "¥50.83", "招商银行 尾号6789"):
        assert figure in readback, (figure, readback)
    assert "确认" in readback
    assert "验证码" not in readback and "身份证" not in readback  # no second identity check
    assert len(sms_from(stack, "沙箱保险")) + len(sms_from(stack, "恒信人寿")) == sent_before

    done = chat.text("确认")
    [case_number] = re.findall(r"HXC\d{12}", done)
    assert case_number == "HXC202611250001"

    TRANSCRIPT.parent.mkdir(exist_ok=True)
    TRANSCRIPT.write_text("\n".join(chat.lines) + "\n", encoding="utf-8")


def test_a_wrong_pair_is_told_plainly_and_nothing_is_sent(stack):
    reset(stack)
    chat = Chat(stack, "lookup-wrong-pair")
    chat.text("我没有保单号")
    answer = chat.text(f"{PHONE} 000000")
    assert "没有查到" in answer
    assert sms_from(stack, "沙箱保险") == [] and sms_from(stack, "恒信人寿") == []


def test_a_phone_alone_is_kept_off_the_tracker_and_the_suffix_alone_completes_it(stack):
    reset(stack)
    chat = Chat(stack, "lookup-phone-only")
    chat.text("没有保单号怎么退")
    answer = chat.text(PHONE)
    assert "138****8000" in answer and PHONE not in answer
    assert "还差" in answer and "身份证号后六位" in answer
    # (This stack keeps trackers in memory, unredacted: the stored tracker's masking is
    # tests/privacy's. Here: the phone waits sealed, outside the conversation's slots.)
    slots = stack.tracker("rest:lookup-phone-only")["slots"]
    assert slots["lookup_phone"] is None and "lookup_id_suffix" in slots
    assert PHONE not in json.dumps(slots, ensure_ascii=False)
    code_asked = chat.text(SUFFIX)
    assert "验证码" in code_asked


def test_li_na_finds_only_her_sandbox_policies_and_is_asked_one_code(stack):
    reset(stack)
    chat = Chat(stack, "lookup-li-na")
    chat.text("帮我查一下我名下的保单")
    asked = chat.text("13900139000 150028")
    assert "沙箱保险" in asked and "恒信人寿" not in asked
    code = sms_from(stack, "沙箱保险", "13900139000")[0]["code"]
    listing = chat.text(code)
    for number in ("SBX1000000000023", "SBX2000000000046", "SBX3000000000069"):
        assert number in listing
    assert "HX" not in listing and "3张保单" in listing


def test_a_hengxin_number_fills_the_slot_and_a_mistyped_one_gets_the_typo_note(stack):
    reset(stack)
    chat = Chat(stack, "hengxin-by-number")
    chat.text("我要退保")
    typo = chat.text("HX202600000122")
    assert "输错" in typo and "HX202600000122" in typo
    assert "身份证" in chat.text("HX202600000121")
    assert "138****8000" in chat.text(SUFFIX)
    code = sms_from(stack, "恒信人寿")[0]
    assert "办理退保" in code["text"]
    readback = chat.text(code["code"])
    assert "¥94.38" in readback
