"""The issue's must-show: 20 WeChat users surrender a policy each through the ingress while
rasa-1 is killed and started again. Every user is told a case number, every policy has exactly
that one case at the insurer, no answer is lost and none is given twice. And the same kill,
shown failing without the shared tracker store that carries the conversation across."""
from __future__ import annotations

import dataclasses
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from cluster.settings import ClusterSettings
from cluster.stores import _admin_connection
from harness.wechat_caller import new_openid, text_xml
from tests.cluster.support import (API_TOKEN, CLUSTER_ENV, INGRESS, SUBMITTED,
                                   SurrenderingUser, WeChatServer)

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


def test_a_replica_killed_without_a_shared_tracker_store_loses_the_conversation(
        cluster, healthy_again):
    """What the test above proves, shown by taking it away: with ``rasa-2`` keeping its
    trackers in a database of its own (each replica its own tracker store, as a naive scale-out
    would), a user half-way through a surrender on ``rasa-1`` whose replica is killed reaches
    ``rasa-2``, which has never heard of him: the identity check is not asked for, the policy
    number he gave is gone. ``rasa-2`` goes back to the cluster's own settings afterwards."""
    settings = ClusterSettings.from_env({**os.environ, **CLUSTER_ENV})
    alone = f"{settings.tracker_db}_rasa2_alone"
    admin = _admin_connection(dataclasses.replace(settings, pg_port=5432))

    def sql(statement: str) -> None:
        with admin.cursor() as cursor:
            cursor.execute(statement)

    sql(f'DROP DATABASE IF EXISTS "{alone}" WITH (FORCE)')
    sql(f'CREATE DATABASE "{alone}"')
    rasa_2 = cluster.url_of("rasa-2")
    cluster.kill("rasa-2")
    cluster.start("rasa-2", env={"TUIBAO_PG_DB": alone})
    try:
        policy = cluster.load_policies(1)[0]
        user = SurrenderingUser(new_openid(), policy, cluster,
                                WeChatServer(cluster.url_of("rasa-1")))
        cluster.follow(user.openid)
        user.ask("我要退保", "保单号")
        user.ask(policy["policy_number"], "身份证")
        cluster.kill("rasa-1")  # the ingress now sends everything to rasa-2

        reply, _tries = WeChatServer(INGRESS).deliver(text_xml(user.openid, policy["id_suffix"]))
        seen = [reply] if reply else []
        time.sleep(5)  # an answer pushed after the passive reply's deadline
        seen += cluster.outbox(user.openid)[user._pushed_seen:]
        phone = policy["phone"]
        assert seen, "rasa-2 told the user nothing"
        assert not any(f"{phone[:3]}****{phone[-4:]}" in text for text in seen), seen
        tracker = requests.get(
            f"{rasa_2}/conversations/{user.openid}/tracker",
            params={"token": API_TOKEN}, timeout=10).json()
        said = [e.get("text") for e in tracker["events"] if e["event"] == "user"]
        assert "我要退保" not in said and policy["policy_number"] not in said, said
        assert cluster.cases(policy["policy_number"]) == []
        print(f"rasa-1 killed, rasa-2 on a tracker store of its own: the user's ID suffix "
              f"was answered with {seen!r}; rasa-2 holds {said!r}")
    finally:
        cluster.kill("rasa-2")
        cluster.start("rasa-2")
        cluster.start("rasa-1")
        sql(f'DROP DATABASE IF EXISTS "{alone}" WITH (FORCE)')
        admin.close()
    assert not any(e.get("overrides") for e in cluster.status())
