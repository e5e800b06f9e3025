"""The trainer page's API, over HTTP against the real console (no Rasa: the review queue does not
need it): who may list and label, CSRF, bad labels and ids, a label that reads back, the audit
log, importing from a tracker store, the labels' Chinese names, and the page itself."""
from __future__ import annotations

import json

import pytest
import requests
from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text, create_engine

from tests.console.support import ACCOUNTS, ConsoleClient, create_account, signed_in
from harness.services import PYTHON, ROOT, free_port, service
from tests.wechat.browser.support import chromium
from training.review import ReviewItem, ReviewQueue, item_id

MESSAGES = [  # (masked text as export stores it, predicted intent, confidence, reasons, count)
    ("怎么把自动扣费关掉", "nlu_fallback", 0.31, ["fallback"], 7),
    ("我手机号138****8000 每个月都被扣钱", "request_surrender", 0.42, ["low_score", "handoff"], 4),
    ("你们是不是骗子", "complain", 0.55, ["low_score"], 3),
    ("哈哈哈哈哈", "greet", 0.22, ["fallback"], 2),
    ("能不能退一半", "request_surrender", 0.61, ["corrected"], 1),
    ("每个月自动续费扣款咋停掉", "nlu_fallback", 0.28, ["fallback", "handoff"], 9),  # the browser's
]


# The bot's own conversations (a SQL tracker store's events table) for 从最近对话导入: a
# mistyped phone the bot did not understand, twice in two conversations, and an understood greet.
TRACKER_EVENTS = [
    ("conv-a", {"event": "user", "text": "我手机号1370013700 收不到码", "timestamp": 1764835200.0,
                "parse_data": {"intent": {"name": "nlu_fallback", "confidence": 0.3}}}),
    ("conv-a", {"event": "action", "name": "action_default_fallback", "timestamp": 1764835201.0}),
    ("conv-b", {"event": "user", "text": "我手机号1370013700 收不到码", "timestamp": 1764835300.0,
                "parse_data": {"intent": {"name": "nlu_fallback", "confidence": 0.2}}}),
    ("conv-b", {"event": "user", "text": "你好", "timestamp": 1764835400.0,
                "parse_data": {"intent": {"name": "greet", "confidence": 0.99}}}),
]


def tracker_store(url: str) -> None:
    engine = create_engine(url)
    events = Table("events", MetaData(), Column("id", Integer, primary_key=True),
                   Column("sender_id", String(255)), Column("type_name", String(255)),
                   Column("timestamp", Float), Column("data", Text))
    events.metadata.create_all(engine)
    with engine.begin() as connection:
        for sender, event in TRACKER_EVENTS:
            connection.execute(events.insert().values(sender_id=sender, type_name=event["event"],
                                                      timestamp=event["timestamp"],
                                                      data=json.dumps(event, ensure_ascii=False)))
    engine.dispose()


def seed(queue: ReviewQueue) -> None:
    queue.add(ReviewItem(item_id=item_id(text), text=text, predicted_intent=intent,
                         confidence=confidence, reasons=reasons, count=count, conversations=count,
                         first_seen="2026-12-01T08:00:00Z", last_seen="2026-12-01T09:00:00Z")
              for text, intent, confidence, reasons, count in MESSAGES)


@pytest.fixture(scope="module")
def console(tmp_path_factory):
    """Only the console, on a temporary SQLite handoff database and review queue."""
    work = tmp_path_factory.mktemp("review-console")
    handoff_db = f"sqlite:///{work / 'handoff.db'}"
    review_db = f"sqlite:///{work / 'review.db'}"
    seed(ReviewQueue(review_db))
    tracker_db = f"sqlite:///{work / 'tracker.db'}"
    tracker_store(tracker_db)
    for username in ("agent1", "lead1", "trainer1"):
        role, password = ACCOUNTS[username]
        create_account(handoff_db, username, role, password)
    port = free_port()
    with service([PYTHON, "-m", "console"], f"http://127.0.0.1:{port}/health",
                 env={"CONSOLE_PORT": str(port), "TUIBAO_HANDOFF_DB_URL": handoff_db,
                      "TUIBAO_REVIEW_DB_URL": review_db, "TUIBAO_TRACKER_STORE_URL": tracker_db,
                      "TUIBAO_RASA_URL": f"http://127.0.0.1:{free_port()}"},
                 log_name="review-console"):
        yield f"http://127.0.0.1:{port}", ReviewQueue(review_db)


def url_of(console):
    return console[0]


def new_ids(client: ConsoleClient):
    answer = client.get("/api/v1/review/items?status=new")
    assert answer.status_code == 200, answer.text
    return {item["id"]: item for item in answer.json()["items"]}


def test_trainer_lists_the_new_messages_masked_with_why_and_how_often(console):
    trainer = signed_in(url_of(console), "trainer1")
    answer = trainer.get("/api/v1/review/items?status=new").json()
    by_text = {item["text"]: item for item in answer["items"]}
    assert answer["count"] == len(answer["items"]) >= 3
    phone = by_text["我手机号138****8000 每个月都被扣钱"]
    assert phone["predicted_intent"] == "request_surrender" and phone["confidence"] == 0.42
    assert phone["reasons"] == ["low_score", "handoff"] and phone["count"] == 4
    assert "13800138000" not in trainer.get("/api/v1/review/items").text
    counts = [item["count"] for item in answer["items"]]
    assert counts == sorted(counts, reverse=True)  # most frequent first


