"""Faults on the running cluster, each with what a user would notice: an action server killed
mid-conversation, the insurer answering 500s or hanging, a WeChat resend storm across both
replicas, and two messages of one user reaching two replicas at the same moment. Every user is
told something true, nothing happens twice, and the cluster is healthy again by itself."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List

import requests

from tests.cluster.support import (API_TOKEN, INGRESS, SUBMITTED, SurrenderingUser,
                                   WeChatServer)
from harness.wechat_caller import new_openid, text_xml

INSURER_DOWN = "保险公司的系统暂时没有响应"


def _user(cluster, wechat) -> SurrenderingUser:
    user = SurrenderingUser(new_openid(), cluster.load_policies(1)[0], cluster, wechat)
    cluster.follow(user.openid)
    return user


def _finish_surrender(user: SurrenderingUser) -> str:
    phone = user.policy["phone"]
    user.ask(user.policy["id_suffix"], f"{phone[:3]}****{phone[-4:]}")
    user.ask(user.cluster.sms_code(phone), "47.19")
    submitted = user.ask("确认", SUBMITTED)
    return submitted[submitted.index(SUBMITTED):].split("案件号")[1].strip()[:16]


def test_action_server_killed_mid_conversation(cluster, wechat, healthy_again):
    user = _user(cluster, wechat)
    user.ask("我要退保", "保单号")
    user.ask(user.policy["policy_number"], "身份证")
    cluster.kill("actions-1")  # the conversation goes on on actions-2, behind the same address
    case_number = _finish_surrender(user)
    assert [c["case_number"] for c in cluster.cases(user.policy["policy_number"])] == [case_number]
    assert user.times_told(SUBMITTED) == 1
    assert not cluster.healthy()["actions-1"]
    cluster.start("actions-1")


def test_an_action_server_killed_without_the_action_ingress_fails_the_turn(cluster,
                                                                           healthy_again):
    """What the test above proves, shown by taking it away: ``rasa-1`` started with its action
    endpoint at ``actions-1`` itself instead of the nginx address in front of both. Once
    ``actions-1`` is killed, the user's next message on ``rasa-1`` gets no identity check: the
    other action server is up, and nothing sends the call there. ``rasa-1`` and ``actions-1``
    go back to the cluster's own settings afterwards."""
    direct = f"{cluster.url_of('actions-1')}/webhook"
    cluster.kill("rasa-1")
    cluster.start("rasa-1", env={"TUIBAO_ACTION_URL": direct})
    try:
        policy = cluster.load_policies(1)[0]
        user = SurrenderingUser(new_openid(), policy, cluster,
                                WeChatServer(cluster.url_of("rasa-1")))
        cluster.follow(user.openid)
        user.ask("我要退保", "保单号")
        user.ask(policy["policy_number"], "身份证")
        cluster.kill("actions-1")
        reply, _tries = user.wechat.deliver(text_xml(user.openid, policy["id_suffix"]))
        seen = [reply] if reply else []
        time.sleep(5)  # an answer pushed after the passive reply's deadline
        seen += cluster.outbox(user.openid)[user._pushed_seen:]
        phone = policy["phone"]
        assert not any(f"{phone[:3]}****{phone[-4:]}" in text for text in seen), seen
        assert cluster.cases(policy["policy_number"]) == []
        assert cluster.healthy()["actions-2"]
        print(f"actions-1 killed, rasa-1 calling it directly: the user's ID suffix was "
              f"answered with {seen!r}")
    finally:
        cluster.start("actions-1")
        cluster.kill("rasa-1")
        cluster.start("rasa-1")
    assert not any(e.get("overrides") for e in cluster.status())


