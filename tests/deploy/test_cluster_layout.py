"""Where bin/cluster puts its parts (cluster/network.py, cluster/topology.py), in both layouts,
without starting anything:

- loopback: every part on 127.0.0.1 with the stores' own addresses, as the cluster always ran;
- namespaces: each Rasa replica and action server in a namespace of its own (``ip netns exec``,
  its own address), and everything it talks to on the host's bridge address: nginx's upstreams
  and action ingress, and nginx's TCP proxies to the stores, the insurer and the simulator;
  WeChat's API through the replica's own ambassador on its loopback. The contract's host
  addresses (ingress 9000, console 9080, simulator 9088, sandbox 9090) do not move.
"""
from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import pytest

from cluster import control, network
from cluster.network import Layout
from cluster.settings import ClusterSettings
from cluster.topology import parts, reach, render_ambassador_conf, render_nginx_conf

# The tests' stores (tests/cluster/conftest.py): a private Redis and a proxy before PostgreSQL.
STORES = {"TUIBAO_REDIS_PORT": "16379", "TUIBAO_PG_PORT": "15432"}


def _settings(tmp_path: Path, **env: str) -> ClusterSettings:
    return ClusterSettings.from_env({"TUIBAO_CLUSTER_STATE_DIR": str(tmp_path), **STORES, **env})


def _by_name(settings, layout):
    return {part.name: part for part in parts(settings, layout)}


def _addresses(text: str):
    """Every IPv4 address written in ``text``."""
    return set(re.findall(r"\b(?:\d{1,3}\.){3}\d{1,3}\b", text))


def test_loopback_layout_is_everything_on_127_0_0_1(tmp_path):
    settings = _settings(tmp_path)
    found = _by_name(settings, network.LOOPBACK)
    for part in found.values():
        assert part.host == "127.0.0.1" and part.netns is None, part
        assert part.argv[0] != "ip", part
        assert _addresses(" ".join(f"{k}={v}" for k, v in part.env.items())) <= {"127.0.0.1"}
    rasa = found["rasa-1"].env
    assert rasa["TUIBAO_PG_HOST"] == "127.0.0.1" and rasa["TUIBAO_PG_PORT"] == "15432"
    assert rasa["TUIBAO_REDIS_PORT"] == "16379"
    assert rasa["TUIBAO_ACTION_URL"] == "http://127.0.0.1:9050/webhook"
    assert found["actions-1"].env["TUIBAO_SANDBOX_URL"] == "http://127.0.0.1:9090"
    conf = render_nginx_conf(settings, layout=network.LOOPBACK).read_text()
    assert "stream {" not in conf and "load_module" not in conf
    assert "server 127.0.0.1:9011 " in conf and "server 127.0.0.1:9056 " in conf
    assert _addresses(conf) == {"127.0.0.1"}


def test_namespace_layout_puts_each_replica_in_its_own_namespace(tmp_path):
    settings = _settings(tmp_path)
    layout = network.planned(settings)
    assert layout.netns and layout.bridge_address == "10.77.0.1"
    found = _by_name(settings, layout)
    homes = {home.part: home for home in layout.homes(settings)}
    assert sorted(homes) == ["actions-1", "actions-2", "rasa-1", "rasa-2"]
    assert len({home.address for home in homes.values()}) == 4
    assert all(len(home.veth) <= 15 for home in homes.values())  # Linux's interface names
    for name, home in homes.items():
        part = found[name]
        assert part.netns == home.netns == f"tuibao-{name}"
        assert part.host == home.address
        assert ipaddress.ip_address(home.address) in ipaddress.ip_network("10.77.0.0/24")
        assert part.argv[:4] == ["ip", "netns", "exec", home.netns]
        assert part.health_url.startswith(f"http://{home.address}:{part.port}/")
    # It listens on its namespace's address.
    assert found["rasa-1"].argv[found["rasa-1"].argv.index("--interface") + 1] == "10.77.0.11"
    assert found["actions-2"].env["SANIC_HOST"] == homes["actions-2"].address
    # The contract's parts stay on the host, on their ports.
    for name, port in (("nginx", 9000), ("console", 9080), ("simulator", 9088),
                       ("sandbox", 9090)):
        assert found[name].host == "127.0.0.1" and found[name].netns is None
        assert found[name].port == port