def test_label_choices_are_grouped_core_and_insurer(console):
    labels = signed_in(url_of(console), "trainer1").get("/api/v1/review/labels")
    assert labels.status_code == 200
    body = labels.json()
    assert "request_surrender" in body["core"] and "faq/cooling_off" in body["core"]
    assert body["insurers"]["hengxin"] == ["cancel_auto_renewal"]
    assert "cancel_auto_renewal" not in body["core"]


def test_a_labelled_message_leaves_the_new_list_and_reads_back_labelled(console):
    trainer = signed_in(url_of(console), "trainer1")
    wanted = item_id("怎么把自动扣费关掉")
    assert wanted in new_ids(trainer)
    answer = trainer.post(f"/api/v1/review/items/{wanted}/label", {"label": "cancel_auto_renewal"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["item"]["status"] == "labelled"
    assert wanted not in new_ids(trainer)
    labelled = {i["id"]: i for i in trainer.get("/api/v1/review/items?status=labelled").json()["items"]}
    assert labelled[wanted]["label"] == "cancel_auto_renewal"
    assert labelled[wanted]["labelled_by"] == "trainer1"
    # what `tuibao review import` will read
    stored = console[1].get(wanted)
    assert (stored.status, stored.label, stored.labelled_by) == (
        "labelled", "cancel_auto_renewal", "trainer1")


def test_a_rejected_message_is_kept_out_of_training(console):
    lead = signed_in(url_of(console), "lead1")  # supervisors may review too
    wanted = item_id("哈哈哈哈哈")
    answer = lead.post(f"/api/v1/review/items/{wanted}/reject")
    assert answer.status_code == 200, answer.text
    assert answer.json()["item"]["status"] == "rejected"
    assert wanted not in new_ids(lead)
    stored = console[1].get(wanted)
    assert (stored.status, stored.label, stored.labelled_by) == ("rejected", None, "lead1")
    assert wanted not in {i.item_id for i in console[1].labelled()}


def test_labels_and_rejections_are_in_the_audit_log(console):
    """Who, when, what: filed under the item (``review:<id>``, as chats are under their id)."""
    trainer = signed_in(url_of(console), "trainer1")
    lead = signed_in(url_of(console), "lead1")
    labelled, rejected = item_id("能不能退一半"), item_id("你们是不是骗子")
    assert trainer.post(f"/api/v1/review/items/{labelled}/label",
                        {"label": "ask_surrender_fee"}).status_code == 200
    assert trainer.post(f"/api/v1/review/items/{rejected}/reject").status_code == 200

    def trail(item):
        entries = lead.get(f"/api/v1/audit?chat_id=review:{item}").json()
        assert all(e["at"] for e in entries)
        return [(e["actor"], e["role"], e["action"], e["detail"]) for e in entries]

    assert trail(labelled) == [("trainer1", "trainer", "review_label", "label ask_surrender_fee")]
    assert trail(rejected) == [("trainer1", "trainer", "review_reject", None)]


def test_an_unknown_label_is_refused_and_changes_nothing(console):
    trainer = signed_in(url_of(console), "trainer1")
    wanted = item_id("我手机号138****8000 每个月都被扣钱")
    for label in ("cancel_everything", "", "faq/no_such_topic"):
        answer = trainer.post(f"/api/v1/review/items/{wanted}/label", {"label": label})
        assert answer.status_code == 422, (label, answer.text)
    assert "没有这个意图" in trainer.post(f"/api/v1/review/items/{wanted}/label",
                                     {"label": "cancel_everything"}).json()["detail"]
    assert console[1].get(wanted).status == "new"


def test_an_unknown_item_is_not_found(console):
    trainer = signed_in(url_of(console), "trainer1")
    for unknown in ("0123456789ab", "../../etc", "x" * 40):
        answer = trainer.post(f"/api/v1/review/items/{unknown}/label", {"label": "greet"})
        assert answer.status_code == 404, (unknown, answer.status_code)
        assert trainer.post(f"/api/v1/review/items/{unknown}/reject").status_code == 404


def test_agents_may_not_review(console):
    agent = signed_in(url_of(console), "agent1")
    wanted = item_id("我手机号138****8000 每个月都被扣钱")
    assert agent.get("/api/v1/review/items").status_code == 403
    assert agent.get("/api/v1/review/labels").status_code == 403
    assert agent.post(f"/api/v1/review/items/{wanted}/label", {"label": "greet"}).status_code == 403
    assert agent.post(f"/api/v1/review/items/{wanted}/reject").status_code == 403
    assert console[1].get(wanted).status == "new"


def test_no_session_no_review(console):
    wanted = item_id("我手机号138****8000 每个月都被扣钱")
    base = url_of(console)
    for method, path in (("GET", "/api/v1/review/items"), ("GET", "/api/v1/review/labels"),
                         ("POST", f"/api/v1/review/items/{wanted}/label"),
                         ("POST", f"/api/v1/review/items/{wanted}/reject")):
        answer = requests.request(method, f"{base}{path}", json={"label": "greet"}, timeout=10)
        assert answer.status_code == 401, (method, path)


def test_changes_without_the_csrf_token_are_refused(console):
    trainer = signed_in(url_of(console), "trainer1")
    wanted = item_id("我手机号138****8000 每个月都被扣钱")
    assert trainer.post(f"/api/v1/review/items/{wanted}/label", {"label": "greet"},
                        csrf=False).status_code == 403
    assert trainer.post(f"/api/v1/review/items/{wanted}/reject", csrf=False).status_code == 403
    trainer.csrf_token = "forged"
    assert trainer.post(f"/api/v1/review/items/{wanted}/reject").status_code == 403
    assert console[1].get(wanted).status == "new"


def test_a_bad_status_is_refused(console):
    trainer = signed_in(url_of(console), "trainer1")
    assert trainer.get("/api/v1/review/items?status=everything").status_code == 422


def test_the_page_has_the_review_view(console):
    trainer = signed_in(url_of(console), "trainer1")
    page = trainer.get("/")
    assert page.status_code == 200 and 'id="review-view"' in page.text and "采纳" in page.text
    script = trainer.get("/static/console.js").text
    assert "/api/v1/review/items" in script and 'showView("review")' in script


def test_a_trainer_signs_in_lands_on_the_review_page_and_labels_without_a_reload(console):
    """In Chromium: sign in, the 标注 page with the queue, pick the intent, 采纳; the row says so
    at once, the page never reloads, and the queue holds the label. Leaves a screenshot in
    .test-logs/review-page.png."""
    text = "每个月自动续费扣款咋停掉"
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 800}, locale="zh-CN")
        page.goto(f"{url_of(console)}/signin")
        page.fill("#username", "trainer1")
        page.fill("#password", ACCOUNTS["trainer1"][1])
        page.click("button[type=submit]")
        row = page.locator("#review-items tr", has_text=text)
        row.wait_for(timeout=15000)
        assert page.locator("#review-view").is_visible()
        assert page.locator("#chat-list").count() == 0  # no desk for trainers
        assert page.locator("#views").is_hidden()
        assert row.locator("td").nth(2).inner_text() == "没听懂、转了人工"  # reasons, in Chinese
        assert row.locator("td").nth(3).inner_text() == "9"
        page.evaluate("window.notReloaded = true")
        row.locator("select").select_option("cancel_auto_renewal")
        row.locator("button", has_text="采纳").click()
        page.wait_for_function(
            "t => [...document.querySelectorAll('#review-items tr')].some("
            "r => r.textContent.includes(t) && r.textContent.includes('已采纳：取消自动续费（恒信人寿）'))",
            arg=text, timeout=10000)
        assert page.evaluate("window.notReloaded") is True
        page.screenshot(path=str(ROOT / ".test-logs" / "review-page.png"))
    stored = console[1].get(item_id(text))
    assert (stored.status, stored.label, stored.labelled_by) == (
        "labelled", "cancel_auto_renewal", "trainer1")


