"""Issue 7, hole 3: a REST sender using a WeChat user's openid reaches nothing of that user's
conversation. The probe: a WeChat user is verified and has a quote read back; the REST channel,
posting as that openid, neither reads the quote nor confirms it, and the WeChat user's
conversation is exactly as it was (HTTP API) and still theirs to confirm."""
from __future__ import annotations

import re

import requests

from harness.wechat_caller import new_openid

QUOTE_FIGURES = ("47.19", "72.60", "25.41", "尾号6789", "138****8000")


def rest_say(stack, sender, text):
    answer = requests.post(stack.rest_url, json={"sender": sender, "message": text}, timeout=60)
    return answer


def test_a_rest_sender_with_a_wechat_openid_reaches_nothing_of_that_user(stack, wechat):
    openid = new_openid()

    def say(text: str) -> str:
        delivery = wechat.say(openid, text)
        assert delivery.status == 200 and delivery.reply_text, (text, delivery)
        return delivery.reply_text

    say("我要退保")
    say("SBX1000000000012")
    say("31002X")
    assert "47.19" in say(stack.sms_code("13800138000"))
    events_before = stack.tracker(openid)["events"]

    answers = []
    for text in ("退多少钱", "确认", "我要退保", "SBX1000000000012"):
        answer = rest_say(stack, openid, text)
        assert answer.status_code == 200
        answers.append(answer)
        replies = "\n".join(m.get("text", "") for m in answer.json())
        for figure in QUOTE_FIGURES:
            assert figure not in replies, (text, figure)
        assert not re.search(r"TB\d{14}", replies)
        assert {m["recipient_id"] for m in answer.json()} <= {f"rest:{openid}"}

    assert stack.tracker(openid)["events"] == events_before  # not a single event added
    assert [t["text"] for t in stack.user_turns(f"rest:{openid}")][:2] == ["退多少钱", "确认"]
    assert re.search(r"TB\d{14}", say("确认"))  # the quote was still the WeChat user's


def test_the_rest_channel_names_its_own_channel_and_metadata(stack):
    sender = "probe-" + new_openid()
    answer = requests.post(stack.rest_url, timeout=60, json={
        "sender": sender, "message": "你好", "input_channel": "wechat",
        "metadata": {"channel": "wechat", "wechat": {"msg_id": 1}}})
    assert answer.status_code == 200
    [turn] = stack.user_turns(f"rest:{sender}")
    assert turn["input_channel"] == "rest"
    assert turn["metadata"]["channel"] == "rest" and "wechat" not in turn["metadata"]


def test_bad_rest_requests_get_a_clear_answer(stack):
    for body in ({"message": "你好"}, {"sender": "", "message": "你好"},
                 {"sender": "a b", "message": "你好"}, {"sender": "x" * 129, "message": "你好"},
                 {"sender": 7, "message": "你好"}, {"sender": "me"}, {"sender": "me", "message": " "},
                 ["not", "an", "object"]):
        answer = requests.post(stack.rest_url, json=body, timeout=10)
        assert answer.status_code == 400, body
        assert answer.json()["error"]
    not_json = requests.post(stack.rest_url, data="sender=me", timeout=10)
    assert not_json.status_code == 400


def test_production_mounts_wechat_only_and_the_demo_never_rasas_stock_rest_channel():
    import yaml

    from harness.services import ROOT

    production = yaml.safe_load((ROOT / "deploy" / "credentials.prod.yml").read_text("utf-8"))
    assert list(production) == ["connectors.wechat.WeChatInput"]
    assert production["connectors.wechat.WeChatInput"]["encrypt_mode"] == "safe"
    demo = yaml.safe_load((ROOT / "credentials.yml").read_text("utf-8"))
    assert "rest" not in demo and "connectors.rest.RestInput" in demo
    assert demo["connectors.wechat.WeChatInput"]["encrypt_mode"] == "safe"
