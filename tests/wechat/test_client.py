"""The async customer-service client against the real WeChat simulator (its stand-in of
WeChat's server API): pushes land in the user's chat, tokens are refreshed once and under a
lock, and WeChat's refusals stop pushing instead of hammering it, in every replica sharing the
Redis store (each test on a key prefix of its own, removed afterwards)."""
from __future__ import annotations

import asyncio
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import List

import pytest
import requests

from connectors.wechat.client import PushOutcome, WeChatApi
from connectors.wechat.dedupe import RedisDedupeStore
from connectors.wechat.settings import WeChatSettings
from harness.services import PYTHON, free_port, service
from harness.stack import REDIS_URL
from harness.wechat_caller import new_openid


@pytest.fixture(scope="module")
def simulator_url():
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with service([PYTHON, "-m", "simulator"], f"{url}/sim/health",
                 env={"SIM_PORT": str(port), "SIM_WEBHOOK_URL": "http://127.0.0.1:9/unused"},
                 log_name="wechat-client-simulator"):
        yield url


def settings_for(url: str) -> WeChatSettings:
    return WeChatSettings(api_base_url=url, redis_prefix=f"tuibao-test:{uuid.uuid4().hex[:8]}")


def follower(url: str) -> str:
    openid = new_openid()
    requests.post(f"{url}/sim/follow", json={"openid": openid}, timeout=5).raise_for_status()
    return openid


def outbox(url: str, openid: str):
    return requests.get(f"{url}/sim/outbox", params={"openid": openid}, timeout=5).json()


def test_push_reaches_the_follower_and_long_text_is_split(simulator_url):
    openid = follower(simulator_url)
    api = WeChatApi(settings_for(simulator_url))
    long_text = "退保进度查询结果。" * 120  # about 3.2 KB in UTF-8
    assert asyncio.run(api.send_text(openid, "您的退保申请已受理。")) is PushOutcome.SENT
    assert asyncio.run(api.send_text(openid, long_text)) is PushOutcome.SENT
    contents = [m["content"] for m in outbox(simulator_url, openid)]
    assert contents[0] == "您的退保申请已受理。"
    assert "".join(contents[1:]) == long_text and len(contents) == 3
    assert all(len(c.encode("utf-8")) <= 2048 for c in contents)


def test_token_taken_by_another_process_is_refreshed_once(simulator_url):
    openid = follower(simulator_url)
    api = WeChatApi(settings_for(simulator_url))
    asyncio.run(api.send_text(openid, "第一条"))
    # Another process fetching a token retires ours (WeChat's rule): the next push must
    # refresh and still arrive.
    requests.get(f"{simulator_url}/cgi-bin/token", params={
        "grant_type": "client_credential", "appid": "wx00000000demo0001",
        "secret": "demo-secret"}, timeout=5).raise_for_status()
    assert asyncio.run(api.send_text(openid, "第二条")) is PushOutcome.SENT
    assert [m["content"] for m in outbox(simulator_url, openid)] == ["第一条", "第二条"]


def test_processes_sharing_redis_fetch_the_token_once(simulator_url, redis_prefix):
    settings = WeChatSettings(api_base_url=simulator_url, redis_prefix=redis_prefix)
    openid = follower(simulator_url)

    async def scenario():
        stores = [RedisDedupeStore(REDIS_URL, prefix=settings.redis_prefix) for _ in range(4)]
        apis = [WeChatApi(settings, store=store) for store in stores]
        try:
            tokens = await asyncio.gather(*(api.access_token() for api in apis))
            outcomes = await asyncio.gather(*(api.send_text(openid, f"消息{i}")
                                              for i, api in enumerate(apis[:3])))
            return tokens, outcomes
        finally:
            for store in stores:
                await store.close()

    tokens, outcomes = asyncio.run(scenario())
    assert len(set(tokens)) == 1  # one refresh: a second would have retired the first
    assert outcomes == [PushOutcome.SENT] * 3


