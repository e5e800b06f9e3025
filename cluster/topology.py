"""The cluster's processes: what each runs, with which environment, where it answers.

Every process is one of the project's own entry points (the Procfile's lines) or Debian's
nginx; this module only decides their ports, addresses and shared stores. Where a part finds
what it talks to (stores, insurer, WeChat's API, the action endpoint) comes from one place,
``reach``: the host's loopback for the parts on the host, the bridge for a replica in a network
namespace of its own (cluster/network.py).
"""
from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional

import yaml

from cluster import network
from cluster.network import LOOPBACK_ADDRESS, STREAM_MODULE, Layout
from cluster.settings import (ACTION_SECRET, API_TOKEN, DEMO_TELEGRAM_BOT_TOKEN,
                              DEMO_TELEGRAM_SECRET, METRICS_TOKEN, ROOT, ClusterSettings)

PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() \
    else sys.executable
SCALE_ENDPOINTS = ROOT / "deploy" / "endpoints.scale.yml"
NGINX_TEMPLATE = ROOT / "deploy" / "nginx" / "cluster.conf.template"
AMBASSADOR_TEMPLATE = ROOT / "deploy" / "nginx" / "ambassador.conf.template"
NGINX = "/usr/sbin/nginx"
ATOMIC_LOCK_STORE = "bot.lock_store.AtomicRedisLockStore"


@dataclass(frozen=True)
class Part:
    """One process of the cluster."""

    name: str
    port: int
    argv: List[str]
    health_path: str
    env: Dict[str, str] = field(default_factory=dict)
    # Generous: on a busy 2-core machine (replicas loading their models beside) a Python
    # service took over 60 s to answer its first health check.
    start_timeout_s: float = 120.0
    host: str = LOOPBACK_ADDRESS  # the address it listens on, as the host reaches it
    netns: Optional[str] = None   # its network namespace; None: the host's

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def health_url(self) -> str:
        return f"{self.url}{self.health_path}"


@dataclass(frozen=True)
class Reach:
    """Everything a part talks to, addressed as it is reached from where the part runs."""

    pg_host: str
    pg_port: int
    redis_host: str
    redis_port: int
    rabbitmq_host: str
    sandbox_url: str
    simulator_url: str
    action_url: str

    def pg_url(self, settings: ClusterSettings, database: str) -> str:
        password = f":{settings.pg_password}" if settings.pg_password else ""
        return (f"postgresql://{settings.pg_user}{password}@{self.pg_host}:{self.pg_port}/"
                f"{database}")

    def redis_url(self, db: int) -> str:
        return f"redis://{self.redis_host}:{self.redis_port}/{db}"


def reach(settings: ClusterSettings, layout: Layout = network.LOOPBACK,
          namespaced: bool = False) -> Reach:
    """The one place that says where a part finds the stores and services. On the host (or in
    the loopback layout): the machine's stores and the cluster's own ports on 127.0.0.1. In a
    namespace: the host's bridge address, where nginx listens for the replicas (the action
    ingress, and TCP proxies to PostgreSQL, Redis, RabbitMQ, the sandbox insurer and the
    simulator; ``render_nginx_conf``). WeChat's and Telegram's API is the exception: a channel
    runs on the demo's secrets only while its API is on its own machine's loopback
    (connectors/sources.py), so each replica's namespace has an ambassador on 127.0.0.1 that
    carries those calls across the bridge (``ambassador_argv``)."""
    if not (namespaced and layout.netns):
        return Reach(settings.pg_host, settings.pg_port, settings.redis_host, settings.redis_port,
                     settings.rabbitmq_host, f"http://127.0.0.1:{settings.sandbox_port}",
                     f"http://127.0.0.1:{settings.simulator_port}",
                     f"http://127.0.0.1:{settings.action_ingress_port}/webhook")
    bridge = layout.bridge_address
    redis_port = settings.redis_port if settings.redis_on_bridge else settings.bridge_redis_port
    return Reach(bridge, settings.bridge_pg_port, bridge, redis_port, bridge,
                 f"http://{bridge}:{settings.sandbox_port}",
                 f"http://127.0.0.1:{settings.simulator_port}",  # the namespace's ambassador
                 f"http://{bridge}:{settings.action_ingress_port}/webhook")


