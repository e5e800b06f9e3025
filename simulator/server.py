"""The simulator's HTTP server: WeChat's server API at its real paths, and the chat page.

- ``/cgi-bin/…`` and ``/customservice/…``: the stand-in WeChat API that the bot's wechatpy
  client calls (base URL ``http://127.0.0.1:8088/cgi-bin/``).
- ``/`` and ``/static/…``: the phone-sized chat page.
- ``/sim/…``: what the page and the tests use (send as a follower, read the feed and the
  outbox, the phone's SMS inbox, move the clock).
- ``/telegram/bot<token>/<method>`` and ``/sim/telegram/…``: the Telegram Bot API stand-in and
  the Telegram tab (``simulator.telegram``).
"""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, Optional

import aiohttp
from aiohttp import web

from observability.web import attach_aiohttp
from redaction import mask_openid
from simulator import telegram
from simulator.account import OfficialAccount, WeChatApiError
from simulator.delivery import (SERVICE_UNAVAILABLE, DeliveryOutcome, InboundMessage,
                                    WebhookDelivery)
from simulator.settings import SimulatorSettings

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
ACCOUNT = web.AppKey("account", OfficialAccount)
SETTINGS = web.AppKey("settings", SimulatorSettings)
DELIVERY = web.AppKey("delivery", WebhookDelivery)
SESSION = web.AppKey("session", aiohttp.ClientSession)
TASKS = web.AppKey("tasks", set)

Handler = Callable[[web.Request], Awaitable[Dict[str, Any]]]


def _wechat_json(payload: Dict[str, Any]) -> web.Response:
    # WeChat answers errors with HTTP 200 and an errcode; Chinese stays readable.
    return web.Response(text=json.dumps(payload, ensure_ascii=False),
                        content_type="application/json")


def wechat_api(needs_token: bool = True) -> Callable[[Handler], Callable]:
    """Wrap a handler in WeChat's conventions: access_token check, errcode answers."""

    def decorate(handler: Handler) -> Callable:
        async def wrapped(request: web.Request) -> web.Response:
            account = request.app[ACCOUNT]
            try:
                if needs_token:
                    account.check_access_token(request.query.get("access_token"))
                result = await handler(request)
            except WeChatApiError as exc:
                logger.info("%s → errcode %s", request.path, exc.errcode)
                return _wechat_json({"errcode": exc.errcode, "errmsg": exc.errmsg})
            if "access_token" not in result:
                result = {"errcode": 0, "errmsg": "ok", **result}
            return _wechat_json(result)

        return wrapped

    return decorate


