"""The report's days are Asia/Shanghai days, in every store: a handoff asked for at 00:30 in
Shanghai (16:30 UTC the day before) belongs to the Shanghai day, on SQLite (which keeps no
zone) as on PostgreSQL."""
from __future__ import annotations

import datetime as dt

import pytest

from handoff.store import HandoffStore, handoff_chats
from tests.support.postgres import postgres_database
from training.report_funnel import day_start, read_handoffs

UTC = dt.timezone.utc


@pytest.fixture(params=["sqlite", "postgresql"])
def handoff_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'handoff.db'}"
    else:
        with postgres_database("obsrange") as url:
            yield url


def test_a_handoff_after_midnight_in_shanghai_is_that_days(handoff_url):
    store = HandoffStore(handoff_url)
    asked = dt.datetime(2026, 12, 4, 16, 30, tzinfo=UTC)  # 2026-12-05 00:30 in Shanghai
    with store.engine.begin() as conn:
        conn.execute(handoff_chats.insert().values(
            conversation_id="wx_user", channel="wechat", reason="complaint", state="taken",
            requested_at=asked, taken_at=asked + dt.timedelta(seconds=45)))
    store.engine.dispose()
    on_the_5th = read_handoffs(handoff_url, day_start("2026-12-05"),
                               day_start("2026-12-05", next_day=True))
    assert [(h["reason"], (h["taken_at"] - h["requested_at"]).total_seconds())
            for h in on_the_5th] == [("complaint", 45.0)]
    assert read_handoffs(handoff_url, day_start("2026-12-04"),
                         day_start("2026-12-04", next_day=True)) == []