def bridge_proxies(settings: ClusterSettings) -> List[tuple]:
    """(port on the bridge address, where nginx passes it on the host, what): the TCP proxies
    that carry a namespaced replica's connections to what lives on the host."""
    redis = [] if settings.redis_on_bridge else [
        (settings.bridge_redis_port, f"{settings.redis_host}:{settings.redis_port}", "Redis")]
    return [(settings.bridge_pg_port, f"{settings.pg_host}:{settings.pg_port}", "PostgreSQL"),
            *redis,
            (settings.rabbitmq_port, f"{settings.rabbitmq_host}:{settings.rabbitmq_port}",
             "RabbitMQ"),
            (settings.sandbox_port, f"127.0.0.1:{settings.sandbox_port}", "sandbox insurer"),
            (settings.simulator_port, f"127.0.0.1:{settings.simulator_port}",
             "WeChat/Telegram simulator")]


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


def _nginx_dirs(settings: ClusterSettings) -> None:
    for temp in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (settings.state_dir / "nginx" / temp).mkdir(parents=True, exist_ok=True)
    settings.log_dir.mkdir(parents=True, exist_ok=True)


def render_nginx_conf(settings: ClusterSettings, drained: Iterable[int] = (),
                      layout: Optional[Layout] = None) -> Path:
    """var/cluster/nginx.conf from deploy/nginx/cluster.conf.template. Rasa replicas on a port
    in ``drained`` are marked ``down``: nginx sends them nothing new (a rolling promote). In the
    namespace layout the upstreams are the replicas' namespace addresses, the action ingress
    listens on the bridge address too, and a ``stream`` block proxies the stores and services
    the replicas reach across the bridge (``reach``).

    Mind what a TCP proxy changes: while what it passes to is down, it still takes a
    connection, then closes it, where the server's host would refuse it. Tuibao's Redis
    clients wait for either (ground/redis_options.py); a Redis of the cluster's own that
    listens on the bridge can be dialled directly (``redis_on_bridge``)."""
    layout = layout if layout is not None else network.current(settings)
    drained = set(drained)
    state = settings.state_dir
    _nginx_dirs(settings)
    # Started as root (this machine's containers), nginx's workers would switch to "nobody";
    # they keep the master's user instead so they can write the state directory's temp files.
    user = "user root;" if os.geteuid() == 0 else ""

    def servers(kind: str, ports) -> str:
        return "\n".join(
            f"        server {layout.address_of(settings, f'{kind}-{number}')}:{port} "
            f"max_fails=1 fail_timeout=5s{' down' if port in drained else ''};"
            for number, port in enumerate(ports, start=1))

    action_listen = [f"listen 127.0.0.1:{settings.action_ingress_port};"]
    stream = ""
    modules = ""
    if layout.netns:
        bridge = layout.bridge_address
        action_listen.append(f"listen {bridge}:{settings.action_ingress_port};")
        modules = f"load_module {STREAM_MODULE};"
        lines = ["stream {",
                 "    # The replicas' connections to what lives on the host, byte for byte.",
                 "    # Idle store connections stay open as long as they would unproxied.",
                 "    proxy_connect_timeout 2s;",
                 "    proxy_timeout 1d;"]
        for port, target, what in bridge_proxies(settings):
            lines += [f"    server {{  # {what}",
                      f"        listen {bridge}:{port};",
                      f"        proxy_pass {target};",
                      "    }"]
        stream = "\n".join(lines + ["}"])
    values = {"user": user, "state": str(state), "ingress_port": str(settings.ingress_port),
              "modules": modules, "action_listen": "\n        ".join(action_listen),
              "rasa_servers": servers("rasa", settings.rasa_ports),
              "action_servers": servers("actions", settings.action_ports), "stream": stream}
    text = NGINX_TEMPLATE.read_text(encoding="utf-8")
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    path = state / "nginx.conf"
    path.write_text(text, encoding="utf-8")
    return path


