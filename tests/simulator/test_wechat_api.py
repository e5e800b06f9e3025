"""The stand-in WeChat server API, over HTTP, as the bot's wechatpy client meets it."""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta

import pytest
from wechatpy.exceptions import WeChatClientException

from connectors.wechat.menu import OfficialAccountClient
from tests.simulator.conftest import DEMO_APP_ID, DEMO_APP_SECRET, Simulator
from harness.services import ROOT


def errcode(result: dict) -> int:
    return result.get("errcode", 0)


def test_token_requires_the_right_appid_and_secret(simulator: Simulator):
    def token(appid, secret):
        return simulator.get("/cgi-bin/token", grant_type="client_credential", appid=appid,
                             secret=secret)

    assert errcode(token("wx_someone_else", DEMO_APP_SECRET)) == 40013
    assert errcode(token(DEMO_APP_ID, "not-the-secret")) == 40125
    good = token(DEMO_APP_ID, DEMO_APP_SECRET)
    assert good["expires_in"] == 7200 and len(good["access_token"]) > 20


def test_a_new_token_retires_the_previous_one(simulator: Simulator):
    first = simulator.token()
    assert errcode(simulator.get("/cgi-bin/get_current_selfmenu_info", access_token=first)) == 0
    second = simulator.token()
    assert errcode(simulator.get("/cgi-bin/get_current_selfmenu_info", access_token=first)) == 40001
    assert errcode(simulator.get("/cgi-bin/get_current_selfmenu_info", access_token=second)) == 0
    assert errcode(simulator.get("/cgi-bin/get_current_selfmenu_info")) == 41001


def test_a_token_expires_after_7200_seconds(simulator: Simulator):
    token = simulator.token()
    simulator.advance_clock(7190)
    assert errcode(simulator.get("/cgi-bin/get_current_selfmenu_info", access_token=token)) == 0
    simulator.advance_clock(11)
    assert errcode(simulator.get("/cgi-bin/get_current_selfmenu_info", access_token=token)) == 42001


def test_five_pushes_within_48_hours_of_a_user_message(simulator: Simulator):
    token = simulator.token()
    openid = simulator.follow()
    simulator.advance_clock(61)  # let the follow's own 1-minute allowance lapse
    simulator.say(openid, "我要退保")
    results = [simulator.push_text(token, openid, f"第{i}条") for i in range(1, 7)]
    assert [errcode(r) for r in results] == [0, 0, 0, 0, 0, 45047]

    simulator.say(openid, "还在吗")  # a new user message grants a new allowance
    assert errcode(simulator.push_text(token, openid, "在的")) == 0

    simulator.advance_clock(48 * 3600 + 1)
    token = simulator.token()
    assert errcode(simulator.push_text(token, openid, "两天后")) == 45015


def test_a_follow_allows_three_pushes_within_a_minute(simulator: Simulator):
    token = simulator.token()
    openid = simulator.follow()
    assert [errcode(simulator.push_text(token, openid, "欢迎")) for _ in range(4)] == [0, 0, 0, 45047]
    other = simulator.follow()
    simulator.advance_clock(61)
    assert errcode(simulator.push_text(simulator.token(), other, "欢迎")) == 45015


def test_pushing_to_an_unknown_or_departed_user_is_refused(simulator: Simulator):
    token = simulator.token()
    assert errcode(simulator.push_text(token, "o_nobody_follows_this_account", "你好")) == 43004
    openid = simulator.follow()
    simulator.say(openid, "你好")
    assert simulator.post("/sim/unfollow", {"openid": openid}).status_code == 200
    assert errcode(simulator.push_text(token, openid, "别走")) == 43004


def test_outbox_lists_what_was_pushed_to_that_user(simulator: Simulator):
    token = simulator.token()
    openid, other = simulator.follow(), simulator.follow()
    simulator.say(openid, "我要退保")
    simulator.say(other, "你好")
    assert errcode(simulator.push_text(token, openid, "请提供保单号")) == 0
    assert errcode(simulator.push_text(token, other, "给别人的")) == 0
    menu = {"head_content": "确认退保吗？",
            "list": [{"id": "1", "content": "确认"}, {"id": "2", "content": "取消"}],
            "tail_content": ""}
    assert errcode(simulator.post("/cgi-bin/message/custom/send",
                                  {"touser": openid, "msgtype": "msgmenu", "msgmenu": menu},
                                  access_token=token).json()) == 0
    # Refused messages never reach the outbox.
    assert errcode(simulator.post("/cgi-bin/message/custom/send",
                                  {"touser": openid, "msgtype": "image",
                                   "image": {"media_id": "x"}}, access_token=token).json()) == 40008

    outbox = simulator.get("/sim/outbox", openid=openid)
    assert [(m["openid"], m["msgtype"], m["content"]) for m in outbox] == [
        (openid, "text", "请提供保单号"), (openid, "msgmenu", "确认退保吗？\n确认\n取消")]
    assert {"openid", "msgtype", "content", "sent_at"} <= set(outbox[0])
    sent_at = datetime.fromisoformat(outbox[0]["sent_at"])
    assert sent_at.utcoffset() == timedelta(hours=8)
    assert outbox[1]["msgmenu"]["list"][0] == {"id": "1", "content": "确认"}


