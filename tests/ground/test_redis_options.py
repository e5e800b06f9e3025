"""A Redis restart (everything it held gone, every pooled connection dead) costs a Tuibao
client no command; an asyncio client built with redis-py's defaults fails its next command
on every pooled connection, which is what users met as "系统暂时出了点问题" on the cluster before (issue 20)."""
from __future__ import annotations

import asyncio
import threading
import time
from typing import Optional

import pytest
import redis
import redis.asyncio as aredis

from connectors.wechat.dedupe import RedisDedupeStore
from ground.redis_options import client, resilient
from tests.support.faults import TcpProxy, private_redis


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



@pytest.fixture
def redis_behind_a_proxy(restarted_redis):
    """A Redis reached through a TCP proxy (nginx's stream module on the cluster): while the
    Redis is down, the proxy still accepts a connection and then closes it, where the Redis's
    own host would refuse it."""
    with TcpProxy(restarted_redis.port) as proxy:
        yield restarted_redis, f"redis://127.0.0.1:{proxy.port}/0"


def _command_while_down(server, url: str, asyncio_client: bool, down_s: Optional[float]):
    """SET on a client asking for 3 s of patience, sent just after the Redis stopped; it starts
    again ``down_s`` later (never with None). (what the SET gave or raised, seconds it took)"""
    async def scenario():
        ours = client(url, asyncio=True, outage_s=3.0, socket_timeout=2)
        await ours.ping()
        server.stop()
        back = (asyncio.get_running_loop().call_later(down_s, server.start)
                if down_s is not None else None)
        started = time.monotonic()
        try:
            return await ours.set("k", "after"), time.monotonic() - started
        except redis.ConnectionError as error:
            return error, time.monotonic() - started
        finally:
            if back is not None:
                back.cancel()
            await ours.close()

    if asyncio_client:
        return asyncio.run(scenario())
    ours = client(url, outage_s=3.0, socket_timeout=2)
    ours.ping()
    server.stop()
    back = threading.Timer(down_s, server.start) if down_s is not None else None
    if back is not None:
        back.start()
    started = time.monotonic()
    try:
        return ours.set("k", "after"), time.monotonic() - started
    except redis.ConnectionError as error:
        return error, time.monotonic() - started
    finally:
        if back is not None:
            back.join()


@pytest.mark.parametrize("asyncio_client", [False, True], ids=["sync", "asyncio"])
def test_a_redis_down_behind_a_proxy_is_waited_for(redis_behind_a_proxy, asyncio_client):
    """Down for 1.5 s behind the proxy: the command is answered once Redis is back. (redis-py's
    pool reported the connection the proxy accepted and closed at once, outside any retry: the
    synchronous client gave up in 0.0 s.)"""
    server, url = redis_behind_a_proxy
    answer, waited = _command_while_down(server, url, asyncio_client, down_s=1.5)
    assert answer is True and 1.0 < waited < 3.5, (answer, waited)


@pytest.mark.parametrize("behind_a_proxy", [False, True], ids=["direct", "proxy"])
@pytest.mark.parametrize("asyncio_client", [False, True], ids=["sync", "asyncio"])
def test_a_redis_that_stays_down_is_reported_after_the_patience_asked_for(
        restarted_redis, behind_a_proxy, asyncio_client):
    """Retrying has one budget per command, however the outage shows: a client asking for 3 s
    is told ConnectionError after about 3 s. (With counted tries, a connect retried inside a
    command's retry made the asyncio client wait 29 s for a refused Redis.)"""
    with TcpProxy(restarted_redis.port) as proxy:
        port = proxy.port if behind_a_proxy else restarted_redis.port
        answer, waited = _command_while_down(
            restarted_redis, f"redis://127.0.0.1:{port}/0", asyncio_client, down_s=None)
    assert isinstance(answer, redis.ConnectionError) and 2.5 < waited < 4.0, (answer, waited)
