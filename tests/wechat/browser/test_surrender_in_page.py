"""A follower surrenders seed policy 1 in the simulator's chat page, against the whole stack
(sandbox insurer, action server, Rasa with the WeChat channel, simulator), reading the SMS code
off the phone panel as a person would. Leaves a screenshot in .test-logs/simulator.png
(docs/simulator.png with TUIBAO_UPDATE_SCREENSHOT=1)."""
from __future__ import annotations

import os
import re
import time

import pytest
import requests

from tests.support.services import ROOT
from tests.wechat.browser.support import ChatPage, chromium, create_menu

# Every run leaves its screenshot with the test logs; TUIBAO_UPDATE_SCREENSHOT=1 refreshes the one
# in docs/ (so a test run does not dirty the work tree).
SCREENSHOT = (ROOT / "docs" / "simulator.png" if os.environ.get("TUIBAO_UPDATE_SCREENSHOT") == "1"
              else ROOT / ".test-logs" / "simulator.png")
POLICY_1 = "SBX1000000000012"
POLICY_1_ID_SUFFIX = "31002X"  # 张伟, 11010519491231002X


@pytest.fixture(scope="module")
def browser():
    with chromium() as running:
        yield running


def test_surrender_of_policy_1_in_the_chat_page(stack, browser):
    # The stack is shared with the protocol tests, which surrender policy 1 too: start from the
    # seed data, as a new follower of the account would find it.
    requests.post(f"{stack.sandbox_url}/sandbox/reset", timeout=10).raise_for_status()
    create_menu(stack.simulator_url)
    page = browser.new_page(viewport={"width": 1280, "height": 860}, locale="zh-CN")
    chat = ChatPage(page)
    page.goto(f"{stack.simulator_url}/?new=1")
    chat.openid()

    # From the custom menu, as most users start.
    seen = len(chat.account_bubbles())
    chat.tap_menu("退保")
    chat.wait_answer(seen, "保单号")

    seen = len(chat.account_bubbles())
    chat.type(POLICY_1)
    chat.wait_answer(seen, "身份证")

    codes_before = len(chat.sms_codes())
    seen = len(chat.account_bubbles())
    chat.type(POLICY_1_ID_SUFFIX)
    chat.wait_answer(seen, "138****8000")
    deadline = time.monotonic() + 15
    while len(chat.sms_codes()) <= codes_before and time.monotonic() < deadline:
        time.sleep(0.3)
    codes = chat.sms_codes()
    assert len(codes) > codes_before, "no new SMS in the phone panel"
    code = codes[-1]
    assert re.fullmatch(r"\d{6}", code)

    seen = len(chat.account_bubbles())
    chat.type(code)
    quote = chat.wait_answer(seen, "47.19")
    assert "¥47.19" in quote
    assert page.get_by_text("¥47.19").first.is_visible()

    # Confirm by tapping the 确认 choice when the quote offers one, as a user would.
    seen = len(chat.account_bubbles())
    choice = page.locator(".msg.from-account .bubble .choice", has_text="确认")
    if choice.count():
        choice.last.click()
    else:
        chat.type("确认")
    submitted = chat.wait_answer(seen, "TB2026")
    assert re.search(r"TB20261125\d{6}", submitted), submitted
    assert "该公众号暂时无法提供服务，请稍后再试" not in chat.notices()

    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))
    page.close()
