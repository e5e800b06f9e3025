"""Which deliveries WeChat has already made, what their turns answered, and where pushing
stands: the channel's state shared by every Rasa process of one official account.

WeChat retries a callback it got no answer for within 5 s (3 attempts in all), and a retry must
never run a turn twice. The first delivery *claims* the key and runs the turn; the turn's reply
is kept under the same key so a retry, in this process or another, can collect it. The store
also remembers callback nonces (replay refusal), late answers a user will collect with their
next message, the choices offered to each user (menu id → what a tap runs), and the push
state of the customer-service API: users WeChat refused pushes to
(45015/45047/43004, until they write again) and the account's rate-limit back-off
(45009/45011). Several replicas must agree on that state, or each would learn WeChat's refusal
by being refused again.

``RedisDedupeStore`` works across processes (SET NX EX); ``MemoryDedupeStore`` is for the
single-process demo.
"""
from __future__ import annotations

import abc
import hashlib
import json
import time
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple

from ground.redis_options import client as redis_client

# How long a delivery-state command keeps trying while Redis is down (a restart): inside the
# 5 seconds WeChat waits for an answer, with time left for the turn.
CHANNEL_OUTAGE_S = 3.0

DEFAULT_TTL_S = 3600  # a late answer stays collectable for an hour
# A turn's claim is a lease its process renews while the turn runs (every CLAIM_LEASE_S / 4):
# if that process dies (a replica killed mid-turn), the lease lapses and a delivery of the same
# message waiting on another replica takes the turn over. Once the turn's result is stored the
# claim is kept as long as the result.
CLAIM_LEASE_S = 15
# A refused user stays marked until they write again; after 48 h without a message WeChat's
# window is closed anyway, so the mark may lapse.
WINDOW_CLOSED_TTL_S = 48 * 3600
# Choices offered in a text (``weixin://bizmsgmenu`` links): a tap on one sends its words with
# its menu id; the id finds what the tap runs. Ids are this user's own, counted from
# FIRST_CHOICE_ID (ids below it are fixed links whose words are simply read, the FAQ's); the
# newest CHOICES_KEPT stay tappable, for as long as WeChat lets the account answer (48 h).
FIRST_CHOICE_ID = 1000
CHOICES_KEPT = 64
CHOICE_TTL_S = 48 * 3600
CHOICE_USERS_IN_MEMORY = 20_000


def delivery_key(parts: Sequence[str]) -> str:
    """A fixed-length key for (openid, MsgId) or (openid, CreateTime, Event, EventKey)."""
    digest = hashlib.sha256(json.dumps(list(parts), ensure_ascii=False).encode()).hexdigest()
    return f"{parts[0]}:{digest[:32]}"


