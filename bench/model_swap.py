"""A promote under load: does any answer get lost or wait past 1 s while the server swaps models?

Starts the action server and a Rasa server on free ports with model A, sends messages without pause from a few
clients (alternately ``POST /webhooks/rest/webhook`` "你好", a whole turn through the tracker
store and policies, and ``POST /model/parse``), and midway promotes model B with the product's
own call (``training.deploy.RasaServer.load``: ``PUT /model``, then ``GET /status`` names B).
It reports every answer's latency before, during and after the swap, and the answers lost.

Servers, measured one after the other on the same models and load (``--servers``):
  served     ``python -m bot.serve run``, the Procfile's: a supervisor hands the listening socket
             to a new process that loaded and warmed up model B (bot/handover.py)
  inprocess  the same with ``TUIBAO_HANDOVER=0``: B loads in a worker thread of the serving
             process (bot/swap.py), beside the users' turns
  threaded   ``python -m bot.swap run``: the same load in a thread, without bot.serve's other parts
  plain      ``rasa run`` as Rasa ships it: the archive loads on the event loop

    .venv/bin/python bench/model_swap.py [--model models/current.tar.gz]
                                         [--servers served,inprocess] [--clients 3] [--pause 0]
                                         [--clients 3] [--pause 0]

Model B is a copy of A under another name in a scratch folder: the swap loads the same bytes a
real new version would have. Timings are disturbed by other work on the machine; the two
servers are measured in the same run so their ratio holds.
"""
from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Dict, List, Tuple

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.latency import percentile  # noqa: E402
from training.deploy import DeployError, RasaServer  # noqa: E402

TOKEN = "bench-swap-token"
LATE = 1.0  # seconds: the answer the issue allows at most


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SECRET = "bench-swap-action-secret"


def start_actions(scratch: Path, port: int) -> subprocess.Popen:
    """The action server (action_session_start and the greeting run there)."""
    env = {**os.environ, "TUIBAO_ACTION_SECRET": SECRET, "PYTHONPATH": str(ROOT),
           "TUIBAO_CREDENTIALS_DB_URL": f"sqlite:///{scratch / 'credentials.db'}",
           "TUIBAO_HANDOFF_DB_URL": f"sqlite:///{scratch / 'handoff.db'}"}
    log = (scratch / "actions.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "actions.server", "-p", str(port)], cwd=ROOT,
                            stdout=log, stderr=subprocess.STDOUT, env=env)
    for _ in range(120):
        try:
            if requests.get(f"http://127.0.0.1:{port}/health", timeout=2).ok:
                return proc
        except requests.RequestException:
            time.sleep(1)
    raise RuntimeError("the action server did not start")


def start(kind: str, model: Path, port: int, scratch: Path, action_port: int) -> subprocess.Popen:
    endpoints = scratch / "endpoints.yml"
    endpoints.write_text("tracker_store:\n  type: sql\n  dialect: sqlite\n"
                         f"  db: {scratch / f'tracker-{kind}.db'}\n"
                         f"action_endpoint:\n  url: http://127.0.0.1:{action_port}/webhook\n"
                         f"  headers:\n    Authorization: Bearer {SECRET}\n", encoding="utf-8")
    credentials = scratch / "credentials.yml"
    credentials.write_text("rest:\n", encoding="utf-8")
    head = {"served": [sys.executable, "-m", "bot.serve"],
            "inprocess": [sys.executable, "-m", "bot.serve"],
            "threaded": [sys.executable, "-m", "bot.swap"]}.get(
        kind, [str(Path(sys.executable).with_name("rasa"))])
    cmd = head + ["run", "--enable-api", "--auth-token", TOKEN, "--interface", "127.0.0.1",
                  "--port", str(port), "--model", str(model), "--endpoints", str(endpoints),
                  "--credentials", str(credentials)]
    log = (scratch / f"rasa-{kind}.log").open("w")
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2",
           "PYTHONPATH": str(ROOT), "TUIBAO_METRICS_DIR": str(scratch / "metrics"),
           "TUIBAO_HANDOVER": "0" if kind == "inprocess" else "1"}
    return subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 1500) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"Rasa exited ({proc.returncode})")
        try:
            answer = requests.get(f"{url}/status", params={"token": TOKEN}, timeout=5)
            if answer.ok and answer.json().get("model_file"):
                return time.monotonic() - started
        except requests.RequestException:
            pass
        time.sleep(1)
    raise RuntimeError("Rasa did not start")


def traffic(url: str, client: int, stop: threading.Event, out: List[Tuple[float, float, str, str]],
            pause: float = 0.0):
    """(sent at, seconds, outcome, kind) for every request until ``stop``; ``pause`` seconds
    between an answer and the next request."""
    n = 0
    while not stop.is_set():
        if n and pause:
            stop.wait(pause)
        n += 1
        sent = time.monotonic()
        try:
            if n % 2:
                kind = "rest"
                answer = requests.post(f"{url}/webhooks/rest/webhook",
                                       json={"sender": f"bench-{client}-{n % 7}", "message": "你好"},
                                       timeout=60)
                ok = answer.status_code == 200 and isinstance(answer.json(), list) and answer.json()
            else:
                kind = "parse"
                answer = requests.post(f"{url}/model/parse", params={"token": TOKEN},
                                       json={"text": "我要退保"}, timeout=60)
                ok = answer.status_code == 200 and answer.json()["intent"]["name"]
            outcome = "ok" if ok else f"bad {answer.status_code}"
        except requests.RequestException as error:
            outcome = type(error).__name__
        out.append((sent, time.monotonic() - sent, outcome, kind))


