"""The simulated official account: what WeChat's servers remember about it.

Access tokens, followers and their customer-service message windows, the custom menu, the
customer-service sessions, the outbox of pushed messages and each follower's chat feed. The
rules are WeChat's (see /work/shared/reference/wechat.md); the clock can be moved forward so
tests can watch tokens expire and 48-hour windows close.
"""
from __future__ import annotations

import itertools
import secrets
import string
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, List, Optional

SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")

# Customer-service message quota (客服消息下发额度).
MESSAGE_WINDOW_SECONDS = 48 * 3600
MESSAGE_WINDOW_QUOTA = 5
EVENT_WINDOW_SECONDS = 60
EVENT_WINDOW_QUOTA = 3
TYPING_SECONDS = 15


class WeChatApiError(Exception):
    """An error WeChat answers with ``{"errcode": …, "errmsg": …}`` (HTTP 200)."""

    def __init__(self, errcode: int, errmsg: str):
        super().__init__(f"{errcode} {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


class SimClock:
    """Wall-clock time plus an offset that tests may push forward (never back)."""

    def __init__(self) -> None:
        self.offset_seconds = 0.0

    def now(self) -> float:
        return time.time() + self.offset_seconds

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self.offset_seconds += seconds
        return self.now()


def shanghai_iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, SHANGHAI).isoformat(timespec="seconds")


@dataclass
class ServiceWindow:
    """Messages the account may push after one kind of user interaction."""

    expires_at: float
    limit: int
    used: int = 0


@dataclass
class Follower:
    openid: str
    subscribed: bool
    subscribed_at: float
    # "message": 5 within 48 h after a user message; "event": 3 within 1 min after a
    # menu click or a follow. A newer interaction of the same kind replaces the window.
    windows: Dict[str, ServiceWindow] = field(default_factory=dict)
    typing_until: float = 0.0


@dataclass
class FeedItem:
    """One line of a follower's chat as the page shows it."""

    seq: int
    side: str  # "user", "account", "notice" (shown in the chat) or "simulator" (its log)
    msgtype: str  # "text", "msgmenu", "notice"
    content: str
    at: float
    msgmenu: Optional[Dict[str, Any]] = None

    def as_json(self) -> Dict[str, Any]:
        item = {"seq": self.seq, "side": self.side, "msgtype": self.msgtype,
                "content": self.content, "at": shanghai_iso(self.at)}
        if self.msgmenu is not None:
            item["msgmenu"] = self.msgmenu
        return item


@dataclass
class OutboxMessage:
    """A message the bot pushed through the customer-service API."""

    openid: str
    msgtype: str
    content: str
    sent_at: float
    msgmenu: Optional[Dict[str, Any]] = None
    kf_account: Optional[str] = None

    def as_json(self) -> Dict[str, Any]:
        item: Dict[str, Any] = {"openid": self.openid, "msgtype": self.msgtype,
                                "content": self.content, "sent_at": shanghai_iso(self.sent_at)}
        if self.msgmenu is not None:
            item["msgmenu"] = self.msgmenu
        if self.kf_account:
            item["kf_account"] = self.kf_account
        return item


def msgmenu_as_text(msgmenu: Dict[str, Any]) -> str:
    """The words of a menu message, one per line, as a reader of the outbox wants them."""
    lines = [str(msgmenu.get("head_content", ""))]
    lines += [str(choice.get("content", "")) for choice in msgmenu.get("list", [])]
    lines.append(str(msgmenu.get("tail_content", "")))
    return "\n".join(line for line in lines if line)


def new_openid() -> str:
    """A 28-character id shaped like a real openid (o + 27 url-safe characters)."""
    alphabet = string.ascii_letters + string.digits + "-_"
    return "o" + "".join(secrets.choice(alphabet) for _ in range(27))