class DedupeStore(abc.ABC):
    """Shared state of deliveries; every method is a single atomic store operation."""

    @abc.abstractmethod
    async def claim(self, key: str, ttl_s: int = DEFAULT_TTL_S) -> bool:
        """True for the one delivery that runs the turn; False for every later one."""

    @abc.abstractmethod
    async def renew_claim(self, key: str, ttl_s: int = CLAIM_LEASE_S) -> None:
        """Extend the claim on ``key`` by ``ttl_s`` from now (its holder is alive)."""

    @abc.abstractmethod
    async def claim_held(self, key: str) -> bool:
        """Whether someone holds the claim on ``key`` (a lapsed lease does not count)."""

    @abc.abstractmethod
    async def count_attempt(self, key: str, ttl_s: int = DEFAULT_TTL_S) -> int:
        """How many deliveries of this key arrived, this one included."""

    @abc.abstractmethod
    async def put_result(self, key: str, reply: str, ttl_s: int = DEFAULT_TTL_S) -> None:
        """Keep the turn's rendered reply for retries."""

    @abc.abstractmethod
    async def get_result(self, key: str) -> Optional[str]:
        """The turn's reply, or None while it runs."""

    @abc.abstractmethod
    async def set_flag(self, key: str, flag: str, ttl_s: int = DEFAULT_TTL_S) -> bool:
        """Set ``flag`` once; True if this call set it (SET NX)."""

    @abc.abstractmethod
    async def has_flag(self, key: str, flag: str) -> bool:
        """Whether ``flag`` was set."""

    @abc.abstractmethod
    async def remember_nonce(self, nonce_key: str, body_digest: str, ttl_s: int) -> str:
        """Remember the message first seen with this timestamp+nonce (``nonce_key``); return
        that first digest (one atomic set-if-absent, so replicas agree)."""

    @abc.abstractmethod
    async def add_late_answer(self, openid: str, reply: str, ttl_s: int = DEFAULT_TTL_S) -> None:
        """Keep an answer the user could not receive, for their next message."""

    @abc.abstractmethod
    async def take_late_answers(self, openid: str) -> List[str]:
        """Remove and return this user's late answers, oldest first."""

    @abc.abstractmethod
    async def has_late_answers(self, openid: str) -> bool:
        """Whether an answer is waiting for this user's next message."""

    # -- push state of the customer-service API ------------------------------------------
    @abc.abstractmethod
    async def close_window(self, openid: str, ttl_s: int = WINDOW_CLOSED_TTL_S) -> None:
        """WeChat refused a push to this user (outside 48 h, quota used up, not following):
        no more pushes until ``reopen_window``."""

    @abc.abstractmethod
    async def reopen_window(self, openid: str) -> None:
        """The user wrote, clicked or followed: WeChat grants a new window and quota."""

    @abc.abstractmethod
    async def window_closed(self, openid: str) -> bool:
        """Whether pushes to this user are stopped."""

    @abc.abstractmethod
    async def offer_choices(self, openid: str, choices: Sequence[Tuple[str, str]],
                            ttl_s: int = CHOICE_TTL_S) -> List[str]:
        """Remember (words, payload) choices offered to ``openid``; their menu ids, in order."""

    @abc.abstractmethod
    async def offered_choice(self, openid: str, menu_id: str) -> Optional[Tuple[str, str]]:
        """(words, payload) of a choice offered to ``openid`` under ``menu_id``; None for an id
        never offered to this user, expired or pushed out by newer ones."""

    @abc.abstractmethod
    async def back_off(self, seconds: float) -> None:
        """WeChat rate-limited the account (45009/45011): no pushes for ``seconds``."""

    @abc.abstractmethod
    async def backing_off(self) -> bool:
        """Whether the account is backing off after a rate limit."""

    async def close(self) -> None:
        """Release connections."""


