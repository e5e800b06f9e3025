"""One cluster (bin/cluster up) for every test of this folder, stopped at the end."""
from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from typing import Tuple

import pytest

from tests.cluster.support import CLUSTER_ENV, Cluster, WeChatServer, bin_cluster
from tests.support.faults import PrivateRedis, TcpProxy


class BridgedRedis(PrivateRedis):
    """The test's own redis-server, listening on the host's loopback and, in the namespace
    layout, on the cluster's bridge address too, where the replicas dial it directly: a Redis
    that is down then refuses their connections, as it would on a host of its own (a proxy in
    between would take them and close them)."""

    def __init__(self, addresses: Tuple[str, ...]) -> None:
        super().__init__()
        self.addresses = addresses

    def start(self) -> None:
        server = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.proc = subprocess.Popen(
            [server, "--bind", *self.addresses, "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--databases", "16",
             # Its only other address is the bridge's, which nothing outside the machine
             # reaches: clients there are the cluster's replicas.
             "--protected-mode", "no" if len(self.addresses) > 1 else "yes"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), \
                    socket.create_connection((self.addresses[-1], self.port), 0.2) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on {self.port}")


@dataclass
class Stores:
    redis: PrivateRedis
    postgres: TcpProxy


@pytest.fixture(scope="session")
def stores():
    """The cluster's Redis is a redis-server of its own and its PostgreSQL is reached through a
    proxy: a test can restart the one and cut the line to the other without troubling anything
    else on the machine. The cluster's network is made first (``bin/cluster network``), so
    that in the namespace layout the Redis listens on the bridge address too."""
    layout = json.loads(bin_cluster("network", timeout=120))
    addresses = ("127.0.0.1",)
    if layout["kind"] == "netns":
        addresses += (layout["bridge_address"],)
        CLUSTER_ENV.update(TUIBAO_CLUSTER_REDIS_ON_BRIDGE="1")
    redis = BridgedRedis(addresses)
    redis.start()
    try:
        with TcpProxy(5432) as postgres:
            CLUSTER_ENV.update(TUIBAO_REDIS_PORT=str(redis.port),
                               TUIBAO_PG_PORT=str(postgres.port))
            try:
                yield Stores(redis, postgres)
            finally:
                CLUSTER_ENV.clear()
    finally:
        redis.stop()


@pytest.fixture(scope="session")
def cluster(stores):
    try:  # an up that fails stops what it started too: the next run starts on its own stores
        bin_cluster("up")
        running = Cluster()
        running.relax_sms_limits()
        running.set_insurer_faults()
        yield running
    finally:
        bin_cluster("down", timeout=120)


@pytest.fixture
def wechat() -> WeChatServer:
    """WeChat's servers, delivering to the ingress."""
    return WeChatServer()


@pytest.fixture
def healthy_again(cluster):
    """After a fault test: every process of the cluster is healthy again by itself (or, for one
    that a test killed and left down, once started), and the insurer behaves."""
    yield
    cluster.set_insurer_faults()
    for name, ok in cluster.healthy().items():
        if not ok:
            cluster.start(name)
    assert all(cluster.healthy().values()), cluster.status()
