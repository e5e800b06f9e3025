"""Review from real conversations: messages that fell back, scored low, were corrected, led to a
handoff or were understood but left the dialogue at a dead end come out of the tracker store (SQLite and PostgreSQL) masked, deduplicated and counted;
trainers' labels (console API or the exported file) go into the right data folder with their
provenance."""
from __future__ import annotations

import asyncio
import contextlib
import csv
from pathlib import Path

import pytest
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.training_data.loading import load_data

from bot.tracker_store import RedactingSQLTrackerStore
from tests.training.conftest import ROOT, tuibao
from training.review import ReviewQueue, label_choices
from tests.support.postgres import postgres_database

PHONE = "13912345678"
HOW_CAN_I_HELP = "好的。您想办理退保、查询进度，还是有问题想问？"


def _user(text, intent, confidence):
    return UserUttered(text, intent={"name": intent, "confidence": confidence},
                       parse_data={"text": text, "intent": {"name": intent, "confidence": confidence},
                                   "entities": []})


CONVERSATIONS = {
    "rest:alice": [_user(f"手机{PHONE} 自动续费怎么关", "nlu_fallback", 0.41),
                   ActionExecuted("action_default_fallback"),
                   _user("你好", "greet", 0.99), ActionExecuted("utter_greet")],
    "wx_bob": [_user(f"手机 {PHONE} 自动续费怎么关！", "nlu_fallback", 0.38),
               ActionExecuted("action_default_fallback"),
               _user("随便说说", "out_of_scope", 0.52), ActionExecuted("utter_out_of_scope"),
               _user("查一下进度", "check_surrender_status", 0.95),
               BotUttered("您的申请正在处理中。"), _user("不是这个", "deny", 0.93),
               _user("我要投诉", "complain", 0.96), ActionExecuted("action_handoff")],
    "wx_carol": [_user("自动扣费怎么关掉呀", "withdraw_surrender", 0.61),
                 ActionExecuted("action_ask_to_rephrase"),
                 _user("我要退保", "request_surrender", 0.97), BotUttered("请问确认提交吗？"),
                 _user("不", "deny", 0.95),
                 _user("退保有手续费吗", "ask_surrender_fee", 0.5)],  # a held-out line
    # Understood, yet the dialogue had no use for it (the journeys of issue 19, finding 13).
    "wx_wang": [_user("13700137000", "inform", 0.99),
                BotUttered(HOW_CAN_I_HELP, metadata={"utter_action": "utter_how_can_i_help"}),
                _user("在吗", "greet", 0.96), BotUttered(HOW_CAN_I_HELP),  # the same words again
                _user("谢谢", "thank", 0.99), BotUttered("不客气。")],
}


def _fill(store) -> None:
    domain = Domain.load(str(ROOT / "domain.yml"))
    for sender, events in CONVERSATIONS.items():
        tracker = DialogueStateTracker.from_events(sender, events, domain.slots)
        asyncio.run(store.save(tracker))


@contextlib.contextmanager
def _store(kind: str, tmp_path: Path):
    if kind == "sqlite":
        db = tmp_path / "tracker.db"
        yield RedactingSQLTrackerStore(dialect="sqlite", db=str(db)), f"sqlite:///{db}"
        return
    with postgres_database("review_test") as url:
        name = url.rsplit("/", 1)[1]
        store = RedactingSQLTrackerStore(dialect="postgresql", host="127.0.0.1", port=5432,
                                         db=name, username="postgres")
        try:
            yield store, url
        finally:
            store.engine.dispose()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_export_picks_masks_dedupes_and_counts(kind, project, tmp_path):
    review_db = f"sqlite:///{tmp_path / 'review.db'}"
    with _store(kind, tmp_path) as (store, url):
        _fill(store)
        done = tuibao(project, "review", "export", "--tracker-store", url, "--out",
                      str(tmp_path / "review.csv"), "--review-db", review_db)
    assert done.returncode == 0, done.stderr
    exported = (tmp_path / "review.csv").read_text(encoding="utf-8")
    assert PHONE not in exported and PHONE not in done.stdout
    rows = {row["text"]: row for row in csv.DictReader(exported.splitlines())}
    fallback = rows["手机139****5678 自动续费怎么关"]
    assert (fallback["count"], fallback["conversations"], fallback["reasons"]) == ("2", "2", "fallback,low_score")
    assert fallback["label"] == ""
    assert rows["随便说说"]["reasons"] == "low_score"
    assert rows["查一下进度"]["reasons"] == "corrected"
    assert rows["我要投诉"]["reasons"] == "handoff"
    assert rows["自动扣费怎么关掉呀"]["reasons"] == "fallback,low_score"
    assert "你好" not in rows and "我要退保" not in rows  # answered well; a "不" to a question is no correction
    assert rows["137****7000"]["reasons"] == "dead_end" and rows["在吗"]["reasons"] == "dead_end"
    assert "谢谢" not in rows
    assert "8 distinct messages (9 in all)" in done.stdout
    queue = ReviewQueue(review_db)
    assert {i.text for i in queue.items(status="new")} == set(rows)
    assert all(PHONE not in i.text for i in queue.items())


