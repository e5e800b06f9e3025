"""How long an ordinary "你好" waits while long messages are in flight (issue 7, hole 5).

    .venv/bin/python bench/long_texts.py [--rounds 5]

Starts the whole stack on free loopback ports (harness/stack.py; needs the trained model
and Redis), then times a "你好" through the WeChat webhook (signed, AES-encrypted, decrypted
reply) alone, and while six messages from six other users are in flight: the probe's
13,800-character texts (answered without NLU now) and 600-character ones (the longest that
reaches NLU). Prints p50/max per case. Target: every "你好" under 1 s. Loops are bounded.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Dict, List

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from connectors.limits import MAX_TEXT_CHARS  # noqa: E402
from harness.long_texts import PROBE_CHARS, short_reply_time_with_long_messages_in_flight  # noqa: E402
from harness.stack import tuibao_stack  # noqa: E402
from harness.wechat_caller import WeChatCaller, new_openid  # noqa: E402

MAX_ROUNDS = 50


def run(rounds: int) -> Dict[str, List[float]]:
    figures: Dict[str, List[float]] = {"alone": [], f"6 x {PROBE_CHARS} chars in flight": [],
                                       f"6 x {MAX_TEXT_CHARS} chars in flight": []}
    with tempfile.TemporaryDirectory() as work, \
            tuibao_stack(Path(work), log_prefix="bench-long") as stack:
        wechat = WeChatCaller(stack.webhook_url)
        for _ in range(3):  # first turns load caches; not measured
            wechat.say(new_openid(), "你好")
        for _ in range(min(rounds, MAX_ROUNDS)):
            delivery = wechat.say(new_openid(), "你好")
            if not delivery.reply_text:
                raise SystemExit("no answer to 你好")
            figures["alone"].append(delivery.elapsed)
            for chars in (PROBE_CHARS, MAX_TEXT_CHARS):
                figures[f"6 x {chars} chars in flight"].append(  # the 你好's reply time
                    short_reply_time_with_long_messages_in_flight(wechat, chars)[0])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help=f"at most {MAX_ROUNDS}")
    figures = run(parser.parse_args().rounds)
    print(f"{'你好 latency':32} {'n':>3} {'p50 ms':>8} {'max ms':>8}")
    for name, values in figures.items():
        print(f"{name:32} {len(values):3d} {statistics.median(values) * 1000:8.1f} "
              f"{max(values) * 1000:8.1f}")
    worst = max(max(v) for v in figures.values())
    print(f"worst {worst * 1000:.0f} ms: {'within' if worst < 1 else 'OVER'} the 1 s target")


if __name__ == "__main__":
    main()