async def _json_body(request: web.Request) -> Dict[str, Any]:
    # wechatpy posts UTF-8 JSON without a Content-Type header, so read the bytes ourselves.
    try:
        body = json.loads((await request.read()).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise WeChatApiError(47001, "data format error")
    if not isinstance(body, dict):
        raise WeChatApiError(47001, "data format error")
    return body


# -- the stand-in WeChat API ---------------------------------------------------------------
@wechat_api(needs_token=False)
async def get_token(request: web.Request) -> Dict[str, Any]:
    q = request.query
    return request.app[ACCOUNT].issue_access_token(q.get("grant_type", ""), q.get("appid", ""),
                                                   q.get("secret", ""))


@wechat_api()
async def custom_send(request: web.Request) -> Dict[str, Any]:
    message = request.app[ACCOUNT].send_custom_message(await _json_body(request))
    logger.info("custom message %s to %s", message.msgtype, mask_openid(message.openid))
    return {}


@wechat_api()
async def custom_typing(request: web.Request) -> Dict[str, Any]:
    request.app[ACCOUNT].set_typing(await _json_body(request))
    return {}


@wechat_api()
async def menu_create(request: web.Request) -> Dict[str, Any]:
    request.app[ACCOUNT].create_menu(await _json_body(request))
    return {}


@wechat_api()
async def menu_get(request: web.Request) -> Dict[str, Any]:
    return request.app[ACCOUNT].menu_get()


@wechat_api()
async def menu_delete(request: web.Request) -> Dict[str, Any]:
    request.app[ACCOUNT].delete_menu()
    return {}


@wechat_api()
async def selfmenu_info(request: web.Request) -> Dict[str, Any]:
    return request.app[ACCOUNT].current_selfmenu_info()


DEMO_KF_ACCOUNT = "kf2001@{account}"


@wechat_api()
async def kf_list(request: web.Request) -> Dict[str, Any]:
    settings = request.app[SETTINGS]
    account = DEMO_KF_ACCOUNT.format(account=settings.account_id)
    return {"kf_list": [{"kf_account": account, "kf_nick": "人工客服", "kf_id": 2001,
                         "kf_headimgurl": ""}]}


@wechat_api()
async def kf_online_list(request: web.Request) -> Dict[str, Any]:
    settings = request.app[SETTINGS]
    account = DEMO_KF_ACCOUNT.format(account=settings.account_id)
    return {"kf_online_list": [{"kf_account": account, "status": 1, "kf_id": 2001,
                                "accepted_case": len(request.app[ACCOUNT].kf_sessions)}]}


@wechat_api()
async def kf_session_create(request: web.Request) -> Dict[str, Any]:
    body = await _json_body(request)
    request.app[ACCOUNT].create_kf_session(body)
    _start_delivery(request.app, _event(request.app, body["openid"], "kf_create_session",
                                        kf_account=body["kf_account"]), show_failure=False)
    return {}


@wechat_api()
async def kf_session_close(request: web.Request) -> Dict[str, Any]:
    body = await _json_body(request)
    request.app[ACCOUNT].close_kf_session(body)
    _start_delivery(request.app, _event(request.app, body["openid"], "kf_close_session",
                                        kf_account=body["kf_account"]), show_failure=False)
    return {}


@wechat_api()
async def kf_session_get(request: web.Request) -> Dict[str, Any]:
    return request.app[ACCOUNT].kf_session_of(request.query.get("openid", ""))


@wechat_api()
async def kf_wait_case(request: web.Request) -> Dict[str, Any]:
    return {"count": 0, "waitcaselist": []}


# -- delivering what the follower does -------------------------------------------------------
def _event(app: web.Application, openid: str, event: str, key: str = "",
           kf_account: str = "") -> InboundMessage:
    return InboundMessage(openid=openid, create_time=int(app[ACCOUNT].clock.now()),
                          msg_type="event", event=event, event_key=key, kf_account=kf_account)


def _start_delivery(app: web.Application, message: InboundMessage,
                    show_failure: bool = True) -> None:
    """Deliver in the background: the page must not wait up to 3 × 5 s for an answer."""
    task = asyncio.get_running_loop().create_task(_deliver(app, message, show_failure))
    app[TASKS].add(task)
    task.add_done_callback(app[TASKS].discard)


async def _deliver(app: web.Application, message: InboundMessage, show_failure: bool) -> None:
    outcome: DeliveryOutcome = await app[DELIVERY].deliver(message)
    account = app[ACCOUNT]
    if outcome.reply is not None:
        reply = outcome.reply
        if reply.msg_type == "text" and reply.content:
            account.add_feed_item(message.openid, "account", "text", reply.content)
        elif reply.msg_type == "transfer_customer_service":
            account.add_feed_item(message.openid, "notice", "notice", "（已转入人工客服排队）")
        elif reply.msg_type:
            account.add_feed_item(message.openid, "notice", "notice",
                                  f"（收到一条 {reply.msg_type} 消息，模拟器只显示文字）")
    elif not outcome.answered and show_failure:
        account.add_feed_item(message.openid, "notice", "notice", SERVICE_UNAVAILABLE)
    if outcome.problems:
        account.add_feed_item(message.openid, "simulator", "debug",
                              "模拟器：" + "；".join(outcome.problems))


# -- the page's endpoints --------------------------------------------------------------------
def _page_error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status, dumps=_dumps)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


async def _page_json(request: web.Request) -> Optional[Dict[str, Any]]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