def test_labels_from_the_console_api_and_the_file_land_in_the_right_folder(project, tmp_path):
    review_db = f"sqlite:///{tmp_path / 'review.db'}"
    with _store("sqlite", tmp_path) as (store, url):
        _fill(store)
        assert tuibao(project, "review", "export", "--tracker-store", url, "--out",
                      str(tmp_path / "review.csv"), "--review-db", review_db).returncode == 0
    queue = ReviewQueue(review_db)
    by_text = {i.text: i for i in queue.items()}
    choices = label_choices(project)
    assert choices["cancel_auto_renewal"] == "hengxin" and choices["greet"] == "core"
    with pytest.raises(ValueError):
        queue.set_label(by_text["随便说说"].item_id, "no_such_intent", "trainer-li", choices)
    queue.set_label(by_text["自动扣费怎么关掉呀"].item_id, "cancel_auto_renewal", "trainer-li", choices)
    queue.set_label(by_text["随便说说"].item_id, "out_of_scope", "trainer-li", choices)
    queue.set_label(by_text["手机139****5678 自动续费怎么关"].item_id, "cancel_auto_renewal",
                    "trainer-li", choices)
    queue.set_label(by_text["退保有手续费吗"].item_id, "ask_surrender_fee", "trainer-li", choices)
    queue.reject(by_text["我要投诉"].item_id, "trainer-li")

    done = tuibao(project, "review", "import", "--from-db", "--review-db", review_db)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 examples folded in, 2 skipped" in done.stdout
    assert "contains masked personal data" in done.stdout
    assert "is a held-out line" in done.stdout
    insurer_file = project / "extensions/hengxin/data/nlu/cancel_auto_renewal.yml"
    text = insurer_file.read_text(encoding="utf-8")
    assert "# reviewed " in text and "labelled by trainer-li" in text
    assert f"review items {by_text['自动扣费怎么关掉呀'].item_id}" in text
    examples = {m.get("text"): m.get("intent") for m in load_data(str(insurer_file)).intent_examples}
    assert examples["自动扣费怎么关掉呀"] == "cancel_auto_renewal"
    core = {m.get("text"): m.get("intent") for m in load_data(str(project / "nlu/reviewed.yml")).intent_examples}
    assert core == {"随便说说": "out_of_scope"}
    assert {i.status for i in queue.items() if i.text in ("随便说说", "自动扣费怎么关掉呀")} == {"imported"}
    assert queue.get(by_text["我要投诉"].item_id).status == "rejected"
    # imported examples are lint clean: no duplicate, no leak
    lint = tuibao(project, "data", "lint", "--no-rasa-validate", "--data", "nlu/reviewed.yml",
                  "--data", "extensions/hengxin")
    assert "0 errors" in lint.stdout, lint.stdout

    # the exported file route: a trainer fills the label column
    rows = list(csv.DictReader((tmp_path / "review.csv").read_text(encoding="utf-8").splitlines()))
    for row in rows:
        row["label"] = "check_surrender_status" if row["text"] == "查一下进度" else ""
    with (tmp_path / "labelled.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    again = tuibao(project, "review", "import", "--file", str(tmp_path / "labelled.csv"))
    assert again.returncode == 0, again.stdout
    assert "1 examples folded in" in again.stdout
    core = {m.get("text"): m.get("intent") for m in load_data(str(project / "nlu/reviewed.yml")).intent_examples}
    assert core["查一下进度"] == "check_surrender_status"


def test_export_without_a_sql_tracker_store_says_so(project):
    (project / "endpoints.yml").write_text("tracker_store:\n  type: redis\n", encoding="utf-8")
    done = tuibao(project, "review", "export")
    assert done.returncode == 2
    assert "is not SQL; pass --tracker-store URL" in done.stderr


def test_export_says_when_there_is_no_tracker_store_or_a_bad_date(project, tmp_path):
    missing = tuibao(project, "review", "export", "--tracker-store",
                     f"sqlite:///{tmp_path / 'none.db'}", "--review-db", f"sqlite:///{tmp_path / 'r.db'}")
    assert missing.returncode == 2 and "no tracker store at sqlite:///" in missing.stderr
    with _store("sqlite", tmp_path) as (store, url):
        _fill(store)
        bad = tuibao(project, "review", "export", "--tracker-store", url, "--since", "yesterday",
                     "--review-db", f"sqlite:///{tmp_path / 'r.db'}")
        later = tuibao(project, "review", "export", "--tracker-store", url, "--since",
                       "2100-01-01T00:00+08:00", "--review-db", f"sqlite:///{tmp_path / 'r.db'}",
                       "--out", str(tmp_path / "later.csv"))
    assert bad.returncode == 2 and "not an ISO date" in bad.stderr
    assert later.returncode == 0 and "0 distinct messages" in later.stdout


def test_export_reads_the_tracker_store_named_in_endpoints(project, tmp_path):
    with _store("sqlite", tmp_path) as (store, url):
        _fill(store)
    (project / "endpoints.yml").write_text(
        "tracker_store:\n  type: bot.tracker_store.RedactingSQLTrackerStore\n  dialect: sqlite\n"
        f"  db: {tmp_path / 'tracker.db'}\n", encoding="utf-8")
    done = tuibao(project, "review", "export", "--review-db", f"sqlite:///{tmp_path / 'r.db'}",
                  "--out", str(tmp_path / "review.csv"))
    assert done.returncode == 0, done.stderr
    assert "8 distinct messages (9 in all)" in done.stdout


def test_export_as_documented_needs_no_action_server_secret(project, tmp_path, monkeypatch):
    """docs/insurers.md: `tuibao review export` with the project's endpoints.yml, whose action
    endpoint wants ${TUIBAO_ACTION_SECRET}: the export reads only the tracker store."""
    monkeypatch.delenv("TUIBAO_ACTION_SECRET", raising=False)
    assert "${TUIBAO_ACTION_SECRET}" in (project / "endpoints.yml").read_text(encoding="utf-8")
    review_db = f"sqlite:///{tmp_path / 'r.db'}"
    nothing_yet = tuibao(project, "review", "export", "--review-db", review_db)
    assert nothing_yet.returncode == 2, nothing_yet.stdout + nothing_yet.stderr
    assert "Traceback" not in nothing_yet.stderr
    assert "no tracker store at sqlite:///" in nothing_yet.stderr and "var/tracker.db" in nothing_yet.stderr
    (project / "var").mkdir()
    with _store("sqlite", project / "var") as (store, url):
        _fill(store)
    done = tuibao(project, "review", "export", "--review-db", review_db,
                  "--out", str(tmp_path / "review.csv"))
    assert done.returncode == 0, done.stderr
    assert "8 distinct messages (9 in all)" in done.stdout


def test_export_names_the_variable_its_tracker_store_needs(project):
    (project / "endpoints.yml").write_text(
        "tracker_store:\n  type: sql\n  dialect: postgresql\n  url: localhost\n"
        "  password: ${TUIBAO_NO_SUCH_VARIABLE}\n", encoding="utf-8")
    done = tuibao(project, "review", "export")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "needs ${TUIBAO_NO_SUCH_VARIABLE}, which is not set" in done.stderr


def test_an_agents_reply_flagged_in_the_console_queues_what_the_user_asked(tmp_path):
    from training.review import AGENT_ANSWERED, ReviewQueue, flag_agent_reply

    queue = ReviewQueue(f"sqlite:///{tmp_path / 'review.db'}")
    turns = [  # the console's transcript (console.transcript.merged): already masked
        {"who": "user", "text": "我手机13912345678 换了，扣款卡也要换", "at": "2026-12-04T08:00:01"},
        {"who": "bot", "text": "抱歉，我没听懂。", "at": "2026-12-04T08:00:02"},
        {"who": "system", "text": "机器人已暂停，人工接手", "at": "2026-12-04T08:00:05"},
        {"who": "agent", "author": "agent1", "text": "您可以在保单页面更换扣款银行卡。",
         "at": "2026-12-04T08:01:00", "delivered": True},
    ]
    item = flag_agent_reply(queue, turns, "2026-12-04T08:01:00")
    assert item.text == "我手机139****5678 换了，扣款卡也要换"  # masked again, whatever came in
    assert item.reasons == [AGENT_ANSWERED] and item.status == "new"
    assert [i.item_id for i in queue.items(status="new")] == [item.item_id]
    again = flag_agent_reply(queue, turns, "2026-12-04T08:01:00")
    assert again.count == 2 and again.item_id == item.item_id
    with pytest.raises(ValueError, match="no agent reply"):
        flag_agent_reply(queue, turns, "2026-12-04T09:00:00")
    with pytest.raises(ValueError, match="no user message"):
        flag_agent_reply(queue, turns[3:], "2026-12-04T08:01:00")
