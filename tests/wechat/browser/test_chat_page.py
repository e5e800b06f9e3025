"""The chat page in Chromium, against the simulator, the real sandbox insurer (phone panel) and a
scripted account behind a local webhook: what a follower sees and taps."""
from __future__ import annotations

import re
import sys
import time

import pytest
import requests
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.replies import TextReply

from tests.simulator.conftest import (DEMO_AES_KEY, DEMO_APP_ID, DEMO_TOKEN, ReceivedCall,
                                      Simulator, webhook_receiver)
from harness.services import free_port, service
from tests.wechat.browser.support import SERVICE_UNAVAILABLE, ChatPage, chromium, create_menu

CRYPTO = WeChatCrypto(DEMO_TOKEN, DEMO_AES_KEY, DEMO_APP_ID)
WELCOME = ('欢迎关注！<a href="weixin://bizmsgmenu?msgmenucontent=我要退保&amp;msgmenuid=1">'
           '我要退保</a>')


class ScriptedAccount:
    """Answers like a tiny official account: passive replies, one pushed message, one hang."""

    def __init__(self, simulator: Simulator):
        self.simulator = simulator
        self.received = []

    def __call__(self, call: ReceivedCall, before: int):
        q = call.query
        message = parse_message(CRYPTO.decrypt_message(call.body, q["msg_signature"],
                                                       q["timestamp"], q["nonce"]))
        self.received.append(message)
        if message.type == "event" and message.event == "subscribe":
            return 0.0, self.reply(message, WELCOME, q)
        if message.type == "event" and message.event == "click":
            return 0.0, self.reply(message, f"你点了 {message.key}", q)
        if message.type == "text" and message.content == "我要退保":
            # Answer empty at once, push the real answer through the customer-service API.
            self.simulator.push_text(self.simulator.token(), message.source, "请发送保单号")
            return 0.0, "success"
        if message.type == "text" and message.content == "卡住":
            return 5.0, "success"  # longer than the simulator's cut on every try
        return 0.0, "success"

    @staticmethod
    def reply(message, text: str, q) -> str:
        return CRYPTO.encrypt_message(TextReply(content=text, message=message).render(),
                                      q["nonce"], q["timestamp"])


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    work = tmp_path_factory.mktemp("chat-page")
    sandbox_port, sim_port = free_port(), free_port()
    sandbox_url, sim_url = f"http://127.0.0.1:{sandbox_port}", f"http://127.0.0.1:{sim_port}"
    with webhook_receiver() as webhook, service(
            [sys.executable, "-m", "sandbox_insurer"], f"{sandbox_url}/health",
            env={"SANDBOX_PORT": str(sandbox_port), "SANDBOX_MODE": "1",
                 "SANDBOX_TODAY": "2026-11-25", "SANDBOX_SMS_MIN_INTERVAL_S": "0",
                 "SANDBOX_SMS_MAX_PER_HOUR": "0",
                 "SANDBOX_DATABASE_URL": f"sqlite:///{work / 'sandbox.db'}"},
            log_name="chat-page-sandbox"), service(
            [sys.executable, "-m", "simulator"], f"{sim_url}/sim/health",
            env={"SIM_PORT": str(sim_port), "SIM_WEBHOOK_URL": webhook.url,
                 "SIM_SANDBOX_URL": sandbox_url, "SIM_REPLY_TIMEOUT_SECONDS": "1"},
            log_name="chat-page-simulator"), chromium() as browser:
        simulator = Simulator(sim_url)
        account = ScriptedAccount(simulator)
        webhook.behaviour = account
        create_menu(sim_url)
        yield {"simulator": simulator, "account": account, "sandbox_url": sandbox_url,
               "browser": browser}


@pytest.fixture
def chat(setup):
    page = setup["browser"].new_page(viewport={"width": 1280, "height": 860})
    page.goto(setup["simulator"].base + "/?new=1")
    yield ChatPage(page)
    page.close()


def test_new_follower_is_welcomed_and_can_tap_a_choice(setup, chat):
    chat.wait_answer(0, "欢迎关注")
    chat.page.locator(".bubble .choice", has_text="我要退保").click()
    # The tap sends its text as the user's own green bubble; the pushed answer follows.
    user = chat.page.locator(".msg.from-user .bubble", has_text="我要退保")
    user.wait_for()
    assert user.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(149, 236, 105)"
    chat.wait_answer(1, "请发送保单号")
    assert chat.page.locator(".time-label").count() >= 1