class MemoryDedupeStore(DedupeStore):
    """One process only (the demo's single Rasa server)."""

    def __init__(self, clock=time.monotonic) -> None:
        self._clock = clock
        self._values: Dict[str, Tuple[float, object]] = {}
        # openid → (expires, last id, menu id → (words, payload)), least recent first
        self._choices: "OrderedDict[str, Tuple[float, int, OrderedDict]]" = OrderedDict()

    def _get(self, key: str):
        entry = self._values.get(key)
        if entry is None:
            return None
        expires, value = entry
        if expires < self._clock():
            del self._values[key]
            return None
        return value

    def _set(self, key: str, value, ttl_s: float) -> None:
        self._values[key] = (self._clock() + ttl_s, value)
        if len(self._values) > 50_000:  # bound memory: drop what expired
            now = self._clock()
            for k in [k for k, (exp, _) in self._values.items() if exp < now]:
                del self._values[k]

    async def claim(self, key, ttl_s=DEFAULT_TTL_S):
        return await self.set_flag(key, "claim", ttl_s)

    async def renew_claim(self, key, ttl_s=CLAIM_LEASE_S):
        self._set(f"flag:claim:{key}", True, ttl_s)

    async def claim_held(self, key):
        return await self.has_flag(key, "claim")

    async def count_attempt(self, key, ttl_s=DEFAULT_TTL_S):
        count = (self._get(f"attempts:{key}") or 0) + 1
        self._set(f"attempts:{key}", count, ttl_s)
        return count

    async def put_result(self, key, reply, ttl_s=DEFAULT_TTL_S):
        self._set(f"result:{key}", reply, ttl_s)

    async def get_result(self, key):
        return self._get(f"result:{key}")

    async def set_flag(self, key, flag, ttl_s=DEFAULT_TTL_S):
        name = f"flag:{flag}:{key}"
        if self._get(name) is not None:
            return False
        self._set(name, True, ttl_s)
        return True

    async def has_flag(self, key, flag):
        return self._get(f"flag:{flag}:{key}") is not None

    async def remember_nonce(self, nonce_key, body_digest, ttl_s):
        name = f"nonce:{nonce_key}"
        first = self._get(name)
        if first is None:
            self._set(name, body_digest, ttl_s)
            return body_digest
        return first

    async def add_late_answer(self, openid, reply, ttl_s=DEFAULT_TTL_S):
        name = f"late:{openid}"
        self._set(name, (self._get(name) or []) + [reply], ttl_s)

    async def take_late_answers(self, openid):
        answers = self._get(f"late:{openid}") or []
        self._values.pop(f"late:{openid}", None)
        return list(answers)

    async def has_late_answers(self, openid):
        return bool(self._get(f"late:{openid}"))

    async def close_window(self, openid, ttl_s=WINDOW_CLOSED_TTL_S):
        self._set(f"push_closed:{openid}", True, ttl_s)

    async def reopen_window(self, openid):
        self._values.pop(f"push_closed:{openid}", None)

    async def window_closed(self, openid):
        return self._get(f"push_closed:{openid}") is not None

    async def offer_choices(self, openid, choices, ttl_s=CHOICE_TTL_S):
        if not choices:
            return []
        offered = self._choices.pop(openid, None)
        if offered is None or offered[0] < self._clock():
            offered = (0.0, FIRST_CHOICE_ID - 1, OrderedDict())
        _, last, menu = offered
        ids = [str(last + n) for n in range(1, len(choices) + 1)]
        for menu_id, (words, payload) in zip(ids, choices):
            menu[menu_id] = (str(words), str(payload))
        while len(menu) > CHOICES_KEPT:
            menu.popitem(last=False)
        self._choices[openid] = (self._clock() + ttl_s, last + len(choices), menu)
        while len(self._choices) > CHOICE_USERS_IN_MEMORY:  # the least recently offered go
            self._choices.popitem(last=False)
        return ids

    async def offered_choice(self, openid, menu_id):
        offered = self._choices.get(openid)
        if offered is None or offered[0] < self._clock():
            return None
        return offered[2].get(str(menu_id))

    async def back_off(self, seconds):
        self._set("push_backoff", True, seconds)

    async def backing_off(self):
        return self._get("push_backoff") is not None


