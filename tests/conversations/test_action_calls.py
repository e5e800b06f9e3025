"""bot.action_calls (issue 23): Rasa's action calls keep their connection, send the same JSON
values, and answer errors as Rasa's own request does."""
from __future__ import annotations

import asyncio
import json
import math

import pytest
from aiohttp import web
from rasa.utils.endpoints import ClientResponseError, EndpointConfig

from bot import action_calls


@pytest.fixture
def installed():
    action_calls.install()
    yield
    action_calls.uninstall()


async def _server(handler):
    app = web.Application()
    app.router.add_route("POST", "/webhook", handler)
    runner = web.AppRunner(app, keepalive_timeout=5)  # as the action server's Sanic
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    return runner, f"http://127.0.0.1:{port}/webhook"


BODY = {"next_action": "action_quote", "tracker": {"events": [
    {"event": "user", "text": "我要退保 😡", "parse_data": {"intent": {"confidence": 0.9937712550163269}}},
    {"event": "slot", "name": "policy_number", "value": "SBX1000000000012"},
    {"event": "bot", "text": "https://example.com/a/b", "timestamp": 1764028800.123456}]},
    "version": "3.6.21", "nested": [1, 2.5, None, True, {"1": "一"}]}


def test_calls_share_one_connection_and_carry_the_same_json(installed):
    peers, bodies, auth = [], [], []

    async def handler(request):
        peers.append(request.transport.get_extra_info("peername"))
        bodies.append(json.loads(await request.text()))
        auth.append(request.headers.get("Authorization"))
        return web.json_response({"events": [], "responses": [{"text": "好的"}]})

    async def scenario():
        runner, url = await _server(handler)
        try:
            endpoint = EndpointConfig(url, headers={"Authorization": "Bearer s3cret"})
            answers = [await endpoint.request(json=BODY, method="post") for _ in range(5)]
        finally:
            await runner.cleanup()
        return answers

    answers = asyncio.run(scenario())
    assert answers == [{"events": [], "responses": [{"text": "好的"}]}] * 5
    assert bodies == [json.loads(json.dumps(BODY))] * 5
    assert auth == ["Bearer s3cret"] * 5
    assert len(set(peers)) == 1  # one connection for five calls (Rasa's own opens five)


def test_a_connection_quiet_longer_than_the_keepalive_is_not_reused(installed, monkeypatch):
    monkeypatch.setattr(action_calls, "KEEPALIVE_S", 0.2)
    peers = []

    async def handler(request):
        peers.append(request.transport.get_extra_info("peername"))
        return web.json_response({})

    async def scenario():
        runner, url = await _server(handler)
        try:
            endpoint = EndpointConfig(url)
            await endpoint.request(json={}, method="post")
            await asyncio.sleep(0.6)
            await endpoint.request(json={}, method="post")
        finally:
            await runner.cleanup()

    asyncio.run(scenario())
    assert len(peers) == 2 and peers[0] != peers[1]


def test_an_error_status_raises_as_rasa_s_request_does(installed):
    async def handler(request):
        return web.json_response({"error": "no such action", "action_name": "x"}, status=404)

    async def scenario():
        runner, url = await _server(handler)
        try:
            await EndpointConfig(url).request(json={}, method="post")
        finally:
            await runner.cleanup()

    with pytest.raises(ClientResponseError) as raised:
        asyncio.run(scenario())
    assert raised.value.status == 404 and b"no such action" in raised.value.text


def test_what_ujson_refuses_is_written_by_the_json_module():
    assert json.loads(action_calls.dumps({"big": 10 ** 30})) == {"big": 10 ** 30}
    assert math.isnan(json.loads(action_calls.dumps({"x": float("nan")}))["x"])  # as json writes it
    assert json.loads(action_calls.dumps(BODY)) == json.loads(json.dumps(BODY))