def render_ambassador_conf(settings: ClusterSettings, layout: Layout, name: str) -> Path:
    """The configuration of ``name``'s ambassador (deploy/nginx/ambassador.conf.template)."""
    _nginx_dirs(settings)
    values = {"state": str(settings.state_dir), "name": name, "stream_module": str(STREAM_MODULE),
              "simulator_port": str(settings.simulator_port), "bridge": layout.bridge_address}
    text = AMBASSADOR_TEMPLATE.read_text(encoding="utf-8")
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    path = settings.state_dir / f"ambassador-{name}.conf"
    path.write_text(text, encoding="utf-8")
    return path


def ambassador_argv(settings: ClusterSettings, layout: Layout, name: str,
                    argv: List[str]) -> List[str]:
    """``argv`` preceded by its ambassador in the same namespace and process group: a shell
    starts nginx in the background, then becomes ``argv`` (exec: the pid stays the part's), so
    a kill of the part's group takes the ambassador with it."""
    conf = settings.state_dir / f"ambassador-{name}.conf"
    nginx = (f"{NGINX} -e stderr -p {settings.state_dir} -c {conf} </dev/null &")
    return ["/bin/sh", "-c", f'{nginx}\nexec "$@"', "sh", *argv]


def channel_env(settings: ClusterSettings, where: Optional[Reach] = None) -> Dict[str, str]:
    """The WeChat and Telegram channels' settings: the demo's account and bot, the simulator's
    APIs, delivery state in Redis shared by every replica (as reached from ``where``; the
    host's loopback by default)."""
    where = where or reach(settings)
    simulator = where.simulator_url
    redis = where.redis_url(settings.redis_channel_db)
    return {
        "WECHAT_API_BASE_URL": simulator,
        "WECHAT_DEDUPE_REDIS_URL": redis,
        "WECHAT_REDIS_PREFIX": settings.redis_prefix,
        "TELEGRAM_BOT_TOKEN": DEMO_TELEGRAM_BOT_TOKEN,
        "TELEGRAM_SECRET_TOKEN": DEMO_TELEGRAM_SECRET,
        "TELEGRAM_API_BASE_URL": f"{simulator}/telegram/bot{{token}}",
        "TELEGRAM_WEBHOOK_URL": f"{settings.ingress_url}/webhooks/telegram/webhook",
        "TELEGRAM_DEDUPE_REDIS_URL": redis,
        "TELEGRAM_REDIS_PREFIX": f"{settings.redis_prefix}:telegram",
    }


