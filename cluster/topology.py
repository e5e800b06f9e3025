"""The cluster's processes: what each runs, with which environment, where it answers.

Every process is one of the project's own entry points (the Procfile's lines) or Debian's
nginx; this module only decides their ports and shared stores.
"""
from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List

import yaml

from cluster.settings import (ACTION_SECRET, API_TOKEN, DEMO_TELEGRAM_BOT_TOKEN,
                              DEMO_TELEGRAM_SECRET, ROOT, ClusterSettings)

PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() \
    else sys.executable
SCALE_ENDPOINTS = ROOT / "deploy" / "endpoints.scale.yml"
NGINX_TEMPLATE = ROOT / "deploy" / "nginx" / "cluster.conf.template"
ATOMIC_LOCK_STORE = "bot.lock_store.AtomicRedisLockStore"


@dataclass(frozen=True)
class Part:
    """One process of the cluster."""

    name: str
    port: int
    argv: List[str]
    health_path: str
    env: Dict[str, str] = field(default_factory=dict)
    start_timeout_s: float = 60.0

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.health_path}"


def atomic_lock_store_available() -> bool:
    """Whether bot.lock_store.AtomicRedisLockStore is in this tree (issue 20's lock store)."""
    if importlib.util.find_spec("bot.lock_store") is None:
        return False
    source = (ROOT / "bot" / "lock_store.py").read_text(encoding="utf-8")
    return "class AtomicRedisLockStore" in source


def endpoints_file(settings: ClusterSettings) -> Path:
    """deploy/endpoints.scale.yml itself; until the atomic lock store is in the tree, a copy
    under the state directory with Rasa's own RedisLockStore (said loudly at ``up``)."""
    if atomic_lock_store_available():
        return SCALE_ENDPOINTS
    endpoints = yaml.safe_load(SCALE_ENDPOINTS.read_text(encoding="utf-8"))
    endpoints["lock_store"]["type"] = "redis"
    path = settings.state_dir / "endpoints.fallback.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(endpoints, sort_keys=False), encoding="utf-8")
    return path


def render_nginx_conf(settings: ClusterSettings, drained: Iterable[int] = ()) -> Path:
    """var/cluster/nginx.conf from deploy/nginx/cluster.conf.template. Rasa replicas on a port
    in ``drained`` are marked ``down``: nginx sends them nothing new (a rolling promote)."""
    drained = set(drained)
    state = settings.state_dir
    for temp in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (state / "nginx" / temp).mkdir(parents=True, exist_ok=True)
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    # Started as root (this machine's containers), nginx's workers would switch to "nobody";
    # they keep the master's user instead so they can write the state directory's temp files.
    user = "user root;" if os.geteuid() == 0 else ""

    def servers(ports) -> str:
        return "\n".join(f"        server 127.0.0.1:{port} max_fails=1 fail_timeout=5s"
                         f"{' down' if port in drained else ''};" for port in ports)

    values = {"user": user, "state": str(state), "ingress_port": str(settings.ingress_port),
              "action_port": str(settings.action_ingress_port),
              "rasa_servers": servers(settings.rasa_ports),
              "action_servers": servers(settings.action_ports)}
    text = NGINX_TEMPLATE.read_text(encoding="utf-8")
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    path = state / "nginx.conf"
    path.write_text(text, encoding="utf-8")
    return path


def channel_env(settings: ClusterSettings) -> Dict[str, str]:
    """The WeChat and Telegram channels' settings: the demo's account and bot, the simulator's
    APIs, delivery state in Redis shared by every replica."""
    simulator = f"http://127.0.0.1:{settings.simulator_port}"
    return {
        "WECHAT_API_BASE_URL": simulator,
        "WECHAT_DEDUPE_REDIS_URL": settings.channel_redis_url,
        "WECHAT_REDIS_PREFIX": settings.redis_prefix,
        "TELEGRAM_BOT_TOKEN": DEMO_TELEGRAM_BOT_TOKEN,
        "TELEGRAM_SECRET_TOKEN": DEMO_TELEGRAM_SECRET,
        "TELEGRAM_API_BASE_URL": f"{simulator}/telegram/bot{{token}}",
        "TELEGRAM_WEBHOOK_URL": f"{settings.ingress_url}/webhooks/telegram/webhook",
        "TELEGRAM_DEDUPE_REDIS_URL": settings.channel_redis_url,
        "TELEGRAM_REDIS_PREFIX": f"{settings.redis_prefix}:telegram",
    }