class OfficialAccount:
    """State of one official account on the simulated WeChat servers."""

    def __init__(self, app_id: str, app_secret: str, token_lifetime_seconds: int = 7200,
                 clock: Optional[SimClock] = None):
        self.app_id = app_id
        self.app_secret = app_secret
        self.token_lifetime_seconds = token_lifetime_seconds
        self.clock = clock or SimClock()
        self._access_token: Optional[str] = None
        self._access_token_expires_at = 0.0
        self._retired_tokens: set = set()
        self.followers: Dict[str, Follower] = {}
        self.menu: Optional[List[Dict[str, Any]]] = None
        self.outbox: List[OutboxMessage] = []
        self.kf_sessions: Dict[str, Dict[str, Any]] = {}
        self._feeds: Dict[str, List[FeedItem]] = {}
        self._seq = itertools.count(1)
        self._msg_ids = itertools.count(int(time.time()) * 1000)

    # -- access tokens -------------------------------------------------------------------
    def issue_access_token(self, grant_type: str, appid: str, secret: str) -> Dict[str, Any]:
        """GET /cgi-bin/token: a new token, which retires the previous one at once."""
        if grant_type != "client_credential":
            raise WeChatApiError(40002, "invalid grant_type")
        if appid != self.app_id:
            raise WeChatApiError(40013, "invalid appid")
        if not secrets.compare_digest(secret.encode(), self.app_secret.encode()):
            raise WeChatApiError(40125, "invalid appsecret")
        if self._access_token:
            self._retired_tokens.add(self._access_token)
        self._access_token = secrets.token_urlsafe(48)
        self._access_token_expires_at = self.clock.now() + self.token_lifetime_seconds
        return {"access_token": self._access_token, "expires_in": self.token_lifetime_seconds}

    def check_access_token(self, token: Optional[str]) -> None:
        if not token:
            raise WeChatApiError(41001, "access_token missing")
        if self._access_token and secrets.compare_digest(token.encode(),
                                                         self._access_token.encode()):
            if self.clock.now() >= self._access_token_expires_at:
                raise WeChatApiError(42001, "access_token expired")
            return
        raise WeChatApiError(40001, "invalid credential, access_token is invalid or not latest")

    # -- followers and their windows -------------------------------------------------------
    def subscribe(self, openid: Optional[str] = None) -> Follower:
        openid = openid or new_openid()
        now = self.clock.now()
        follower = self.followers.get(openid)
        if follower is None:
            follower = Follower(openid=openid, subscribed=True, subscribed_at=now)
            self.followers[openid] = follower
        follower.subscribed = True
        follower.subscribed_at = now
        self.open_window(openid, "event")
        return follower

    def unsubscribe(self, openid: str) -> None:
        follower = self.followers.get(openid)
        if follower is not None:
            follower.subscribed = False
            follower.windows.clear()

    def require_follower(self, openid: Any) -> Follower:
        follower = self.followers.get(openid) if isinstance(openid, str) else None
        if follower is None or not follower.subscribed:
            raise WeChatApiError(43004, "require subscribe")
        return follower

    def open_window(self, openid: str, kind: str) -> None:
        """A user message ("message") or click/follow ("event") grants a fresh quota."""
        follower = self.require_follower(openid)
        seconds, limit = ((MESSAGE_WINDOW_SECONDS, MESSAGE_WINDOW_QUOTA) if kind == "message"
                          else (EVENT_WINDOW_SECONDS, EVENT_WINDOW_QUOTA))
        follower.windows[kind] = ServiceWindow(expires_at=self.clock.now() + seconds,
                                               limit=limit)

    def _spend_quota(self, follower: Follower) -> None:
        now = self.clock.now()
        open_windows = [w for w in follower.windows.values() if w.expires_at > now]
        if not open_windows:
            raise WeChatApiError(45015, "response out of time limit or subscription is canceled")
        usable = [w for w in open_windows if w.used < w.limit]
        if not usable:
            raise WeChatApiError(45047, "out of response count limit")
        # Spend the window that closes first, so the quota lasts as long as it can.
        min(usable, key=lambda w: w.expires_at).used += 1

    def next_msg_id(self) -> int:
        return next(self._msg_ids)

    # -- customer-service messages ---------------------------------------------------------
    def send_custom_message(self, body: Dict[str, Any]) -> OutboxMessage:
        """POST /cgi-bin/message/custom/send: check recipient and quota, then deliver."""
        msgtype = body.get("msgtype")
        if msgtype == "text":
            text = body.get("text")
            content = text.get("content") if isinstance(text, dict) else None
            if not isinstance(content, str) or not content:
                raise WeChatApiError(44003, "empty news data")
            if len(content.encode("utf-8")) > 2048:
                raise WeChatApiError(45002, "content size out of limit")
            msgmenu = None
        elif msgtype == "msgmenu":
            msgmenu = body.get("msgmenu")
            if (not isinstance(msgmenu, dict) or not isinstance(msgmenu.get("list"), list)
                    or not msgmenu["list"]):
                raise WeChatApiError(47001, "data format error")
            for choice in msgmenu["list"]:
                if not isinstance(choice, dict) or not str(choice.get("content", "")).strip():
                    raise WeChatApiError(47001, "data format error")
            content = msgmenu_as_text(msgmenu)
        else:
            raise WeChatApiError(40008, "invalid message type")
        follower = self.require_follower(body.get("touser"))
        self._spend_quota(follower)
        customservice = body.get("customservice")
        kf_account = customservice.get("kf_account") if isinstance(customservice, dict) else None
        now = self.clock.now()
        message = OutboxMessage(openid=follower.openid, msgtype=msgtype, content=content,
                                sent_at=now, msgmenu=msgmenu, kf_account=kf_account)
        self.outbox.append(message)
        follower.typing_until = 0.0  # a message arriving ends "typing…", as on a phone
        self.add_feed_item(follower.openid, "account", msgtype, content, msgmenu=msgmenu)
        return message

    def set_typing(self, body: Dict[str, Any]) -> None:
        """POST /cgi-bin/message/custom/typing: "Typing" shows for 15 s, "CancelTyping" ends it."""
        follower = self.require_follower(body.get("touser"))
        command = body.get("command")
        if command == "Typing":
            follower.typing_until = self.clock.now() + TYPING_SECONDS
        elif command == "CancelTyping":
            follower.typing_until = 0.0
        else:
            raise WeChatApiError(47001, "data format error")

    def outbox_for(self, openid: Optional[str]) -> List[Dict[str, Any]]:
        return [m.as_json() for m in self.outbox if openid is None or m.openid == openid]

    # -- the custom menu -------------------------------------------------------------------
    def create_menu(self, body: Dict[str, Any]) -> None:
        """POST /cgi-bin/menu/create with WeChat's limits on counts, names, keys and types."""
        buttons = body.get("button")
        if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
            raise WeChatApiError(40016, "invalid button size")
        for button in buttons:
            if not isinstance(button, dict):
                raise WeChatApiError(47001, "data format error")
            _check_name(button, 16, 40018)
            subs = button.get("sub_button")
            if subs:
                if not isinstance(subs, list) or len(subs) > 5:
                    raise WeChatApiError(40023, "invalid sub button size")
                for sub in subs:
                    if not isinstance(sub, dict):
                        raise WeChatApiError(47001, "data format error")
                    _check_name(sub, 60, 40025)
                    _check_action(sub)
            else:
                _check_action(button)
        self.menu = buttons

    def menu_get(self) -> Dict[str, Any]:
        if self.menu is None:
            raise WeChatApiError(46003, "menu no exist")
        return {"menu": {"button": self.menu}}

    def current_selfmenu_info(self) -> Dict[str, Any]:
        if self.menu is None:
            return {"is_menu_open": 0, "selfmenu_info": {"button": []}}
        buttons = []
        for button in self.menu:
            if button.get("sub_button"):
                buttons.append({"name": button["name"],
                                "sub_button": {"list": list(button["sub_button"])}})
            else:
                buttons.append(dict(button))
        return {"is_menu_open": 1, "selfmenu_info": {"button": buttons}}

    def delete_menu(self) -> None:
        self.menu = None

    # -- customer-service sessions ---------------------------------------------------------
    def create_kf_session(self, body: Dict[str, Any]) -> None:
        follower = self.require_follower(body.get("openid"))
        account = body.get("kf_account")
        if not isinstance(account, str) or "@" not in account:
            raise WeChatApiError(65400, "invalid kf_account")
        current = self.kf_sessions.get(follower.openid)
        if current and current["kf_account"] != account:
            raise WeChatApiError(65414, "customer is in other session")
        self.kf_sessions[follower.openid] = {"kf_account": account,
                                             "createtime": int(self.clock.now())}

    def close_kf_session(self, body: Dict[str, Any]) -> None:
        openid = body.get("openid")
        current = self.kf_sessions.get(openid) if isinstance(openid, str) else None
        if current is None or current["kf_account"] != body.get("kf_account"):
            raise WeChatApiError(65416, "invalid parameter: no such session")
        del self.kf_sessions[openid]

    def kf_session_of(self, openid: str) -> Dict[str, Any]:
        return dict(self.kf_sessions.get(openid) or {"kf_account": "", "createtime": 0})

    # -- the chat page's feed --------------------------------------------------------------
    def add_feed_item(self, openid: str, side: str, msgtype: str, content: str,
                      msgmenu: Optional[Dict[str, Any]] = None) -> FeedItem:
        item = FeedItem(seq=next(self._seq), side=side, msgtype=msgtype, content=content,
                        at=self.clock.now(), msgmenu=msgmenu)
        self._feeds.setdefault(openid, []).append(item)
        return item

    def feed_after(self, openid: str, after: int) -> Dict[str, Any]:
        follower = self.followers.get(openid)
        typing = bool(follower and follower.typing_until > self.clock.now())
        items = [i.as_json() for i in self._feeds.get(openid, []) if i.seq > after]
        return {"items": items, "typing": typing,
                "subscribed": bool(follower and follower.subscribed)}


def _check_name(button: Dict[str, Any], max_bytes: int, errcode: int) -> None:
    name = button.get("name")
    if not isinstance(name, str) or not name or len(name.encode("utf-8")) > max_bytes:
        raise WeChatApiError(errcode, "invalid button name size")


def _check_action(button: Dict[str, Any]) -> None:
    kind = button.get("type")
    if kind in ("click", "scancode_push", "scancode_waitmsg", "pic_sysphoto",
                "pic_photo_or_album", "pic_weixin", "location_select"):
        key = button.get("key")
        if not isinstance(key, str) or not key or len(key.encode("utf-8")) > 128:
            raise WeChatApiError(40019, "invalid button key size")
    elif kind == "view":
        url = button.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise WeChatApiError(40055, "invalid button url domain")
    else:
        raise WeChatApiError(40017, "invalid button type")