class RedisDedupeStore(DedupeStore):
    """Shared by every Rasa process (and replica) that serves the same official account."""

    def __init__(self, url: str, prefix: str = "tuibao:wechat", timeout_s: float = 2.0) -> None:
        self._redis = redis_client(
            url, asyncio=True, outage_s=CHANNEL_OUTAGE_S, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
            decode_responses=True)
        self._prefix = prefix

    @property
    def prefix(self) -> str:
        return self._prefix

    @property
    def redis(self):
        """The connection, shared with the access-token cache."""
        return self._redis

    def _k(self, *parts: str) -> str:
        return ":".join((self._prefix,) + parts)

    async def claim(self, key, ttl_s=DEFAULT_TTL_S):
        return bool(await self._redis.set(self._k("claim", key), "1", nx=True, ex=ttl_s))

    async def renew_claim(self, key, ttl_s=CLAIM_LEASE_S):
        await self._redis.set(self._k("claim", key), "1", ex=ttl_s)

    async def claim_held(self, key):
        return bool(await self._redis.exists(self._k("claim", key)))

    async def count_attempt(self, key, ttl_s=DEFAULT_TTL_S):
        name = self._k("attempts", key)
        async with self._redis.pipeline(transaction=True) as pipe:
            count, _ = await pipe.incr(name).expire(name, ttl_s).execute()
        return int(count)

    async def put_result(self, key, reply, ttl_s=DEFAULT_TTL_S):
        await self._redis.set(self._k("result", key), reply, ex=ttl_s)

    async def get_result(self, key):
        return await self._redis.get(self._k("result", key))

    async def set_flag(self, key, flag, ttl_s=DEFAULT_TTL_S):
        return bool(await self._redis.set(self._k("flag", flag, key), "1", nx=True, ex=ttl_s))

    async def has_flag(self, key, flag):
        return bool(await self._redis.exists(self._k("flag", flag, key)))

    async def remember_nonce(self, nonce_key, body_digest, ttl_s):
        name = self._k("nonce", hashlib.sha256(nonce_key.encode()).hexdigest()[:32])
        if await self._redis.set(name, body_digest, nx=True, ex=ttl_s):
            return body_digest
        return await self._redis.get(name) or body_digest

    async def add_late_answer(self, openid, reply, ttl_s=DEFAULT_TTL_S):
        name = self._k("late", openid)
        async with self._redis.pipeline(transaction=True) as pipe:
            await pipe.rpush(name, reply).expire(name, ttl_s).execute()

    async def take_late_answers(self, openid):
        name = self._k("late", openid)
        async with self._redis.pipeline(transaction=True) as pipe:
            answers, _ = await pipe.lrange(name, 0, -1).delete(name).execute()
        return list(answers)

    async def has_late_answers(self, openid):
        return bool(await self._redis.exists(self._k("late", openid)))

    async def close_window(self, openid, ttl_s=WINDOW_CLOSED_TTL_S):
        await self._redis.set(self._k("push_closed", openid), "1", ex=ttl_s)

    async def reopen_window(self, openid):
        await self._redis.delete(self._k("push_closed", openid))

    async def window_closed(self, openid):
        return bool(await self._redis.exists(self._k("push_closed", openid)))

    async def offer_choices(self, openid, choices, ttl_s=CHOICE_TTL_S):
        if not choices:
            return []
        counter, menu = self._k("choice_next", openid), self._k("choices", openid)
        async with self._redis.pipeline(transaction=True) as pipe:
            _, last, _ = await pipe.setnx(counter, FIRST_CHOICE_ID - 1) \
                .incrby(counter, len(choices)).expire(counter, ttl_s).execute()
        last = int(last)  # ids are this call's alone, whichever replica offers at once
        ids = [str(last - len(choices) + n) for n in range(1, len(choices) + 1)]
        fields = {menu_id: json.dumps([str(w), str(p)], ensure_ascii=False)
                  for menu_id, (w, p) in zip(ids, choices)}
        stale = [str(i) for i in range(max(FIRST_CHOICE_ID, last - CHOICES_KEPT - len(choices)),
                                       last - CHOICES_KEPT + 1)]
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(menu, mapping=fields)
            if stale:
                pipe.hdel(menu, *stale)
            await pipe.expire(menu, ttl_s).execute()
        return ids

    async def offered_choice(self, openid, menu_id):
        found = await self._redis.hget(self._k("choices", openid), str(menu_id))
        if found is None:
            return None
        words, payload = json.loads(found)
        return words, payload

    async def back_off(self, seconds):
        await self._redis.set(self._k("push_backoff"), "1", px=max(int(seconds * 1000), 1))

    async def backing_off(self):
        return bool(await self._redis.exists(self._k("push_backoff")))

    async def close(self):
        await self._redis.close()


def dedupe_store_for(redis_url: Optional[str], prefix: str = "tuibao:wechat") -> DedupeStore:
    """Redis when a URL is configured, else memory (single process)."""
    return RedisDedupeStore(redis_url, prefix=prefix) if redis_url else MemoryDedupeStore()
