"""The supervisor's figures page, in a browser, after real conversations on a whole stack
(console included): one finished surrender, one that stopped at the SMS code, two messages the
bot did not understand (which hand the chat to a person, taken by an agent). The page shows the
funnel, the handoff and its wait, and the masked message, which one click puts in the
trainers' review queue. The HTML report of the same data is rendered too. Screenshots go to
.test-logs/ (docs/figures.png and docs/funnel-report.png are taken from there)."""
from __future__ import annotations

import re
import subprocess
from urllib.parse import quote, urlparse

import requests

from tests.console.support import ACCOUNTS, create_account, signed_in
from harness.services import PYTHON, ROOT
from harness.stack import tuibao_stack
from tests.wechat.browser.support import chromium
from harness.wechat_caller import WeChatCaller, new_openid

POLICY, ID_SUFFIX, PHONE = "SBX1000000000012", "31002X", "13800138000"
# Messages the model may not understand; the test uses the first the running model reads as
# nlu_fallback (asked through Rasa's /model/parse), since a retrained model may learn any one.
NOT_UNDERSTOOD_CANDIDATES = ("蓝", "xyzzy", "蓝色的", "那个蓝色的东西在哪里")


def not_understood(rasa_url: str, token: str) -> str:
    for text in NOT_UNDERSTOOD_CANDIDATES:
        parsed = requests.post(f"{rasa_url}/model/parse", params={"token": token},
                               json={"text": text}, timeout=30).json()
        if parsed["intent"]["name"] == "nlu_fallback":
            return text
    raise AssertionError(f"the model understands every candidate {NOT_UNDERSTOOD_CANDIDATES}: "
                         "add one it does not")
SHOTS = ROOT / ".test-logs"


def test_figures_page_and_html_report(tmp_path):
    handoff_db = f"sqlite:///{tmp_path / 'handoff.db'}"
    tracker_db = tmp_path / "tracker.db"
    for username in ("agent1", "lead1"):
        create_account(handoff_db, username, *ACCOUNTS[username])
    store = {"type": "bot.tracker_store.RedactingSQLTrackerStore", "dialect": "sqlite",
             "db": str(tracker_db)}
    with tuibao_stack(tmp_path / "stack", with_console=True, handoff_db_url=handoff_db,
                      tracker_store=store, log_prefix="obs-figures",
                      extra_env={"TUIBAO_TRACKER_STORE_URL": f"sqlite:///{tracker_db}",
                                 "TUIBAO_REVIEW_DB_URL": f"sqlite:///{tmp_path / 'review.db'}"}
                      ) as stack:
        wechat = WeChatCaller(stack.webhook_url)
        NOT_UNDERSTOOD = not_understood(stack.rasa_url, stack.api_token)
        done, stopped, puzzled = new_openid(), new_openid(), new_openid()
        for text in ("我要退保", POLICY, ID_SUFFIX):
            wechat.say(done, text)
        wechat.say(done, stack.sms_code(PHONE))
        assert re.search(r"TB\d{14}", wechat.say(done, "确认").reply_text or "")
        for text in ("我要退保", POLICY, ID_SUFFIX):
            wechat.say(stopped, text)
        wechat.say(puzzled, "你好")
        wechat.say(puzzled, NOT_UNDERSTOOD)
        wechat.say(puzzled, NOT_UNDERSTOOD)  # the second miss in a row: a person takes over
        intents = [e["parse_data"]["intent"]["name"] for e in stack.user_turns(puzzled)]
        assert intents[-2:] == ["nlu_fallback", "nlu_fallback"], intents
        agent = signed_in(stack.console_url, "agent1")
        waiting = agent.get("/api/v1/chats", params={"state": "waiting"}).json()
        assert [c["reason"] for c in waiting] == ["misunderstood"], waiting
        assert agent.post(f"/api/v1/chats/{quote(waiting[0]['chat_id'], safe='')}/take").status_code == 200

        lead = signed_in(stack.console_url, "lead1")
        with chromium() as browser:
            page = browser.new_page(viewport={"width": 1280, "height": 1400})
            page.context.add_cookies([{
                "name": "tuibao_console", "value": lead.http.cookies.get("tuibao_console"),
                "domain": urlparse(stack.console_url).hostname, "path": "/"}])
            page.goto(f"{stack.console_url}/figures")
            page.wait_for_selector("#funnels .card")
            funnel = page.inner_text("#funnels")
            assert "sandbox" in funnel
            assert re.search(r"开始退保\s*2", funnel) and re.search(r"已受理\s*1", funnel), funnel
            assert "utter_ask_sms_code" in funnel or "sms_code" in funnel  # where one stopped
            assert "转人工 1 次" in page.inner_text("#handoff-summary")
            row = page.locator("#fallbacks tbody tr").first
            assert NOT_UNDERSTOOD in row.inner_text()
            # Nothing personal from the surrenders on the page (masked in the store already).
            assert PHONE not in page.content() and "11010519491231002X" not in page.content()
            page.screenshot(path=str(SHOTS / "figures.png"), full_page=True)
            row.get_by_role("button", name="送去标注").click()
            page.wait_for_selector("#fallbacks tbody tr a[href='/#review']")
            queued = lead.get("/api/v1/review/items", params={"status": "new"}).json()
            assert any(item["text"] == NOT_UNDERSTOOD for item in queued["items"]), queued

            report = tmp_path / "funnel.html"
            made = subprocess.run(
                [PYTHON, "-m", "training.cli", "report", "funnel", "--html", str(report),
                 "--tracker-store", f"sqlite:///{tracker_db}", "--handoff-db", handoff_db],
                cwd=ROOT, capture_output=True, text=True, timeout=120)
            assert made.returncode == 0, made.stderr
            html = report.read_text(encoding="utf-8")
            # One file, nothing fetched: no script, stylesheet or image from elsewhere.
            assert "<svg" in html and "<script" not in html and "<link" not in html
            assert 'src="http' not in html
            assert NOT_UNDERSTOOD in html and PHONE not in html
            page.goto(report.as_uri())
            page.screenshot(path=str(SHOTS / "funnel-report.png"), full_page=True)
