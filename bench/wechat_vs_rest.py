"""Turn latency through the WeChat webhook versus Rasa's REST channel, in one run.

    .venv/bin/python bench/wechat_vs_rest.py [--conversations 10]

Starts the whole stack on free loopback ports (harness/stack.py; needs the trained model
and Redis), then plays the same scripted conversations through both channels, alternating
which goes first, and prints p50/p95 per channel and their ratio. WeChat's requests are real
signed, AES-encrypted callbacks and its replies are decrypted, so the figure includes the
channel's whole cost. Target: WeChat adds at most 15 % at p95. Loops are bounded.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.latency import print_against_rest  # noqa: E402
from harness.stack import tuibao_stack  # noqa: E402
from harness.wechat_caller import WeChatCaller, new_openid  # noqa: E402

# One conversation: greeting, the surrender form up to the SMS code (two insurer calls), a
# question inside the form, and leaving it. No case is created, so it can repeat.
SCRIPT = ["你好", "我要退保", "SBX1000000000012", "31002X", "钱多久能到账", "不退了"]
MAX_CONVERSATIONS = 200


def run(conversations: int) -> Dict[str, List[float]]:
    latencies: Dict[str, List[float]] = {"wechat": [], "rest": []}
    with tempfile.TemporaryDirectory() as work, \
            tuibao_stack(Path(work), log_prefix="bench") as stack:
        wechat = WeChatCaller(stack.webhook_url)
        session = requests.Session()

        def via_wechat(user: str, text: str) -> bool:
            delivery = wechat.say(user, text)
            return delivery.status == 200 and bool(delivery.reply_text)

        def via_rest(user: str, text: str) -> bool:
            answer = session.post(stack.rest_url, json={"sender": user, "message": text},
                                  timeout=30)
            return answer.status_code == 200 and bool(answer.json())

        channels: Dict[str, Callable[[str, str], bool]] = {"wechat": via_wechat,
                                                           "rest": via_rest}
        for warm_up in ("wechat", "rest"):  # first turns load caches; not measured
            channels[warm_up](new_openid(), "你好")
        for number in range(min(conversations, MAX_CONVERSATIONS)):
            order = ["wechat", "rest"] if number % 2 == 0 else ["rest", "wechat"]
            for name in order:
                user = new_openid()
                for text in SCRIPT:
                    started = time.perf_counter()
                    ok = channels[name](user, text)
                    latencies[name].append(time.perf_counter() - started)
                    if not ok:
                        raise SystemExit(f"{name}: no answer to {text!r}")
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=10,
                        help=f"per channel, at most {MAX_CONVERSATIONS} (default 10)")
    args = parser.parse_args()
    latencies = run(args.conversations)
    ratio50, ratio95 = print_against_rest(latencies, "wechat")
    print(f"wechat/rest: p50 x{ratio50:.3f}, p95 x{ratio95:.3f} "
          f"({'within' if ratio95 <= 1.15 else 'OVER'} the 15% target at p95)")


if __name__ == "__main__":
    main()
