"""After one WeChat surrender on a whole stack, the operator's figures say so: the channel's
turn counters, the action server's funnel counter, and ``tuibao report funnel --json`` read
from the tracker store. Once with SQLite, once with PostgreSQL; and one message's trace id
followed through the logs of Rasa, the action server and the sandbox insurer."""
from __future__ import annotations

import json
import re
import subprocess
import uuid

import pytest
import requests

from tests.observability.scrape import scrape, value
from tests.support.postgres import postgres_database
from harness.services import PYTHON, ROOT
from harness.stack import tuibao_stack
from harness.wechat_caller import WeChatCaller, new_openid, text_xml

POLICY, ID_SUFFIX, PHONE = "SBX1000000000012", "31002X", "13800138000"


def _tracker_store(kind: str, work_dir, pg_url: str = ""):
    store = {"type": "bot.tracker_store.RedactingSQLTrackerStore"}
    if kind == "sqlite":
        return {**store, "dialect": "sqlite", "db": str(work_dir / "tracker.db")}
    db = pg_url.rsplit("/", 1)[1]
    return {**store, "dialect": "postgresql", "url": "127.0.0.1", "port": 5432,
            "db": db, "username": "postgres"}


def _store_url(kind: str, work_dir, pg_url: str = "") -> str:
    return f"sqlite:///{work_dir / 'tracker.db'}" if kind == "sqlite" else pg_url


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def running(request, tmp_path_factory):
    kind = request.param
    work_dir = tmp_path_factory.mktemp(f"obs-{kind}")
    prefix = f"obs-{kind}-{uuid.uuid4().hex[:6]}"
    if kind == "sqlite":
        with tuibao_stack(work_dir, tracker_store=_tracker_store(kind, work_dir),
                          log_prefix=prefix) as stack:
            yield kind, stack, _store_url(kind, work_dir), prefix
    else:
        with postgres_database("obs") as pg_url:
            with tuibao_stack(work_dir, tracker_store=_tracker_store(kind, work_dir, pg_url),
                              log_prefix=prefix) as stack:
                yield kind, stack, pg_url, prefix


def _report(store_url: str, *extra: str) -> dict:
    done = subprocess.run(
        [PYTHON, "-m", "training.cli", "report", "funnel", "--json", "--tracker-store",
         store_url, "--handoff-db", "sqlite:///:memory:", *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_one_wechat_surrender_moves_the_figures(running):
    kind, stack, store_url, _ = running
    wechat = WeChatCaller(stack.webhook_url)
    rasa_before, actions_before = scrape(stack.rasa_url), scrape(stack.action_url)
    report_before = _report(store_url)
    openid = new_openid()
    sent = 0

    def say(text: str) -> str:
        nonlocal sent
        delivery = wechat.say(openid, text)
        sent += 1
        assert delivery.status == 200 and delivery.reply_text, (text, delivery)
        return delivery.reply_text

    assert "保单号" in say("我要退保")
    assert "身份证" in say(POLICY)
    say(ID_SUFFIX)
    assert "确认" in say(stack.sms_code(PHONE))
    case_number = re.search(r"TB\d{14}", say("确认")).group()

    rasa, actions = scrape(stack.rasa_url), scrape(stack.action_url)
    moved = lambda now, before, name, **labels: value(now, name, **labels) - value(before, name, **labels)
    assert moved(rasa, rasa_before, "tuibao_turns_total", channel="wechat") == sent
    assert moved(rasa, rasa_before, "tuibao_turn_seconds_count", channel="wechat") == sent
    # Every one of those turns answered within WeChat's 5 s (the histogram's 5 s bucket).
    assert moved(rasa, rasa_before, "tuibao_turn_seconds_bucket", channel="wechat", le="5.0") == sent
    for step in ("started", "verified", "quoted", "confirmed", "case_created"):
        assert moved(actions, actions_before, "tuibao_surrender_funnel_total",
                     insurer="sandbox", step=step) == 1, step
    assert moved(actions, actions_before, "tuibao_surrender_funnel_total",
                 insurer="sandbox", step="withdrawn") == 0
    # The insurer's calls were timed, all answered.
    assert moved(actions, actions_before, "tuibao_insurer_call_seconds_count", insurer="sandbox",
                 operation="quote", outcome="answered") >= 1

    # A double tap on 确认 is the same case: no second case_created.
    say("确认")
    assert moved(scrape(stack.action_url), actions_before, "tuibao_surrender_funnel_total",
                 insurer="sandbox", step="case_created") == 1

    report = _report(store_url)
    steps, steps_before = report["insurers"]["sandbox"]["steps"], \
        report_before.get("insurers", {}).get("sandbox", {}).get("steps", {})
    assert steps["case_created"] - steps_before.get("case_created", 0) == 1
    assert steps["started"] - steps_before.get("started", 0) == 1
    assert report["conversations"] - report_before["conversations"] == 1
    assert report["insurers"]["sandbox"]["time_to_case"]["count"] >= 1
    # The user's ID number and phone never show in the report.
    text = json.dumps(report, ensure_ascii=False)
    assert "11010519491231002X" not in text and PHONE not in text
    # Other insurers' filter leaves this case out.
    assert "sandbox" not in _report(store_url, "--insurer", "hengxin")["insurers"]
    assert case_number


def test_every_process_serves_metrics_on_loopback(running):
    _, stack, _, _ = running
    for url in (stack.rasa_url, stack.action_url, stack.sandbox_url, stack.simulator_url):
        answer = requests.get(f"{url}/metrics", timeout=10)
        assert answer.status_code == 200, url
        assert answer.headers["Content-Type"].startswith("text/plain"), url


def test_one_message_followed_through_every_log(running):
    _, stack, _, prefix = running
    wechat = WeChatCaller(stack.webhook_url)
    openid = new_openid()
    wechat.say(openid, "我要退保")
    wechat.say(openid, POLICY)
    # The proxy in front of Rasa names this message (the ID suffix: the bot asks the insurer
    # to check it); the id must reach every process.
    trace_id = uuid.uuid4().hex
    query, body = wechat.signed_request(text_xml(openid, ID_SUFFIX))
    answer = requests.post(stack.webhook_url, params=query, data=body, timeout=15,
                           headers={"Content-Type": "text/xml", "X-Request-ID": trace_id})
    assert answer.status_code == 200 and answer.headers.get("X-Request-ID") == trace_id
    assert "138****8000" in (wechat.open_reply(answer.text, query) or "")

    logs = ROOT / ".test-logs"
    for process, must_say in (("rasa", "wechat text from"),
                              ("actions", "validate_surrender_form"),
                              ("sandbox", "/v1/identity/verify")):
        lines = [line for line in (logs / f"{prefix}-{process}.log").read_text(
            encoding="utf-8", errors="replace").splitlines() if trace_id in line]
        assert any(must_say in line for line in lines), (process, lines[:5])
        # Nothing personal rides along with the id.
        assert not any("13800138000" in line or "11010519491231002X" in line for line in lines)