def parts(settings: ClusterSettings) -> List[Part]:
    """Every process, in start order."""
    sandbox = f"http://127.0.0.1:{settings.sandbox_port}"
    common = {"RASA_TELEMETRY_ENABLED": "false", "LOG_LEVEL": "INFO", "PYTHONUNBUFFERED": "1",
              "TUIBAO_ACTION_SECRET": ACTION_SECRET, "TUIBAO_SANDBOX_URL": sandbox,
              "TUIBAO_HENGXIN_URL": sandbox}
    handoff = {"TUIBAO_HANDOFF_DB_URL": settings.pg_url(settings.handoff_db)}
    channels = channel_env(settings)
    found: List[Part] = []

    sandbox_env = {**common, "SANDBOX_PORT": str(settings.sandbox_port), "SANDBOX_MODE": "1",
                   "SANDBOX_DATABASE_URL": f"sqlite:///{settings.state_dir / 'sandbox.db'}"}
    if settings.sandbox_today:
        sandbox_env["SANDBOX_TODAY"] = settings.sandbox_today
    found.append(Part("sandbox", settings.sandbox_port, [PYTHON, "-m", "sandbox_insurer"],
                      "/health", sandbox_env))
    found.append(Part("simulator", settings.simulator_port, [PYTHON, "-m", "simulator"],
                      "/sim/health", {
                          **common, **channels, "SIM_PORT": str(settings.simulator_port),
                          "SIM_WEBHOOK_URL": f"{settings.ingress_url}/webhooks/wechat/webhook",
                          "SIM_TELEGRAM_WEBHOOK_URL": channels["TELEGRAM_WEBHOOK_URL"],
                          "SIM_SANDBOX_URL": sandbox}))
    for number, port in enumerate(settings.action_ports, start=1):
        found.append(Part(f"actions-{number}", port,
                          [PYTHON, "-m", "actions.server", "--port", str(port)], "/health", {
                              **common, **handoff, "SANIC_HOST": "127.0.0.1",
                              "TUIBAO_CREDENTIALS_DB_URL": settings.pg_url(settings.credentials_db),
                              "WECHAT_DEDUPE_REDIS_URL": channels["WECHAT_DEDUPE_REDIS_URL"],
                              "WECHAT_REDIS_PREFIX": channels["WECHAT_REDIS_PREFIX"]},
                          start_timeout_s=120))
    found.append(Part("nginx", settings.ingress_port,
                      ["/usr/sbin/nginx", "-e", str(settings.log_dir / "nginx-error.log"),
                       "-p", str(settings.state_dir), "-c", str(settings.state_dir / "nginx.conf")],
                      "/cluster/health"))
    endpoints = endpoints_file(settings)
    for number, port in enumerate(settings.rasa_ports, start=1):
        found.append(Part(f"rasa-{number}", port, [
            PYTHON, "-m", "bot.serve", "run", "--enable-api", "--auth-token", API_TOKEN,
            "--interface", "127.0.0.1", "--port", str(port), "--model", str(settings.model),
            "--endpoints", str(endpoints), "--credentials", str(ROOT / "credentials.yml")], "/", {
                **common, **channels, "SANIC_WORKERS": str(settings.rasa_workers),
                # A ticket of a replica that died mid-turn blocks its conversation this long
                # (Rasa's default is 60 s); the longest turn (two insurer calls within their
                # budgets, insurers.yml) stays well inside it.
                "TICKET_LOCK_LIFETIME": "20",
                "TUIBAO_ACTION_URL": f"http://127.0.0.1:{settings.action_ingress_port}/webhook",
                "TUIBAO_PG_HOST": settings.pg_host, "TUIBAO_PG_PORT": str(settings.pg_port),
                "TUIBAO_PG_DB": settings.tracker_db, "TUIBAO_PG_USER": settings.pg_user,
                "TUIBAO_PG_PASSWORD": settings.pg_password,
                "TUIBAO_REDIS_HOST": settings.redis_host,
                "TUIBAO_REDIS_PORT": str(settings.redis_port),
                "TUIBAO_REDIS_LOCK_DB": str(settings.redis_lock_db),
                "TUIBAO_RABBITMQ_HOST": settings.rabbitmq_host,
                "TUIBAO_RABBITMQ_USER": settings.rabbitmq_user,
                "TUIBAO_RABBITMQ_PASSWORD": settings.rabbitmq_password},
            start_timeout_s=300))
    found.append(Part("console", settings.console_port, [PYTHON, "-m", "console"], "/health", {
        **common, **channels, **handoff, "CONSOLE_PORT": str(settings.console_port),
        "TUIBAO_RASA_URL": settings.ingress_url, "TUIBAO_API_TOKEN": API_TOKEN,
        "TUIBAO_REVIEW_DB_URL": f"sqlite:///{settings.state_dir / 'review.db'}"}))
    return found