def test_wechatpy_client_sends_and_sees_errcodes(simulator: Simulator):
    client = OfficialAccountClient(DEMO_APP_ID, DEMO_APP_SECRET, simulator.base + "/cgi-bin/")
    openid = simulator.follow()
    simulator.advance_clock(61)
    simulator.say(openid, "你好")
    assert client.message.send_text(openid, "您好，我是退保助手")["errcode"] == 0
    with pytest.raises(WeChatClientException) as refused:
        client.message.send_text("o_stranger", "你好")
    assert refused.value.errcode == 43004
    # Another process refreshing the token knocks this client's token out; wechatpy
    # fetches a new one and retries once (40001).
    simulator.token()
    assert client.message.send_text(openid, "第二条")["errcode"] == 0
    assert [m["content"] for m in simulator.get("/sim/outbox", openid=openid)] == [
        "您好，我是退保助手", "第二条"]


def test_typing_shows_until_cancelled_or_a_message_arrives(simulator: Simulator):
    token = simulator.token()
    openid = simulator.follow()
    simulator.say(openid, "我要退保")
    typing = {"touser": openid, "command": "Typing"}
    assert errcode(simulator.post("/cgi-bin/message/custom/typing", typing,
                                  access_token=token).json()) == 0
    assert simulator.feed(openid)["typing"] is True
    simulator.push_text(token, openid, "好的")
    assert simulator.feed(openid)["typing"] is False
    simulator.post("/cgi-bin/message/custom/typing", typing, access_token=token)
    simulator.advance_clock(16)
    assert simulator.feed(openid)["typing"] is False


def test_menu_command_creates_the_surrender_menu(simulator: Simulator):
    env = {**os.environ, "WECHAT_API_BASE_URL": simulator.base + "/cgi-bin/",
           "WECHAT_APP_ID": DEMO_APP_ID, "WECHAT_APP_SECRET": DEMO_APP_SECRET}
    done = subprocess.run([sys.executable, "-m", "connectors.wechat.menu"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "菜单已创建" in done.stdout

    token = simulator.token()
    menu = simulator.get("/cgi-bin/menu/get", access_token=token)["menu"]["button"]
    clicks = {b["name"]: b["key"] for b in menu if b.get("type") == "click"}
    subs = {s["name"]: s["key"] for b in menu for s in b.get("sub_button", [])}
    assert clicks["退保"] == "SURRENDER" and clicks["查进度"] == "STATUS"
    assert subs["转人工"] == "HUMAN"
    info = simulator.get("/cgi-bin/get_current_selfmenu_info", access_token=token)
    assert info["is_menu_open"] == 1
    assert [b["name"] for b in info["selfmenu_info"]["button"]] == ["退保", "查进度", "更多"]
    # The page reads the same menu.
    assert simulator.get("/sim/config")["menu"] == menu

    wrong = subprocess.run([sys.executable, "-m", "connectors.wechat.menu"], cwd=ROOT,
                           env={**env, "WECHAT_APP_SECRET": "wrong"}, capture_output=True,
                           text=True, timeout=60)
    assert wrong.returncode == 1 and "40125" in wrong.stderr and "WECHAT_APP_SECRET" in wrong.stderr


def test_menu_create_enforces_wechat_limits(simulator: Simulator):
    token = simulator.token()
    four = {"button": [{"type": "click", "name": f"按钮{i}", "key": f"K{i}"} for i in range(4)]}
    assert errcode(simulator.post("/cgi-bin/menu/create", four, access_token=token).json()) == 40016
    no_key = {"button": [{"type": "click", "name": "退保"}]}
    assert errcode(simulator.post("/cgi-bin/menu/create", no_key, access_token=token).json()) == 40019
    long_name = {"button": [{"type": "click", "name": "退保退保退保退保退保", "key": "S"}]}
    assert errcode(simulator.post("/cgi-bin/menu/create", long_name,
                                  access_token=token).json()) == 40018


def test_customer_service_sessions(simulator: Simulator):
    token = simulator.token()
    openid = simulator.follow()
    kf = "kf2001@gh_tuibao0demo01"
    session = {"kf_account": kf, "openid": openid}
    assert errcode(simulator.post("/customservice/kfsession/create", session,
                                  access_token=token).json()) == 0
    got = simulator.get("/customservice/kfsession/getsession", access_token=token, openid=openid)
    assert got["kf_account"] == kf and got["createtime"] > 0
    assert errcode(simulator.post("/customservice/kfsession/close", session,
                                  access_token=token).json()) == 0
    got = simulator.get("/customservice/kfsession/getsession", access_token=token, openid=openid)
    assert got["kf_account"] == ""