def measure(kind: str, model_a: Path, model_b: Path, scratch: Path, clients: int,
            before: float, after: float, action_port: int, pause: float = 0.0) -> Dict[str, object]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start(kind, model_a, port, scratch, action_port)
    try:
        startup = wait_ready(url, proc)
        for _ in range(3):  # warm: the first answers build lazy state
            requests.post(f"{url}/webhooks/rest/webhook", json={"sender": "warm", "message": "你好"},
                          timeout=120)
        results: List[Tuple[float, float, str, str]] = []
        stop = threading.Event()
        workers = [threading.Thread(target=traffic, args=(url, i, stop, results, pause), daemon=True)
                   for i in range(clients)]
        for worker in workers:
            worker.start()
        time.sleep(before)
        swap_start = time.monotonic()
        swapped = "yes"
        try:
            RasaServer(url, TOKEN, timeout=900).load(model_b)  # PUT /model, then /status names B
        except DeployError as error:  # still report what the users saw meanwhile
            swapped = f"no: {error}"
        swap_end = time.monotonic()
        time.sleep(after)
        stop.set()
        for worker in workers:
            worker.join(timeout=120)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    for sent, took, outcome, kind_ in sorted(results):
        if took > LATE or outcome != "ok":
            print(f"    {kind_} sent {sent - swap_start:+.1f} s from the swap's start: "
                  f"{took * 1000:.0f} ms, {outcome}", flush=True)
    during = [r for r in results if r[0] + r[1] >= swap_start and r[0] <= swap_end]
    before_swap = [r[1] for r in results if r[0] + r[1] < swap_start]
    latencies = [r[1] for r in results]
    return {
        "server": kind, "swapped": swapped, "startup_s": round(startup, 1), "swap_s": round(swap_end - swap_start, 1),
        "requests": len(results), "during_swap": len(during),
        "lost": sum(r[2] != "ok" for r in results),
        "late": sum(r[1] > LATE for r in results),
        "late_before_swap": sum(t > LATE for t in before_swap),
        "p50_before_swap_ms": round(statistics.median(before_swap) * 1000) if before_swap else None,
        "max_before_swap_ms": round(max(before_swap) * 1000) if before_swap else None,
        "p50_during_swap_ms": round(statistics.median(r[1] for r in during) * 1000) if during else None,
        "p50_ms": round(statistics.median(latencies) * 1000) if latencies else None,
        "p99_ms": round(percentile(latencies, 0.99) * 1000) if latencies else None,
        "max_ms": round(max(latencies) * 1000) if latencies else None,
        "max_during_swap_ms": round(max(r[1] for r in during) * 1000) if during else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "current.tar.gz")
    parser.add_argument("--servers", default="served,inprocess")
    parser.add_argument("--clients", type=int, default=3)
    parser.add_argument("--before", type=float, default=5.0, help="seconds of load before the swap")
    parser.add_argument("--after", type=float, default=5.0, help="seconds of load after it")
    parser.add_argument("--pause", type=float, default=0.0,
                        help="seconds each client waits after an answer (0: closed loop, no pause)")
    args = parser.parse_args()
    model = args.model if args.model.exists() else ROOT / "models" / "tuibao.tar.gz"
    if not model.exists():
        print(f"no model at {args.model}: train one (python -m bot.model train)", file=sys.stderr)
        return 2
    rows = []
    with tempfile.TemporaryDirectory(prefix="swap-bench-") as tmp:
        scratch = Path(tmp)
        model_a = scratch / "A-current.tar.gz"
        model_b = scratch / "B-promoted.tar.gz"
        shutil.copy(model.resolve(), model_a)
        shutil.copy(model.resolve(), model_b)
        action_port = free_port()
        actions = start_actions(scratch, action_port)
        try:
            for kind in args.servers.split(","):
                print(f"measuring {kind} ...", flush=True)
                row = measure(kind, model_a, model_b, scratch, args.clients, args.before,
                              args.after, action_port, args.pause)
                print("  " + ", ".join(f"{k} {v}" for k, v in row.items()), flush=True)
                rows.append(row)
        finally:
            actions.terminate()
            actions.wait(timeout=30)
    print(f"\nload average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; model {model.resolve().name}; "
          f"{args.clients} clients, pause {args.pause} s")
    print("| server | swap (PUT /model) | answers (during swap) | lost | over 1 s (before swap) | "
          "p50 before / during swap | max before / during swap |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['server']} | {r['swap_s']} s | {r['requests']} ({r['during_swap']}) | {r['lost']} | "
              f"{r['late']} ({r['late_before_swap']}) | {r['p50_before_swap_ms']} / "
              f"{r['p50_during_swap_ms']} ms | {r['max_before_swap_ms']} / {r['max_during_swap_ms']} ms |")
    threaded = next((r for r in rows if r["server"] == "threaded"), None)
    return 0 if threaded is None or (threaded["lost"] == 0 and threaded["late"] == 0) else 1


if __name__ == "__main__":
    sys.exit(main())
