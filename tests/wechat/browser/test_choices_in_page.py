"""Issue 19, point 3, in Chromium: tapping a choice never shows raw code as the user's own
message. In the simulator's chat page (which does what WeChat does with a ``weixin://bizmsgmenu``
link: shows its msgmenucontent as the user's bubble and sends it with the link's menu id),
against the whole stack, a user taps every kind of choice the bot offers: a bare intent
(取消 = /deny), a policy picked from the lookup's list (/request_surrender{"policy_number": …}),
a confirmation whose payload is a word (确认), the satisfaction question pushed after a person
helped (/rate_agent{"agent_rating": …}; a handback's is pushed), and a FAQ question from the menu. After each tap the
user's own bubble holds the choice's words, with no ``/``, ``{`` or ``"``; so does the agent's
transcript (console/transcript.py reads the tracker). Screenshot: .test-logs/choices.png."""
from __future__ import annotations

import re
from typing import List

import pytest
import requests

from console.transcript import tracker_turns
from harness.services import ROOT
from tests.wechat.browser.support import ChatPage, chromium, create_menu

PHONE, SUFFIX = "13800138000", "31002X"  # 张伟: four policies at two insurers
RAW = re.compile(r"[/{}\"]")


@pytest.fixture(scope="module")
def browser():
    with chromium() as running:
        yield running


def user_bubbles(chat: ChatPage) -> List[str]:
    return chat.page.locator(".msg.from-user .bubble").all_inner_texts()


def tap(chat: ChatPage, label: str, answer_contains: str, exact: bool = True) -> str:
    """Tap the newest choice labelled ``label`` (or containing it: ``exact=False``); the
    user's bubble it made, once answered."""
    mine = len(user_bubbles(chat))
    seen = len(chat.account_bubbles())
    name = re.compile(rf"^\s*{re.escape(label)}\s*$") if exact else label
    chat.page.locator(".msg.from-account .bubble .choice", has_text=name).last.click()
    chat.wait_answer(seen, answer_contains)
    shown = user_bubbles(chat)[mine:]
    assert len(shown) == 1, shown
    return shown[0]


def say(chat: ChatPage, text: str, answer_contains: str) -> str:
    seen = len(chat.account_bubbles())
    chat.type(text)
    return chat.wait_answer(seen, answer_contains)


def sms_code(stack, insurer: str) -> str:
    answer = requests.get(f"{stack.sandbox_url}/sandbox/sms", params={"phone": PHONE}, timeout=10)
    answer.raise_for_status()
    return [m["code"] for m in answer.json() if m["text"].startswith(f"【{insurer}】")][0]


def test_every_kind_of_choice_shows_the_users_words_never_code(stack, browser):
    requests.post(f"{stack.sandbox_url}/sandbox/reset", timeout=10).raise_for_status()
    create_menu(stack.simulator_url)
    page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    chat = ChatPage(page)
    page.goto(f"{stack.simulator_url}/?new=1")
    openid = chat.openid()
    chat.wait_answer(0, "您好")
    shown = {}

    # A bare intent: the erasure question's 取消 (/deny).
    say(chat, "把我的信息删掉", "确认要删除吗")
    shown["取消"] = tap(chat, "取消", "没有删除")

    # A policy picked from the lookup's list: /request_surrender{"policy_number": …}.
    say(chat, "我不知道保单号在哪", "手机号")
    say(chat, f"{PHONE} {SUFFIX}", "验证码")
    say(chat, sms_code(stack, "沙箱保险"), "恒信人寿")
    say(chat, sms_code(stack, "恒信人寿"), "4张保单")
    shown["HX202600000121"] = tap(chat, "HX202600000121", "确认", exact=False)
    # A word payload: the read-back's 确认退保 (a withdrawal's reads 确认撤销申请: issue 19.1).
    shown["确认退保"] = tap(chat, "确认退保", "HXC2026")

    # The satisfaction question a handback pushes: /rate_agent{"agent_rating": "good"}.
    seen = len(chat.account_bubbles())
    pushed = requests.post(f"{stack.rasa_url}/conversations/{openid}/execute", timeout=30,
                           params={"token": stack.api_token, "output_channel": "wechat"},
                           json={"name": "utter_ask_agent_rating"})
    assert pushed.status_code == 200, pushed.text
    chat.wait_answer(seen, "满意")
    # (Outside a real handback the dialogue has no rule for the rating; the tap still runs it.)
    shown["满意"] = tap(chat, "满意", "")
    users = [e for e in stack.tracker(openid)["events"] if e.get("event") == "user"]
    rated = [e for e in users if e.get("text") == "满意"]
    assert len(rated) == 1, ([(e.get("text"), e["parse_data"]["intent"]) for e in users],
                             chat.account_bubbles()[-3:], user_bubbles(chat)[-3:])
    [rated] = rated
    assert rated["parse_data"]["intent"]["name"] == "rate_agent"
    assert [(e["entity"], e["value"]) for e in rated["parse_data"]["entities"]] == \
        [("agent_rating", "good")]

    # A FAQ question from the menu (更多 → 常见问题).
    seen = len(chat.account_bubbles())
    chat.tap_menu("更多")
    page.locator("#submenu button", has_text="常见问题").click()
    chat.wait_answer(seen, "什么是犹豫期")
    shown["什么是犹豫期"] = tap(chat, "什么是犹豫期", "犹豫期")

    page.screenshot(path=str(ROOT / ".test-logs" / "choices.png"))
    for label, bubble in shown.items():
        assert label in bubble, (label, bubble)
        assert not RAW.search(bubble), f"the user's bubble after tapping {label}: {bubble!r}"
    assert not [b for b in user_bubbles(chat) if RAW.search(b)], user_bubbles(chat)

    # The agent's transcript: the same words (after the greeting the follow event started).
    said = [t["text"] for t in tracker_turns(stack.tracker(openid)) if t["who"] == "user"]
    assert said[0] == "/greet"
    assert not [t for t in said[1:] if RAW.search(t)], said
    for label in ("取消", "确认退保", "满意", "什么是犹豫期"):
        assert label in said, (label, said)
    assert any(t.startswith("退保：") and "HX202600000121" in t for t in said), said
    page.close()
