"""A WeChat user (through the simulator, as WeChat would deliver) and agents at the console's
JSON API, against the whole stack: queued once, taken by one agent, the bot silent while the
agent has the chat, replies delivered as the kf account, WeChat's window and quota surfaced to
the agent, the hand-back resuming the surrender, the audit log and the supervisor's figures."""
from __future__ import annotations

import re
import time
from typing import List

import requests

from tests.console.support import SimUser, signed_in

POLICY_1 = ("SBX1000000000012", "31002X")
KF_ACCOUNT = "kf2001@gh_tuibao0demo01"


def reach_the_quote(desk, user: SimUser) -> None:
    requests.post(f"{desk.sandbox_url}/sandbox/reset", timeout=10).raise_for_status()
    user.say("我要退保", "保单号")
    user.say(POLICY_1[0], "身份证")
    user.say(POLICY_1[1], "验证码")
    user.say(desk.sms_code(), "47.19")


def pauses(desk, openid: str) -> List[str]:
    return [e["event"] for e in desk.tracker(openid)["events"] if e["event"] in ("pause", "resume")]


def test_a_surrender_handed_to_a_person_and_back(desk):
    user = SimUser(desk)
    reach_the_quote(desk, user)
    queued = user.say("转人工", "排在第")
    assert re.search(r"RG\d{6}", queued)

    again = user.say("人呢？还要等多久", "不会重复登记")
    assert "排在第" in again
    agent, other, lead = (signed_in(desk.console_url, n) for n in ("agent1", "agent2", "lead1"))
    waiting = [c for c in agent.get("/api/v1/chats?state=waiting").json()
               if c["chat_id"] == user.openid]
    assert len(waiting) == 1 and waiting[0]["reason"] == "user_request"
    assert waiting[0]["channel"] == "wechat" and waiting[0]["policy_number"] == "SBX1********0012"

    chat = f"/api/v1/chats/{user.openid}"
    before = user._last_seq()
    assert agent.post(f"{chat}/take").status_code == 200
    # The user is told a person has joined (and, below, hears nothing from the bot meanwhile).
    assert "人工客服已接入" in user.wait_for("人工客服已接入", before)
    refused = other.post(f"{chat}/take")
    assert refused.status_code == 409 and refused.json()["assignee"] == "agent1"
    assert pauses(desk, user.openid) == ["pause"]
    assert other.post(f"{chat}/messages", {"text": "我来"}).status_code == 403

    detail = agent.get(chat).json()
    # In the transcript the notice is the desk's, not agent1's own words (nothing to flag).
    [notice] = [t for t in detail["turns"] if "人工客服已接入" in t["text"]]
    assert notice["who"] == "system", notice
    knows = detail["bot_knows"]
    assert knows["quote"]["refund"] == "47.19" and knows["verified"] is True
    assert knows["policy_number"] == "SBX1********0012" and knows["paused"] is True

    before = user._last_seq()
    sent = agent.post(f"{chat}/messages", {"text": "您好，我是人工客服小王。"})
    assert sent.status_code == 200, sent.text
    user.wait_for("人工客服小王", before)
    pushed = [m for m in desk.outbox(user.openid) if "人工客服小王" in m["content"]]
    assert pushed and pushed[-1].get("kf_account") == KF_ACCOUNT

    # The user's next message reaches the agent; the bot says nothing.
    before = user._last_seq()
    requests.post(f"{desk.simulator_url}/sim/messages",
                  json={"openid": user.openid, "text": "扣的25.41是什么钱"}, timeout=10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        turns = agent.get(chat).json()["turns"]
        if any(t["who"] == "user" and "25.41" in t["text"] for t in turns):
            break
        time.sleep(0.3)
    else:
        raise AssertionError("the user's message never reached the agent")
    time.sleep(2)
    assert user.account_said(before) == []  # not a word from the bot
    assert agent.post(f"{chat}/notes", {"text": "用户问扣费，已解释"}).status_code == 200

    before = user._last_seq()
    back = agent.post(f"{chat}/handback")
    assert back.status_code == 200 and back.json()["delivered"] is True
    resumed = user.wait_for("满意", before)
    assert "回来" in resumed and "确认要退保吗" in resumed
    assert pauses(desk, user.openid) == ["pause", "resume"]
    done = user.say("确认", "TB2026")
    assert re.search(r"TB20261125\d{6}", done)
    assert "谢谢您的肯定" in user.tap(resumed, "满意", "谢谢")

    actions = [e["action"] for e in lead.get(f"/api/v1/audit?chat_id={user.openid}").json()]
    for expected in ("take", "view", "reply", "note", "handback"):
        assert expected in actions, actions
    assert "take_refused" in actions
    figures = lead.get("/api/v1/figures").json()
    assert figures["handled_today"] >= 1 and figures["median_handle_s"] is not None
    assert agent.get(f"{chat}").json()["chat"]["state"] == "closed"


def test_wechat_quota_and_window_refusals_are_shown_to_the_agent(desk):
    user = SimUser(desk)
    user.say("转人工", "排在第")  # the bot's passive reply costs no quota
    agent = signed_in(desk.console_url, "agent1")
    chat = f"/api/v1/chats/{user.openid}"
    taken = agent.post(f"{chat}/take")
    assert taken.status_code == 200 and taken.json()["delivered"] is True
    # WeChat allows 5 pushes after a message (and 3 more within a minute of following); the
    # notice that a person has joined is the first of them.
    answers = []
    for n in range(1, 12):
        answers.append(agent.post(f"{chat}/messages", {"text": f"第{n}条回复"}))
        if answers[-1].status_code != 200:
            break
    assert 5 <= 1 + len(answers) - 1 <= 8, [a.status_code for a in answers]
    assert answers[-1].status_code == 502
    assert answers[-1].json()["code"] == "45047" and "45047" in answers[-1].json()["detail"]
    undelivered = [t for t in agent.get(chat).json()["turns"] if t["who"] == "agent"
                   and not t["delivered"]]
    assert len(undelivered) == 1 and "45047" in undelivered[0]["problem"]

    requests.post(f"{desk.simulator_url}/sim/clock", json={"advance_seconds": 49 * 3600},
                  timeout=10).raise_for_status()
    late = agent.post(f"{chat}/messages", {"text": "两天后的回复"})
    assert late.status_code == 502 and late.json()["code"] == "45015"
    assert "48小时" in late.json()["detail"]
    assert agent.post(f"{chat}/close").status_code == 200


def test_the_user_hears_when_a_person_joins_and_when_they_leave(desk):
    user = SimUser(desk)
    user.say("转人工", "排在第")
    agent = signed_in(desk.console_url, "agent1")
    chat = f"/api/v1/chats/{user.openid}"
    before = user._last_seq()
    assert agent.post(f"{chat}/take").status_code == 200
    joined = user.wait_for("人工客服已接入", before)
    before = user._last_seq()
    closed = agent.post(f"{chat}/close")
    assert closed.status_code == 200 and closed.json()["delivered"] is True
    assert "人工客服已结束本次服务" in user.wait_for("已结束", before)
    # The agent's transcript shows both notices as the desk's, sent on agent1's behalf, not as
    # agent1's own words (the journeys' finding 12: they carried a 作为训练样本 button).
    turns = agent.get(chat).json()["turns"]
    notices = [t for t in turns if "已接入" in t["text"] or "已结束" in t["text"]]
    assert [(t["who"], t["author"]) for t in notices] == [("system", "agent1")] * 2, notices
    assert not any(t["who"] == "agent" for t in turns)
    assert "已接入" in joined
    # The bot is back for the next message.
    assert "退保" in user.say("我要退保", "保单号")


def test_an_agent_flags_a_reply_and_the_question_it_answered_reaches_the_trainers(desk):
    """作为训练样本 on an agent's reply: the user's message before it joins the review queue
    (reason agent-answered), the trainers list it, the audit log has the flag."""
    user = SimUser(desk)
    user.say("转人工", "排在第")
    agent, trainer, lead = (signed_in(desk.console_url, n) for n in ("agent1", "trainer1", "lead1"))
    chat = f"/api/v1/chats/{user.openid}"
    assert agent.post(f"{chat}/take").status_code == 200
    question = "退保以后发票还能补开吗"
    requests.post(f"{desk.simulator_url}/sim/messages",
                  json={"openid": user.openid, "text": question}, timeout=10)
    deadline = time.monotonic() + 10
    while not any(t["who"] == "user" and t["text"] == question for t in agent.get(chat).json()["turns"]):
        assert time.monotonic() < deadline, "the user's message never reached the agent"
        time.sleep(0.3)
    assert agent.post(f"{chat}/messages", {"text": "可以的，我帮您登记补开。"}).status_code == 200
    at = next(t["at"] for t in agent.get(chat).json()["turns"]
              if t["who"] == "agent" and "登记补开" in t["text"])

    flagged = agent.post(f"{chat}/flag", {"at": at})
    assert flagged.status_code == 200, flagged.text
    item = flagged.json()["item"]
    assert item["text"] == question and "agent-answered" in item["reasons"]
    listed = trainer.get("/api/v1/review/items?status=new").json()["items"]
    assert item["id"] in [i["id"] for i in listed]
    actions = [e["action"] for e in lead.get(f"/api/v1/audit?chat_id={user.openid}").json()]
    assert "review_flag" in actions, actions
    assert agent.post(f"{chat}/close").status_code == 200