def test_window_closed_stops_pushing_until_the_user_writes(simulator_url):
    stranger = new_openid()  # never followed: WeChat answers 43004
    api = WeChatApi(settings_for(simulator_url))
    assert asyncio.run(api.send_text(stranger, "您好")) is PushOutcome.WINDOW_CLOSED
    assert asyncio.run(api.send_text(stranger, "您好")) is PushOutcome.WINDOW_CLOSED
    assert outbox(simulator_url, stranger) == []

    openid = follower(simulator_url)  # a follow allows 3 pushes within a minute
    outcomes = [asyncio.run(api.send_text(openid, f"第{i}条")) for i in range(5)]
    assert outcomes[:3] == [PushOutcome.SENT] * 3
    assert outcomes[3:] == [PushOutcome.WINDOW_CLOSED] * 2  # 45047, then no more calls
    assert len(outbox(simulator_url, openid)) == 3
    requests.post(f"{simulator_url}/sim/messages", json={"openid": openid, "text": "在吗"},
                  timeout=5).raise_for_status()
    asyncio.run(api.reopen_window(openid))  # what the channel does when the user writes
    assert asyncio.run(api.send_text(openid, "在的")) is PushOutcome.SENT


# -- push state shared by replicas (real Redis) -------------------------------------------
def test_quota_refusal_stops_every_replica_until_the_user_writes(simulator_url, redis_prefix):
    settings = WeChatSettings(api_base_url=simulator_url, redis_prefix=redis_prefix)
    openid = follower(simulator_url)  # a follow allows 3 pushes within a minute

    async def scenario():
        stores = [RedisDedupeStore(REDIS_URL, prefix=redis_prefix) for _ in range(2)]
        first, second = (WeChatApi(settings, store=store) for store in stores)
        try:
            spent = [await first.send_text(openid, f"第{i}条") for i in range(4)]
            # The user writes: WeChat grants a new quota, but no replica has seen it yet.
            await asyncio.to_thread(lambda: requests.post(
                f"{simulator_url}/sim/messages", json={"openid": openid, "text": "在吗"},
                timeout=5).raise_for_status())
            held_back = await second.send_text(openid, "另一台的消息")
            await second.reopen_window(openid)  # the message reached the second replica
            resumed = await first.send_text(openid, "在的")
            return spent, held_back, resumed
        finally:
            for store in stores:
                await store.close()

    spent, held_back, resumed = asyncio.run(scenario())
    assert spent == [PushOutcome.SENT] * 3 + [PushOutcome.WINDOW_CLOSED]  # 45047 on the 4th
    # WeChat would have accepted it (see "在的"): the second replica never asked.
    assert held_back is PushOutcome.WINDOW_CLOSED
    assert resumed is PushOutcome.SENT
    assert [m["content"] for m in outbox(simulator_url, openid)] == \
        ["第0条", "第1条", "第2条", "在的"]


@pytest.fixture
def rate_limited_wechat():
    """A stand-in of WeChat's server API whose account is over its minute quota: every push is
    answered 45011 (the simulator never rate-limits). Yields its URL and the pushes it got."""
    pushes: List[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, payload: dict) -> None:
            body = json.dumps(payload).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):  # noqa: N802 (http.server's naming)
            self._answer({"access_token": "stand-in-token", "expires_in": 7200})

        def do_POST(self):  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            pushes.append(json.loads(self.rfile.read(length) or b"{}"))
            self._answer({"errcode": 45011, "errmsg": "api minute-quota reach limit"})

        def log_message(self, *args):  # keep pytest's output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", pushes
    finally:
        server.shutdown()
        server.server_close()


def test_rate_limit_back_off_is_honoured_by_every_replica(rate_limited_wechat, redis_prefix):
    url, pushes = rate_limited_wechat
    settings = WeChatSettings(api_base_url=url, redis_prefix=redis_prefix)

    async def scenario():
        stores = [RedisDedupeStore(REDIS_URL, prefix=redis_prefix) for _ in range(2)]
        first, second = (WeChatApi(settings, store=store) for store in stores)
        try:
            limited = await first.send_text(new_openid(), "您好")
            waited = await second.send_text(new_openid(), "您好")  # another user, same account
            return limited, waited
        finally:
            for store in stores:
                await store.close()

    limited, waited = asyncio.run(scenario())
    assert (limited, waited) == (PushOutcome.RATE_LIMITED, PushOutcome.RATE_LIMITED)
    assert len(pushes) == 1  # the second replica backed off instead of asking again