def test_a_namespaced_replica_reaches_everything_over_the_bridge(tmp_path):
    settings = _settings(tmp_path)
    layout = network.planned(settings)
    found = _by_name(settings, layout)
    rasa, actions = found["rasa-1"].env, found["actions-1"].env
    assert rasa["TUIBAO_ACTION_URL"] == "http://10.77.0.1:9050/webhook"
    assert (rasa["TUIBAO_PG_HOST"], rasa["TUIBAO_PG_PORT"]) == ("10.77.0.1", "5432")
    assert (rasa["TUIBAO_REDIS_HOST"], rasa["TUIBAO_REDIS_PORT"]) == ("10.77.0.1", "6379")
    assert rasa["TUIBAO_RABBITMQ_HOST"] == "10.77.0.1"
    assert rasa["WECHAT_DEDUPE_REDIS_URL"] == "redis://10.77.0.1:6379/6"
    assert actions["TUIBAO_SANDBOX_URL"] == actions["TUIBAO_HENGXIN_URL"] == \
        "http://10.77.0.1:9090"
    assert actions["TUIBAO_HANDOFF_DB_URL"].startswith("postgresql://postgres@10.77.0.1:5432/")
    assert actions["TUIBAO_CREDENTIALS_DB_URL"].startswith("postgresql://postgres@10.77.0.1:5432/")
    # Nothing in a replica's settings names the host's loopback, but WeChat's and Telegram's
    # API (its own namespace's ambassador) and the webhook it tells the simulator to call.
    for env in (rasa, actions):
        loopback = {key for key, value in env.items() if "127.0.0.1" in value}
        assert loopback <= {"WECHAT_API_BASE_URL", "TELEGRAM_API_BASE_URL",
                            "TELEGRAM_WEBHOOK_URL"}, loopback
    assert rasa["WECHAT_API_BASE_URL"] == "http://127.0.0.1:9088"
    # The parts on the host keep the host's addresses.
    assert reach(settings, layout) == reach(settings, network.LOOPBACK)
    assert found["console"].env["TUIBAO_HANDOFF_DB_URL"].startswith(
        "postgresql://postgres@127.0.0.1:15432/")


def test_namespace_layout_ingress_and_proxies(tmp_path):
    settings = _settings(tmp_path)
    layout = network.planned(settings)
    conf = render_nginx_conf(settings, drained={9012}, layout=layout).read_text()
    assert conf.startswith("#") and "load_module /usr/lib/nginx/modules/ngx_stream_module.so;" in conf
    assert "server 10.77.0.11:9011 max_fails=1 fail_timeout=5s;" in conf
    assert "server 10.77.0.12:9012 max_fails=1 fail_timeout=5s down;" in conf
    assert "server 10.77.0.51:9055 " in conf and "server 10.77.0.52:9056 " in conf
    assert "listen 127.0.0.1:9000;" in conf and "listen 10.77.0.1:9000" not in conf
    assert "listen 127.0.0.1:9050;" in conf and "listen 10.77.0.1:9050;" in conf
    stream = conf[conf.index("stream {"):]
    proxies = dict(re.findall(r"listen (\S+);\s+proxy_pass (\S+);", stream))
    assert proxies == {"10.77.0.1:5432": "127.0.0.1:15432",   # PostgreSQL (the tests' proxy)
                       "10.77.0.1:6379": "127.0.0.1:16379",   # Redis (the tests' own)
                       "10.77.0.1:5672": "127.0.0.1:5672",    # RabbitMQ
                       "10.77.0.1:9090": "127.0.0.1:9090",    # sandbox insurer
                       "10.77.0.1:9088": "127.0.0.1:9088"}    # simulator
    ambassador = render_ambassador_conf(settings, layout, "rasa-1").read_text()
    assert "listen 127.0.0.1:9088;" in ambassador and "proxy_pass 10.77.0.1:9088;" in ambassador
    argv = parts(settings, layout)[[p.name for p in parts(settings, layout)].index("rasa-1")].argv
    # The ambassador starts in the background, then the shell becomes the replica (exec), so
    # the recorded pid is the replica's and a kill of its group takes the ambassador along.
    assert argv[4:6] == ["/bin/sh", "-c"] and argv[6].endswith('exec "$@"')
    assert str(tmp_path / "ambassador-rasa-1.conf") in argv[6]
    assert argv[8:11] == [argv[8], "-m", "bot.serve"]


