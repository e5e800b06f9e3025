"""The cluster's shared stores failing under a surrender: Redis (the lock store, WeChat's
delivery state) restarted with everything it held gone, and PostgreSQL (trackers, credentials,
handoff) unreachable for a few seconds. The stores are the session's own (a private
redis-server, a proxy in front of the machine's PostgreSQL: tests/cluster/conftest.py), so the
faults are real and trouble nothing else on the machine.

What the user notices is the assertion: the message sent while a store was gone is answered
(at worst with an apology that is true, and answered properly when said again, as a user
would), the surrender finishes with one case and one confirmation, and every process is healthy
again without anyone restarting it."""
from __future__ import annotations

import threading
import time

from tests.cluster.support import SUBMITTED, SurrenderingUser
from tests.cluster.test_faults import _finish_surrender, _user

SMS_SENT = "验证码已发送"


def _masked(phone: str) -> str:
    return f"{phone[:3]}****{phone[-4:]}"


def _started_surrender(cluster, wechat) -> SurrenderingUser:
    user = _user(cluster, wechat)
    user.ask("我要退保", "保单号")
    user.ask(user.policy["policy_number"], "身份证")
    return user


def _one_case(cluster, user: SurrenderingUser, case_number: str) -> None:
    cases = cluster.cases(user.policy["policy_number"])
    assert [c["case_number"] for c in cases] == [case_number], cases
    assert user.times_told(SUBMITTED) == 1


def _suffix_sent_while(user: SurrenderingUser, fault: str, break_store, mend_store) -> str:
    """The ID suffix sent right after ``break_store()``; ``mend_store()`` runs 4 s later. What
    the user was told, within 30 s (not minutes of silence)."""
    break_store()
    back = threading.Timer(4.0, mend_store)
    back.start()
    started = time.monotonic()
    try:
        told = user.ask(user.policy["id_suffix"], _masked(user.policy["phone"]), wait_push_s=20)
    finally:
        back.join()
    print(f"answered {time.monotonic() - started:.1f} s after {fault}; "
          f"{user.tries} deliveries so far")
    assert time.monotonic() - started < 30
    return told


def test_redis_restarted_mid_surrender(cluster, wechat, stores, healthy_again):
    """Locks and delivery records gone between two messages: the conversation (in PostgreSQL)
    goes on where it was, and the surrender is filed once."""
    user = _started_surrender(cluster, wechat)
    stores.redis.restart(down_s=2)
    case_number = _finish_surrender(user)
    _one_case(cluster, user, case_number)


def test_message_sent_while_redis_is_down_is_answered(cluster, wechat, stores, healthy_again):
    """WeChat delivers while Redis is down; it comes back 4 s later. The user's message is not
    lost: its answer (the SMS code sent to the masked phone) arrives, passively on a resend or
    pushed, or after a true apology and the same words again."""
    user = _started_surrender(cluster, wechat)
    told = _suffix_sent_while(user, "Redis went down", stores.redis.stop, stores.redis.start)
    assert SMS_SENT in told or _masked(user.policy["phone"]) in told
    _one_case(cluster, user, _finish_after_code(cluster, user))


def test_postgresql_unreachable_for_a_few_seconds(cluster, wechat, stores, healthy_again):
    """The line to PostgreSQL is cut (open connections reset, new ones refused) for 4 s while a
    message is in flight; afterwards the pools reconnect by themselves, the conversation is
    intact and the surrender is filed once."""
    user = _started_surrender(cluster, wechat)
    told = _suffix_sent_while(user, "the cut", stores.postgres.cut, stores.postgres.restore)
    assert _masked(user.policy["phone"]) in told
    # The policy number given before the cut is still the conversation's: no question again.
    _one_case(cluster, user, _finish_after_code(cluster, user))


def _finish_after_code(cluster, user: SurrenderingUser) -> str:
    user.ask(cluster.sms_code(user.policy["phone"]), "47.19")
    submitted = user.ask("确认", SUBMITTED)
    return submitted[submitted.index(SUBMITTED):].split("案件号")[1].strip()[:16]
