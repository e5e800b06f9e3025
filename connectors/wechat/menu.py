"""``python -m connectors.wechat.menu``: create the official account's custom menu.

Menu: 退保 (CLICK ``SURRENDER``), 查进度 (CLICK ``STATUS``), and 更多 with 转人工 (CLICK
``HUMAN``) and 常见问题 (CLICK ``FAQ``). It talks to ``WECHAT_API_BASE_URL`` (the API root,
``http://127.0.0.1:8088`` = the local simulator by default; a ``…/cgi-bin/`` URL works too, as
in the connector) with ``WECHAT_APP_ID`` / ``WECHAT_APP_SECRET`` (default: the demo
credentials). ``--show`` prints the current menu instead.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Dict, List, Optional

import requests
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException

DEFAULT_API_BASE_URL = "http://127.0.0.1:8088"
DEMO_APP_ID = "wx00000000demo0001"
DEMO_APP_SECRET = "demo-secret"
HTTP_TIMEOUT_SECONDS = 10

SURRENDER_MENU: Dict[str, Any] = {
    "button": [
        {"type": "click", "name": "退保", "key": "SURRENDER"},
        {"type": "click", "name": "查进度", "key": "STATUS"},
        {"name": "更多", "sub_button": [
            {"type": "click", "name": "转人工", "key": "HUMAN"},
            {"type": "click", "name": "常见问题", "key": "FAQ"},
        ]},
    ]
}

# What an operator should do about the errcodes this command can meet.
ERRCODE_ADVICE = {
    40001: "access_token 无效：检查 WECHAT_APP_SECRET，或是否有别的进程刚刷新了 token",
    40013: "AppID 无效：检查 WECHAT_APP_ID",
    40125: "AppSecret 无效：检查 WECHAT_APP_SECRET",
    40164: "调用方 IP 不在公众号的 IP 白名单里",
    40016: "菜单一级按钮数量不对（1–3 个）",
    40017: "菜单按钮类型不对",
    40018: "菜单按钮名字太长",
    40019: "菜单按钮 key 太长或为空",
    42001: "access_token 已过期",
    46003: "公众号还没有菜单",
    48001: "公众号没有自定义菜单接口权限",
}


class _TimeoutSession(requests.Session):
    """wechatpy fetches tokens without a timeout; give every call one."""

    def request(self, method, url, **kwargs):  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = HTTP_TIMEOUT_SECONDS
        return super().request(method, url, **kwargs)


class OfficialAccountClient(WeChatClient):
    """wechatpy's client with its base URL (token endpoint included) set per instance."""

    def __init__(self, appid: str, secret: str, api_base_url: str):
        super().__init__(appid, secret, timeout=HTTP_TIMEOUT_SECONDS)
        root = api_base_url.rstrip("/")
        root = root[: -len("/cgi-bin")] if root.endswith("/cgi-bin") else root
        self.API_BASE_URL = root + "/cgi-bin/"
        self._http = _TimeoutSession()

    def fetch_access_token(self) -> Dict[str, Any]:
        # wechatpy hard-codes https://api.weixin.qq.com/cgi-bin/token here.
        return self._fetch_access_token(
            url=self.API_BASE_URL + "token",
            params={"grant_type": "client_credential", "appid": self.appid,
                    "secret": self.secret})


def describe_error(exc: WeChatClientException) -> str:
    """One line for the operator: errcode, WeChat's message and what to check."""
    if exc.errcode is None:
        status = getattr(exc.response, "status_code", "?")
        return f"微信接口返回 HTTP {status}"
    advice = ERRCODE_ADVICE.get(int(exc.errcode), "")
    return f"errcode {exc.errcode}（{exc.errmsg}）" + (f"：{advice}" if advice else "")


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m connectors.wechat.menu",
                                     description="创建公众号自定义菜单（退保 / 查进度 / 转人工）")
    parser.add_argument("--show", action="store_true", help="只显示当前菜单")
    args = parser.parse_args(argv)
    base_url = os.environ.get("WECHAT_API_BASE_URL") or DEFAULT_API_BASE_URL
    client = OfficialAccountClient(os.environ.get("WECHAT_APP_ID") or DEMO_APP_ID,
                                   os.environ.get("WECHAT_APP_SECRET") or DEMO_APP_SECRET,
                                   base_url)
    try:
        if not args.show:
            client.menu.create(SURRENDER_MENU)
            print(f"菜单已创建（{base_url}）")
        print(json.dumps(client.menu.get(), ensure_ascii=False, indent=2))
    except WeChatClientException as exc:
        print(f"失败：{describe_error(exc)}", file=sys.stderr)
        return 1
    except requests.RequestException as exc:
        print(f"失败：连不上 {base_url}（{type(exc).__name__}）", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