async def sim_config(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    return web.json_response({"account_name": settings.account_name,
                              "demo_phone": settings.demo_phone,
                              "demo_phones": list(settings.demo_phones),
                              "menu": request.app[ACCOUNT].menu or []}, dumps=_dumps)


async def sim_follow(request: web.Request) -> web.Response:
    """A new follower (or an old one following again): the subscribe event goes out."""
    body = await _page_json(request) or {}
    openid = body.get("openid") if isinstance(body.get("openid"), str) else None
    follower = request.app[ACCOUNT].subscribe(openid)
    _start_delivery(request.app, _event(request.app, follower.openid, "subscribe"))
    return web.json_response({"openid": follower.openid}, status=201)


async def sim_unfollow(request: web.Request) -> web.Response:
    body = await _page_json(request) or {}
    openid = body.get("openid")
    if not isinstance(openid, str) or openid not in request.app[ACCOUNT].followers:
        return _page_error(404, "没有这个用户")
    request.app[ACCOUNT].unsubscribe(openid)
    _start_delivery(request.app, _event(request.app, openid, "unsubscribe"), show_failure=False)
    return web.json_response({"openid": openid})


async def sim_message(request: web.Request) -> web.Response:
    """The follower types (or taps a choice that sends) a text."""
    body = await _page_json(request)
    account = request.app[ACCOUNT]
    if body is None:
        return _page_error(400, "请求格式不对")
    openid, text = body.get("openid"), body.get("text")
    if not isinstance(text, str) or not text.strip() or len(text) > 600:
        return _page_error(400, "消息不能为空，也不能超过 600 字")
    try:
        account.require_follower(openid)
        account.open_window(openid, "message")
    except WeChatApiError:
        return _page_error(409, "请先关注公众号")
    menu_id = body.get("bizmsgmenuid")
    message = InboundMessage(openid=openid, create_time=int(account.clock.now()),
                             msg_type="text", content=text, msg_id=account.next_msg_id(),
                             bizmsgmenuid=str(menu_id) if menu_id is not None else None)
    account.add_feed_item(openid, "user", "text", text)
    _start_delivery(request.app, message)
    return web.json_response({"msg_id": message.msg_id}, status=202)


async def sim_click(request: web.Request) -> web.Response:
    """The follower taps a CLICK (or VIEW) item of the custom menu."""
    body = await _page_json(request) or {}
    account = request.app[ACCOUNT]
    openid, key = body.get("openid"), body.get("key")
    event = "VIEW" if body.get("type") == "view" else "CLICK"
    if not isinstance(key, str) or not key:
        return _page_error(400, "缺少菜单 key")
    try:
        account.open_window(openid, "event")
    except WeChatApiError:
        return _page_error(409, "请先关注公众号")
    _start_delivery(request.app, _event(request.app, openid, event, key=key))
    return web.json_response({"event": event, "key": key}, status=202)


async def sim_feed(request: web.Request) -> web.Response:
    try:
        after = int(request.query.get("after", "0"))
    except ValueError:
        return _page_error(400, "after 必须是整数")
    return web.json_response(
        request.app[ACCOUNT].feed_after(request.query.get("openid", ""), after), dumps=_dumps)


async def sim_outbox(request: web.Request) -> web.Response:
    """Contract: ``[{"openid", "msgtype", "content", "sent_at"}]``, oldest first."""
    return web.json_response(request.app[ACCOUNT].outbox_for(request.query.get("openid")),
                             dumps=_dumps)


class _SandboxProblem(Exception):
    """The sandbox insurer did not answer the page's question usefully (said to the page)."""


async def _sandbox_get(app: web.Application, path: str, params: Optional[Dict[str, str]] = None) -> Any:
    settings = app[SETTINGS]
    try:
        async with app[SESSION].get(
                f"{settings.sandbox_url}{path}", params=params,
                timeout=aiohttp.ClientTimeout(total=settings.sandbox_timeout_seconds)) as resp:
            if resp.status != 200:
                raise _SandboxProblem(f"沙箱保险返回 HTTP {resp.status}")
            return await resp.json(content_type=None)
    except (aiohttp.ClientError, asyncio.TimeoutError, json.JSONDecodeError):
        raise _SandboxProblem("连不上沙箱保险") from None


def _instant(text: Any) -> Optional[dt.datetime]:
    try:
        value = dt.datetime.fromisoformat(str(text))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


async def sim_phone_sms(request: web.Request) -> web.Response:
    """The SMS inboxes of the demo phones (or of ``?phone=`` one of them), read from the sandbox
    insurer, newest first. Each message says how many seconds ago it arrived by the insurer's
    own clock (which a fixed SANDBOX_TODAY sets apart from the real one), so the page shows it at
    the phone's time, the time of its status bar; ``insurer_now`` lets the page mark when a new
    user appeared, on the clock the messages' ``sent_at`` are on."""
    settings = request.app[SETTINGS]
    asked = request.query.get("phone")
    if asked is not None and asked not in settings.demo_phones:
        return _page_error(400, "只能查看演示手机的短信")
    phones = [asked] if asked else list(settings.demo_phones)
    try:
        clock, *inboxes = await asyncio.gather(
            _sandbox_get(request.app, "/sandbox/clock"),
            *(_sandbox_get(request.app, "/sandbox/sms", {"phone": phone}) for phone in phones))
    except _SandboxProblem as problem:
        return _page_error(502, str(problem))
    now = _instant(clock.get("now")) if isinstance(clock, dict) else None
    if now is None or not all(isinstance(inbox, list) for inbox in inboxes):
        return _page_error(502, "沙箱保险的短信列表格式不对")

    def with_age(message: Dict[str, Any]) -> Dict[str, Any]:
        sent = _instant(message.get("sent_at"))
        ago = max(0.0, (now - sent).total_seconds()) if sent else 0.0
        return {**message, "received_seconds_ago": round(ago, 1)}

    return web.json_response({"insurer_now": now.isoformat(),
                              "phones": [{"phone": phone, "messages": [with_age(m) for m in inbox]}
                                         for phone, inbox in zip(phones, inboxes)]}, dumps=_dumps)


async def sim_clock(request: web.Request) -> web.Response:
    """Move the simulated WeChat clock forward (token expiry, 48-hour windows)."""
    body = await _page_json(request) or {}
    seconds = body.get("advance_seconds")
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or seconds < 0:
        return _page_error(400, "advance_seconds 必须是非负数")
    now = request.app[ACCOUNT].clock.advance(seconds)
    return web.json_response({"now": now})


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC_DIR / "index.html",
                            headers={"Cache-Control": "no-cache"})


