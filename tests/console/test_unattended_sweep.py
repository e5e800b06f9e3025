"""A chat handed to a person that nobody takes: the console's sweep tells the user once, on
their own channel, what they can do meanwhile (leave a message, ask for a call back, the
hotline), and the chat stays in the queue for the first agent free. Its own stack: the sweep
runs every second and a chat counts as unattended after two, which the shared desk stack must
not do to the other tests' chats."""
from __future__ import annotations

import time

import pytest

from tests.console.support import ACCOUNTS, SimUser, create_account, postgres_database, signed_in
from harness.stack import tuibao_stack

UNATTENDED_AFTER_S = 2


@pytest.fixture(scope="module")
def quiet_desk(tmp_path_factory):
    with postgres_database() as db_url:
        role, password = ACCOUNTS["agent1"]
        create_account(db_url, "agent1", role, password)
        with tuibao_stack(tmp_path_factory.mktemp("unattended-stack"), with_console=True,
                          handoff_db_url=db_url, log_prefix="unattended",
                          handoff_env={"TUIBAO_HANDOFF_UNATTENDED_S": str(UNATTENDED_AFTER_S),
                                       "CONSOLE_SWEEP_EVERY_S": "1"}) as running:
            yield running


def test_an_untaken_chat_is_told_once_what_to_do_and_stays_in_the_queue(quiet_desk):
    user = SimUser(quiet_desk)
    queued = user.say("转人工", "排在第")
    before = user._last_seq()
    told = user.wait_for("客服都在忙", before, timeout=30)
    assert "留言" in told and "回电" in told and "热线" in told, told

    time.sleep(UNATTENDED_AFTER_S + 3)  # several sweeps later: still told only once
    assert sum("客服都在忙" in said for said in user.account_said(before)) == 1
    assert "排在第" in queued

    agent = signed_in(quiet_desk.console_url, "agent1")
    waiting = [c for c in agent.get("/api/v1/chats?state=waiting").json()
               if c["chat_id"] == user.openid]
    assert len(waiting) == 1  # the queue keeps it for the first agent free
    assert agent.post(f"/api/v1/chats/{user.openid}/take").status_code == 200
