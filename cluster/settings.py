"""Where the cluster's parts listen and which shared stores they use, from the environment.

The public ports are the contract's (ingress 9000, console 9080, simulator 9088, sandbox 9090);
the replicas' own ports sit in between and are only reached through nginx (or directly by
tests that must pick a replica). Every store is the machine's, in databases of the cluster's
own, so the demo (Redis db 3, SQLite) and the cluster run side by side.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional, Tuple

ROOT = Path(__file__).resolve().parents[1]

# The demo's account, bot and tokens (Procfile, credentials.yml): a demo client works against
# the cluster by changing the port.
API_TOKEN = "tuibao-demo-api-token"
ACTION_SECRET = "tuibao-demo-action-secret"
DEMO_TELEGRAM_BOT_TOKEN = "123456:tuibao-demo-telegram"
DEMO_TELEGRAM_SECRET = "tuibao-demo-telegram-secret"
# Every process's /metrics answers this bearer (as in production): a replica in a namespace of
# its own sees a scrape from the host's bridge address, not from loopback.
METRICS_TOKEN = "tuibao-cluster-metrics-token"


@dataclass(frozen=True)
class ClusterSettings:
    """Ports, replica counts and stores of one cluster (defaults: the contract's)."""

    state_dir: Path = ROOT / "var" / "cluster"
    ingress_port: int = 9000
    console_port: int = 9080
    simulator_port: int = 9088
    sandbox_port: int = 9090
    action_ingress_port: int = 9050  # nginx: Rasa's one action endpoint
    rasa_ports: Tuple[int, ...] = (9011, 9012)
    action_ports: Tuple[int, ...] = (9055, 9056)
    rasa_workers: int = 2
    model: Path = ROOT / "models" / "current.tar.gz"
    pg_host: str = "127.0.0.1"
    pg_port: int = 5432
    pg_user: str = "postgres"
    pg_password: str = ""
    tracker_db: str = "tuibao_cluster"
    handoff_db: str = "tuibao_cluster_handoff"
    credentials_db: str = "tuibao_cluster_credentials"
    redis_host: str = "127.0.0.1"
    redis_port: int = 6379
    redis_lock_db: int = 5  # not the demo's db 3
    redis_channel_db: int = 6
    redis_prefix: str = "tuibao-cluster"
    rabbitmq_host: str = "127.0.0.1"
    rabbitmq_port: int = 5672  # Rasa's pika broker dials this port (endpoints file: no port)
    rabbitmq_user: str = "guest"
    rabbitmq_password: str = "guest"
    sandbox_today: Optional[str] = None
    # Network namespaces (cluster/network.py): "auto" puts each Rasa replica and action server
    # in a namespace of its own where root and `ip netns` allow, "off" keeps every part on
    # 127.0.0.1, "on" refuses to start without them. The subnet is the bridge's (the host
    # has its first address); the prefix names the namespaces (tuibao-rasa-1), the bridge
    # (tuibao-br) and the host's veth ends (tuibao-r1), so it stays short.
    netns: str = "auto"
    netns_subnet: str = "10.77.0.0/24"
    netns_prefix: str = "tuibao"
    # Where a namespaced replica finds the stores: nginx's TCP proxies on the bridge address.
    bridge_pg_port: int = 5432
    bridge_redis_port: int = 6379
    # The cluster's Redis listens on the bridge address itself (a redis-server of the cluster's
    # own, TUIBAO_CLUSTER_REDIS_ON_BRIDGE=1): replicas dial it there, on redis_port, with no
    # proxy between them.
    redis_on_bridge: bool = False

    @classmethod
    def from_env(cls, env: Optional[Mapping[str, str]] = None) -> "ClusterSettings":
        """``TUIBAO_CLUSTER_*`` for the cluster's own choices, the endpoints file's
        ``TUIBAO_PG_*``/``TUIBAO_REDIS_*``/``TUIBAO_RABBITMQ_*`` for the stores, and
        ``SANDBOX_TODAY`` for the sandbox insurer's clock."""
        env = os.environ if env is None else env
        base = cls()

        def get(name: str, default: object) -> str:
            return (env.get(name) or "").strip() or str(default)

        def ports(name: str, default: Tuple[int, ...]) -> Tuple[int, ...]:
            return tuple(int(p) for p in get(name, ",".join(map(str, default))).split(","))

        return cls(
            state_dir=Path(get("TUIBAO_CLUSTER_STATE_DIR", base.state_dir)),
            rasa_ports=ports("TUIBAO_CLUSTER_RASA_PORTS", base.rasa_ports),
            action_ports=ports("TUIBAO_CLUSTER_ACTION_PORTS", base.action_ports),
            rasa_workers=int(get("TUIBAO_CLUSTER_RASA_WORKERS", base.rasa_workers)),
            model=Path(get("TUIBAO_CLUSTER_MODEL", base.model)),
            pg_host=get("TUIBAO_PG_HOST", base.pg_host),
            pg_port=int(get("TUIBAO_PG_PORT", base.pg_port)),
            pg_user=get("TUIBAO_PG_USER", base.pg_user),
            pg_password=env.get("TUIBAO_PG_PASSWORD", base.pg_password),
            redis_host=get("TUIBAO_REDIS_HOST", base.redis_host),
            redis_port=int(get("TUIBAO_REDIS_PORT", base.redis_port)),
            redis_lock_db=int(get("TUIBAO_REDIS_LOCK_DB", base.redis_lock_db)),
            rabbitmq_host=get("TUIBAO_RABBITMQ_HOST", base.rabbitmq_host),
            rabbitmq_user=get("TUIBAO_RABBITMQ_USER", base.rabbitmq_user),
            rabbitmq_password=get("TUIBAO_RABBITMQ_PASSWORD", base.rabbitmq_password),
            sandbox_today=(env.get("SANDBOX_TODAY") or "").strip() or None,
            netns=get("TUIBAO_CLUSTER_NETNS", base.netns),
            netns_subnet=get("TUIBAO_CLUSTER_NETNS_SUBNET", base.netns_subnet),
            netns_prefix=get("TUIBAO_CLUSTER_NETNS_PREFIX", base.netns_prefix),
            redis_on_bridge=get("TUIBAO_CLUSTER_REDIS_ON_BRIDGE", "0").lower()
            in ("1", "yes", "true", "on"),
        )

    def pg_url(self, database: str) -> str:
        password = f":{self.pg_password}" if self.pg_password else ""
        return (f"postgresql://{self.pg_user}{password}@{self.pg_host}:{self.pg_port}/"
                f"{database}")

    @property
    def channel_redis_url(self) -> str:
        return f"redis://{self.redis_host}:{self.redis_port}/{self.redis_channel_db}"

    @property
    def ingress_url(self) -> str:
        return f"http://127.0.0.1:{self.ingress_port}"

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"
