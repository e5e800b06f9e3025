"""One cluster (bin/cluster up) for every test of this folder, stopped at the end."""
from __future__ import annotations

import pytest

from tests.cluster.support import Cluster, WeChatServer, bin_cluster


@pytest.fixture(scope="session")
def cluster():
    bin_cluster("up")
    running = Cluster()
    running.relax_sms_limits()
    running.set_insurer_faults()
    try:
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
