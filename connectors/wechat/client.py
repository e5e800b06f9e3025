"""Async access to WeChat's server API (customer-service messages, typing), for the channel.

wechatpy's ``WeChatClient`` is synchronous (requests), so every call runs in a small executor
of its own, never on the event loop. The access token is cached in Redis (memory for the demo)
and refreshed by one process at a time under a lock, because each ``/cgi-bin/token`` call
invalidates the token every other process holds. Error codes: a token error refreshes once and
retries once; 45015/45047/43004 stop pushing to that user until they write again; 45009/45011
back off (the limits are the account's, so the whole account waits); nothing else is retried (a
push is not idempotent). Both stops live in the channel's shared store (``dedupe``), so every
replica honours a refusal another replica received.
"""
from __future__ import annotations

import asyncio
import enum
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, List, Optional, Tuple

import requests
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException

from connectors.wechat.dedupe import DedupeStore, MemoryDedupeStore, RedisDedupeStore
from connectors.wechat.render import split_for_wechat
from connectors.wechat.settings import WeChatSettings
from redaction import mask_openid  # noqa: F401  (re-exported for the channel)

logger = logging.getLogger(__name__)

TOKEN_ERRORS = {40001, 40014, 42001}
WINDOW_CLOSED = {45015, 45047, 43004}  # outside 48 h / quota used up / not subscribed
RATE_LIMITED = {45009, 45011}
RATE_LIMIT_BACKOFF_S = 60.0
TOKEN_SAFETY_MARGIN_S = 300  # refresh well before WeChat's expiry


class PushOutcome(enum.Enum):
    """What happened to a customer-service message."""

    SENT = "sent"
    WINDOW_CLOSED = "window_closed"  # 45015/45047/43004: the user must write first
    RATE_LIMITED = "rate_limited"  # 45009/45011: backing off
    FAILED = "failed"  # network error or another errcode


def api_root(api_base_url: str) -> str:
    """``http://host:port`` or ``…/cgi-bin/`` → the root both API families hang from."""
    root = api_base_url.rstrip("/")
    return root[: -len("/cgi-bin")] if root.endswith("/cgi-bin") else root


def wechat_client_class(api_base_url: str) -> type:
    """A ``WeChatClient`` subclass aimed at ``api_base_url`` (the simulator in the demo).

    ``API_BASE_URL`` is a class attribute in wechatpy, and a few areas (customservice) use
    absolute ``https://api.weixin.qq.com/...`` URLs, which are re-rooted here as well.
    """
    root = api_root(api_base_url)

    class TuibaoWeChatClient(WeChatClient):
        API_BASE_URL = f"{root}/cgi-bin/"

        def _request(self, method, url_or_endpoint, **kwargs):
            official = "https://api.weixin.qq.com/"
            if url_or_endpoint.startswith(official):
                url_or_endpoint = f"{root}/{url_or_endpoint[len(official):]}"
            return super()._request(method, url_or_endpoint, **kwargs)

        def fetch_access_token(self):  # never called implicitly: auto_retry is off
            raise RuntimeError("access tokens are fetched by WeChatApi under a lock")

    return TuibaoWeChatClient


class _MemoryTokenStore:
    def __init__(self) -> None:
        self._token: Optional[Tuple[str, float]] = None
        self._lock = asyncio.Lock()

    async def get(self) -> Optional[str]:
        if self._token and self._token[1] > time.time():
            return self._token[0]
        return None

    async def set(self, token: str, ttl_s: int) -> None:
        self._token = (token, time.time() + ttl_s)

    def lock(self):
        return self._lock


class _RedisTokenStore:
    def __init__(self, redis, app_id: str, prefix: str) -> None:
        self._redis = redis
        self._key = f"{prefix}:access_token:{app_id}"
        self._lock_key = f"{prefix}:access_token_lock:{app_id}"

    async def get(self) -> Optional[str]:
        return await self._redis.get(self._key)

    async def set(self, token: str, ttl_s: int) -> None:
        await self._redis.set(self._key, token, ex=max(ttl_s, 1))

    def lock(self):
        # One refresher across processes; the lock expires by itself if its holder dies.
        return self._redis.lock(self._lock_key, timeout=15, blocking_timeout=10)


