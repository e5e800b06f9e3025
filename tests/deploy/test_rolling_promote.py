"""``bin/cluster promote``: the Rasa replicas move to a new model one at a time, each out of the
ingress's rotation while it restarts, so no user waits for a model load (issue 22).

- The ingress part is real: Debian's nginx with the cluster's own configuration, in front of two
  stand-in replicas (tiny HTTP servers that say which one they are). Draining one sends every
  WeChat callback to the other, and the reload that does it fails no request in flight.
- The order is checked on ``cluster.control.promote`` with the process calls recorded: a replica
  is restarted only while it is drained and another one serves, and the model pointers move
  only once every replica runs the new model.

The figures under load (bench/rolling_promote.py) are in docs/insurers.md.
"""
from __future__ import annotations

import dataclasses
import http.server
import shutil
import socket
import threading
import time
from pathlib import Path
from typing import List

import pytest
import requests

from cluster import control
from cluster.settings import ClusterSettings
from cluster.topology import parts, render_nginx_conf

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class StandIn(http.server.ThreadingHTTPServer):
    """A replica that answers every request with its own name."""

    def __init__(self, name: str) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                body = name.encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *args) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.name = name
        threading.Thread(target=self.serve_forever, daemon=True).start()


@pytest.fixture()
def ingress(tmp_path):
    if not Path(NGINX).exists():
        pytest.fail("nginx is missing: bin/setup installs Debian's nginx")
    replicas = [StandIn("rasa-1"), StandIn("rasa-2")]
    actions = StandIn("actions-1")
    settings = dataclasses.replace(
        ClusterSettings.from_env({}), state_dir=tmp_path / "cluster", ingress_port=free_port(),
        action_ingress_port=free_port(), rasa_ports=tuple(r.server_address[1] for r in replicas),
        action_ports=(actions.server_address[1],))
    nginx = next(p for p in parts(settings) if p.name == "nginx")
    control._spawn(settings, nginx)
    deadline = time.monotonic() + 20
    while not control.healthy(nginx):
        assert time.monotonic() < deadline, (settings.log_dir / "nginx.log").read_text()
        time.sleep(0.1)
    yield settings, replicas
    control._stop(settings, nginx)
    for server in (*replicas, actions):
        server.shutdown()


def served_by(settings: ClusterSettings, openids: List[str]) -> List[str]:
    url = f"{settings.ingress_url}/webhooks/wechat/webhook"
    return [requests.post(url, params={"openid": openid}, data=b"<xml/>", timeout=5).text
            for openid in openids]


def test_a_drained_replica_gets_no_callback_and_the_reload_fails_none(ingress):
    settings, replicas = ingress
    openids = [f"oUser{number:04d}" for number in range(40)]
    spread = served_by(settings, openids)
    assert set(spread) == {"rasa-1", "rasa-2"}  # the hash by openid uses both

    failures, answers, stop = [], [], threading.Event()

    def keep_asking() -> None:
        while not stop.is_set():
            try:
                answers.append(served_by(settings, ["oSteady"])[0])
            except requests.RequestException as error:
                failures.append(error)

    asking = threading.Thread(target=keep_asking)
    asking.start()
    try:
        control._route(settings, drained={settings.rasa_ports[0]})
        drained = served_by(settings, openids)
        control._route(settings)
        restored = served_by(settings, openids)
    finally:
        stop.set()
        asking.join()
    assert set(drained) == {"rasa-2"}
    assert restored == spread  # back in rotation: each user on the replica it had
    assert failures == [] and len(answers) > 10
    conf = (settings.state_dir / "nginx.conf").read_text()
    assert " down;" not in conf


def test_each_replica_restarts_only_while_drained_and_the_pointers_move_last(tmp_path, monkeypatch):
    models = tmp_path / "models"
    models.mkdir()
    old, new = models / "20261201-000000000-aaaaaaaa.tar.gz", models / "20261205-000000000-bbbbbbbb.tar.gz"
    for archive in (old, new):
        archive.write_bytes(b"model")
    (models / "current.tar.gz").symlink_to(old.name)
    monkeypatch.setattr(control, "ROOT", tmp_path)
    monkeypatch.setattr(control, "DRAIN_S", 0)
    settings = ClusterSettings.from_env({})
    calls, drained_now, running = [], set(), {"rasa-1": old, "rasa-2": old}

    def route(_settings, drained=()):
        drained_now.clear()
        drained_now.update(drained)
        calls.append(("route", tuple(sorted(drained))))

    def restart(_settings, part, nice=0):
        port = part.port
        assert port in drained_now, f"{part.name} restarted while in rotation"
        assert any(p not in drained_now for p in settings.rasa_ports), "nobody left to serve"
        assert (models / "current.tar.gz").resolve() == old, "pointer moved before every replica"
        running[part.name] = Path(part.argv[part.argv.index("--model") + 1])
        calls.append(("start", part.name, nice))
        return "started"

    monkeypatch.setattr(control, "_route", route)
    monkeypatch.setattr(control, "_stop", lambda _settings, part: calls.append(("stop", part.name)))
    monkeypatch.setattr(control, "_ensure", restart)
    monkeypatch.setattr(control, "_serves", lambda part, name: running[part.name].name == name)
    monkeypatch.setattr(control, "_warm", lambda part: calls.append(("warm", part.name)))
    monkeypatch.setattr(control, "healthy", lambda part: True)
    monkeypatch.setattr(control, "recorded_pid", lambda _settings, name: 4242)
    monkeypatch.setattr(control, "_renice", lambda pid, nice: None)

    lines = control.promote(settings, new, skip_gate=True)
    first, second = settings.rasa_ports
    assert calls == [
        ("route", (first,)), ("stop", "rasa-1"), ("start", "rasa-1", control.LOADING_NICE),
        ("warm", "rasa-1"), ("route", ()),
        ("route", (second,)), ("stop", "rasa-2"), ("start", "rasa-2", control.LOADING_NICE),
        ("warm", "rasa-2"), ("route", ()),
    ]
    assert running == {"rasa-1": new, "rasa-2": new}
    assert (models / "current.tar.gz").resolve() == new and (models / "previous.tar.gz").resolve() == old
    assert "models/current.tar.gz -> " + new.name in lines[-1]


def test_a_replica_that_comes_back_on_the_wrong_model_stops_the_roll_and_rejoins(tmp_path, monkeypatch):
    models = tmp_path / "models"
    models.mkdir()
    old, new = models / "20261201-000000000-aaaaaaaa.tar.gz", models / "20261205-000000000-bbbbbbbb.tar.gz"
    for archive in (old, new):
        archive.write_bytes(b"model")
    (models / "current.tar.gz").symlink_to(old.name)
    monkeypatch.setattr(control, "ROOT", tmp_path)
    monkeypatch.setattr(control, "DRAIN_S", 0)
    routes = []
    monkeypatch.setattr(control, "_route", lambda _s, drained=(): routes.append(tuple(drained)))
    monkeypatch.setattr(control, "_stop", lambda _s, part: None)
    monkeypatch.setattr(control, "_ensure", lambda _s, part, nice=0: "started")
    monkeypatch.setattr(control, "_serves", lambda part, name: False)
    monkeypatch.setattr(control, "healthy", lambda part: True)
    monkeypatch.setattr(control, "recorded_pid", lambda _settings, name: 4242)
    with pytest.raises(control.ClusterError, match="does not answer with"):
        control.promote(ClusterSettings.from_env({}), new, skip_gate=True)
    assert routes[-1] == ()  # back in rotation: nginx's failover takes it from there
    assert (models / "current.tar.gz").resolve() == old  # nothing claims the new model runs
