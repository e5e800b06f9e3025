"""A Redis restart (everything it held gone, every pooled connection dead) costs a Tuibao
client no command; an asyncio client built with redis-py's defaults fails its next command
on every pooled connection, which is what users met as "系统暂时出了点问题" on the cluster before (issue 20)."""
from __future__ import annotations

import asyncio

import pytest
import redis
import redis.asyncio as aredis

from connectors.wechat.dedupe import RedisDedupeStore
from ground.redis_options import resilient
from tests.support.faults import private_redis


@pytest.fixture
def restarted_redis():
    with private_redis() as server:
        yield server


def test_sync_client_survives_a_restart(restarted_redis):
    """(redis-py's synchronous pool already checks a connection when it hands it out; the
    options must not undo that.)"""
    ours = redis.Redis.from_url(restarted_redis.url, **resilient(socket_timeout=2))
    assert ours.set("k", "before")
    restarted_redis.restart(down_s=0.2)
    assert ours.get("k") is None  # the restart lost it: a real restart
    assert ours.set("k", "after") and ours.get("k") == b"after"


def test_asyncio_client_survives_a_restart_and_a_default_one_does_not(restarted_redis):
    async def scenario():
        ours = aredis.from_url(restarted_redis.url, **resilient(asyncio=True, socket_timeout=2))
        plain = aredis.from_url(restarted_redis.url, socket_timeout=2)
        await ours.set("k", "before")
        await plain.get("k")
        restarted_redis.restart(down_s=0.2)
        with pytest.raises(redis.ConnectionError):
            await plain.set("k", "after")
        assert await ours.set("k", "after")
        return await ours.get("k")

    assert asyncio.run(scenario()) == b"after"


def test_wechat_nonce_claims_after_a_restart(restarted_redis):
    """The WeChat channel's first Redis call of a callback (claiming its timestamp+nonce) works
    on the first try after a restart, and a replay of that callback is still recognised."""
    store = RedisDedupeStore(restarted_redis.url, prefix="t")

    async def scenario():
        assert await store.remember_nonce("ts1:n1", "body-1", 60) == "body-1"
        restarted_redis.restart(down_s=0.2)
        first = await store.remember_nonce("ts2:n2", "body-2", 60)
        replay = await store.remember_nonce("ts2:n2", "other-body", 60)
        return first, replay

    assert asyncio.run(scenario()) == ("body-2", "body-2")


def test_a_redis_down_for_a_moment_is_waited_for(restarted_redis):
    """Down for 1.5 s: a channel's client (about 3 s of patience) is answered once it is back;
    redis-py's defaults fail at once."""
    async def scenario():
        ours = aredis.from_url(restarted_redis.url, **resilient(
            asyncio=True, outage_s=3.0, socket_timeout=2))
        plain = aredis.from_url(restarted_redis.url, socket_timeout=2)
        await ours.set("k", "before")
        await plain.get("k")
        restarted_redis.stop()
        back = asyncio.get_running_loop().call_later(1.5, restarted_redis.start)
        with pytest.raises(redis.ConnectionError):
            await plain.set("k", "during")
        started = asyncio.get_running_loop().time()
        assert await ours.set("k", "after")
        waited = asyncio.get_running_loop().time() - started
        back.cancel()
        return waited

    waited = asyncio.run(scenario())
    assert 1.0 < waited < 3.5, waited