def _surrender_through_insurer_fault(cluster, wechat, error_mode: str) -> None:
    user = _user(cluster, wechat)
    user.ask("我要退保", "保单号")
    user.ask(user.policy["policy_number"], "身份证")
    cluster.set_insurer_faults(error_rate=1.0, error_mode=error_mode)
    told = user.ask(user.policy["id_suffix"], INSURER_DOWN, wait_push_s=40)  # identity check
    assert SUBMITTED not in told and "验证码已发送" not in told
    assert cluster.cases(user.policy["policy_number"]) == []
    cluster.set_insurer_faults()
    # As the bot said: saying it again once the insurer answers finishes the surrender.
    user.ask("我要退保", "保单号")
    user.ask(user.policy["policy_number"], "身份证")
    case_number = _finish_surrender(user)
    assert [c["case_number"] for c in cluster.cases(user.policy["policy_number"])] == [case_number]
    assert user.times_told(SUBMITTED) == 1


def test_insurer_answering_500s(cluster, wechat, healthy_again):
    _surrender_through_insurer_fault(cluster, wechat, "500")


def test_insurer_hanging(cluster, wechat, healthy_again):
    _surrender_through_insurer_fault(cluster, wechat, "hang")


def test_the_insurer_hanging_without_the_adapters_timeouts_leaves_the_user_unanswered(
        cluster, wechat, healthy_again, tmp_path):
    """What ``test_insurer_hanging`` proves, shown by taking it away: action servers started
    with the insurers' timeouts at the sandbox's hang (600 s) tell the user nothing in 20 s,
    where the protected ones tell the truth within their 4 s budget. The action servers go back
    to the cluster's own settings afterwards."""
    import yaml

    from harness.stack import ROOT

    config = yaml.safe_load((ROOT / "insurers.yml").read_text(encoding="utf-8"))
    for entry in config["insurers"]:
        entry["timeouts"] = {"connect": 1.0, "read": 600.0, "budget": 1200.0, "max_attempts": 1}
    patient = tmp_path / "insurers-without-timeouts.yml"
    patient.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    servers = ["actions-1", "actions-2"]

    def restart(env) -> None:
        for name in servers:
            cluster.kill(name)
            cluster.start(name, env=env)

    restart({"TUIBAO_INSURERS_FILE": str(patient)})
    try:
        user = _user(cluster, wechat)
        user.ask("我要退保", "保单号")
        user.ask(user.policy["policy_number"], "身份证")
        cluster.set_insurer_faults(error_rate=1.0, error_mode="hang")
        reply, _tries = wechat.deliver(text_xml(user.openid, user.policy["id_suffix"]))
        seen = [reply] if reply else []
        time.sleep(20)  # five times the budget the protected servers keep
        seen += cluster.outbox(user.openid)[user._pushed_seen:]
        assert not any(INSURER_DOWN in text for text in seen), seen
        print(f"insurer hanging without the adapter's timeouts: told after 20 s: {seen!r}")
    finally:
        cluster.set_insurer_faults()
        restart(None)
    assert not any(e.get("overrides") for e in cluster.status())


def _tracker_events(openid: str) -> List[Dict]:
    answer = requests.get(f"{INGRESS}/conversations/{openid}/tracker",
                          params={"token": API_TOKEN}, timeout=10)
    answer.raise_for_status()
    return answer.json()["events"]


def _resend_storm(cluster, openid: str, text: str):
    """One MsgId delivered 12 times at once, to the ingress and to both replicas: the answers
    WeChat took (passive or pushed) and the user's messages the tracker holds."""
    xml = text_xml(openid, text)
    targets = [WeChatServer(INGRESS)] * 4 + [
        WeChatServer(url) for url in cluster.replica_urls()] * 4
    with ThreadPoolExecutor(max_workers=len(targets)) as pool:
        deliveries = list(pool.map(lambda server: server.send(xml), targets))
    assert all(d.status == 200 for d in deliveries), [d.status for d in deliveries]
    answers = [d.reply_text for d in deliveries if d.reply_text] + list(cluster.outbox(openid))
    deadline = time.monotonic() + 30  # a turn answered by push may still be running
    while True:
        events = _tracker_events(openid)
        if events and events[-1].get("name") == "action_listen" or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    return answers, _user_texts(events)


