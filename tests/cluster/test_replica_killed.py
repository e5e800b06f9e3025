"""The issue's must-show: 20 WeChat users surrender a policy each through the ingress while
rasa-1 is killed and started again. Every user is told a case number, every policy has exactly
that one case at the insurer, no answer is lost and none is given twice."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from tests.cluster.support import SUBMITTED, SurrenderingUser
from harness.wechat_caller import new_openid

USERS = 20


def test_twenty_surrenders_while_rasa_1_is_killed_and_restarted(cluster, wechat, healthy_again):
    policies = cluster.load_policies(USERS)
    users = []
    for policy in policies:
        user = SurrenderingUser(new_openid(), policy, cluster, wechat)
        cluster.follow(user.openid)
        users.append(user)
    killed = threading.Event()

    def kill_and_restart() -> None:
        time.sleep(6)  # the users are in the middle of their surrenders
        cluster.kill("rasa-1")
        killed.set()
        time.sleep(5)
        cluster.start("rasa-1")

    with ThreadPoolExecutor(max_workers=USERS + 1) as pool:
        operator = pool.submit(kill_and_restart)
        told = list(pool.map(lambda u: u.surrender(), users))
        operator.result()
    assert killed.is_set()

    for user, case_number in zip(users, told):
        cases = cluster.cases(user.policy["policy_number"])
        assert [c["case_number"] for c in cases] == [case_number], (user.openid, cases)
        assert user.times_told(SUBMITTED) == 1, (user.openid, user.answers)
    assert len(set(told)) == USERS
    # Rasa's tracker store holds each of the user's five messages (none lost across replicas).
    for user in users:
        turns = cluster.user_turns(user.openid)
        assert "我要退保" in turns and "确认" in turns, (user.openid, turns)
    assert cluster.healthy()["rasa-1"]
