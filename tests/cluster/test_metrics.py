"""The operator's figures on the scaled-out stack (issue 21, "the same on the scaled-out stack"):
each replica serves its own share at ``/metrics`` and the figures add up as Prometheus adds
them. After one WeChat surrender through the ingress (the proxy picks the replicas), the sum
over both Rasa replicas of ``tuibao_turns_total{channel="wechat"}`` moved by the messages sent,
the sum over both action servers of the funnel moved by one ``case_created``, and ``tuibao
report funnel --json``, read from the cluster's PostgreSQL tracker store, counts the case."""
from __future__ import annotations

import json
import subprocess
import time
from typing import Dict

from tests.cluster.support import (ACTION_SERVERS, METRICS_TOKEN, RASA_REPLICAS, SUBMITTED,
                                   SurrenderingUser)
from tests.observability.scrape import scrape, value
from harness.services import PYTHON, ROOT
from harness.wechat_caller import new_openid

# Read straight from the machine's PostgreSQL (not through the tests' fault proxy).
TRACKER_STORE = "postgresql://postgres@127.0.0.1:5432/tuibao_cluster"
HANDOFF_DB = "postgresql://postgres@127.0.0.1:5432/tuibao_cluster_handoff"


def _summed(urls, name: str, **labels: str) -> float:
    """What Prometheus shows for ``name{labels}`` summed over the replicas (scraped where the
    cluster says each one answers, with the cluster's metrics token)."""
    return sum(value(scrape(url, METRICS_TOKEN), name, **labels) for url in urls)


def _figures(cluster) -> Dict[str, float]:
    rasa = [cluster.url_of(name) for name in RASA_REPLICAS]
    actions = [cluster.url_of(name) for name in ACTION_SERVERS]
    return {
        "turns": _summed(rasa, "tuibao_turns_total", channel="wechat"),
        "timed": _summed(rasa, "tuibao_turn_seconds_count", channel="wechat"),
        "started": _summed(actions, "tuibao_surrender_funnel_total",
                           insurer="sandbox", step="started"),
        "case_created": _summed(actions, "tuibao_surrender_funnel_total",
                                insurer="sandbox", step="case_created"),
    }


def _report(*extra: str) -> dict:
    done = subprocess.run(
        [PYTHON, "-m", "training.cli", "report", "funnel", "--json", "--tracker-store",
         TRACKER_STORE, "--handoff-db", HANDOFF_DB, *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def _case_created(report: dict) -> int:
    return report.get("insurers", {}).get("sandbox", {}).get("steps", {}).get("case_created", 0)


def test_one_surrender_through_the_ingress_adds_up_over_the_replicas(cluster, wechat):
    policy = cluster.load_policies(1)[0]
    user = SurrenderingUser(new_openid(), policy, cluster, wechat)
    cluster.follow(user.openid)
    deadline = time.monotonic() + 30  # following is a turn of its own (/greet): let it finish
    while "/greet" not in cluster.user_turns(user.openid) and time.monotonic() < deadline:
        time.sleep(0.5)
    before, report_before = _figures(cluster), _report()
    user.surrender()
    # Every message that became a turn (WeChat's resends of one message are one turn).
    sent = [text for text in cluster.user_turns(user.openid) if text != "/greet"]
    after = _figures(cluster)
    moved = {name: after[name] - before[name] for name in after}
    assert len(sent) == 5 and user.times_told(SUBMITTED) == 1, sent
    assert moved["turns"] == len(sent) and moved["timed"] == len(sent), moved
    assert moved["started"] == 1 and moved["case_created"] == 1, moved
    assert _case_created(_report()) - _case_created(report_before) == 1
