"""Turns/s of the cluster (bin/cluster) with 2 Rasa replicas and then with 1, same load, same run.

    bin/cluster up
    SANDBOX_TODAY=... .venv/bin/python bench/cluster_load.py [--users 20] [--seconds 60] \
        [--channels wechat]

The load is bench/load.py's (closed-loop users doing whole surrenders, every answer checked),
sent to the ingress (nginx, 127.0.0.1:9000). First leg: every replica up. Second leg:
``bin/cluster kill rasa-2`` (nginx passes its share to rasa-1), then ``bin/cluster start
rasa-2`` at the end, so the cluster is left as it was found. Printed: bench/load.py's tables
per leg, then one table of turns/s and latency per replica count, with the CPU of the Rasa
replicas (found by their ports, workers included).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

import load  # noqa: E402  bench/load.py

from cluster.settings import ClusterSettings  # noqa: E402


def bin_cluster(*args: str) -> None:
    subprocess.run([str(ROOT / "bin" / "cluster"), *args], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL, timeout=420)


def groups(settings: ClusterSettings) -> dict:
    ports = {f"rasa-{n}": port for n, port in enumerate(settings.rasa_ports, start=1)}
    ports.update({f"actions-{n}": port for n, port in enumerate(settings.action_ports, start=1)})
    ports.update(sandbox=settings.sandbox_port, nginx=settings.ingress_port)
    found = {name: load.process_group(port) for name, port in ports.items()}
    return {name: pids for name, pids in found.items() if pids}


def leg(label: str, args, settings: ClusterSettings) -> list:
    rows = [asyncio.run(load.phase(channel.strip(), args, groups(settings)))
            for channel in args.channels.split(",")]
    load.print_table(rows, label)
    for row in rows:
        row["leg"] = label
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--channels", default="wechat")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    settings = ClusterSettings.from_env()
    args.webhook = f"{settings.ingress_url}/webhooks/wechat/webhook"
    args.rest = f"{settings.ingress_url}/webhooks/rest/webhook"
    args.sandbox = f"http://127.0.0.1:{settings.sandbox_port}"
    bin_cluster("up")
    replicas = len(settings.rasa_ports)
    rows = leg(f"cluster, {replicas} Rasa replicas", args, settings)
    bin_cluster("kill", "rasa-2")
    try:
        rows += leg("cluster, 1 Rasa replica (rasa-2 killed)", args, settings)
    finally:
        bin_cluster("start", "rasa-2")
    print(f"\nCluster on {os.cpu_count()} cores, {args.users} users, {args.seconds:.0f} s per leg, "
          f"{settings.rasa_workers} Sanic workers per replica")
    print("| Rasa replicas | channel | turns/s | p50 ms | p95 ms | failed | answers > 4.5 s | "
          "Rasa CPU % |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        rasa_cpu = sum(v for k, v in row["cpu_pct"].items() if k.startswith("rasa-"))
        count = replicas if "replicas" in row["leg"] else 1
        print(f"| {count} | {row['channel']} | {row['turns_per_s']:.1f} | {row['p50_ms']:.0f} | "
              f"{row['p95_ms']:.0f} | {row['failed']} | {row['late_over_4_5s']} | "
              f"{rasa_cpu:.0f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
