"""One whole stack with the agent console on a fresh PostgreSQL database (shared by the action
server and the console, as in production), the bot's conversations in a SQL tracker store, and
the accounts made by the admin command."""
from __future__ import annotations

import pytest

from harness.stack import tuibao_stack
from tests.console.support import ACCOUNTS, create_account, postgres_database
from harness.wechat_caller import WeChatCaller


@pytest.fixture(scope="session")
def desk(tmp_path_factory):
    with postgres_database() as db_url:
        for username, (role, password) in ACCOUNTS.items():
            create_account(db_url, username, role, password)
        work = tmp_path_factory.mktemp("console-stack")
        # The bot's conversations in a SQL tracker store, as in production, so the trainer's
        # 从最近对话导入 reads them; the review queue is the stack's own (tests seed it through
        # the product's export too).
        tracker_db = work / "tracker.db"
        review_db_url = f"sqlite:///{work / 'review.db'}"
        with tuibao_stack(work, with_console=True, handoff_db_url=db_url, log_prefix="console",
                          tracker_store={"type": "bot.tracker_store.RedactingSQLTrackerStore",
                                         "dialect": "sqlite", "db": str(tracker_db)},
                          handoff_env={"WECHAT_KF_ACCOUNT": "kf2001@gh_tuibao0demo01",
                                       "TUIBAO_TRACKER_STORE_URL": f"sqlite:///{tracker_db}",
                                       "TUIBAO_REVIEW_DB_URL": review_db_url,
                                       # as behind the demo's proxy: X-Forwarded-For names
                                       # the client (tests of the per-source sign-in limit)
                                       "CONSOLE_FORWARDED_ALLOW_IPS": "127.0.0.1",
                                       "CONSOLE_SOURCE_THROTTLE_S": "3"},
                          ) as running:
            running.extra["review_db_url"] = review_db_url
            yield running


@pytest.fixture
def wechat(desk) -> WeChatCaller:
    return WeChatCaller(desk.webhook_url)
