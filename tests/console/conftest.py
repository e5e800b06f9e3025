"""One whole stack with the agent console on a fresh PostgreSQL database (shared by the action
server and the console, as in production), and the accounts made by the admin command."""
from __future__ import annotations

import pytest

from tests.support.stack import tuibao_stack
from tests.console.support import ACCOUNTS, create_account, postgres_database
from tests.wechat.wechat_caller import WeChatCaller


@pytest.fixture(scope="session")
def desk(tmp_path_factory):
    with postgres_database() as db_url:
        for username, (role, password) in ACCOUNTS.items():
            create_account(db_url, username, role, password)
        with tuibao_stack(tmp_path_factory.mktemp("console-stack"), with_console=True,
                          handoff_db_url=db_url, log_prefix="console",
                          handoff_env={"WECHAT_KF_ACCOUNT": "kf2001@gh_tuibao0demo01",
                                       # as behind the demo's proxy: X-Forwarded-For names
                                       # the client (tests of the per-source sign-in limit)
                                       "CONSOLE_FORWARDED_ALLOW_IPS": "127.0.0.1"}) as running:
            yield running


@pytest.fixture
def wechat(desk) -> WeChatCaller:
    return WeChatCaller(desk.webhook_url)