class WeChatApi:
    """The customer-service message API of one official account, usable from async code."""

    def __init__(self, settings: WeChatSettings, store: Optional[DedupeStore] = None,
                 executor: Optional[ThreadPoolExecutor] = None) -> None:
        """``store`` holds the push state (memory when omitted: one process only); a Redis
        store also caches the access token for every process."""
        self.settings = settings
        client_class = wechat_client_class(settings.api_base_url)
        self._client = client_class(settings.app_id, settings.app_secret,
                                    timeout=settings.api_timeout_s, auto_retry=False)
        self._push_state = store if store is not None else MemoryDedupeStore()
        self._tokens = _RedisTokenStore(store.redis, settings.app_id, settings.redis_prefix) \
            if isinstance(store, RedisDedupeStore) else _MemoryTokenStore()
        self._executor = executor or ThreadPoolExecutor(max_workers=4,
                                                        thread_name_prefix="wechat-api")

    async def render(self, openid: str, messages: List[Dict[str, Any]]) -> str:
        """A turn's messages as one text for ``openid``, its choices offered to them in the
        shared store (``connectors.wechat.render.render_offered``)."""
        from connectors.wechat.render import render_offered

        return await render_offered(self._push_state, openid, messages)

    async def _in_executor(self, call: Callable[[], Any]) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    # ------------------------------------------------------------------ access token
    def _fetch_token(self) -> Tuple[str, int]:
        response = requests.get(
            f"{api_root(self.settings.api_base_url)}/cgi-bin/token",
            params={"grant_type": "client_credential", "appid": self.settings.app_id,
                    "secret": self.settings.app_secret},
            timeout=self.settings.api_timeout_s,
        )
        response.raise_for_status()
        body = response.json()
        if body.get("errcode") or "access_token" not in body:
            raise WeChatClientException(body.get("errcode"), body.get("errmsg"))
        return body["access_token"], int(body.get("expires_in", 7200))

    async def access_token(self, stale: Optional[str] = None) -> str:
        """A valid token; ``stale`` is one WeChat just refused, so it must be replaced."""
        token = await self._tokens.get()
        if token and token != stale:
            return token
        async with self._tokens.lock():
            token = await self._tokens.get()  # another process may have refreshed meanwhile
            if token and token != stale:
                return token
            token, expires_in = await self._in_executor(self._fetch_token)
            await self._tokens.set(token, max(expires_in - TOKEN_SAFETY_MARGIN_S, 60))
            logger.info("wechat access token refreshed (expires in %ss)", expires_in)
            return token

    async def _post(self, endpoint: str, data: Dict[str, Any]) -> Dict[str, Any]:
        """POST with a token; a token error refreshes the token and retries once (WeChat
        refused the call before doing anything, so the retry cannot duplicate it)."""
        token = await self.access_token()
        for attempt in (1, 2):
            try:
                return await self._in_executor(
                    lambda: self._client.post(endpoint, data=dict(data),
                                              params={"access_token": token}))
            except WeChatClientException as error:
                if error.errcode in TOKEN_ERRORS and attempt == 1:
                    token = await self.access_token(stale=token)
                    continue
                raise
        raise AssertionError("unreachable")

    # ------------------------------------------------------------------ messages
    async def reopen_window(self, openid: str) -> None:
        """The user wrote: their 48-hour window (and quota) starts again, for every process."""
        await self._push_state.reopen_window(openid)

    async def send_text(self, openid: str, text: str) -> PushOutcome:
        """Push ``text`` (split past 2048 bytes) as customer-service messages."""
        outcome, _ = await self.send_customer_service_text(openid, text)
        return outcome

    async def send_customer_service_text(
        self, openid: str, text: str, *, kf_account: Optional[str] = None,
        trust_known_closure: bool = True,
    ) -> Tuple[PushOutcome, Optional[int]]:
        """Push ``text`` as customer-service messages, as the kf account ``kf_account`` when
        given (how an agent's reply is signed), and say why WeChat refused (its errcode).

        ``trust_known_closure=False`` tries even when this process remembers a closed window:
        a process without the shared store cannot see that the user wrote again since."""
        who = mask_openid(openid)
        if trust_known_closure and await self._push_state.window_closed(openid):
            logger.warning("wechat push to %s skipped: window closed or quota used up", who)
            return PushOutcome.WINDOW_CLOSED, None
        if await self._push_state.backing_off():
            logger.warning("wechat push to %s skipped: backing off after a rate limit", who)
            return PushOutcome.RATE_LIMITED, None
        for piece in split_for_wechat(text):
            body: Dict[str, Any] = {"touser": openid, "msgtype": "text",
                                    "text": {"content": piece}}
            if kf_account:
                body["customservice"] = {"kf_account": kf_account}
            try:
                await self._post("message/custom/send", body)
            except WeChatClientException as error:
                if error.errcode in WINDOW_CLOSED:
                    await self._push_state.close_window(openid)
                    logger.warning("wechat push to %s refused (errcode %s): stop pushing until "
                                   "the user writes again", who, error.errcode)
                    return PushOutcome.WINDOW_CLOSED, int(error.errcode)
                if error.errcode in RATE_LIMITED:
                    await self._push_state.back_off(RATE_LIMIT_BACKOFF_S)
                    logger.warning("wechat rate limit (errcode %s): backing off %ss",
                                   error.errcode, RATE_LIMIT_BACKOFF_S)
                    return PushOutcome.RATE_LIMITED, int(error.errcode)
                logger.error("wechat push to %s failed (errcode %s)", who, error.errcode)
                return PushOutcome.FAILED, (int(error.errcode) if error.errcode else None)
            except (requests.RequestException, ValueError) as error:
                logger.error("wechat push to %s failed: %s", who, type(error).__name__)
                return PushOutcome.FAILED, None
        return PushOutcome.SENT, None

    async def typing(self, openid: str, on: bool = True) -> None:
        """Show (or stop) "typing…" for up to 15 s; best effort, never raises."""
        try:
            await self._post("message/custom/typing", {
                "touser": openid, "command": "Typing" if on else "CancelTyping"})
        except Exception as error:  # a missing indicator must not cost the answer
            logger.debug("wechat typing for %s failed: %s", mask_openid(openid),
                         type(error).__name__)

    def close(self) -> None:
        self._executor.shutdown(wait=False)
