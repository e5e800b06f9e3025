"""Start the whole Tuibao stack on free ports for end-to-end tests: sandbox insurer, action
server, simulator (WeChat and the Telegram Bot API stand-in) and the Rasa server with the
trained model and the WeChat and Telegram channels.

    with tuibao_stack(tmp_dir) as stack:
        stack.webhook_url, stack.tracker(openid), stack.outbox(openid), ...

Everything is started with ``harness.services.service`` (logs in ``.test-logs/``) and
stopped when the block ends, also on failure, and the stack's Redis keys (a namespace of its
own) are removed. Nothing binds the demo's fixed ports.
"""
from __future__ import annotations

import contextlib
import os
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import requests
import yaml

from harness.services import PYTHON, ROOT, free_port, service

# TUIBAO_TEST_MODEL points the stack at another archive (e.g. one trained elsewhere).
MODEL = Path(os.environ.get("TUIBAO_TEST_MODEL") or ROOT / "models" / "tuibao.tar.gz")
API_TOKEN = "tuibao-test-api-token"
SANDBOX_API_KEY = "sandbox-demo-key"  # the sandbox's and the adapter's shared default
ACTION_SECRET = "tuibao-test-action-secret"  # what Rasa presents to the action server
REDIS_URL = "redis://127.0.0.1:6379/0"
HTTP_TIMEOUT = 10


class ModelMissing(RuntimeError):
    """The trained model is not there: the stack cannot start Rasa."""


def require_model(model: Path = MODEL) -> Path:
    if not model.is_file():
        raise ModelMissing(
            f"{model} is missing: train it first with "
            "`.venv/bin/python -m bot.model train` (or `make train` / bin/test, which train "
            "before running pytest).")
    return model


@dataclass
class Stack:
    """Addresses of the running services, and the calls tests make against them."""

    rasa_url: str
    action_url: str
    sandbox_url: str
    simulator_url: str
    wechat_env: Dict[str, str]
    api_token: str = API_TOKEN
    work_dir: Optional[Path] = None
    extra: Dict[str, Any] = field(default_factory=dict)
    # The agent console (``with_console=True``) and the handoff database it shares with the
    # action server.
    console_url: Optional[str] = None
    handoff_db_url: Optional[str] = None
    telegram_env: Dict[str, str] = field(default_factory=dict)

    @property
    def webhook_url(self) -> str:
        return f"{self.rasa_url}/webhooks/wechat/webhook"

    @property
    def plain_webhook_url(self) -> str:
        """The plaintext-mode account's webhook (``plaintext_account=True`` only)."""
        return f"{self.rasa_url}/webhooks/wechat_plain/webhook"

    @property
    def telegram_webhook_url(self) -> str:
        return f"{self.rasa_url}/webhooks/telegram/webhook"

    def telegram_outbox(self, chat_id: int) -> List[Dict[str, Any]]:
        """What the bot sent to Telegram chat ``chat_id`` through the Bot API stand-in."""
        answer = requests.get(f"{self.simulator_url}/sim/telegram/outbox",
                              params={"chat_id": chat_id}, timeout=HTTP_TIMEOUT)
        answer.raise_for_status()
        return answer.json()

    @property
    def rest_url(self) -> str:
        return f"{self.rasa_url}/webhooks/rest/webhook"

    def tracker(self, sender_id: str) -> Dict[str, Any]:
        answer = requests.get(f"{self.rasa_url}/conversations/{sender_id}/tracker",
                              params={"token": self.api_token}, timeout=HTTP_TIMEOUT)
        answer.raise_for_status()
        return answer.json()

    def user_turns(self, sender_id: str) -> List[Dict[str, Any]]:
        """The user messages Rasa recorded for this conversation."""
        return [e for e in self.tracker(sender_id).get("events", []) if e.get("event") == "user"]

    def outbox(self, openid: str) -> List[Dict[str, Any]]:
        """What the bot pushed to ``openid`` through the customer-service API (simulator)."""
        answer = requests.get(f"{self.simulator_url}/sim/outbox", params={"openid": openid},
                              timeout=HTTP_TIMEOUT)
        answer.raise_for_status()
        return answer.json()

    def follow(self, openid: str) -> None:
        """Make ``openid`` a follower in the simulator (WeChat only pushes to followers)."""
        requests.post(f"{self.simulator_url}/sim/follow", json={"openid": openid},
                      timeout=HTTP_TIMEOUT).raise_for_status()

    def sms_code(self, phone: str = "13800138000") -> str:
        """The newest SMS code the sandbox insurer "sent" to ``phone``."""
        answer = requests.get(f"{self.sandbox_url}/sandbox/sms", params={"phone": phone},
                              timeout=HTTP_TIMEOUT)
        answer.raise_for_status()
        messages = answer.json()
        if not messages:
            raise AssertionError(f"no SMS was sent to {phone[:3]}****{phone[-4:]}")
        code = messages[0].get("code") or re.search(r"\d{6}", messages[0]["text"]).group()
        return str(code)

    def cases_at_insurer(self, policy_number: str, id_suffix: str, phone: str) -> List[str]:
        """The policy's surrender case numbers as the insurer itself lists them, asked as a
        separate client with its own identity check (so the bot's own answers are not trusted)."""
        api = requests.Session()
        api.headers["X-Api-Key"] = SANDBOX_API_KEY
        challenge = api.post(f"{self.sandbox_url}/v1/identity/verify", timeout=HTTP_TIMEOUT,
                             json={"policy_number": policy_number, "id_suffix": id_suffix})
        challenge.raise_for_status()
        session = api.post(f"{self.sandbox_url}/v1/identity/confirm", timeout=HTTP_TIMEOUT,
                           json={"challenge_id": challenge.json()["challenge_id"], "code": self.sms_code(phone)})
        session.raise_for_status()
        cases = api.get(f"{self.sandbox_url}/v1/policies/{policy_number}/cases", timeout=HTTP_TIMEOUT,
                        headers={"Authorization": f"Bearer {session.json()['token']}"})
        cases.raise_for_status()
        return [case["case_number"] for case in cases.json()["cases"]]

    def set_insurer_latency(self, latency_ms: int) -> None:
        requests.put(f"{self.sandbox_url}/sandbox/faults", json={"latency_ms": latency_ms},
                     timeout=HTTP_TIMEOUT).raise_for_status()


