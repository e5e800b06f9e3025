"""NLU parse latency over Rasa's HTTP API on the held-out file, and the server's memory.

    .venv/bin/python bench/nlu_latency.py [--model models/tuibao.tar.gz] [--rounds 2]

Starts `rasa run --enable-api` (token-protected, as in the demo) on a free loopback port with the
trained model, then POSTs every held-out utterance to /model/parse. In the same run it parses the
same utterances in-process (the model's own cost, no HTTP) as the baseline, and prints p50/p95
for both, their ratio, and the server's resident memory (VmRSS of the process). Bounded loops.
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import List

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.latency import percentile  # noqa: E402
from harness.services import free_port, service  # noqa: E402

TOKEN = "bench-token"


def held_out_texts(path: Path) -> List[str]:
    from rasa.shared.nlu.training_data.loading import load_data

    return [example.get("text") for example in load_data(str(path)).training_examples]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def in_process(model: Path, texts: List[str], rounds: int) -> List[float]:
    import logging

    from rasa.core.agent import Agent
    from rasa.utils.log_utils import configure_structlog

    # Rasa's debug log would print every parsed text; the benchmark keeps utterances out of logs.
    configure_structlog(logging.WARNING)
    agent = Agent.load(str(model))
    loop = asyncio.new_event_loop()
    loop.run_until_complete(agent.parse_message("你好"))  # warm-up
    timings = []
    for _ in range(rounds):
        for text in texts:
            start = time.perf_counter()
            loop.run_until_complete(agent.parse_message(text))
            timings.append((time.perf_counter() - start) * 1000)
    loop.close()
    return timings


def over_http(model: Path, texts: List[str], rounds: int) -> tuple:
    port = free_port()
    args = [str(Path(sys.executable).with_name("rasa")), "run", "--enable-api", "--auth-token",
            TOKEN, "--interface", "127.0.0.1", "--port", str(port), "--model", str(model)]
    with service(args, f"http://127.0.0.1:{port}/status?token={TOKEN}", timeout=180,
                 env={"RASA_TELEMETRY_ENABLED": "false"}, log_name="bench-nlu") as proc:
        session = requests.Session()
        url = f"http://127.0.0.1:{port}/model/parse?token={TOKEN}"
        session.post(url, json={"text": "你好"}, timeout=30).raise_for_status()  # warm-up
        timings = []
        for _ in range(rounds):
            for text in texts:
                start = time.perf_counter()
                answer = session.post(url, json={"text": text}, timeout=30)
                timings.append((time.perf_counter() - start) * 1000)
                answer.raise_for_status()
        return timings, rss_mib(proc.pid)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=str(ROOT / "models" / "tuibao.tar.gz"))
    parser.add_argument("--data", default=str(ROOT / "tests" / "heldout" / "heldout.yml"))
    parser.add_argument("--rounds", type=int, default=2, choices=range(1, 11))
    args = parser.parse_args()
    model = Path(args.model)
    if not model.exists():
        print(f"no model at {model}: train it with `python -m bot.model train`", file=sys.stderr)
        return 2
    texts = held_out_texts(Path(args.data))
    http, rss = over_http(model, texts, args.rounds)
    local = in_process(model, texts, args.rounds)
    print(f"held-out utterances: {len(texts)} x {args.rounds} rounds")
    print(f"{'':14}{'p50 ms':>9}{'p95 ms':>9}{'mean ms':>9}")
    for name, values in (("HTTP API", http), ("in-process", local)):
        print(f"{name:14}{percentile(values, .5):9.1f}{percentile(values, .95):9.1f}"
              f"{statistics.mean(values):9.1f}")
    print(f"HTTP / in-process at p95: x{percentile(http, .95) / percentile(local, .95):.2f}")
    print(f"rasa server resident memory (VmRSS) after the run: {rss:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
