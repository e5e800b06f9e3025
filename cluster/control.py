"""Start, watch and stop the cluster's processes.

Each process runs in a session of its own (its Sanic workers or nginx workers with it), its
pid in ``<state>/pids/NAME.pid``, its output in ``<state>/logs/NAME.log``. ``kill`` sends
SIGKILL to the whole process group at once, as a crash of that machine would.
"""
from __future__ import annotations

import contextlib
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

from cluster import stores
from cluster.settings import ROOT, ClusterSettings
from cluster.topology import (PYTHON, Part, atomic_lock_store_available, channel_env, parts,
                              render_nginx_conf)


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


def _port_taken(port: int) -> bool:
    import socket

    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _part(settings: ClusterSettings, name: str) -> Part:
    for part in parts(settings):
        if part.name == name:
            return part
    known = ", ".join(p.name for p in parts(settings))
    raise ClusterError(f"no process named {name!r} (known: {known})")


def _spawn(settings: ClusterSettings, part: Part) -> int:
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    _pid_file(settings, part.name).parent.mkdir(parents=True, exist_ok=True)
    if part.name == "nginx":
        render_nginx_conf(settings)
    with open(settings.log_dir / f"{part.name}.log", "ab") as log:
        log.write(f"\n--- {time.strftime('%Y-%m-%dT%H:%M:%S')} starting {part.name}\n".encode())
        log.flush()
        proc = subprocess.Popen(part.argv, cwd=ROOT, env={**os.environ, **part.env},
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    _pid_file(settings, part.name).write_text(f"{proc.pid}\n")
    return proc.pid


def _ensure(settings: ClusterSettings, part: Part) -> str:
    """Start ``part`` unless it runs; wait until it is healthy. Returns what was done."""
    pid = recorded_pid(settings, part.name)
    action = "running"
    if pid is None:
        if _port_taken(part.port):
            raise ClusterError(f"{part.name}: port {part.port} is taken by a process the "
                               "cluster did not start")
        pid = _spawn(settings, part)
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
    if not Path("/usr/sbin/nginx").exists():
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


def up(settings: ClusterSettings) -> List[Dict]:
    """Start whatever is not running, all at once, and return when everything is healthy."""
    _prepare(settings)
    everything = parts(settings)
    with ThreadPoolExecutor(max_workers=len(everything)) as pool:
        done = dict(zip([p.name for p in everything],
                        pool.map(lambda p: _ensure(settings, p), everything)))
    if done.get("simulator") == "started":
        with contextlib.suppress(Exception):
            _give_menu(settings)
    for name, action in done.items():
        _say(f"{name}: {action}")
    return status(settings)


def start(settings: ClusterSettings, name: str) -> Dict:
    part = _part(settings, name)
    _ensure(settings, part)
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
    _pid_file(settings, part.name).unlink(missing_ok=True)


def down(settings: ClusterSettings, wipe: bool = False) -> None:
    """Stop everything the cluster started; ``wipe`` also drops its data."""
    everything = parts(settings)
    with ThreadPoolExecutor(max_workers=len(everything)) as pool:
        list(pool.map(lambda p: _stop(settings, p), reversed(everything)))
    if wipe:
        stores.drop_databases(settings)
        stores.forget_redis_keys(settings)
        shutil.rmtree(settings.state_dir, ignore_errors=True)


def _status_of(settings: ClusterSettings, part: Part) -> Dict:
    pid = recorded_pid(settings, part.name)
    return {"name": part.name, "pid": pid, "port": part.port,
            "healthy": pid is not None and healthy(part)}


def status(settings: ClusterSettings) -> List[Dict]:
    everything = parts(settings)
    with ThreadPoolExecutor(max_workers=len(everything)) as pool:
        return list(pool.map(lambda p: _status_of(settings, p), everything))