def test_a_trainer_imports_the_recent_conversations_masked_once(console):
    """从最近对话导入: what ``tuibao review export`` does, from the console; a second import finds
    nothing new and keeps the count; the mistyped phone is masked; agents may not."""
    trainer = signed_in(url_of(console), "trainer1")
    assert trainer.post("/api/v1/review/import", csrf=False).status_code == 403
    assert signed_in(url_of(console), "agent1").post("/api/v1/review/import").status_code == 403
    first = trainer.post("/api/v1/review/import")
    assert first.status_code == 200, first.text
    assert (first.json()["found"], first.json()["new"]) == (1, 1)
    masked = "我手机号137******* 收不到码"
    item = new_ids(trainer)[item_id(masked)]
    assert item["text"] == masked and item["count"] == 2 and item["conversations"] == 2
    assert item["reasons"] == ["fallback", "low_score"]
    assert "1370013700" not in trainer.get("/api/v1/review/items").text
    again = trainer.post("/api/v1/review/import").json()
    assert (again["found"], again["new"]) == (1, 0)
    assert console[1].get(item_id(masked)).count == 2
    lead = signed_in(url_of(console), "lead1")
    trail = lead.get("/api/v1/audit").json()
    assert [e["detail"] for e in trail if e["action"] == "review_import"][:2] == [
        "found 1 new 0", "found 1 new 1"]


def test_labels_have_chinese_names_and_examples_for_the_page(console):
    names = signed_in(url_of(console), "trainer1").get("/api/v1/review/label-names")
    assert names.status_code == 200
    body = names.json()
    assert body["request_human"] == {"name": "要人工客服", "example": "给我转人工", "insurer": None}
    assert body["cancel_auto_renewal"]["insurer"] == "恒信人寿"
    assert signed_in(url_of(console), "agent1").get("/api/v1/review/label-names").status_code == 403
