"""Start, watch and stop the cluster's processes.

Each process runs in a session of its own (its Sanic workers or nginx workers with it), its
pid in ``<state>/pids/NAME.pid``, its output in ``<state>/logs/NAME.log``. ``kill`` sends
SIGKILL to the whole process group at once, as a crash of that machine would. Where the machine
allows, each Rasa replica and action server runs in a network namespace of its own
(cluster/network.py; ``up`` says which layout it chose).
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, List, Optional

import requests

from cluster import network, stores
from cluster.network import Layout, NetworkError
from cluster.settings import ROOT, ClusterSettings
from cluster.topology import (NGINX, PYTHON, Part, atomic_lock_store_available, channel_env,
                              parts, render_ambassador_conf, render_nginx_conf)


class ClusterError(RuntimeError):
    """The cluster cannot do what was asked; the message says why."""


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _pid_file(settings: ClusterSettings, name: str) -> Path:
    return settings.state_dir / "pids" / f"{name}.pid"


def recorded_pid(settings: ClusterSettings, name: str) -> Optional[int]:
    """The pid of ``name`` if it is running (a zombie or a vanished process is not)."""
    try:
        pid = int(_pid_file(settings, name).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return None
    return None if state in ("Z", "X") else pid


def healthy(part: Part) -> bool:
    try:
        return requests.get(part.health_url, timeout=3).status_code < 500
    except requests.RequestException:
        return False


def _port_taken(port: int, host: str = "127.0.0.1") -> bool:
    import socket

    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex((host, port)) == 0


def _part(settings: ClusterSettings, name: str) -> Part:
    for part in parts(settings):
        if part.name == name:
            return part
    known = ", ".join(p.name for p in parts(settings))
    raise ClusterError(f"no process named {name!r} (known: {known})")


def _overrides_file(settings: ClusterSettings, name: str) -> Path:
    return settings.state_dir / "overrides" / f"{name}.json"


def _shown(key: str, value: str) -> str:
    """An override as ``status`` shows it: a secret's value never."""
    secret = any(word in key.upper() for word in ("SECRET", "TOKEN", "PASSWORD", "KEY"))
    return f"{key}=***" if secret and value else f"{key}={value}"


