"""A real simulator process, and a tiny local HTTP server standing in for the bot's webhook."""
from __future__ import annotations

import contextlib
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Dict, Iterator, List, Tuple
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from harness.services import free_port, service

DEMO_TOKEN = "tuibao-demo-token"
DEMO_APP_ID = "wx00000000demo0001"
DEMO_APP_SECRET = "demo-secret"
DEMO_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
REPLY_TIMEOUT = 1.0  # the simulator's cut, shortened from WeChat's 5 s to keep tests quick


@dataclass
class ReceivedCall:
    query: Dict[str, str]
    body: str
    received_at: float


# A behaviour gets the call and how many calls came before it; it returns (delay, body).
Behaviour = Callable[[ReceivedCall, int], Tuple[float, str]]


@dataclass
class WebhookReceiver:
    url: str
    calls: List[ReceivedCall] = field(default_factory=list)
    behaviour: Behaviour = lambda call, n: (0.0, "success")

    def wait_for_calls(self, count: int, timeout: float = 10) -> List[ReceivedCall]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.calls) < count:
            time.sleep(0.05)
        return list(self.calls)


@contextlib.contextmanager
def webhook_receiver() -> Iterator[WebhookReceiver]:
    """A threaded local HTTP server on a free port that records calls and answers as told."""
    port = free_port()
    receiver = WebhookReceiver(url=f"http://127.0.0.1:{port}/webhooks/wechat/webhook")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            length = int(self.headers.get("Content-Length", "0"))
            call = ReceivedCall(query=dict(parse_qsl(urlsplit(self.path).query)),
                                body=self.rfile.read(length).decode("utf-8"),
                                received_at=time.monotonic())
            with lock:
                before = len(receiver.calls)
                receiver.calls.append(call)
            delay, body = receiver.behaviour(call, before)
            time.sleep(delay)
            try:
                payload = body.encode("utf-8")
                self.send_response(200)
                self.send_header("Content-Type", "text/xml; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the simulator gave up waiting, as WeChat does

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def webhook() -> Iterator[WebhookReceiver]:
    with webhook_receiver() as receiver:
        yield receiver


@pytest.fixture(autouse=True)
def _fresh_webhook(webhook: WebhookReceiver):
    webhook.calls.clear()
    webhook.behaviour = lambda call, n: (0.0, "success")
    yield


class Simulator:
    """HTTP access to a running simulator, the way the bot and the page use it."""

    def __init__(self, base: str):
        self.base = base
        self.http = requests.Session()

    def get(self, path: str, **params) -> dict:
        response = self.http.get(self.base + path, params=params, timeout=10)
        response.raise_for_status()
        return response.json()

    def post(self, path: str, body: dict, **params) -> requests.Response:
        return self.http.post(self.base + path, json=body, params=params, timeout=10)

    def token(self) -> str:
        return self.get("/cgi-bin/token", grant_type="client_credential", appid=DEMO_APP_ID,
                        secret=DEMO_APP_SECRET)["access_token"]

    def follow(self) -> str:
        response = self.post("/sim/follow", {})
        assert response.status_code == 201
        return response.json()["openid"]

    def say(self, openid: str, text: str, **extra) -> int:
        response = self.post("/sim/messages", {"openid": openid, "text": text, **extra})
        assert response.status_code == 202, response.text
        return response.json()["msg_id"]

    def push_text(self, token: str, openid: str, text: str) -> dict:
        return self.post("/cgi-bin/message/custom/send",
                         {"touser": openid, "msgtype": "text", "text": {"content": text}},
                         access_token=token).json()

    def advance_clock(self, seconds: float) -> None:
        assert self.post("/sim/clock", {"advance_seconds": seconds}).status_code == 200

    def feed(self, openid: str) -> dict:
        return self.get("/sim/feed", openid=openid, after=0)

    def wait_feed(self, openid: str, predicate: Callable[[List[dict]], bool],
                  timeout: float = 10) -> List[dict]:
        deadline = time.monotonic() + timeout
        items: List[dict] = []
        while time.monotonic() < deadline:
            items = self.feed(openid)["items"]
            if predicate(items):
                return items
            time.sleep(0.1)
        raise AssertionError(f"feed never matched; last feed: {items}")


@pytest.fixture(scope="session")
def simulator(webhook: WebhookReceiver) -> Simulator:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {"SIM_PORT": str(port), "SIM_WEBHOOK_URL": webhook.url,
           "SIM_SANDBOX_URL": f"http://127.0.0.1:{free_port()}",  # nobody there
           "SIM_REPLY_TIMEOUT_SECONDS": str(REPLY_TIMEOUT),
           "WECHAT_TOKEN": DEMO_TOKEN, "WECHAT_APP_ID": DEMO_APP_ID,
           "WECHAT_APP_SECRET": DEMO_APP_SECRET, "WECHAT_ENCODING_AES_KEY": DEMO_AES_KEY}
    with service([sys.executable, "-m", "simulator"], f"{base}/sim/health", env=env,
                 timeout=30, log_name="simulator-tests"):
        yield Simulator(base)
