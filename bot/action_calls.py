"""Rasa's calls to the action server on kept-alive connections, their JSON written by ujson.

Rasa 3.6's ``EndpointConfig.request`` opens a new ``aiohttp.ClientSession`` for every call, so
every action call (one to three a turn) connects anew, and serialises its body (the whole
tracker and the domain: about 85 KB for a surrender half done) with the standard ``json``
module, 1.6 ms a call (issue 23, docs/benchmarks.md). Here each endpoint keeps one session per
event loop (a Sanic worker has one), whose connections stay open for ``KEEPALIVE_S`` seconds of
quiet: less than the action server's own keep-alive (Sanic's 5 s), so it never closes a
connection this side is about to reuse. The body is written by ujson (about half the time,
the same JSON values; ``ensure_ascii`` off, so Chinese goes as UTF-8, as the action server
reads it); anything ujson refuses goes through ``json.dumps`` as before.

The rest is Rasa's ``request`` as it is: headers, parameters, certificate, errors (a status of
400 or more raises ``ClientResponseError``), a JSON answer or None.

``python -m bot.serve`` installs it; ``TUIBAO_ACTION_KEEPALIVE=0`` leaves Rasa's request.
"""
from __future__ import annotations

import asyncio
import json
import os
import ssl
from typing import Any, Optional, Text

import aiohttp
import ujson

from bot.patching import Patch

ENV = "TUIBAO_ACTION_KEEPALIVE"
KEEPALIVE_S = 2.0
_SESSION_ATTR = "_tuibao_sessions"


def dumps(value: Any) -> str:
    """JSON text of ``value``: ujson's, or the standard module's for what ujson refuses."""
    try:
        return ujson.dumps(value, ensure_ascii=False, escape_forward_slashes=False)
    except (TypeError, OverflowError, ValueError):
        return json.dumps(value)


def session_for(endpoint: Any) -> aiohttp.ClientSession:
    """The endpoint's session on the running loop (made on first use, again once closed)."""
    from rasa.utils.endpoints import DEFAULT_REQUEST_TIMEOUT

    loop = asyncio.get_running_loop()
    sessions = endpoint.__dict__.setdefault(_SESSION_ATTR, {})
    session = sessions.get(id(loop))
    if session is None or session.closed or session._loop is not loop:
        auth = aiohttp.BasicAuth(endpoint.basic_auth["username"], endpoint.basic_auth["password"]) \
            if endpoint.basic_auth else None
        session = aiohttp.ClientSession(
            headers=endpoint.headers, auth=auth, json_serialize=dumps,
            timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT),
            connector=aiohttp.TCPConnector(keepalive_timeout=KEEPALIVE_S))
        sessions[id(loop)] = session
    return session


async def request(self: Any, method: Text = "post", subpath: Optional[Text] = None,
                  content_type: Optional[Text] = "application/json", compress: bool = False,
                  **kwargs: Any) -> Optional[Any]:
    """``EndpointConfig.request`` on the endpoint's kept session."""
    from aiohttp import ContentTypeError
    from rasa.shared.exceptions import FileNotFoundException
    from rasa.utils.endpoints import ClientResponseError, concat_url

    headers = {}
    if content_type:
        headers["Content-Type"] = content_type
    if "headers" in kwargs:
        headers.update(kwargs.pop("headers"))
    if self.headers:
        headers.update(self.headers)
    url = concat_url(self.url, subpath)
    sslcontext = None
    if self.cafile:
        try:
            sslcontext = ssl.create_default_context(cafile=self.cafile)
        except FileNotFoundError as e:
            raise FileNotFoundException(
                f"Failed to find certificate file, "
                f"'{os.path.abspath(self.cafile)}' does not exist.") from e
    async with session_for(self).request(method, url, headers=headers,
                                         params=self.combine_parameters(kwargs),
                                         compress=compress, ssl=sslcontext, **kwargs) as response:
        if response.status >= 400:
            raise ClientResponseError(response.status, response.reason, await response.content.read())
        try:
            return await response.json()
        except ContentTypeError:
            return None


_patch = Patch("rasa.utils.endpoints:EndpointConfig", "request", request)


def wanted() -> bool:
    return os.environ.get(ENV, "1") != "0"


def install() -> None:
    _patch.install()


def uninstall() -> None:
    _patch.uninstall()
