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

The patience is a time, not a count of tries. redis-py retries a connect inside a command's
retry, so with counted tries a refused connect was tried 4 × 4 times: an asyncio client asking
for 3 s waited 29 s for a Redis that stayed down. And a Redis reached through a TCP proxy (nginx's
stream module, the cluster's default) is not refused while it is down: the proxy accepts the
connection and closes it, and redis-py's pool reports that at once when it hands the connection
out, outside any retry (a synchronous client gave up in 0.0 s). Here every try of one command,
nested or not, shares one deadline, and handing out a connection is retried too, so a Redis that
is down is waited for about as long as asked, whichever way the outage shows.
Build clients with ``client()``; ``resilient()`` gives the options alone, without the pool's
retry.
"""
from __future__ import annotations

import contextvars
import time
from typing import Any, Callable, Dict, Optional

RETRIES = 3
BACKOFF_BASE_S = 0.05
BACKOFF_CAP_S = 0.5
HEALTH_CHECK_INTERVAL_S = 15


def patience_s(outage_s: float = 0.0) -> float:
    """How long one command waits for a Redis that is down: ``outage_s``, and at least the
    three backoffs of ``RETRIES`` (0.7 s)."""
    least = sum(min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** n) for n in range(1, RETRIES + 1))
    return max(least, outage_s)


# The deadline of the outermost retry running in this thread or task: a retry inside it (a
# connect inside a command) keeps to it instead of starting a patience of its own.
_DEADLINE: contextvars.ContextVar[Optional[float]] = contextvars.ContextVar(
    "tuibao_redis_deadline", default=None)


_RETRIES: Optional[tuple] = None


def _retry_classes():
    """(PatientRetry, AsyncPatientRetry), made once (redis is imported only where used)."""
    global _RETRIES
    if _RETRIES is not None:
        return _RETRIES
    from redis.asyncio.retry import Retry as AsyncRetry
    from redis.retry import Retry

    class PatientRetry(Retry):
        """redis-py's Retry, trying again until a deadline instead of a number of times."""

        def __init__(self, backoff, patience: float, supported_errors) -> None:
            super().__init__(backoff, -1, supported_errors=supported_errors)
            self.patience_s = patience

        def call_with_retry(self, do: Callable, fail: Callable):
            token, deadline = _deadline(self.patience_s)
            self._backoff.reset()
            failures = 0
            try:
                while True:
                    try:
                        return do()
                    except self._supported_errors as error:
                        failures += 1
                        fail(error)
                        left = deadline - time.monotonic()
                        if left <= 0:
                            raise
                        # (the last try at the deadline itself)
                        time.sleep(min(self._backoff.compute(failures), left))
            finally:
                if token is not None:
                    _DEADLINE.reset(token)

    class AsyncPatientRetry(AsyncRetry):
        """The same for redis.asyncio."""

        def __init__(self, backoff, patience: float, supported_errors) -> None:
            super().__init__(backoff, -1, supported_errors=supported_errors)
            self.patience_s = patience

        async def call_with_retry(self, do: Callable, fail: Callable):
            import asyncio

            token, deadline = _deadline(self.patience_s)
            self._backoff.reset()
            failures = 0
            try:
                while True:
                    try:
                        return await do()
                    except self._supported_errors as error:
                        failures += 1
                        await fail(error)
                        left = deadline - time.monotonic()
                        if left <= 0:
                            raise
                        # (the last try at the deadline itself)
                        await asyncio.sleep(min(self._backoff.compute(failures), left))
            finally:
                if token is not None:
                    _DEADLINE.reset(token)

    _RETRIES = (PatientRetry, AsyncPatientRetry)
    return _RETRIES


def _deadline(patience: float):
    """(token to reset or None, the deadline): this retry's own, or the one it runs inside."""
    current = _DEADLINE.get()
    if current is not None:
        return None, current
    deadline = time.monotonic() + patience
    return _DEADLINE.set(deadline), deadline


def resilient(asyncio: bool = False, outage_s: float = 0.0, **settings: Any) -> Dict[str, Any]:
    """``settings`` plus the retry options, for ``redis.Redis``/``redis.asyncio.Redis`` (and
    their ``from_url``). ``outage_s``: keep trying for about that long while Redis is down
    (the channels ride out a restart inside WeChat's 5 seconds); by default 0.7 s."""
    from redis.backoff import ExponentialBackoff
    from redis.exceptions import ConnectionError

    patient, async_patient = _retry_classes()
    retry_class = async_patient if asyncio else patient
    return {
        **settings,
        # Connection errors only: redis-py's Retry would also retry timeouts (a health-check
        # PING, a connect) and make a Redis that never answers hang for several timeouts.
        "retry": retry_class(ExponentialBackoff(cap=BACKOFF_CAP_S, base=BACKOFF_BASE_S),
                             patience_s(outage_s),
                             supported_errors=(ConnectionError, ConnectionRefusedError)),
        # (ConnectionRefusedError: connecting to a Redis still down raises the OS's error,
        # which redis-py's retry does not know as a connection error)
        "retry_on_error": [ConnectionError, ConnectionRefusedError],
        "health_check_interval": HEALTH_CHECK_INTERVAL_S,
    }


def client(url: Optional[str] = None, *, asyncio: bool = False, outage_s: float = 0.0,
           **settings: Any):
    """A ``redis.Redis`` (``redis.asyncio.Redis`` with ``asyncio``) on ``url`` or on
    ``settings``' host and port, with ``resilient()``'s options, a pool that retries handing
    out a connection (what a proxy accepted and closed is tried again), and one deadline for
    all the tries of a command."""
    options = resilient(asyncio=asyncio, outage_s=outage_s, **settings)
    if options.pop("ssl", False):  # as redis.Redis(ssl=True) would (a URL says rediss://)
        import redis
        import redis.asyncio as aredis

        options["connection_class"] = (aredis if asyncio else redis).SSLConnection
    kinds = _client_classes()
    pool_class, redis_class = (kinds[2], kinds[3]) if asyncio else (kinds[0], kinds[1])
    pool = pool_class.from_url(url, **options) if url else pool_class(**options)
    made = redis_class(connection_pool=pool)
    made.patience_s = patience_s(outage_s)
    if asyncio:
        made.auto_close_connection_pool = True  # close() closes the pool, as from_url's would
    return made


_CLIENTS: Optional[tuple] = None


def _client_classes():
    """(pool, client, asyncio pool, asyncio client): redis-py's, each pool handing out a
    connection inside the connection's retry, each client giving a command one deadline."""
    global _CLIENTS
    if _CLIENTS is not None:
        return _CLIENTS
    import redis
    import redis.asyncio as aredis

    class PatientPool(redis.ConnectionPool):
        def get_connection(self, command_name, *keys, **options):
            take = super().get_connection
            return self.connection_kwargs["retry"].call_with_retry(
                lambda: take(command_name, *keys, **options), lambda error: None)

    class PatientRedis(redis.Redis):
        patience_s = 0.0

        def execute_command(self, *args, **options):
            token, _ = _deadline(self.patience_s)
            try:
                return super().execute_command(*args, **options)
            finally:
                if token is not None:
                    _DEADLINE.reset(token)

    class AsyncPatientPool(aredis.ConnectionPool):
        async def get_connection(self, command_name, *keys, **options):
            take = super().get_connection

            async def nothing(error):
                return None

            return await self.connection_kwargs["retry"].call_with_retry(
                lambda: take(command_name, *keys, **options), nothing)

    class AsyncPatientRedis(aredis.Redis):
        patience_s = 0.0

        async def execute_command(self, *args, **options):
            token, _ = _deadline(self.patience_s)
            try:
                return await super().execute_command(*args, **options)
            finally:
                if token is not None:
                    _DEADLINE.reset(token)

    _CLIENTS = (PatientPool, PatientRedis, AsyncPatientPool, AsyncPatientRedis)
    return _CLIENTS
