"""Issue 18.8 at the adapter: the insurer's SMS sending limit (429 ``sms_rate_limited``) is a
typed answer, ``TooManyCodes`` with when to ask again, not an outage to retry."""
from __future__ import annotations

import asyncio
import time

import requests

from insurers.base import Challenge, TooManyCodes

from .test_sandbox_adapter import POLICY_1, adapter_of


def test_a_code_asked_again_too_soon_is_told_when_to_ask(live_registry, sandbox):
    adapter = adapter_of(live_registry)
    limits = f"{sandbox.url}/sandbox/sms-limits"
    requests.put(limits, json={"min_interval_s": 60, "max_per_hour": 5}, timeout=10).raise_for_status()
    try:
        async def probe():
            first = await adapter.verify_holder(policy_number=POLICY_1[0], id_suffix=POLICY_1[1])
            started = time.monotonic()
            again = await adapter.verify_holder(policy_number=POLICY_1[0], id_suffix=POLICY_1[1])
            lookup = await adapter.start_lookup(POLICY_1[2], POLICY_1[1])
            return first, again, lookup, time.monotonic() - started

        first, again, lookup, took = asyncio.run(probe())
    finally:
        requests.put(limits, json={"min_interval_s": 0, "max_per_hour": 0}, timeout=10)
    assert isinstance(first, Challenge)
    assert isinstance(again, TooManyCodes) and isinstance(lookup, TooManyCodes)
    assert again.retry_at.tzinfo is not None
    assert took < 2.0  # answered at once, not retried as an overloaded insurer
