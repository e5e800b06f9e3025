"""A person uses the simulator's Telegram tab in a real Chromium, against the whole stack: the
tab posts updates to the registered webhook with its secret, and shows what the bot sent
through the Bot API stand-in, inline keyboards included. Leaves .test-logs/telegram-tab.png."""
from __future__ import annotations

import time
from typing import List

import pytest

from connectors.telegram import wording
from harness.services import ROOT
from tests.wechat.browser.support import chromium


@pytest.fixture(scope="module")
def browser():
    with chromium() as running:
        yield running


def bot_bubbles(page) -> List[str]:
    return page.locator("#tg-messages .tg-msg.from-bot .tg-bubble").all_inner_texts()


def wait_for_bubble(page, must_contain: str, timeout: float = 40) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for bubble in bot_bubbles(page):
            if must_contain in bubble:
                return bubble
        time.sleep(0.2)
    raise AssertionError(f"no bot message with {must_contain!r}: {bot_bubbles(page)}")


def test_start_tap_type_and_send_a_photo_in_the_telegram_tab(stack, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 860}, locale="zh-CN")
    page.goto(f"{stack.simulator_url}/?new=1")
    page.click("#tab-telegram")
    assert page.is_visible("#telegram-phone") and not page.is_visible("#wechat-phone")
    page.wait_for_function("document.getElementById('tg-chat-id').textContent.length > 5")
    chat_id = int(page.inner_text("#tg-chat-id"))
    assert stack.telegram_webhook_url in page.inner_text("#tg-webhook")

    page.click("#tg-start")
    wait_for_bubble(page, "您好")
    offer = page.locator(".tg-keyboard button", has_text="我要退保")
    offer.wait_for()
    offer.click()
    wait_for_bubble(page, "保单号")
    # The keyboard of the answered offer is gone, as in Telegram after the bot edits it.
    page.wait_for_function("!document.querySelector('.tg-keyboard')", timeout=10000)

    page.fill("#tg-text", "SBX1000000000023")
    page.press("#tg-text", "Enter")
    wait_for_bubble(page, "身份证")

    page.click("#tg-attach")
    page.click("#tg-attach-menu button[data-kind=photo]")
    wait_for_bubble(page, wording.NOT_TEXT)
    page.screenshot(path=str(ROOT / ".test-logs" / "telegram-tab.png"))

    # The page showed what the bot really sent to this chat, nothing more.
    sent = [m["text"] for m in stack.telegram_outbox(chat_id) if m["method"] == "sendMessage"]
    assert bot_bubbles(page) == [text for text in sent]
    turns = [t["text"] for t in stack.user_turns(f"telegram:{chat_id}")]
    # The tapped 我要退保 is recorded in the user's words (it ran /request_surrender).
    assert turns == ["/greet", "我要退保", "SBX1000000000023"]
