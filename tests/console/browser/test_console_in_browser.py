"""Two real pages in Debian's Chromium: a follower in the simulator's chat page and an agent in
the console. The user asks 转人工 in the middle of a surrender; the agent, signed in already,
sees the chat arrive without reloading, takes it, sees the quote in the side panel and replies;
the user sees the reply; the user's next message reaches the agent and the bot says nothing;
the agent hands back; the bot asks its next question and the surrender completes with a case
number. Leaves a screenshot of the console in .test-logs/console.png (docs/console.png with
TUIBAO_UPDATE_SCREENSHOT=1)."""
from __future__ import annotations

import os
import re
import time

import pytest
import requests

from tests.console.support import ACCOUNTS
from harness.services import ROOT
from tests.wechat.browser.support import ChatPage, chromium, create_menu

SCREENSHOT = (ROOT / "docs" / "console.png" if os.environ.get("TUIBAO_UPDATE_SCREENSHOT") == "1"
              else ROOT / ".test-logs" / "console.png")
POLICY_1 = ("SBX1000000000012", "31002X")


@pytest.fixture(scope="module")
def browser():
    with chromium() as running:
        yield running


def sms_code_from_panel(chat: ChatPage, before: int) -> str:
    deadline = time.monotonic() + 15
    while len(chat.sms_codes()) <= before and time.monotonic() < deadline:
        time.sleep(0.3)
    codes = chat.sms_codes()
    assert len(codes) > before, "no new SMS in the phone panel"
    return codes[-1]


def test_an_agent_takes_over_mid_surrender_and_hands_back(desk, browser):
    requests.post(f"{desk.sandbox_url}/sandbox/reset", timeout=10).raise_for_status()
    create_menu(desk.simulator_url)

    # The agent signs in first and keeps the console open.
    console = browser.new_page(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    console.goto(f"{desk.console_url}/")
    assert console.url.endswith("/signin")
    console.fill("#username", "agent1")
    console.fill("#password", ACCOUNTS["agent1"][1])
    console.click("#signin")
    console.wait_for_url(f"{desk.console_url}/")
    console.wait_for_selector("text=实时更新：已连接", timeout=10000)
    loads = console.evaluate("performance.getEntriesByType('navigation').length")

    # The user surrenders policy 1 up to the quote, then asks for a person.
    phone = browser.new_page(viewport={"width": 1280, "height": 860}, locale="zh-CN")
    chat = ChatPage(phone)
    phone.goto(f"{desk.simulator_url}/?new=1")
    openid = chat.openid()
    seen = len(chat.account_bubbles())
    chat.tap_menu("退保")
    chat.wait_answer(seen, "保单号")
    seen = len(chat.account_bubbles())
    chat.type(POLICY_1[0])
    chat.wait_answer(seen, "身份证")
    codes_before = len(chat.sms_codes())
    seen = len(chat.account_bubbles())
    chat.type(POLICY_1[1])
    chat.wait_answer(seen, "138****8000")
    seen = len(chat.account_bubbles())
    chat.type(sms_code_from_panel(chat, codes_before))
    chat.wait_answer(seen, "47.19")
    seen = len(chat.account_bubbles())
    chat.type("转人工")
    chat.wait_answer(seen, "排在第")

    # The chat arrives in the open console, without a reload.
    item = console.locator(f'.chat-item[data-chat-id="{openid}"]')
    item.wait_for(timeout=5000)
    assert "用户要求转人工" in item.inner_text()
    assert console.evaluate("performance.getEntriesByType('navigation').length") == loads
    item.click()
    console.click("#take")
    console.wait_for_selector("#handback:not([hidden])", timeout=10000)
    quote = console.locator("#quote")
    quote.wait_for(timeout=5000)
    assert "47.19" in quote.inner_text() and "25.41" in quote.inner_text()
    assert "SBX1********0012" in console.inner_text("#bot-knows")

    seen = len(chat.account_bubbles())
    console.fill("#reply-text", "您好，我是人工客服，这笔退保扣了25.41元手续费，还有什么疑问吗？")
    console.click("#send")
    chat.wait_answer(seen, "我是人工客服")

    # The user's next message reaches the agent; the bot says nothing.
    seen = len(chat.account_bubbles())
    chat.type("明白了，那我继续退保")
    console.locator("#transcript .turn.user", has_text="那我继续退保").wait_for(timeout=10000)
    time.sleep(2)
    assert chat.account_bubbles()[seen:] == []
    console.click(".tabs button[data-state=mine]")
    console.locator(f'.chat-item[data-chat-id="{openid}"]').wait_for(timeout=5000)
    SCREENSHOT.parent.mkdir(exist_ok=True)
    console.screenshot(path=str(SCREENSHOT))

    # Hand back: the bot is back, asks its next question, and the surrender completes.
    console.click("#handback")
    answer = chat.wait_answer(seen, "确认要退保吗")
    assert "回来" in answer
    seen = len(chat.account_bubbles())
    choice = phone.locator(".msg.from-account .bubble .choice", has_text="确认")
    if choice.count():
        choice.last.click()
    else:
        chat.type("确认")
    submitted = chat.wait_answer(seen, "TB2026")
    assert re.search(r"TB20261125\d{6}", submitted), submitted
    console.close()
    phone.close()
