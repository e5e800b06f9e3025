"""What metrics and trace ids cost a turn: two whole stacks in one run, one with observability
on (the default), one with ``TUIBAO_OBSERVABILITY=off`` (no counting, no trace ids, Rasa
unwrapped), the same scripted WeChat conversations played on each in turn.

    .venv/bin/python bench/observability_overhead.py [--conversations 10]

Both stacks are the product's own processes (harness/stack.py: sandbox insurer, action
server, simulator, Rasa with the WeChat channel; needs the trained model and Redis). The
conversations alternate between the stacks (on, off, off, on, ...) so that whatever else the
machine does falls on both alike; the ratio on/off is the figure, not the absolute times.
Prints p50, p95 and turns per second (one user at a time) per stack, and the ratios.
"""
from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.latency import percentile  # noqa: E402
from harness.stack import tuibao_stack  # noqa: E402
from harness.wechat_caller import WeChatCaller, new_openid  # noqa: E402

# As bench/wechat_vs_rest.py: the surrender form up to the SMS code (two insurer calls), a
# question inside the form, and leaving it; no case is created, so it can repeat.
SCRIPT = ["你好", "我要退保", "SBX1000000000012", "31002X", "钱多久能到账", "不退了"]
MAX_CONVERSATIONS = 200


def play(caller: WeChatCaller, into: List[float]) -> float:
    """One conversation; each turn's time into ``into``; returns the wall time."""
    openid, started = new_openid(), time.monotonic()
    for text in SCRIPT:
        turn = time.monotonic()
        delivery = caller.say(openid, text)
        if delivery.status != 200:
            raise RuntimeError(f"{text!r}: HTTP {delivery.status}")
        into.append(time.monotonic() - turn)
    return time.monotonic() - started


def run(conversations: int) -> Dict[str, Dict[str, List[float]]]:
    found = {mode: {"turns": [], "walls": []} for mode in ("on", "off")}
    with tempfile.TemporaryDirectory() as work, contextlib.ExitStack() as stacks:
        callers = {}
        for mode in ("on", "off"):
            env = {"TUIBAO_OBSERVABILITY": mode}
            stack = stacks.enter_context(tuibao_stack(Path(work) / mode, extra_env=env,
                                                      log_prefix=f"bench-obs-{mode}"))
            callers[mode] = WeChatCaller(stack.webhook_url)
        for mode in ("on", "off"):  # warm both (first turns load models and pools)
            play(callers[mode], [])
        for index in range(conversations):
            order = ("on", "off") if index % 2 == 0 else ("off", "on")
            for mode in order:
                found[mode]["walls"].append(play(callers[mode], found[mode]["turns"]))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conversations", type=int, default=10)
    args = parser.parse_args()
    found = run(min(max(1, args.conversations), MAX_CONVERSATIONS))
    rows = {}
    for mode, data in found.items():
        turns = data["turns"]
        rows[mode] = (percentile(turns, 0.5), percentile(turns, 0.95),
                      len(turns) / sum(data["walls"]))
        print(f"observability {mode:>3}: {len(turns)} turns, p50 {rows[mode][0] * 1000:6.0f} ms, "
              f"p95 {rows[mode][1] * 1000:6.0f} ms, {rows[mode][2]:.2f} turns/s")
    on, off = rows["on"], rows["off"]
    print(f"on/off: p50 x{on[0] / off[0]:.3f}, p95 x{on[1] / off[1]:.3f}, "
          f"throughput x{on[2] / off[2]:.3f}")


if __name__ == "__main__":
    main()