def _user_texts(events: List[Dict]) -> List[str]:
    """What the user said, in order (following the account in the simulator was a turn of its
    own, /greet, not said by the user)."""
    return [e["text"] for e in events if e["event"] == "user" and e.get("text") != "/greet"]


def test_resend_storm_across_both_replicas_is_one_turn_one_answer(cluster, healthy_again):
    openid = new_openid()
    cluster.follow(openid)
    answers, said = _resend_storm(cluster, openid, "我要退保")
    assert len(set(answers)) == 1 and "保单号" in answers[0], answers
    assert said == ["我要退保"]


def test_the_same_storm_without_shared_delivery_state_runs_the_turn_twice(cluster,
                                                                           healthy_again):
    """What the test above proves, shown by taking it away: with ``rasa-1`` keeping WeChat's
    deliveries in its own memory (``WECHAT_DEDUPE_REDIS_URL`` empty, as one process may) while
    ``rasa-2`` keeps them in Redis, the same storm becomes a turn on each and the user is asked
    twice. ``rasa-1`` goes back to the cluster's own settings afterwards."""
    cluster.kill("rasa-1")
    cluster.start("rasa-1", env={"WECHAT_DEDUPE_REDIS_URL": ""})
    try:
        overrides = {e["name"]: e.get("overrides") for e in cluster.status()}
        assert overrides["rasa-1"] == ["WECHAT_DEDUPE_REDIS_URL="], overrides
        assert not overrides["rasa-2"], overrides
        openid = new_openid()
        cluster.follow(openid)
        answers, said = _resend_storm(cluster, openid, "我要退保")
        deadline = time.monotonic() + 30  # the second turn waits for the first's lock
        while said.count("我要退保") < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
            said = _user_texts(_tracker_events(openid))
        assert said.count("我要退保") >= 2, said  # one delivery, several turns
        print(f"storm without shared delivery state on rasa-1: {said.count('我要退保')} turns "
              f"of one delivery, {len(answers)} answer(s) taken by WeChat")
    finally:
        cluster.kill("rasa-1")
        cluster.start("rasa-1")
    assert not any(e.get("overrides") for e in cluster.status())


def _turns_are_serial(events: List[Dict]) -> bool:
    """Each user message's turn ends (action_listen) before the next user message starts."""
    in_turn = False
    for event in events:
        if event["event"] == "user":
            if in_turn:
                return False
            in_turn = True
        elif event["event"] == "action" and event.get("name") == "action_listen":
            in_turn = False
    return not in_turn


def test_two_messages_of_one_user_at_two_replicas_at_once(cluster, healthy_again):
    """Rasa's lock store across replicas: each message is one turn, the turns never overlap."""
    replicas = [WeChatServer(url) for url in cluster.replica_urls()]
    openids = [new_openid() for _ in range(8)]
    for openid in openids:
        cluster.follow(openid)

    def pair(openid: str) -> List[int]:
        together = threading.Barrier(2)

        def send(index: int) -> int:
            xml = text_xml(openid, ("你好", "我要退保")[index])
            request = replicas[index].signed_request(xml)
            together.wait()
            return replicas[index].post(*request).status

        with ThreadPoolExecutor(max_workers=2) as pool:
            return list(pool.map(send, (0, 1)))

    with ThreadPoolExecutor(max_workers=len(openids)) as pool:
        statuses = list(pool.map(pair, openids))
    assert all(s == [200, 200] for s in statuses), statuses
    for openid in openids:
        deadline = time.monotonic() + 60  # a turn answered by push may still be running
        events = _tracker_events(openid)
        while (len([e for e in events if e["event"] == "user"]) < 3
               or events[-1].get("name") != "action_listen") and time.monotonic() < deadline:
            time.sleep(1)
            events = _tracker_events(openid)
        texts = sorted(e["text"] for e in events
                       if e["event"] == "user" and e.get("text") != "/greet")
        assert texts == sorted(["你好", "我要退保"]), (openid, texts)
        assert _turns_are_serial(events), (openid, [(e["event"], e.get("name")) for e in events])
