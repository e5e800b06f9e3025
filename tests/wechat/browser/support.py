"""Debian's Chromium driven by Playwright (``playwright install`` cannot work here), and what a
user sees in the simulator's chat page."""
from __future__ import annotations

import contextlib
import os
import subprocess
import time
from pathlib import Path
from typing import Iterator, List

from playwright.sync_api import Browser, Page, sync_playwright

from harness.services import PYTHON, ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"]
SERVICE_UNAVAILABLE = "该公众号暂时无法提供服务，请稍后再试"


@contextlib.contextmanager
def chromium() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        raise RuntimeError("/usr/bin/chromium is missing: apt-get update && apt-get install -y "
                           "chromium fonts-noto-cjk")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def create_menu(simulator_url: str) -> None:
    """Run the admin command against this simulator, as the demo does."""
    done = subprocess.run([PYTHON, "-m", "connectors.wechat.menu"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60,
                          env={**os.environ, "WECHAT_API_BASE_URL": simulator_url})
    assert done.returncode == 0, done.stderr


class ChatPage:
    """The follower's side of the chat page: tap, type, read."""

    def __init__(self, page: Page):
        self.page = page

    def account_bubbles(self) -> List[str]:
        return self.page.locator(".msg.from-account .bubble").all_inner_texts()

    def notices(self) -> List[str]:
        return self.page.locator(".notice").all_inner_texts()

    def openid(self) -> str:
        self.page.wait_for_function("document.getElementById('openid').textContent.length > 20")
        return self.page.inner_text("#openid")

    def tap_menu(self, name: str) -> None:
        if self.page.is_visible("#to-menu"):  # the keyboard is up after typing
            self.page.click("#to-menu")
        self.page.locator("#menu-buttons button", has_text=name).click()

    def type(self, text: str) -> None:
        if self.page.is_visible("#to-keyboard"):
            self.page.click("#to-keyboard")
        self.page.fill("#text", text)
        self.page.press("#text", "Enter")

    def wait_answer(self, seen: int, must_contain: str, timeout: float = 40) -> str:
        """The account's messages after the first ``seen``, once one contains the text."""
        deadline = time.monotonic() + timeout
        fresh: List[str] = []
        while time.monotonic() < deadline:
            fresh = self.account_bubbles()[seen:]
            if any(must_contain in bubble for bubble in fresh):
                return "\n".join(fresh)
            if SERVICE_UNAVAILABLE in self.notices():
                raise AssertionError(f"the page says {SERVICE_UNAVAILABLE} (waiting for "
                                     f"{must_contain!r}); account said: {fresh}")
            time.sleep(0.2)
        raise AssertionError(f"no answer containing {must_contain!r} within {timeout}s; "
                             f"account said: {fresh}")

    def sms_codes(self) -> List[str]:
        """Codes in the phone panel, oldest first (as the panel lists them)."""
        return self.page.locator("#sms-list .sms-code").all_inner_texts()
