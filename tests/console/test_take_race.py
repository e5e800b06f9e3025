"""Ten agents press 接手 on the same chat at the same moment (console on PostgreSQL, as in
production): exactly one gets it, nine hear who has it, and the bot is paused once."""
from __future__ import annotations

import threading

from tests.console.support import create_account, signed_in
from tests.console.test_handoff_over_wechat import SimUser


def test_ten_concurrent_takes_exactly_one_wins(desk):
    assert desk.handoff_db_url.startswith("postgresql://")
    names = [f"racer{n:02d}" for n in range(10)]
    for name in names:
        create_account(desk.handoff_db_url, name, "agent", f"tuibao-{name}-demo")
    from tests.console import support
    support.ACCOUNTS.update({name: ("agent", f"tuibao-{name}-demo") for name in names})
    agents = [signed_in(desk.console_url, name) for name in names]

    user = SimUser(desk)
    user.say("转人工", "排在第")
    path = f"/api/v1/chats/{user.openid}/take"
    start = threading.Barrier(len(agents))
    answers = {}

    def take(agent):
        start.wait()
        answers[agent.user["name"]] = agent.post(path)

    threads = [threading.Thread(target=take, args=(agent,)) for agent in agents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    codes = sorted(answer.status_code for answer in answers.values())
    assert codes == [200] + [409] * 9, codes
    [winner] = [name for name, answer in answers.items() if answer.status_code == 200]
    assert {a.json()["assignee"] for a in answers.values() if a.status_code == 409} == {winner}
    mine = [a for a in agents if a.user["name"] == winner][0]
    # Only the winner (and supervisors) read the chat now (issue 18.3).
    chat = mine.get(f"/api/v1/chats/{user.openid}").json()["chat"]
    assert chat["state"] == "taken" and chat["assignee"] == winner
    loser = [a for a in agents if a.user["name"] != winner][0]
    assert loser.get(f"/api/v1/chats/{user.openid}").status_code == 403
    events = [e["event"] for e in desk.tracker(user.openid)["events"]]
    assert events.count("pause") == 1
    assert mine.post(f"/api/v1/chats/{user.openid}/close").status_code == 200