# -- assembly --------------------------------------------------------------------------------
def create_app(settings: SimulatorSettings) -> web.Application:
    """Build the aiohttp application; the HTTP client session opens when the app starts."""
    app = web.Application(client_max_size=64 * 1024)
    app[SETTINGS] = settings
    app[ACCOUNT] = OfficialAccount(settings.app_id, settings.app_secret,
                                   settings.token_lifetime_seconds)
    app[TASKS] = set()

    async def client_session(app: web.Application):
        app[SESSION] = aiohttp.ClientSession()
        app[DELIVERY] = WebhookDelivery(settings, app[SESSION])
        yield
        for task in list(app[TASKS]):
            task.cancel()
        await app[SESSION].close()

    app.cleanup_ctx.append(client_session)
    r = app.router
    r.add_get("/cgi-bin/token", get_token)
    r.add_post("/cgi-bin/message/custom/send", custom_send)
    r.add_post("/cgi-bin/message/custom/typing", custom_typing)
    r.add_post("/cgi-bin/menu/create", menu_create)
    r.add_get("/cgi-bin/menu/get", menu_get)
    r.add_get("/cgi-bin/menu/delete", menu_delete)
    r.add_get("/cgi-bin/get_current_selfmenu_info", selfmenu_info)
    r.add_get("/cgi-bin/customservice/getkflist", kf_list)
    r.add_get("/cgi-bin/customservice/getonlinekflist", kf_online_list)
    r.add_post("/customservice/kfsession/create", kf_session_create)
    r.add_post("/customservice/kfsession/close", kf_session_close)
    r.add_get("/customservice/kfsession/getsession", kf_session_get)
    r.add_get("/customservice/kfsession/getwaitcase", kf_wait_case)
    r.add_get("/sim/health", health)
    r.add_get("/sim/config", sim_config)
    r.add_post("/sim/follow", sim_follow)
    r.add_post("/sim/unfollow", sim_unfollow)
    r.add_post("/sim/messages", sim_message)
    r.add_post("/sim/clicks", sim_click)
    r.add_get("/sim/feed", sim_feed)
    r.add_get("/sim/outbox", sim_outbox)
    r.add_get("/sim/phone/sms", sim_phone_sms)
    r.add_post("/sim/clock", sim_clock)
    r.add_get("/", index)
    r.add_static("/static/", STATIC_DIR)
    telegram.install(app, settings.telegram_bot_token, settings.telegram_webhook_url,
                     settings.telegram_secret_token, settings.account_name)
    attach_aiohttp(app)  # GET /metrics, trace ids
    return app
