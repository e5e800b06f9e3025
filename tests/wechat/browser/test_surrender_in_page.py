"""李娜 surrenders seed policy 2 in the simulator's chat page, against the whole stack
(sandbox insurer, action server, Rasa with the WeChat channel, simulator), reading the SMS code
off the phone panel as a person would: the panel follows the phone the code went to (hers, not
the demo's first phone), shows it at the phone's time, and is empty for a new user. Leaves a screenshot in .test-logs/simulator.png
(docs/simulator.png with TUIBAO_UPDATE_SCREENSHOT=1)."""
from __future__ import annotations

import os
import re

import pytest
import requests

from harness.services import ROOT
from tests.wechat.browser.support import ChatPage, chromium, create_menu

# Every run leaves its screenshot with the test logs; TUIBAO_UPDATE_SCREENSHOT=1 refreshes the one
# in docs/ (so a test run does not dirty the work tree).
SCREENSHOT = (ROOT / "docs" / "simulator.png" if os.environ.get("TUIBAO_UPDATE_SCREENSHOT") == "1"
              else ROOT / ".test-logs" / "simulator.png")
LI_NA_POLICY = "SBX1000000000023"  # 百万医疗险, ¥87.86 back to 工商银行 尾号1234
LI_NA_ID_SUFFIX = "150028"  # 440106199003150028
LI_NA_PHONE = "13900139000"


@pytest.fixture(scope="module")
def browser():
    with chromium() as running:
        yield running


def _minutes(clock_text: str) -> int:
    hours, minutes = re.search(r"(\d{1,2}):(\d{2})", clock_text).groups()
    return int(hours) * 60 + int(minutes)


def test_li_na_surrenders_in_the_chat_page_reading_the_code_from_her_phone(stack, browser):
    # The stack is shared with the protocol tests: start from the seed data.
    requests.post(f"{stack.sandbox_url}/sandbox/reset", timeout=10).raise_for_status()
    create_menu(stack.simulator_url)
    # Someone else's code, sent before this user came: it must not show in her panel.
    requests.post(f"{stack.sandbox_url}/v1/identity/verify", timeout=10, headers={"X-Api-Key": "sandbox-demo-key"},
                  json={"policy_number": "SBX1000000000012", "id_suffix": "31002X"}).raise_for_status()
    page = browser.new_page(viewport={"width": 1280, "height": 860}, locale="zh-CN")
    chat = ChatPage(page)
    page.goto(f"{stack.simulator_url}/?new=1")
    chat.openid()
    page.locator("#sms-status", has_text="已连接").wait_for(timeout=10_000)
    assert chat.sms_codes() == [], "a new user's phone panel shows earlier codes"

    seen = len(chat.account_bubbles())
    chat.tap_menu("退保")
    chat.wait_answer(seen, "保单号")
    seen = len(chat.account_bubbles())
    chat.type(LI_NA_POLICY)
    chat.wait_answer(seen, "身份证")
    seen = len(chat.account_bubbles())
    chat.type(LI_NA_ID_SUFFIX)
    chat.wait_answer(seen, "139****9000")

    # The panel follows the phone the code went to, and shows the insurer's code.
    page.locator("#demo-phone", has_text=LI_NA_PHONE).wait_for(timeout=15_000)
    page.locator("#sms-list .sms-code").first.wait_for(timeout=15_000)
    [code] = chat.sms_codes()
    assert re.fullmatch(r"\d{6}", code) and code == stack.sms_code(LI_NA_PHONE)
    # At the phone's time: the same clock as its status bar (the sandbox's own clock runs on
    # a fixed day from 10:00, which the page must not show).
    sms_time = _minutes(page.inner_text("#sms-list .sms-sender"))
    status_bar = _minutes(page.inner_text(".sms-phone .status-bar .clock"))
    assert min(abs(sms_time - status_bar), 1440 - abs(sms_time - status_bar)) <= 1, (sms_time, status_bar)

    seen = len(chat.account_bubbles())
    chat.type(code)
    quote = chat.wait_answer(seen, "87.86")
    assert "¥87.86" in quote and "工商银行 尾号1234" in quote
    assert page.get_by_text("¥87.86").first.is_visible()

    # Confirm by tapping the 确认 choice the quote offers, as a user would.
    choice = page.locator(".msg.from-account .bubble .choice", has_text="确认")
    assert choice.count() >= 1, "the confirmation question shows no tappable 确认"
    seen = len(chat.account_bubbles())
    choice.last.click()
    submitted = chat.wait_answer(seen, "TB2026")
    assert re.search(r"TB20261125\d{6}", submitted), submitted
    assert "该公众号暂时无法提供服务，请稍后再试" not in chat.notices()
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))
    # One case, as the insurer lists it (asking sends her phone a second code).
    assert stack.cases_at_insurer(LI_NA_POLICY, LI_NA_ID_SUFFIX, LI_NA_PHONE) == \
        re.findall(r"TB20261125\d{6}", submitted)

    # 换个新用户: a new follower, and her phone's messages are gone from the panel.
    old_openid = chat.openid()
    page.click("#new-user")
    page.wait_for_function(f"document.getElementById('openid').textContent.length > 20 && "
                           f"document.getElementById('openid').textContent !== '{old_openid}'")
    page.locator("#sms-status", has_text="已连接").wait_for(timeout=10_000)
    assert chat.sms_codes() == []
    assert page.inner_text("#demo-phone") == "—"
    page.close()