def test_a_redis_of_the_clusters_own_on_the_bridge_is_dialled_directly(tmp_path):
    """tests/cluster's private redis-server listens on the bridge address itself: the replicas
    dial its own port there, and nginx proxies no Redis."""
    settings = _settings(tmp_path, TUIBAO_CLUSTER_REDIS_ON_BRIDGE="1")
    layout = network.planned(settings)
    rasa = _by_name(settings, layout)["rasa-1"].env
    assert (rasa["TUIBAO_REDIS_HOST"], rasa["TUIBAO_REDIS_PORT"]) == ("10.77.0.1", "16379")
    assert rasa["WECHAT_DEDUPE_REDIS_URL"] == "redis://10.77.0.1:16379/6"
    conf = render_nginx_conf(settings, layout=layout).read_text()
    assert "16379" not in conf and "listen 10.77.0.1:6379;" not in conf
    assert "listen 10.77.0.1:5432;" in conf
    assert _by_name(settings, network.LOOPBACK)["rasa-1"].env["TUIBAO_REDIS_HOST"] == "127.0.0.1"


def test_the_subnet_and_prefix_are_settings(tmp_path):
    settings = _settings(tmp_path, TUIBAO_CLUSTER_NETNS_SUBNET="10.213.4.0/26",
                         TUIBAO_CLUSTER_NETNS_PREFIX="tbci")
    layout = network.planned(settings)
    assert layout.bridge == "tbci-br" and layout.bridge_address == "10.213.4.1"
    homes = {home.part: home for home in layout.homes(settings)}
    assert homes["rasa-2"].netns == "tbci-rasa-2" and homes["rasa-2"].address == "10.213.4.12"
    assert homes["actions-1"].address == "10.213.4.51" and homes["actions-1"].veth == "tbci-a1"
    with pytest.raises(network.NetworkError):
        Layout("netns", subnet="10.213.4.0/28", prefix="tbci").homes(settings)


def test_the_layout_chosen_at_up_is_what_every_later_command_uses(tmp_path):
    settings = _settings(tmp_path)
    assert network.current(settings) == network.LOOPBACK  # never up: loopback
    network.save(settings, network.planned(settings))
    assert network.current(settings) == network.planned(settings)
    assert {p.name: p.host for p in parts(settings)}["rasa-2"] == "10.77.0.12"
    entry = control._status_of(settings, {p.name: p for p in parts(settings)}["actions-1"])
    assert entry == {"name": "actions-1", "pid": None, "port": 9055, "healthy": False,
                     "host": "10.77.0.51", "netns": "tuibao-actions-1"}
    network.forget(settings)
    assert {p.name: p.host for p in parts(settings)}["rasa-2"] == "127.0.0.1"


def test_loopback_is_chosen_and_said_where_namespaces_are_not_allowed(tmp_path, monkeypatch):
    settings = _settings(tmp_path, TUIBAO_CLUSTER_NETNS="off")
    assert network.unavailable(settings) == "TUIBAO_CLUSTER_NETNS=off"
    monkeypatch.setattr(network.os, "geteuid", lambda: 1000)
    assert network.unavailable(_settings(tmp_path)) == "not root"
    said = network.describe(settings, Layout("loopback", reason="not root"))
    assert "127.0.0.1" in said and "not root" in said
    said = network.describe(settings, network.planned(settings))
    assert "tuibao-rasa-1 10.77.0.11" in said and "10.77.0.1/24" in said