def parts(settings: ClusterSettings, layout: Optional[Layout] = None) -> List[Part]:
    """Every process, in start order, where ``layout`` puts it (by default the layout the
    cluster was started in, cluster/network.py)."""
    layout = layout if layout is not None else network.current(settings)
    on_host = reach(settings, layout)
    found: List[Part] = []

    def common(where: Reach) -> Dict[str, str]:
        return {"RASA_TELEMETRY_ENABLED": "false", "LOG_LEVEL": "INFO", "PYTHONUNBUFFERED": "1",
                "TUIBAO_ACTION_SECRET": ACTION_SECRET, "TUIBAO_METRICS_TOKEN": METRICS_TOKEN,
                "TUIBAO_SANDBOX_URL": where.sandbox_url, "TUIBAO_HENGXIN_URL": where.sandbox_url}

    def placed(name: str, port: int, argv: List[str], health: str, env: Dict[str, str],
               timeout: float, ambassador: bool = False) -> Part:
        """A replica where the layout puts it: in its namespace, or on the host."""
        home = layout.home_of(settings, name)
        if home is None:
            return Part(name, port, argv, health, env, start_timeout_s=timeout)
        if ambassador:
            argv = ambassador_argv(settings, layout, name, argv)
        return Part(name, port, network.netns_exec(home.netns, argv), health, env,
                    start_timeout_s=timeout, host=home.address, netns=home.netns)

    sandbox_env = {**common(on_host), "SANDBOX_PORT": str(settings.sandbox_port),
                   "SANDBOX_MODE": "1",
                   "SANDBOX_DATABASE_URL": f"sqlite:///{settings.state_dir / 'sandbox.db'}"}
    if settings.sandbox_today:
        sandbox_env["SANDBOX_TODAY"] = settings.sandbox_today
    found.append(Part("sandbox", settings.sandbox_port, [PYTHON, "-m", "sandbox_insurer"],
                      "/health", sandbox_env))
    host_channels = channel_env(settings, on_host)
    found.append(Part("simulator", settings.simulator_port, [PYTHON, "-m", "simulator"],
                      "/sim/health", {
                          **common(on_host), **host_channels,
                          "SIM_PORT": str(settings.simulator_port),
                          "SIM_WEBHOOK_URL": f"{settings.ingress_url}/webhooks/wechat/webhook",
                          "SIM_TELEGRAM_WEBHOOK_URL": host_channels["TELEGRAM_WEBHOOK_URL"],
                          "SIM_SANDBOX_URL": on_host.sandbox_url}))
    for number, port in enumerate(settings.action_ports, start=1):
        name = f"actions-{number}"
        where = reach(settings, layout, namespaced=layout.home_of(settings, name) is not None)
        channels = channel_env(settings, where)
        found.append(placed(name, port, [PYTHON, "-m", "actions.server", "--port", str(port)],
                            "/health", {
                                **common(where),
                                "TUIBAO_HANDOFF_DB_URL": where.pg_url(settings,
                                                                      settings.handoff_db),
                                "SANIC_HOST": layout.address_of(settings, name),
                                "TUIBAO_CREDENTIALS_DB_URL": where.pg_url(
                                    settings, settings.credentials_db),
                                "WECHAT_DEDUPE_REDIS_URL": channels["WECHAT_DEDUPE_REDIS_URL"],
                                "WECHAT_REDIS_PREFIX": channels["WECHAT_REDIS_PREFIX"]},
                            timeout=120))
    found.append(Part("nginx", settings.ingress_port,
                      [NGINX, "-e", str(settings.log_dir / "nginx-error.log"),
                       "-p", str(settings.state_dir), "-c", str(settings.state_dir / "nginx.conf")],
                      "/cluster/health"))
    endpoints = endpoints_file(settings)
    for number, port in enumerate(settings.rasa_ports, start=1):
        name = f"rasa-{number}"
        where = reach(settings, layout, namespaced=layout.home_of(settings, name) is not None)
        found.append(placed(name, port, [
            PYTHON, "-m", "bot.serve", "run", "--enable-api", "--auth-token", API_TOKEN,
            "--interface", layout.address_of(settings, name), "--port", str(port),
            "--model", str(settings.model),
            "--endpoints", str(endpoints), "--credentials", str(ROOT / "credentials.yml")], "/", {
                **common(where), **channel_env(settings, where),
                "SANIC_WORKERS": str(settings.rasa_workers),
                # A ticket of a replica that died mid-turn blocks its conversation this long
                # (Rasa's default is 60 s); the longest turn (two insurer calls within their
                # budgets, insurers.yml) stays well inside it.
                "TICKET_LOCK_LIFETIME": "20",
                "TUIBAO_ACTION_URL": where.action_url,
                "TUIBAO_PG_HOST": where.pg_host, "TUIBAO_PG_PORT": str(where.pg_port),
                "TUIBAO_PG_DB": settings.tracker_db, "TUIBAO_PG_USER": settings.pg_user,
                "TUIBAO_PG_PASSWORD": settings.pg_password,
                "TUIBAO_REDIS_HOST": where.redis_host,
                "TUIBAO_REDIS_PORT": str(where.redis_port),
                "TUIBAO_REDIS_LOCK_DB": str(settings.redis_lock_db),
                "TUIBAO_RABBITMQ_HOST": where.rabbitmq_host,
                "TUIBAO_RABBITMQ_USER": settings.rabbitmq_user,
                "TUIBAO_RABBITMQ_PASSWORD": settings.rabbitmq_password},
            timeout=300, ambassador=True))
    found.append(Part("console", settings.console_port, [PYTHON, "-m", "console"], "/health", {
        **common(on_host), **host_channels,
        "TUIBAO_HANDOFF_DB_URL": on_host.pg_url(settings, settings.handoff_db),
        "CONSOLE_PORT": str(settings.console_port),
        "TUIBAO_RASA_URL": settings.ingress_url, "TUIBAO_API_TOKEN": API_TOKEN,
        "TUIBAO_REVIEW_DB_URL": f"sqlite:///{settings.state_dir / 'review.db'}"}))
    return found
