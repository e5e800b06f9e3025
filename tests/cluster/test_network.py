"""The replicas cross a real network (issue 20): where the machine allows (root, ``ip netns``),
each Rasa replica and action server runs in a network namespace of its own, joined to the host
by a veth pair on the cluster's bridge. Shown from outside, as an operator would look:

- ``bin/cluster status`` names each replica's namespace and address; the replica's process is
  in that namespace (``ip netns identify``), not in the host's;
- its listening socket is not reachable on the host's 127.0.0.1, only on its own address, and
  from inside the namespace the host's loopback services (the ingress, PostgreSQL) are not
  reachable at all: everything it uses goes over the bridge;
- its connections to PostgreSQL and Redis are open to the host's bridge address (``ss``
  inside the namespace);
- a whole surrender through the ingress (127.0.0.1:9000, as ever) is served by replicas in
  their namespaces (nginx's access log names their addresses as upstreams).

On a machine without namespaces the cluster runs on loopback and this test says so (skips)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest
import requests

from cluster import network
from cluster.settings import ClusterSettings
from cluster.topology import reach
from harness.services import ROOT
from harness.wechat_caller import new_openid
from tests.cluster.support import CLUSTER_ENV, SUBMITTED, SurrenderingUser

NAMESPACED = ("rasa-1", "rasa-2", "actions-1", "actions-2")
ACCESS_LOG = ROOT / "var" / "cluster" / "logs" / "nginx-access.log"


def _entries(cluster) -> Dict[str, Dict]:
    return {entry["name"]: entry for entry in cluster.status()}


@pytest.fixture
def layout(cluster) -> Dict[str, Dict]:
    entries = _entries(cluster)
    if not all(entries[name].get("netns") for name in NAMESPACED):
        pytest.skip("the cluster runs in the loopback layout here (bin/cluster up said why)")
    return entries


def _reachable(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(2)
        return probe.connect_ex((host, port)) == 0


def _in_namespace(netns: str, *argv: str) -> str:
    done = subprocess.run(["ip", "netns", "exec", netns, *argv], capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _reachable_from(netns: str, host: str, port: int) -> bool:
    probe = ("import socket,sys; s=socket.socket(); s.settimeout(2); "
             f"sys.exit(s.connect_ex(({host!r}, {port})))")
    return subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-c", probe],
                          timeout=30).returncode == 0


def _peers(netns: str) -> List[str]:
    """The remote ends (address:port) of the namespace's established TCP connections."""
    lines = _in_namespace(netns, "ss", "-Htn", "state", "established").splitlines()
    return [line.split()[-1] for line in lines if line.strip()]


def _settings() -> ClusterSettings:
    return ClusterSettings.from_env({**os.environ, **CLUSTER_ENV})


def test_each_replica_lives_in_a_namespace_of_its_own(cluster, layout):
    settings = _settings()
    bridge = network.current(settings).bridge_address  # the host's (10.77.0.1 by default)
    addresses = set()
    for name in NAMESPACED:
        entry = layout[name]
        netns, host, port = entry["netns"], entry["host"], entry["port"]
        assert entry["healthy"] and host != "127.0.0.1", entry
        addresses.add(host)
        # The recorded pid is the part's own process, and it lives in that namespace.
        identified = subprocess.run(["ip", "netns", "identify", str(entry["pid"])],
                                    capture_output=True, text=True, timeout=10).stdout.split()
        assert identified == [netns], (name, identified)
        own = Path(f"/proc/{entry['pid']}/ns/net").resolve()
        assert own != Path("/proc/self/ns/net").resolve()
        # Listening on its own address only: not on the host's loopback.
        assert _reachable(host, port), entry
        assert not _reachable("127.0.0.1", port), f"{name} answers on the host's 127.0.0.1"
        # Inside, the host's loopback services are not there: only the bridge leads out.
        assert not _reachable_from(netns, "127.0.0.1", 9000)
        assert not _reachable_from(netns, "127.0.0.1", 5432)
        assert _reachable_from(netns, bridge, 9050)  # the action ingress, across the bridge
    assert len(addresses) == len(NAMESPACED)
    for name in ("nginx", "sandbox", "simulator", "console"):  # on the host, as the contract says
        assert layout[name]["netns"] is None and layout[name]["host"] == "127.0.0.1"

    # A turn on rasa-1 itself (its tracker in PostgreSQL, its lock in Redis): the store
    # connections it keeps open are to the host's bridge address, where nginx proxies them.
    answer = requests.post(f"http://{layout['rasa-1']['host']}:{layout['rasa-1']['port']}"
                           "/webhooks/rest/webhook",
                           json={"sender": f"netns-{new_openid()}", "message": "你好"}, timeout=60)
    assert answer.status_code == 200, answer.text
    peers = _peers(layout["rasa-1"]["netns"])
    stores = reach(settings, network.current(settings), namespaced=True)
    assert stores.pg_host == stores.redis_host == bridge
    # PostgreSQL through nginx's TCP proxy on the bridge, the tests' Redis on the bridge itself.
    for store in (f"{bridge}:{stores.pg_port}", f"{bridge}:{stores.redis_port}"):
        assert store in peers, (store, peers)


def test_a_surrender_through_the_ingress_crosses_the_bridge(cluster, wechat, layout):
    replicas = {layout[name]["host"] for name in ("rasa-1", "rasa-2")}
    served_before = ACCESS_LOG.stat().st_size if ACCESS_LOG.exists() else 0
    user = SurrenderingUser(new_openid(), cluster.load_policies(1)[0], cluster, wechat)
    cluster.follow(user.openid)
    case_number = user.surrender()
    assert [c["case_number"] for c in cluster.cases(user.policy["policy_number"])] == [case_number]
    assert user.times_told(SUBMITTED) == 1
    with ACCESS_LOG.open("rb") as log:
        log.seek(served_before)
        lines = log.read().decode("utf-8", "replace").splitlines()
    upstreams = {line.split("upstream=")[1].split()[0].rsplit(":", 1)[0]
                 for line in lines if "/webhooks/wechat/" in line and "upstream=" in line}
    upstreams.discard("-")
    assert upstreams and upstreams <= replicas, (upstreams, replicas)
