"""The console's calls to Rasa's HTTP API (token-protected): read a tracker, pause the bot
while a person has the chat, resume it and run the bot's hand-back action.

Rasa's own pause: a ``pause`` event makes the processor log user messages without predicting
anything (``MessageProcessor._should_handle_message``), so the bot says nothing and the
messages stay in the tracker for the agent; ``resume`` ends it.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional
from urllib.parse import quote

import httpx

TIMEOUT = httpx.Timeout(10.0, connect=3.0)


class RasaUnavailable(RuntimeError):
    """Rasa did not answer as expected."""


class RasaApi:
    """One Rasa server (or load balancer) and its API token."""

    def __init__(self, base_url: str, token: str, client: Optional[httpx.AsyncClient] = None):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self._client = client or httpx.AsyncClient(timeout=TIMEOUT)

    def _url(self, conversation_id: str, tail: str) -> str:
        # ":" stays as it is: Rasa's router does not decode %3A, so "telegram%3A42" would be
        # another conversation than the Telegram user's "telegram:42" (ids never hold "/").
        return f"{self.base_url}/conversations/{quote(conversation_id, safe=':')}/{tail}"

    async def _call(self, method: str, url: str, **kwargs) -> Any:
        params = {"token": self.token, **kwargs.pop("params", {})}
        try:
            answer = await self._client.request(method, url, params=params, **kwargs)
        except httpx.HTTPError as error:
            raise RasaUnavailable(type(error).__name__) from error
        if answer.status_code >= 300:
            raise RasaUnavailable(f"HTTP {answer.status_code}")
        return answer.json()

    async def tracker(self, conversation_id: str) -> Dict[str, Any]:
        return await self._call("GET", self._url(conversation_id, "tracker"),
                                params={"include_events": "ALL"})

    async def append_events(self, conversation_id: str, events: List[Dict[str, Any]]) -> None:
        await self._call("POST", self._url(conversation_id, "tracker/events"), json=events,
                         params={"include_events": "NONE"})

    async def pause(self, conversation_id: str) -> None:
        await self.append_events(conversation_id, [{"event": "pause"}])

    async def resume(self, conversation_id: str) -> None:
        await self.append_events(conversation_id, [{"event": "resume"}])

    async def execute(self, conversation_id: str, action: str) -> List[Dict[str, Any]]:
        """Run one of the bot's actions now; returns what it said (the console delivers it),
        then marks the bot as listening again so the user's next message is read as usual."""
        body = await self._call("POST", self._url(conversation_id, "execute"),
                                json={"name": action}, params={"include_events": "NONE"})
        await self.append_events(conversation_id, [{"event": "action", "name": "action_listen"}])
        return list(body.get("messages") or [])

    async def aclose(self) -> None:
        await self._client.aclose()
