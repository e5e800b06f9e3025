"""A Rasa lock store whose tickets are issued and served atomically in Redis (issue 20).

    lock_store:                      # endpoints.yml
      type: bot.lock_store.AtomicRedisLockStore
      url: 127.0.0.1                 # or redis://host:port/db, rediss://...
      port: 6379
      db: 3
      key_prefix: tuibao

Rasa 3.6's open-source ``RedisLockStore`` keeps one conversation's ticket queue as a JSON
string and changes it by reading it, changing it in Python and writing it back
(``get_or_create_lock`` -> ``TicketLock.issue_ticket`` -> ``save_lock``). Two Rasa processes
doing that at the same moment read the same queue, hand out the same ticket number and both
believe they are being served: one conversation's turns then run at the same time on two
workers or replicas. A waiting message also looks again only once a second.

Here every change of a queue is one Lua script run by Redis, so nothing can come between the
read and the write:

- ticket numbers come from one ``INCR`` counter per key prefix (seeded from Redis' clock the
  first time, so numbers keep growing after a Redis restart that lost the data); the
  conversation's queue is a sorted set ordered by ticket number: first come, first served;
- only the queue's head may take the lock; taking it records the holder and its lease
  (``lock_lifetime`` seconds, Rasa's ``TICKET_LOCK_LIFETIME`` by default, counted from the
  moment it is taken): a holder that crashed is dropped when its lease ends;
- a waiter renews its own expiry each time it looks (every ``poll_interval``, 10 ms by
  default, instead of Rasa's second); a waiter that stopped looking for ``stale_waiter_after``
  seconds (its process died) is dropped when it reaches the head, so dead waiters do not hold
  the conversation up;
- a waiter gives up with Rasa's ``LockError`` after ``max_wait`` seconds (by default the
  lock lifetime plus one second: Rasa's tickets expire ``lock_lifetime`` after they were
  issued; the second lets a message queued right behind a holder that died be served when
  that holder's lease ends), and so does a waiter whose ticket is gone (dropped as stale, or
  Redis lost its data);
- times are Redis' own (``TIME``), so the replicas' clocks do not matter.

The waiting path uses ``redis.asyncio`` and so does not block Sanic's event loop (Rasa's store
calls a synchronous client from the loop). Every Redis call has a socket timeout; a failing
call raises ``LockError`` naming the store, never hangs, and the connection pool reconnects
once Redis is back. Keys: ``<key_prefix>:alock:seq`` and ``<key_prefix>:alock:<conversation
id>:q`` / ``:h`` (they expire by themselves when nobody uses them). One Redis server (or a
Sentinel-managed primary); Redis Cluster is not supported (the counter and the queues would
sit in different slots). docs/lock-store.md has the reasoning and the measurements.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from contextlib import asynccontextmanager
from typing import Any, AsyncGenerator, Dict, Optional, Text, Tuple

from rasa.core.lock import Ticket, TicketLock
from rasa.core.lock_store import (
    DEFAULT_SOCKET_TIMEOUT_IN_SECONDS,
    LOCK_LIFETIME,
    LockError,
    LockStore,
)

from ground.redis_options import client as redis_client

logger = logging.getLogger(__name__)

DEFAULT_POLL_INTERVAL = 0.01  # seconds between a waiter's looks at its queue
DEFAULT_STALE_WAITER_AFTER = 10.0  # a waiter silent this long is taken for dead
# A message waits at most the lock lifetime plus this (unless ``max_wait`` says otherwise): one
# queued right behind a holder that died is still served when that holder's lease ends.
WAIT_GRACE = 1.0
KEEP_MARGIN_MS = 60_000  # idle queues expire this long after their last possible use

# Shared by every script: Redis' clock in ms, dropping expired heads, keeping keys alive.
_PRELUDE = """
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function ms(n) return string.format('%d', n) end
-- Drop expired tickets from the head of the queue; return the head that is left (or nil).
local function prune(q, h, now)
  while true do
    local head = redis.call('ZRANGE', q, 0, 0)[1]
    if not head then return nil end
    local expires = tonumber(redis.call('HGET', h, 'e:' .. head) or '0')
    if expires > now then return head end
    redis.call('ZREM', q, head)
    redis.call('HDEL', h, 'e:' .. head)
    if redis.call('HGET', h, 'holder') == head then redis.call('HDEL', h, 'holder') end
  end
