"""The console's page-shaped helpers without a server: where 从最近对话导入 reads the bot's
conversations, and the satisfaction figure."""
from __future__ import annotations

import datetime as dt

import pytest

from console.routes_ui import satisfaction, tracker_store_url
from handoff.store import HandoffStore
from harness.services import ROOT


def test_the_tracker_store_is_the_demos_sqlite_file_or_the_configured_url(monkeypatch):
    monkeypatch.delenv("TUIBAO_TRACKER_STORE_URL", raising=False)
    monkeypatch.delenv("TUIBAO_ENDPOINTS", raising=False)
    monkeypatch.delenv("TUIBAO_ACTION_SECRET", raising=False)  # another section's secret
    assert tracker_store_url() == f"sqlite:///{ROOT / 'var' / 'tracker.db'}"
    monkeypatch.setenv("TUIBAO_ENDPOINTS", "deploy/endpoints.scale.yml")
    monkeypatch.setenv("TUIBAO_PG_HOST", "pg.internal")
    monkeypatch.setenv("TUIBAO_PG_DB", "tuibao")
    monkeypatch.setenv("TUIBAO_PG_USER", "rasa")
    monkeypatch.setenv("TUIBAO_PG_PASSWORD", "s3cret@x")
    monkeypatch.delenv("TUIBAO_PG_PORT", raising=False)
    with pytest.raises(ValueError, match="TUIBAO_PG_PORT"):  # named, not a bad URL
        tracker_store_url()
    monkeypatch.setenv("TUIBAO_PG_PORT", "5432")
    assert tracker_store_url() == "postgresql://rasa:s3cret%40x@pg.internal:5432/tuibao"
    monkeypatch.setenv("TUIBAO_TRACKER_STORE_URL", "sqlite:////tmp/elsewhere.db")
    assert tracker_store_url() == "sqlite:////tmp/elsewhere.db"


def test_satisfaction_counts_todays_ratings_on_a_three_point_scale(tmp_path):
    store = HandoffStore(f"sqlite:///{tmp_path / 'handoff.db'}")
    start = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
    assert satisfaction(store, start) == {"rated": 0, "average": None, "scale": 3,
                                          "counts": {"good": 0, "ok": 0, "bad": 0}}
    for number, rating in enumerate(("good", "good", "ok", "bad", None)):
        chat = f"wechat-user-{number}"
        store.enqueue(chat, reason="user_request", policy_number_masked=None, case_number=None,
                      last_message="转人工")
        store.take(chat, "agent1")
        store.close(chat, "handback")
        if rating:
            store.rate(chat, rating)
    figure = satisfaction(store, start)
    assert figure["rated"] == 4 and figure["counts"] == {"good": 2, "ok": 1, "bad": 1}
    assert figure["average"] == 2.25  # (3 + 3 + 2 + 1) / 4
    assert satisfaction(store, start + dt.timedelta(hours=2))["rated"] == 0  # not today's
