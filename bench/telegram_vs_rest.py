"""Turn latency through the Telegram webhook versus Rasa's REST channel, in one run.

    .venv/bin/python bench/telegram_vs_rest.py [--conversations 10]

Starts the whole stack on free loopback ports (harness/stack.py; needs the trained model
and Redis), then plays the same scripted conversations through both channels, alternating
which goes first. A REST turn ends when its HTTP answer arrives. A Telegram turn is what a user
waits for: from posting the update (with the secret token) until the turn's last message
reached the Bot API stand-in (its ``sent_at`` in the outbox, same machine clock; the turn's end
is read from the tracker, polled gently, after the turn). The webhook's own acknowledgement time
is printed too. Loops are bounded.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.latency import print_against_rest  # noqa: E402
from harness.stack import tuibao_stack  # noqa: E402
from harness.telegram_caller import (SECRET_HEADER, TelegramCaller, new_chat_id,  # noqa: E402
                                            text_update)

# The WeChat benchmark's script: greeting, the surrender form up to the SMS code (two insurer
# calls), a question inside the form, and leaving it. No case is created, so it can repeat.
SCRIPT = ["你好", "我要退保", "SBX1000000000012", "31002X", "钱多久能到账", "不退了"]
MAX_CONVERSATIONS = 200
# The tracker is read only to learn that the turn ended (latency comes from sent_at), and
# seldom, so that reading it does not slow the turn it waits for.
POLL_S = 0.3
TURN_TIMEOUT_S = 60


class Channels:
    def __init__(self, stack) -> None:
        self.stack = stack
        self.http = requests.Session()
        self.caller = TelegramCaller(stack)
        self.secret = stack.telegram_env["TELEGRAM_SECRET_TOKEN"]
        self.acks: List[float] = []

    def rest(self, sender: str, text: str) -> float:
        started = time.perf_counter()
        answer = self.http.post(self.stack.rest_url, json={"sender": sender, "message": text},
                                timeout=30)
        elapsed = time.perf_counter() - started
        if answer.status_code != 200 or not answer.json():
            raise SystemExit(f"rest: no answer to {text!r}")
        return elapsed

    def outbox(self, chat_id: int) -> List[Dict]:
        answer = self.http.get(f"{self.stack.simulator_url}/sim/telegram/outbox",
                               params={"chat_id": chat_id}, timeout=10)
        answer.raise_for_status()
        return answer.json()

    def telegram(self, chat_id: int, text: str) -> float:
        """Post the update; seconds until the turn's last message reached the stand-in."""
        before = len(self.outbox(chat_id))
        update = text_update(chat_id, text)
        posted = time.time()
        started = time.perf_counter()
        answer = self.http.post(self.stack.telegram_webhook_url,
                                data=json.dumps(update).encode("utf-8"),
                                headers={"Content-Type": "application/json",
                                         SECRET_HEADER: self.secret}, timeout=30)
        self.acks.append(time.perf_counter() - started)
        if answer.status_code != 200:
            raise SystemExit(f"telegram webhook answered {answer.status_code} to {text!r}")
        deadline = time.monotonic() + TURN_TIMEOUT_S
        sent = self.outbox(chat_id)[before:]
        while not self.caller.turn_arrived(chat_id, update["update_id"], sent):
            if time.monotonic() > deadline:
                raise SystemExit(f"telegram: no complete answer to {text!r}")
            time.sleep(POLL_S)
            sent = self.outbox(chat_id)[before:]
        return max(dt.datetime.fromisoformat(m["sent_at"]).timestamp() for m in sent) - posted


def run(conversations: int) -> Dict[str, List[float]]:
    latencies: Dict[str, List[float]] = {"telegram": [], "rest": []}
    with tempfile.TemporaryDirectory() as work, \
            tuibao_stack(Path(work), log_prefix="bench-telegram") as stack:
        channels = Channels(stack)
        # First turns load caches and the bot's getMe: not measured.
        channels.rest(f"warm-{time.time_ns()}", "你好")
        channels.telegram(channels.caller.open_chat(new_chat_id()), "你好")
        channels.acks.clear()
        for number in range(min(conversations, MAX_CONVERSATIONS)):
            order = ["telegram", "rest"] if number % 2 == 0 else ["rest", "telegram"]
            for name in order:
                # Opened before its first turn (not measured): see TelegramCaller.open_chat.
                chat_id = channels.caller.open_chat(new_chat_id())
                sender = f"bench-{time.time_ns()}"
                for text in SCRIPT:
                    latencies[name].append(channels.rest(sender, text) if name == "rest"
                                           else channels.telegram(chat_id, text))
        latencies["telegram webhook ack"] = channels.acks
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=10,
                        help=f"per channel, at most {MAX_CONVERSATIONS} (default 10)")
    args = parser.parse_args()
    latencies = run(args.conversations)
    ratio50, ratio95 = print_against_rest(latencies, "telegram")
    print(f"telegram/rest: p50 x{ratio50:.3f}, p95 x{ratio95:.3f}")


if __name__ == "__main__":
    main()