def forget_redis_prefix(prefix: str, redis_url: str = REDIS_URL) -> None:
    """Delete every Redis key under ``prefix:`` (a test's or a stack's own namespace)."""
    import redis  # the demo runs without Redis

    client = redis.Redis.from_url(redis_url, socket_timeout=5)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=500))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start:start + 500])
    finally:
        client.close()


def _forget_quietly(prefix: str, redis_url: str) -> None:
    try:
        forget_redis_prefix(prefix, redis_url)
    except Exception as error:  # the keys expire by themselves within an hour
        print(f"Redis keys under {prefix} not removed: {type(error).__name__}")


def _write_insurers_file(path: Path, sandbox_url: str, read_timeout_s: Optional[float]) -> Path:
    """The repository's insurers.yml, with the sandbox's timeouts raised when a test runs the
    insurer slow on purpose (the slowness must reach the channel, not end in a timeout)."""
    config = yaml.safe_load((ROOT / "insurers.yml").read_text(encoding="utf-8"))
    for insurer in config["insurers"]:
        if insurer["id"] == "sandbox" and read_timeout_s is not None:
            insurer["timeouts"] = {**insurer.get("timeouts", {}), "read": read_timeout_s,
                                   "budget": read_timeout_s + 2, "max_attempts": 1}
    text = yaml.safe_dump(config, allow_unicode=True, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    return path


@contextlib.contextmanager
def tuibao_stack(
    work_dir: Path,
    *,
    sandbox_today: str = "2026-11-25",
    customer_service_api: bool = True,
    redis_url: Optional[str] = REDIS_URL,
    insurer_read_timeout_s: Optional[float] = None,
    with_simulator: bool = True,
    previous_aes_key: str = "",
    log_prefix: str = "stack",
    tracker_store: Optional[Dict[str, Any]] = None,
    extra_env: Optional[Dict[str, str]] = None,
    debug_logs: bool = False,
    plaintext_account: bool = False,
    with_console: bool = False,
    handoff_db_url: Optional[str] = None,
    handoff_env: Optional[Dict[str, str]] = None,
) -> Iterator[Stack]:
    """Start every service on free ports; yield a ``Stack``; stop them all.

    ``tracker_store``: an endpoints.yml ``tracker_store`` section (default: Rasa's in-memory
    store); ``extra_env``: given to every service; ``debug_logs``: Rasa and the action server
    log at DEBUG (what a log file would hold at its most verbose). ``with_console`` adds the
    agent console; ``handoff_db_url`` (SQLite in ``work_dir`` when omitted) is the handoff
    database of the action server and the console; ``handoff_env`` (desk hours, …) goes to
    both. The desk is open around the clock unless told otherwise."""
    require_model()
    work_dir.mkdir(parents=True, exist_ok=True)
    ports = {name: free_port() for name in ("rasa", "action", "sandbox", "simulator", "console")}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    wechat_env = {
        "WECHAT_TOKEN": "tuibao-demo-token",
        "WECHAT_APP_ID": "wx00000000demo0001",
        "WECHAT_APP_SECRET": "demo-secret",
        "WECHAT_ENCODING_AES_KEY": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
        "WECHAT_PREVIOUS_ENCODING_AES_KEY": previous_aes_key,
        "WECHAT_API_BASE_URL": urls["simulator"],
        "WECHAT_CUSTOMER_SERVICE_API": "true" if customer_service_api else "false",
        "WECHAT_DEDUPE_REDIS_URL": redis_url or "",
        # Own namespace: parallel stacks must not share access tokens or deliveries.
        "WECHAT_REDIS_PREFIX": f"tuibao-test:{uuid.uuid4().hex[:12]}",
    }
    telegram_env = {
        "TELEGRAM_BOT_TOKEN": "123456:tuibao-demo-telegram",
        "TELEGRAM_SECRET_TOKEN": "tuibao-demo-telegram-secret",
        "TELEGRAM_API_BASE_URL": f"{urls['simulator']}/telegram/bot{{token}}",
        "TELEGRAM_WEBHOOK_URL": f"{urls['rasa']}/webhooks/telegram/webhook",
        "TELEGRAM_DEDUPE_REDIS_URL": redis_url or "",
        # Under the stack's namespace, so the same clean-up removes it.
        "TELEGRAM_REDIS_PREFIX": f"{wechat_env['WECHAT_REDIS_PREFIX']}:telegram",
    }
    insurers_file = _write_insurers_file(work_dir / "insurers.yml", urls["sandbox"],
                                         insurer_read_timeout_s)
    endpoints: Dict[str, Any] = {"action_endpoint": {
        "url": f"{urls['action']}/webhook",
        "headers": {"Authorization": "Bearer ${TUIBAO_ACTION_SECRET}"}}}
    if tracker_store:
        endpoints["tracker_store"] = tracker_store
    if redis_url:  # the demo's lock store, under the stack's namespace (removed afterwards)
        endpoints["lock_store"] = {"type": "bot.lock_store.AtomicRedisLockStore",
                                   "url": redis_url, "key_prefix": wechat_env["WECHAT_REDIS_PREFIX"]}
    (work_dir / "endpoints.yml").write_text(yaml.safe_dump(endpoints), encoding="utf-8")
    credentials = (
        "connectors.rest.RestInput: {}\n"
        "connectors.wechat.WeChatInput:\n"
        f"  token: {wechat_env['WECHAT_TOKEN']}\n"
        f"  app_id: {wechat_env['WECHAT_APP_ID']}\n"
        f"  api_base_url: {urls['simulator']}\n"
        "  encrypt_mode: safe\n"
        "connectors.telegram.TelegramInput:\n"
        f"  bot_token: {telegram_env['TELEGRAM_BOT_TOKEN']}\n"
        f"  secret_token: {telegram_env['TELEGRAM_SECRET_TOKEN']}\n"
        f"  api_base_url: {telegram_env['TELEGRAM_API_BASE_URL']}\n")
    if plaintext_account:
        credentials += ("tests.support.plaintext_account.PlaintextAccountInput:\n"
                        "  encrypt_mode: plaintext\n")
    (work_dir / "credentials.yml").write_text(credentials, encoding="utf-8")
    # The sandbox service also plays 恒信人寿 (its own key, its demo default in insurers.yml).
    common = {"RASA_TELEMETRY_ENABLED": "false", "TUIBAO_SANDBOX_URL": urls["sandbox"],
              "TUIBAO_HENGXIN_URL": urls["sandbox"], "TUIBAO_INSURERS_FILE": str(insurers_file),
              "TUIBAO_ACTION_SECRET": ACTION_SECRET, **(extra_env or {})}
    debug = ["--debug"] if debug_logs else []
    handoff_db_url = handoff_db_url or f"sqlite:///{work_dir / 'handoff.db'}"
    handoff = {"TUIBAO_HANDOFF_DB_URL": handoff_db_url, "TUIBAO_DESK_HOURS": "00:00-24:00",
               **(handoff_env or {})}

    with contextlib.ExitStack() as running:
        if redis_url:  # runs last, once Rasa has stopped writing; never hides a test's error
            running.callback(_forget_quietly, wechat_env["WECHAT_REDIS_PREFIX"], redis_url)
        running.enter_context(service(
            [PYTHON, "-m", "sandbox_insurer"], f"{urls['sandbox']}/health",
            env={**common, "SANDBOX_PORT": str(ports["sandbox"]), "SANDBOX_TODAY": sandbox_today,
                 "SANDBOX_MODE": "1", "SANDBOX_LATENCY_MS": "0",
                 # SMS limits off: flows send codes back to back; tests of the limits switch
                 # them on (PUT /sandbox/sms-limits)
                 "SANDBOX_SMS_MIN_INTERVAL_S": "0", "SANDBOX_SMS_MAX_PER_HOUR": "0",
                 "SANDBOX_DATABASE_URL": f"sqlite:///{work_dir / 'sandbox.db'}"},
            log_name=f"{log_prefix}-sandbox"))
        running.enter_context(service(
            [PYTHON, "-m", "actions.server", "-p", str(ports["action"])] + debug,
            f"{urls['action']}/health",
            env={"TUIBAO_CREDENTIALS_DB_URL": f"sqlite:///{work_dir / 'credentials.db'}",
                 # the user's erasure reaches the connector's delivery state
                 "WECHAT_DEDUPE_REDIS_URL": wechat_env["WECHAT_DEDUPE_REDIS_URL"],
                 "WECHAT_REDIS_PREFIX": wechat_env["WECHAT_REDIS_PREFIX"], **common, **handoff},
            timeout=90, log_name=f"{log_prefix}-actions"))
        if with_simulator:
            running.enter_context(service(
                [PYTHON, "-m", "simulator"], f"{urls['simulator']}/sim/health",
                env={**common, **wechat_env, **telegram_env, "SIM_PORT": str(ports["simulator"]),
                     "SIM_WEBHOOK_URL": f"{urls['rasa']}/webhooks/wechat/webhook",
                     "SIM_TELEGRAM_WEBHOOK_URL": telegram_env["TELEGRAM_WEBHOOK_URL"],
                     "SIM_SANDBOX_URL": urls["sandbox"]},
                log_name=f"{log_prefix}-simulator"))
        running.enter_context(service(
            # Rasa as the demo starts it: bot.serve (compiled answer validator, GET /metrics,
            # trace ids; observability.rasa_server wraps `rasa`)
            [PYTHON, "-m", "bot.serve", "run", "--enable-api", "--auth-token", API_TOKEN,
             "-p", str(ports["rasa"]), "--model", str(MODEL),
             "--endpoints", str(work_dir / "endpoints.yml"),
             "--credentials", str(work_dir / "credentials.yml")] + debug,
            f"{urls['rasa']}/", env={**common, **wechat_env, **telegram_env}, timeout=480,
            log_name=f"{log_prefix}-rasa"))
        if with_console:
            running.enter_context(service(
                [PYTHON, "-m", "console"], f"{urls['console']}/health",
                env={**common, **wechat_env, **telegram_env, **handoff,
                     "CONSOLE_PORT": str(ports["console"]),
                     "TUIBAO_RASA_URL": urls["rasa"], "TUIBAO_API_TOKEN": API_TOKEN},
                log_name=f"{log_prefix}-console"))
        yield Stack(rasa_url=urls["rasa"], action_url=urls["action"],
                    sandbox_url=urls["sandbox"], simulator_url=urls["simulator"],
                    wechat_env=wechat_env, work_dir=work_dir,
                    console_url=urls["console"] if with_console else None,
                    handoff_db_url=handoff_db_url, telegram_env=telegram_env)