def test_custom_menu_sends_click_events(setup, chat):
    chat.wait_answer(0, "欢迎关注")
    chat.tap_menu("退保")
    chat.wait_answer(1, "你点了 SURRENDER")
    chat.tap_menu("更多")
    chat.page.locator("#submenu button", has_text="转人工").click()
    chat.wait_answer(2, "你点了 HUMAN")


def test_phone_panel_shows_the_code_the_insurer_sent(setup, chat):
    chat.page.locator("#sms-status", has_text="已连接").wait_for(timeout=10_000)  # the page is up
    verify = requests.post(f"{setup['sandbox_url']}/v1/identity/verify",
                           json={"policy_number": "SBX1000000000012", "id_suffix": "31002X"},
                           headers={"X-Api-Key": "sandbox-demo-key"}, timeout=10)
    assert verify.status_code == 200, verify.text
    newest = requests.get(f"{setup['sandbox_url']}/sandbox/sms",
                          params={"phone": "13800138000"}, timeout=10).json()[0]["code"]
    chat.page.locator("#sms-list .sms-code", has_text=newest).wait_for(timeout=10_000)
    assert chat.sms_codes()[-1] == newest


def test_an_account_that_never_answers_shows_wechats_apology(setup, chat):
    chat.wait_answer(0, "欢迎关注")
    started = time.monotonic()
    chat.type("卡住")
    chat.page.locator(".notice", has_text=SERVICE_UNAVAILABLE).wait_for(timeout=15_000)
    assert time.monotonic() - started >= 2.5  # three tries of 1 s each before giving up


def test_typing_indicator_shows_in_the_title(setup, chat):
    chat.wait_answer(0, "欢迎关注")
    openid = chat.openid()
    simulator = setup["simulator"]
    chat.type("你好")
    chat.page.locator(".msg.from-user .bubble", has_text="你好").wait_for()
    answer = simulator.post("/cgi-bin/message/custom/typing",
                            {"touser": openid, "command": "Typing"},
                            access_token=simulator.token()).json()
    assert answer["errcode"] == 0
    chat.page.locator("#chat-title", has_text="对方正在输入").wait_for(timeout=5_000)
    simulator.push_text(simulator.token(), openid, "在的")
    chat.page.locator("#chat-title", has_text="退保助手").wait_for(timeout=5_000)


def test_phone_panel_reads_only_the_demo_phones_and_says_how_long_ago(setup):
    base = setup["simulator"].base
    refused = requests.get(f"{base}/sim/phone/sms", params={"phone": "13912345678"}, timeout=10)
    assert refused.status_code == 400  # the simulator is no window on any phone's SMS
    requests.post(f"{setup['sandbox_url']}/v1/identity/verify", timeout=10,
                  json={"policy_number": "SBX1000000000023", "id_suffix": "150028"},
                  headers={"X-Api-Key": "sandbox-demo-key"}).raise_for_status()
    inboxes = requests.get(f"{base}/sim/phone/sms", timeout=10).json()["phones"]
    assert [i["phone"] for i in inboxes] == ["13800138000", "13900139000", "13700137000"]
    [li_na] = [i for i in inboxes if i["phone"] == "13900139000"]
    newest = li_na["messages"][0]
    # By the insurer's own clock, which a fixed SANDBOX_TODAY sets days apart from the real one.
    assert 0 <= newest["received_seconds_ago"] < 10 and re.fullmatch(r"\d{6}", newest["code"])


def test_the_panel_follows_the_phone_the_code_went_to(setup, chat):
    chat.page.locator("#sms-status", has_text="已连接").wait_for(timeout=10_000)
    requests.post(f"{setup['sandbox_url']}/v1/identity/verify", timeout=10,
                  json={"policy_number": "SBX2000000000079", "id_suffix": "01001X"},
                  headers={"X-Api-Key": "sandbox-demo-key"}).raise_for_status()
    chat.page.locator("#demo-phone", has_text="13700137000").wait_for(timeout=10_000)
    newest = requests.get(f"{setup['sandbox_url']}/sandbox/sms", params={"phone": "13700137000"},
                          timeout=10).json()[0]["code"]
    assert chat.sms_codes() == [newest]  # only what came since this user appeared
