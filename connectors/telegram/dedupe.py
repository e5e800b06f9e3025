"""Which updates were already taken, and whether the bot is in Telegram's flood control: the
channel's state shared by every Rasa process serving one bot.

Telegram redelivers an update its webhook did not acknowledge with a 2xx, and may deliver one
to two replicas; the first process to *claim* an update_id runs it, every later delivery is
acknowledged and dropped. A 429 ``retry_after`` is the bot's, not one process's: the pause is
kept here so every replica honours it. ``RedisUpdateStore`` works across processes (SET NX
EX); ``MemoryUpdateStore`` is for the single-process demo.
"""
from __future__ import annotations

import abc
import time
from typing import Dict

from ground.redis_options import client as redis_client

# How long a delivery-state command keeps trying while Redis is down (a restart): inside the
# 5 seconds WeChat waits for an answer, with time left for the turn.
CHANNEL_OUTAGE_S = 3.0

# Telegram keeps an unacknowledged update for 24 hours; a claim outlives that.
UPDATE_TTL_S = 26 * 3600


class UpdateStore(abc.ABC):
    """Shared state of the Telegram channel; each method is one atomic store operation."""

    @abc.abstractmethod
    async def claim(self, update_id: int, ttl_s: int = UPDATE_TTL_S) -> bool:
        """True for the one delivery of ``update_id`` that runs it; False for every later one."""

    @abc.abstractmethod
    async def back_off(self, seconds: float) -> None:
        """Telegram answered 429: no calls for ``seconds``, in any process."""

    @abc.abstractmethod
    async def back_off_remaining(self) -> float:
        """Seconds left of the current flood-control pause (0 when none)."""

    async def close(self) -> None:
        """Release connections."""


class MemoryUpdateStore(UpdateStore):
    """One process only (the demo's single Rasa server)."""

    def __init__(self, clock=time.monotonic) -> None:
        self._clock = clock
        self._claims: Dict[int, float] = {}
        self._paused_until = 0.0

    async def claim(self, update_id, ttl_s=UPDATE_TTL_S):
        now = self._clock()
        if len(self._claims) > 100_000:  # bound memory: drop what expired
            self._claims = {k: exp for k, exp in self._claims.items() if exp > now}
        if self._claims.get(update_id, 0.0) > now:
            return False
        self._claims[update_id] = now + ttl_s
        return True

    async def back_off(self, seconds):
        self._paused_until = max(self._paused_until, self._clock() + seconds)

    async def back_off_remaining(self):
        return max(0.0, self._paused_until - self._clock())


class RedisUpdateStore(UpdateStore):
    """Shared by every Rasa process (and replica) that serves the same bot."""

    def __init__(self, url: str, prefix: str = "tuibao:telegram", timeout_s: float = 2.0) -> None:
        self._redis = redis_client(
            url, asyncio=True, outage_s=CHANNEL_OUTAGE_S, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
            decode_responses=True)
        self._prefix = prefix

    def _k(self, *parts: str) -> str:
        return ":".join((self._prefix,) + parts)

    async def claim(self, update_id, ttl_s=UPDATE_TTL_S):
        return bool(await self._redis.set(self._k("update", str(int(update_id))), "1",
                                          nx=True, ex=ttl_s))

    async def back_off(self, seconds):
        name = self._k("flood")
        millis = max(int(seconds * 1000), 1)
        # Never shorten a longer pause another replica was told about.
        if (await self._redis.pttl(name) or 0) < millis:
            await self._redis.set(name, "1", px=millis)

    async def back_off_remaining(self):
        millis = await self._redis.pttl(self._k("flood"))
        return max(0, millis or 0) / 1000.0

    async def close(self):
        await self._redis.close()


def update_store_for(redis_url, prefix: str = "tuibao:telegram") -> UpdateStore:
    """Redis when a URL is configured, else memory (single process)."""
    return RedisUpdateStore(redis_url, prefix=prefix) if redis_url else MemoryUpdateStore()
