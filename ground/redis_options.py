"""How every Redis client of Tuibao connects, so that a Redis restart costs nobody a message.

A restarted Redis (a crash, a failover, an upgrade) leaves every pooled connection of every
process dead. redis-py by default raises on the first command that finds its connection closed
and drops only that connection, so each process fails one request per pooled connection before
it has reconnected: users are told "系统暂时出了点问题" for minutes (tests/cluster/
test_store_faults.py found it). With these options a command that finds its connection closed
or refused is sent again on a fresh connection, up to three times over 0.7 s (the channels ask
for about 3 s: a Redis back within that is never noticed inside WeChat's 5-second answer), and a
connection idle for a while is checked (PING) before it is used.

Only connection errors are retried, never timeouts: a command that timed out may have been
executed (``SET NX`` of a delivery record, a lock ticket), and sending it again could make a
message look like its own duplicate. A command sent on a connection found closed was not.
"""
from __future__ import annotations

from typing import Any, Dict

RETRIES = 3
BACKOFF_BASE_S = 0.05
BACKOFF_CAP_S = 0.5
HEALTH_CHECK_INTERVAL_S = 15


def _retries_for(outage_s: float) -> int:
    """How many retries ExponentialBackoff(cap, base) needs to wait ``outage_s`` in all."""
    waited, retries = 0.0, 0
    while waited < outage_s:
        retries += 1
        waited += min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** retries)
    return retries


def resilient(asyncio: bool = False, outage_s: float = 0.0, **settings: Any) -> Dict[str, Any]:
    """``settings`` plus the retry options, for ``redis.Redis``/``redis.asyncio.Redis`` (and
    their ``from_url``). ``outage_s``: keep trying for about that long while Redis is down
    (the channels ride out a restart inside WeChat's 5 seconds); by default about a second."""
    from redis.backoff import ExponentialBackoff
    from redis.exceptions import ConnectionError

    if asyncio:
        from redis.asyncio.retry import Retry
    else:
        from redis.retry import Retry
    return {
        **settings,
        # Connection errors only: redis-py's Retry would also retry timeouts (a health-check
        # PING, a connect) and make a Redis that never answers hang for several timeouts.
        "retry": Retry(ExponentialBackoff(cap=BACKOFF_CAP_S, base=BACKOFF_BASE_S),
                       max(RETRIES, _retries_for(outage_s)),
                       supported_errors=(ConnectionError, ConnectionRefusedError)),
        # (ConnectionRefusedError: connecting to a Redis still down raises the OS's error,
        # which redis-py's retry does not know as a connection error)
        "retry_on_error": [ConnectionError, ConnectionRefusedError],
        "health_check_interval": HEALTH_CHECK_INTERVAL_S,
    }
