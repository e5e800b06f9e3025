"""The simulator's log names followers by a masked openid only: an openid is enough to message
a user through the account, so a log reader must not learn it."""
from __future__ import annotations

import time

from tests.simulator.conftest import Simulator, WebhookReceiver
from harness.services import ROOT

LOG = ROOT / ".test-logs" / "simulator-tests.log"


def test_deliveries_and_pushes_log_masked_openids(simulator: Simulator,
                                                  webhook: WebhookReceiver):
    openid = simulator.follow()
    simulator.say(openid, "你好")
    webhook.wait_for_calls(2)
    assert simulator.push_text(simulator.token(), openid, "您好")["errcode"] == 0
    masked = f"{openid[:4]}…{openid[-3:]}"
    deadline = time.monotonic() + 10
    log = ""
    while time.monotonic() < deadline:  # the delivery is logged once it is over
        log = LOG.read_text(encoding="utf-8")
        if log.count(masked) >= 3:
            break
        time.sleep(0.1)
    assert log.count(masked) >= 3, "subscribe, message and push were not logged"
    assert openid not in log