end
-- Remove an empty queue; otherwise keep both keys at least `ttl` ms (never shorten it).
local function keep(q, h, ttl)
  if redis.call('ZCARD', q) == 0 then
    redis.call('DEL', q, h)
    return
  end
  for _, key in ipairs({q, h}) do
    if redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end
  end
end
-- Take the lock if `ticket` heads the queue: 0 taken (or already held), n>0 tickets ahead,
-- -1 the ticket is not in the queue any more.
local function try_take(q, h, ticket, now, lifetime, stale, ttl)
  local head = prune(q, h, now)
  if not redis.call('ZSCORE', q, ticket) then
    keep(q, h, ttl)
    return -1
  end
  if head == ticket then
    if redis.call('HGET', h, 'holder') ~= ticket then
      redis.call('HSET', h, 'holder', ticket, 'e:' .. ticket, ms(now + lifetime))
    end
    keep(q, h, math.max(ttl, lifetime + stale + MARGIN))
    return 0
  end
  redis.call('HSET', h, 'e:' .. ticket, ms(now + stale))
  keep(q, h, ttl)
  return redis.call('ZRANK', q, ticket)
end
local function issue(seq, q, h, now, stale)
  if redis.call('EXISTS', seq) == 0 then
    local t = redis.call('TIME')
    redis.call('SET', seq, ms(tonumber(t[1]) * 1000000 + tonumber(t[2])), 'NX')
  end
  local ticket = ms(redis.call('INCR', seq))
  redis.call('ZADD', q, ticket, ticket)
  redis.call('HSET', h, 'e:' .. ticket, ms(now + stale))
  return ticket
end
""".replace("MARGIN", str(KEEP_MARGIN_MS))

# KEYS: seq, q, h. ARGV: stale ms, ttl ms. -> ticket (string)
_ISSUE = _PRELUDE + """
local now = now_ms()
local ticket = issue(KEYS[1], KEYS[2], KEYS[3], now, tonumber(ARGV[1]))
keep(KEYS[2], KEYS[3], tonumber(ARGV[2]))
return ticket
"""

# KEYS: seq, q, h. ARGV: lifetime ms, stale ms, ttl ms. -> {ticket, state, expires ms}
_ISSUE_AND_TRY = _PRELUDE + """
local now = now_ms()
local lifetime, stale, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local ticket = issue(KEYS[1], KEYS[2], KEYS[3], now, stale)
local state = try_take(KEYS[2], KEYS[3], ticket, now, lifetime, stale, ttl)
return {ticket, state, redis.call('HGET', KEYS[3], 'e:' .. ticket) or '0'}
"""

# KEYS: q, h. ARGV: ticket, lifetime ms, stale ms, ttl ms. -> {state, expires ms}
_TRY = _PRELUDE + """
local now = now_ms()
local state = try_take(KEYS[1], KEYS[2], ARGV[1], now, tonumber(ARGV[2]), tonumber(ARGV[3]),
                       tonumber(ARGV[4]))
return {state, redis.call('HGET', KEYS[2], 'e:' .. ARGV[1]) or '0'}
"""

# KEYS: q, h. ARGV: ticket. -> 1 if the ticket held the lock, 0 otherwise
_RELEASE = _PRELUDE + """
local held = 0
if redis.call('HGET', KEYS[2], 'holder') == ARGV[1] then
  redis.call('HDEL', KEYS[2], 'holder')
  held = 1
