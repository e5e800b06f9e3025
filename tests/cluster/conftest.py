"""One cluster (bin/cluster up) for every test of this folder, stopped at the end."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.cluster.support import CLUSTER_ENV, Cluster, WeChatServer, bin_cluster
from tests.support.faults import PrivateRedis, TcpProxy


@dataclass
class Stores:
    redis: PrivateRedis
    postgres: TcpProxy


@pytest.fixture(scope="session")
def stores():
    """The cluster's Redis is a redis-server of its own and its PostgreSQL is reached through a
    proxy: a test can restart the one and cut the line to the other without troubling anything
    else on the machine. The Redis listens on 127.0.0.1 like the machine's; in the namespace
    layout the replicas reach it through nginx's TCP proxy on the bridge, as they reach the
    machine's Redis after a plain ``bin/cluster up`` (a Redis that is down is then a connection
    accepted and closed, not refused: ground/redis_options.py rides out both)."""
    redis = PrivateRedis()
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