def _spawn(settings: ClusterSettings, part: Part, nice: int = 0,
           overrides: Optional[Dict[str, str]] = None) -> int:
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    _pid_file(settings, part.name).parent.mkdir(parents=True, exist_ok=True)
    marker = _overrides_file(settings, part.name)
    marker.parent.mkdir(parents=True, exist_ok=True)
    if overrides:  # status shows them for as long as this start of the process runs
        marker.write_text(json.dumps([_shown(k, v) for k, v in sorted(overrides.items())]))
    else:
        marker.unlink(missing_ok=True)
    if part.name == "nginx":
        render_nginx_conf(settings)
    if part.netns and part.name.startswith("rasa-"):
        render_ambassador_conf(settings, network.current(settings), part.name)
    with open(settings.log_dir / f"{part.name}.log", "ab") as log:
        log.write(f"\n--- {time.strftime('%Y-%m-%dT%H:%M:%S')} starting {part.name}\n".encode())
        log.flush()
        proc = subprocess.Popen(part.argv, cwd=ROOT,
                                env={**os.environ, **part.env, **(overrides or {})},
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    if nice:
        _renice(proc.pid, nice)
    _pid_file(settings, part.name).write_text(f"{proc.pid}\n")
    return proc.pid


def _renice(pid: int, nice: int) -> None:
    """Set the niceness of ``pid``'s process group (its workers fork later and inherit it).
    Best effort: lowering it again needs root; unprivileged, the part stays as it is."""
    with contextlib.suppress(PermissionError, ProcessLookupError):
        os.setpriority(os.PRIO_PGRP, pid, nice)


def _ensure(settings: ClusterSettings, part: Part, nice: int = 0,
            overrides: Optional[Dict[str, str]] = None) -> str:
    """Start ``part`` unless it runs; wait until it is healthy. Returns what was done."""
    pid = recorded_pid(settings, part.name)
    action = "running"
    if pid is not None and overrides:
        raise ClusterError(f"{part.name} is running: --env applies to a start, so stop it first "
                           f"(bin/cluster kill {part.name})")
    if pid is None:
        if _port_taken(part.port, part.host):
            raise ClusterError(f"{part.name}: port {part.host}:{part.port} is taken by a "
                               "process the cluster did not start")
        pid = _spawn(settings, part, nice, overrides)
        action = "started"
    deadline = time.monotonic() + part.start_timeout_s
    while not healthy(part):
        if recorded_pid(settings, part.name) is None:
            raise ClusterError(f"{part.name} exited while starting; see "
                               f"{settings.log_dir / (part.name + '.log')}")
        if time.monotonic() > deadline:
            raise ClusterError(f"{part.name} not healthy within {part.start_timeout_s:.0f}s; "
                               f"see {settings.log_dir / (part.name + '.log')}")
        time.sleep(0.5)
    return action


def _prepare(settings: ClusterSettings) -> None:
    if not Path(NGINX).exists():
        raise ClusterError("nginx is missing: run bin/setup (it installs Debian's nginx-light)")
    if not settings.model.exists():
        _say(f"{settings.model} is missing: training it (python -m bot.model train --deploy)")
        subprocess.run([PYTHON, "-m", "bot.model", "train", "--deploy"], cwd=ROOT, check=True)
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    stores.create_databases(settings)
    if not atomic_lock_store_available():
        _say("WARNING: bot.lock_store.AtomicRedisLockStore is not in this tree: the replicas "
             "run Rasa's own RedisLockStore (non-atomic tickets across replicas).")
    _create_console_accounts(settings)


def _create_console_accounts(settings: ClusterSettings) -> None:
    """The demo's agent console accounts (bin/demo's), once per handoff database."""
    marker = settings.state_dir / "console-accounts"
    if marker.exists():
        return
    env = {**os.environ, "TUIBAO_HANDOFF_DB_URL": settings.pg_url(settings.handoff_db)}
    for user, role, password in (("agent1", "agent", "tuibao-agent-demo"),
                                 ("lead1", "supervisor", "tuibao-lead-demo"),
                                 ("trainer1", "trainer", "tuibao-trainer-demo")):
        subprocess.run([PYTHON, "-m", "console.admin", "create-user", user, "--role", role,
                        "--password-env", "TUIBAO_DEMO_PASSWORD"], cwd=ROOT,
                       env={**env, "TUIBAO_DEMO_PASSWORD": password},
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    marker.write_text("created\n")


def _give_menu(settings: ClusterSettings) -> None:
    """The account's custom menu in the simulator, as bin/demo gives it (best effort)."""
    subprocess.run([PYTHON, "-m", "connectors.wechat.menu"], cwd=ROOT,
                   env={**os.environ, **channel_env(settings)},
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)


def _network(settings: ClusterSettings) -> Layout:
    """The layout to run in, its namespaces and bridge made. A cluster with parts running keeps
    the layout it was started in (an ``up`` of a running cluster changes nothing of theirs);
    otherwise the namespaces where the machine allows, said once, after removing any left by
    a run that crashed."""
    running = {p.name for p in parts(settings) if recorded_pid(settings, p.name) is not None}
    if running:
        layout = network.current(settings)
        if layout.netns:
            network.build(settings, layout, running)
        return layout
    reason = network.unavailable(settings)
    if reason is None:
        layout = network.planned(settings)
        try:  # every namespace made afresh (a crashed run's removed first); the bridge kept
            network.build(settings, layout, running=set())
        except NetworkError as error:
            reason = str(error)
    if reason is not None:
        network.tear_down(settings)  # whatever an earlier run left
        if settings.netns.lower() in ("on", "1", "yes", "true"):
            raise ClusterError(f"TUIBAO_CLUSTER_NETNS=on but no namespaces here: {reason}")
        layout = Layout("loopback", reason=reason)
    network.save(settings, layout)
    _say(network.describe(settings, layout))
    return layout


def make_network(settings: ClusterSettings) -> Dict:
    """The network ``up`` would run in, made now (``bin/cluster network``): a store of the
    cluster's own that must listen on the bridge is started between this and ``up``."""
    layout = _network(settings)
    return {"kind": layout.kind, "reason": layout.reason, "subnet": layout.subnet or None,
            "bridge": layout.bridge if layout.netns else None,
            "bridge_address": layout.bridge_address}


def up(settings: ClusterSettings) -> List[Dict]:
    """Start whatever is not running and return when everything is healthy: the ingress first
    (in the namespace layout it also carries the replicas' store connections), then the rest
    all at once."""
    _prepare(settings)
    layout = _network(settings)
    everything = parts(settings, layout)
    done = {p.name: _ensure(settings, p) for p in everything if p.name == "nginx"}
    rest = [p for p in everything if p.name not in done]
    with ThreadPoolExecutor(max_workers=len(rest)) as pool:
        done.update(zip([p.name for p in rest], pool.map(lambda p: _ensure(settings, p), rest)))
    if done.get("simulator") == "started":
        with contextlib.suppress(Exception):
            _give_menu(settings)
    for name, action in done.items():
        _say(f"{name}: {action}")
    return status(settings)


def start(settings: ClusterSettings, name: str,
          overrides: Optional[Dict[str, str]] = None) -> Dict:
    """Start ``name`` unless it runs. ``overrides``: settings for this start only (a drill, or
    DEBUG logs on one replica); the next plain start goes back to the cluster's own."""
    part = _part(settings, name)
    layout = network.current(settings)
    if part.netns and part.netns not in network.namespaces(layout.prefix):
        running = {p.name for p in parts(settings, layout) if recorded_pid(settings, p.name)}
        network.build(settings, layout, running)  # its namespace went since up: made again
    _ensure(settings, part, overrides=overrides)
    return _status_of(settings, part)


def kill(settings: ClusterSettings, name: str) -> None:
    """SIGKILL ``name``'s whole process group at once (its workers die with it)."""
    part = _part(settings, name)
    pid = recorded_pid(settings, part.name)
    if pid is None:
        raise ClusterError(f"{name} is not running")
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while recorded_pid(settings, part.name) is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    _wait_for_port_released(part)


# A Rasa replica's model process and its Sanic workers are children of bot.serve's supervisor in
# process groups of their own: they die with it (PR_SET_PDEATHSIG), a moment after it. Until the
# last of them has gone, its listening socket still takes connections, and a start right after
# a kill found the port "taken by a process the cluster did not start" (a CI run, 6 December).
# In a namespace of its own, the part is gone once nothing runs in the namespace any more.
RELEASE_S = 15.0


def _wait_for_port_released(part: Part) -> None:
    deadline = time.monotonic() + RELEASE_S
    while time.monotonic() < deadline and (
            _port_taken(part.port, part.host) or (part.netns and network.members(part.netns))):
        time.sleep(0.1)


def _stop(settings: ClusterSettings, part: Part) -> None:
    pid = recorded_pid(settings, part.name)
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while recorded_pid(settings, part.name) is not None and time.monotonic() < deadline:
            time.sleep(0.2)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        _wait_for_port_released(part)
    _pid_file(settings, part.name).unlink(missing_ok=True)


def down(settings: ClusterSettings, wipe: bool = False) -> None:
    """Stop everything the cluster started; ``wipe`` also drops its data."""
    layout = network.current(settings)
    everything = parts(settings, layout)
    with ThreadPoolExecutor(max_workers=len(everything)) as pool:
        list(pool.map(lambda p: _stop(settings, p), reversed(everything)))
    network.tear_down(settings, layout)
    network.forget(settings)
    if wipe:
        stores.drop_databases(settings)
        stores.forget_redis_keys(settings)
        shutil.rmtree(settings.state_dir, ignore_errors=True)


def _status_of(settings: ClusterSettings, part: Part) -> Dict:
    pid = recorded_pid(settings, part.name)
    entry = {"name": part.name, "pid": pid, "port": part.port,
             "healthy": pid is not None and healthy(part),
             "host": part.host, "netns": part.netns}  # where it lives (additive)
    marker = _overrides_file(settings, part.name)
    if pid is not None and marker.exists():
        entry["overrides"] = json.loads(marker.read_text())
    return entry


def status(settings: ClusterSettings) -> List[Dict]:
    everything = parts(settings)
    with ThreadPoolExecutor(max_workers=len(everything)) as pool:
        return list(pool.map(lambda p: _status_of(settings, p), everything))


# ---------------------------------------------------------------- rolling promote
# A replica taken out of rotation still finishes what it holds: a WeChat turn answers within
# 4.5 s (later ones are pushed), so it stops this long after nginx stopped sending it work.
DRAIN_S = 6.0
# While the new model loads, the restarted replica runs at this niceness, so the replica that
# carries the traffic keeps the cores first (a separate process: unlike a loading thread, it
# shares no interpreter lock with the one serving).
LOADING_NICE = 19
WARM_TURNS = 6


def _route(settings: ClusterSettings, drained=()) -> None:
    """Render the ingress's configuration with ``drained`` out of rotation, and reload nginx
    (its new workers take the new configuration; the old ones finish their requests)."""
    render_nginx_conf(settings, drained)
    pid = recorded_pid(settings, "nginx")
    if pid is None:
        raise ClusterError("nginx is not running: bin/cluster up first")
    os.kill(pid, signal.SIGHUP)
    time.sleep(1.0)


def _serves(part: Part, model_name: str, checks: int = 6) -> bool:
    """Every answer of ``part``'s workers names ``model_name``."""
    from cluster.settings import API_TOKEN

    seen = set()
    for _ in range(checks):
        try:
            answer = requests.get(f"{part.url}/status",
                                  params={"token": API_TOKEN}, timeout=10)
            seen.add(Path(answer.json().get("model_file") or "").name)
        except (requests.RequestException, ValueError):
            return False
    return seen == {model_name}


def _warm(part: Part) -> None:
    """First turns on a fresh process are slow (graphs, caches): take them before users do."""
    for number in range(WARM_TURNS):
        with contextlib.suppress(requests.RequestException):
            requests.post(f"{part.url}/webhooks/rest/webhook",
                          json={"sender": f"cluster-promote-warmup-{number % 2}", "message": "你好"},
                          timeout=60)


def promote(settings: ClusterSettings, model: Path, skip_gate: bool = False) -> List[str]:
    """Rasa's replicas onto ``model``, one at a time: out of the ingress's rotation, drained,
    restarted on the model (at low CPU priority while it loads), checked and warmed, back in
    rotation; then the next. The others carry the traffic meanwhile, so no answer waits for a
    load. Then ``models/current`` and ``previous`` move as ``tuibao model promote`` moves them.

    ``PUT /model`` is not used: under ``bot.serve`` it would load the new model in a second
    process beside the replica that answers (bot/handover.py), on the same cores and memory;
    taking the replica out of rotation keeps the load away from every answer."""
    from dataclasses import replace

    from bot.model import CURRENT, PREVIOUS, point
    from training import deploy

    target = deploy.version_of(ROOT, model)
    lines: List[str] = []
    note = deploy.check_verdict(target, skip_gate)
    if note:
        lines.append(note)
    before = deploy.pointer(ROOT, CURRENT)
    replicas = [p for p in parts(replace(settings, model=target)) if p.name.startswith("rasa-")]
    if len(replicas) < 2:
        raise ClusterError("a rolling promote needs two Rasa replicas: with one, every answer "
                           "would wait for the load")
    for part in replicas:
        others = [p for p in replicas if p is not part]
        if not any(recorded_pid(settings, p.name) and healthy(p) for p in others):
            raise ClusterError(f"no other replica is healthy to carry the traffic while {part.name} "
                               "loads: bin/cluster status")
        started = time.monotonic()
        _route(settings, drained={part.port})
        _say(f"{part.name}: out of rotation, draining")
        try:
            time.sleep(DRAIN_S)
            _stop(settings, part)
            _say(f"{part.name}: stopped, starting on {target.name}")
            _ensure(settings, part, nice=LOADING_NICE)
            if not _serves(part, target.name):
                raise ClusterError(f"{part.name} restarted but does not answer with {target.name}; "
                                   f"see {settings.log_dir / (part.name + '.log')}")
            _say(f"{part.name}: serves {target.name}, warming up")
            _warm(part)
            _renice(recorded_pid(settings, part.name) or 0, 0)
        finally:
            _route(settings)  # back in rotation (a failed replica is left to nginx's failover)
            _say(f"{part.name}: back in rotation")
        lines.append(f"{part.name} now runs {target.name} ({time.monotonic() - started:.0f} s out of rotation)")
    if before is not None and before == target:
        lines.append(f"{target.name} was already current; pointers unchanged")
        return lines
    if before is not None:
        point(deploy.models_dir(ROOT) / PREVIOUS, before)
    point(deploy.models_dir(ROOT) / CURRENT, target)
    deploy.log_deployment(ROOT, "promote", target, before)
    lines.append(f"models/{CURRENT} -> {target.name}; models/{PREVIOUS} -> "
                 f"{before.name if before else 'none'}")
    return lines