end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], 'e:' .. ARGV[1])
if redis.call('ZCARD', KEYS[1]) == 0 then redis.call('DEL', KEYS[1], KEYS[2]) end
return held
"""

# KEYS: q, h. -> number of tickets left after dropping expired heads
_PRUNE = _PRELUDE + """
prune(KEYS[1], KEYS[2], now_ms())
local left = redis.call('ZCARD', KEYS[1])
if left == 0 then redis.call('DEL', KEYS[1], KEYS[2]) end
return left
"""

# KEYS: q, h. ARGV: ttl ms, then ticket, expires ms pairs. Replaces the queue (save_lock).
_REPLACE = _PRELUDE + """
local holder = redis.call('HGET', KEYS[2], 'holder')
redis.call('DEL', KEYS[1], KEYS[2])
for i = 2, #ARGV, 2 do
  redis.call('ZADD', KEYS[1], ARGV[i], ARGV[i])
  redis.call('HSET', KEYS[2], 'e:' .. ARGV[i], ARGV[i + 1])
  if ARGV[i] == holder then redis.call('HSET', KEYS[2], 'holder', holder) end
end
keep(KEYS[1], KEYS[2], tonumber(ARGV[1]))
return redis.call('ZCARD', KEYS[1])
"""

_SCRIPTS = {"issue": _ISSUE, "issue_and_try": _ISSUE_AND_TRY, "try": _TRY,
            "release": _RELEASE, "prune": _PRUNE, "replace": _REPLACE}


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


class AtomicRedisLockStore(LockStore):
    """Rasa's ticket lock with atomic Redis operations (see the module's documentation).

    Rasa builds it as ``AtomicRedisLockStore(endpoint_config=...)`` from endpoints.yml
    (``url`` is the host, or a ``redis://`` URL; ``port``, ``db``, ``username``,
    ``password``, ``use_ssl``, ``ssl_certfile``, ``ssl_keyfile``, ``ssl_ca_certs``,
    ``key_prefix``, ``socket_timeout``, ``poll_interval``, ``stale_waiter_after``,
    ``max_wait`` as keys of the section); tests and scripts pass the same names as keyword
    arguments.
    """

    def __init__(
        self,
        endpoint_config: Any = None,
        *,
        host: Text = "localhost",
        port: int = 6379,
        db: int = 1,
        username: Optional[Text] = None,
        password: Optional[Text] = None,
        use_ssl: bool = False,
        ssl_certfile: Optional[Text] = None,
        ssl_keyfile: Optional[Text] = None,
        ssl_ca_certs: Optional[Text] = None,
        key_prefix: Optional[Text] = None,
        socket_timeout: float = DEFAULT_SOCKET_TIMEOUT_IN_SECONDS,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        stale_waiter_after: float = DEFAULT_STALE_WAITER_AFTER,
        max_wait: Optional[float] = None,
    ) -> None:
        settings: Dict[str, Any] = dict(
            host=host, port=port, db=db, username=username, password=password,
            use_ssl=use_ssl, ssl_certfile=ssl_certfile, ssl_keyfile=ssl_keyfile,
            ssl_ca_certs=ssl_ca_certs, key_prefix=key_prefix, socket_timeout=socket_timeout,
            poll_interval=poll_interval, stale_waiter_after=stale_waiter_after,
            max_wait=max_wait)
        if endpoint_config is not None:
            given = dict(getattr(endpoint_config, "kwargs", {}) or {})
            unknown = set(given) - set(settings) - {"url"}
            if unknown:
                logger.warning("AtomicRedisLockStore ignores unknown settings: %s",
                               ", ".join(sorted(unknown)))
            settings.update({k: v for k, v in given.items() if k in settings})
            if getattr(endpoint_config, "url", None):
                settings["host"] = endpoint_config.url
        self.poll_interval = float(settings["poll_interval"])
        self.stale_waiter_after = float(settings["stale_waiter_after"])
        self.socket_timeout = float(settings["socket_timeout"])
        self.max_wait = None if settings["max_wait"] in (None, "") else float(settings["max_wait"])
        prefix = settings["key_prefix"]
        self.key_prefix = f"{prefix}:alock:" if prefix else "alock:"
        self._connection = self._connection_settings(settings)
        self.address = self._describe(settings)

        settings = dict(self._connection)
        # a Redis restart costs no turn (ground/redis_options.py)
        self.red = redis_client(settings.pop("url", None), **settings)
        self._sync_scripts = {name: self.red.register_script(text)
                              for name, text in _SCRIPTS.items()}
        self._async: Optional[Tuple[asyncio.AbstractEventLoop, Any, Dict[str, Any]]] = None
        super().__init__()

    # -- connection ---------------------------------------------------------------------

    def _connection_settings(self, settings: Dict[str, Any]) -> Dict[str, Any]:
        host = str(settings["host"] or "localhost")
        timeout = self.socket_timeout
        common: Dict[str, Any] = dict(socket_timeout=timeout, socket_connect_timeout=timeout,
                                      decode_responses=True)  # retries: redis_client() below
        if host.startswith(("redis://", "rediss://", "unix://")):
            return {"url": host, **common}
        use_ssl = _as_bool(settings["use_ssl"])
        connection = dict(host=host, port=int(settings["port"]), db=int(settings["db"]),
                          username=settings["username"] or None,
                          password=settings["password"] or None, **common)
        if use_ssl:
            connection.update(ssl=True, ssl_certfile=settings["ssl_certfile"],
                              ssl_keyfile=settings["ssl_keyfile"],
                              ssl_ca_certs=settings["ssl_ca_certs"])
        return connection

    @staticmethod
    def _describe(settings: Dict[str, Any]) -> str:
        host = str(settings["host"] or "localhost")
        if "://" in host:
            return host.split("@")[-1]  # never the password
        return f"{host}:{settings['port']}/{settings['db']}"

    def _async_scripts(self) -> Dict[str, Any]:
        """The asyncio client's scripts, one client per event loop (a client's connections
        belong to the loop that opened them; each Sanic worker runs its own loop)."""
        loop = asyncio.get_running_loop()
        if self._async is None or self._async[0] is not loop:
            settings = dict(self._connection)
            client = redis_client(settings.pop("url", None), asyncio=True, **settings)
            self._async = (loop, client, {name: client.register_script(text)
                                          for name, text in _SCRIPTS.items()})
        return self._async[2]

    def _failure(self, what: str, conversation_id: Text, error: BaseException) -> LockError:
        return LockError(
            f"Lock store at {self.address} failed to {what} for conversation "
            f"'{conversation_id}': {type(error).__name__}: {error}")

    def _keys(self, conversation_id: Text) -> Tuple[str, str]:
        base = f"{self.key_prefix}{conversation_id}"
        return f"{base}:q", f"{base}:h"

    def _seq_key(self) -> str:
        return f"{self.key_prefix}seq"

    def _ms(self, seconds: float) -> int:
        return max(1, int(round(seconds * 1000)))

    def _max_wait(self, lock_lifetime: float) -> float:
        return self.max_wait if self.max_wait is not None else lock_lifetime + WAIT_GRACE

    def _ttl_ms(self, lock_lifetime: float) -> int:
        return self._ms(lock_lifetime) + self._ms(self.stale_waiter_after) + KEEP_MARGIN_MS

    # -- what Rasa calls: the lock ------------------------------------------------------

    @asynccontextmanager
    async def lock(
        self,
        conversation_id: Text,
        lock_lifetime: float = LOCK_LIFETIME,
        wait_time_in_seconds: float = 1,
    ) -> AsyncGenerator[TicketLock, None]:
        """Hold ``conversation_id``'s lock for the block, after every earlier ticket.

        ``lock_lifetime``: how long the lock is held at most (a crashed holder's lock ends
        then); a message waits at most ``max_wait`` (default ``lock_lifetime`` + 1 s) before
        ``LockError``;
        ``wait_time_in_seconds``: Rasa's interval between looks, used when shorter than
        ``poll_interval``."""
        import redis

        scripts = self._async_scripts()
        q, h = self._keys(conversation_id)
        lifetime_ms = self._ms(lock_lifetime)
        stale_ms = self._ms(self.stale_waiter_after)
        ttl_ms = self._ttl_ms(lock_lifetime)
        interval = max(0.001, min(float(wait_time_in_seconds), self.poll_interval))
        deadline = time.monotonic() + self._max_wait(lock_lifetime)
        try:
            ticket_s, state, expires = await scripts["issue_and_try"](
                keys=[self._seq_key(), q, h], args=[lifetime_ms, stale_ms, ttl_ms])
        except (redis.RedisError, OSError, asyncio.TimeoutError) as error:
            raise self._failure("issue a ticket", conversation_id, error) from error
        ticket = int(ticket_s)
        try:
            while int(state) != 0:
                if int(state) < 0:
                    raise LockError(
                        f"Could not acquire lock for conversation_id '{conversation_id}': "
                        f"ticket {ticket} was dropped (its waiter was silent for more than "
                        f"{self.stale_waiter_after} s, or Redis lost the queue).")
                if time.monotonic() >= deadline:
                    raise LockError(
                        f"Could not acquire lock for conversation_id '{conversation_id}' "
                        f"within {self._max_wait(lock_lifetime)} s ({state} earlier "
                        f"message(s) still queued).")
                await asyncio.sleep(interval)
                try:
                    state, expires = await scripts["try"](
                        keys=[q, h], args=[ticket_s, lifetime_ms, stale_ms, ttl_ms])
                except (redis.RedisError, OSError, asyncio.TimeoutError) as error:
                    raise self._failure("wait for the lock", conversation_id, error) from error
            logger.debug(f"Acquired lock for conversation '{conversation_id}' "
                         f"(ticket {ticket}).")
            yield TicketLock(conversation_id, deque([Ticket(ticket, int(expires) / 1000)]))
        finally:
            await self._release_async(scripts, conversation_id, ticket_s)

    async def _release_async(self, scripts: Dict[str, Any], conversation_id: Text,
                             ticket: str) -> None:
        """Give the ticket back. A failure here is logged, not raised: the turn is done, and
        the ticket's expiry frees the conversation anyway."""
        q, h = self._keys(conversation_id)
        try:
            await scripts["release"](keys=[q, h], args=[ticket])
        except Exception as error:  # noqa: BLE001 - redis, OS or cancellation
            logger.warning(
                f"Lock store at {self.address} could not release ticket {ticket} of "
                f"conversation '{conversation_id}' ({type(error).__name__}: {error}); it "
                f"expires by itself.")

    async def _acquire_lock(self, conversation_id: Text, ticket: int,
                            wait_time_in_seconds: float,
                            lock_lifetime: float = LOCK_LIFETIME) -> TicketLock:
        """Wait until ``ticket`` (from ``issue_ticket``) holds the lock (Rasa's hook)."""
        import redis

        scripts = self._async_scripts()
        q, h = self._keys(conversation_id)
        interval = max(0.001, min(float(wait_time_in_seconds), self.poll_interval))
        deadline = time.monotonic() + self._max_wait(lock_lifetime)
        while True:
            try:
                state, expires = await scripts["try"](
                    keys=[q, h], args=[str(ticket), self._ms(lock_lifetime),
                                       self._ms(self.stale_waiter_after),
                                       self._ttl_ms(lock_lifetime)])
            except (redis.RedisError, OSError, asyncio.TimeoutError) as error:
                raise self._failure("wait for the lock", conversation_id, error) from error
            if int(state) == 0:
                return TicketLock(conversation_id, deque([Ticket(ticket, int(expires) / 1000)]))
            if int(state) < 0 or time.monotonic() >= deadline:
                raise LockError(
                    f"Could not acquire lock for conversation_id '{conversation_id}'.")
            await asyncio.sleep(interval)

    # -- the rest of Rasa's LockStore API (synchronous, each call atomic) ----------------

    def _run(self, name: str, conversation_id: Text, keys: list, args: list) -> Any:
        import redis

        try:
            return self._sync_scripts[name](keys=keys, args=args)
        except (redis.RedisError, OSError) as error:
            raise self._failure(name, conversation_id, error) from error

    def issue_ticket(self, conversation_id: Text, lock_lifetime: float = LOCK_LIFETIME) -> int:
        """Add a ticket at the end of the conversation's queue and return its number."""
        q, h = self._keys(conversation_id)
        return int(self._run("issue", conversation_id, [self._seq_key(), q, h],
                             [self._ms(self.stale_waiter_after), self._ttl_ms(lock_lifetime)]))

    def get_lock(self, conversation_id: Text) -> Optional[TicketLock]:
        """A snapshot of the conversation's queue (holder first) as Rasa's ``TicketLock``;
        None when nobody holds or waits. Reading it changes nothing."""
        import redis

        q, h = self._keys(conversation_id)
        try:
            with self.red.pipeline(transaction=True) as pipe:
                tickets, fields = pipe.zrange(q, 0, -1).hgetall(h).execute()
        except (redis.RedisError, OSError) as error:
            raise self._failure("read the lock", conversation_id, error) from error
        if not tickets:
            return None
        return TicketLock(conversation_id, deque(
            Ticket(int(t), int(fields.get(f"e:{t}", 0)) / 1000) for t in tickets))

    def delete_lock(self, conversation_id: Text) -> None:
        """Forget the conversation's queue (its holder and waiters lose their tickets)."""
        import redis

        try:
            deleted = self.red.delete(*self._keys(conversation_id))
        except (redis.RedisError, OSError) as error:
            raise self._failure("delete the lock", conversation_id, error) from error
        self._log_deletion(conversation_id, bool(deleted))

    def save_lock(self, lock: TicketLock) -> None:
        """Replace the conversation's queue by ``lock``'s tickets, in one atomic step (Rasa's
        own flow never calls this here: ``lock`` and the methods below do not read-modify-
        write)."""
        q, h = self._keys(lock.conversation_id)
        args: list = [self._ttl_ms(LOCK_LIFETIME)]
        for ticket in lock.tickets:
            args += [str(int(ticket.number)), str(int(ticket.expires * 1000))]
        self._run("replace", lock.conversation_id, [q, h], args)

    def update_lock(self, conversation_id: Text) -> None:
        """Drop the expired tickets at the head of the queue."""
        self._run("prune", conversation_id, list(self._keys(conversation_id)), [])

    def is_someone_waiting(self, conversation_id: Text) -> bool:
        return int(self._run("prune", conversation_id,
                             list(self._keys(conversation_id)), [])) > 0

    def finish_serving(self, conversation_id: Text, ticket_number: int) -> None:
        """Give ``ticket_number`` back (holder or waiter); the next ticket is served."""
        self._run("release", conversation_id, list(self._keys(conversation_id)),
                  [str(ticket_number)])

    def cleanup(self, conversation_id: Text, ticket_number: int) -> None:
        """Rasa's end of a turn: give the ticket back; an empty queue is removed with it."""
        self.finish_serving(conversation_id, ticket_number)

    async def close(self) -> None:
        """Close the connections (tests and scripts; Rasa never closes a lock store)."""
        if self._async is not None:
            await self._async[1].close(close_connection_pool=True)
            self._async = None
        self.red.close()
