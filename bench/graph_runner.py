"""Rasa's graph runs, dask against bot.graph_runner's plain loop, on the project's model.

    .venv/bin/python bench/graph_runner.py [--rounds 300]

Times, in one process and the same run, a parse of a short message and a prediction on the
tracker of a surrender half done (the policy number given), each way; then the prediction with
RulePolicy scanning every rule and with bot.rule_lookup's memo. Prints ms per run and the
ratios. The model is models/tuibao.tar.gz (``make train``).
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()

    from rasa.core.agent import Agent
    from rasa.core.channels.channel import UserMessage
    from rasa.shared.core.events import ActionExecuted, SlotSet, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    from bot import graph_runner, lazy_ted, model

    logging.disable(logging.INFO)  # the server's level: no debug lines built
    lazy_ted.install()  # as bot.serve runs a model
    graph_runner.uninstall()
    dask_agent = Agent.load(str(model.MODEL_PATH))
    graph_runner.install()
    ours = Agent.load(str(model.MODEL_PATH))
    graph_runner.uninstall()

    def tracker(agent):
        return DialogueStateTracker.from_events("bench", [
            ActionExecuted("action_session_start"), ActionExecuted("action_listen"),
            UserUttered("我要退保", {"name": "request_surrender", "confidence": 1.0}),
            ActionExecuted("surrender_form"), SlotSet("requested_slot", "policy_number"),
            ActionExecuted("action_listen"),
            UserUttered("SBX1000000000012", {"name": "inform", "confidence": 1.0},
                        [{"entity": "policy_number", "value": "SBX1000000000012"}]),
            SlotSet("policy_number", "SBX1000000000012")], agent.domain.slots)

    def timed(fn) -> float:
        for _ in range(20):
            fn()
        start = time.perf_counter()
        for _ in range(args.rounds):
            fn()
        return (time.perf_counter() - start) / args.rounds * 1000

    def make_predict(agent):
        kept = tracker(agent)
        return lambda: agent.processor.predict_next_with_tracker(kept)

    rows = []
    for what, make in (
        ("predict", make_predict),
        ("parse", lambda agent: (lambda: agent.processor._parse_message_with_graph(
            UserMessage("我要退保", sender_id="bench"), DialogueStateTracker.from_events("bench", []))))):
        dask_ms = our_ms = 0.0
        for _ in range(3):  # in turns, so that a busy moment does not favour one
            dask_ms += timed(make(dask_agent)) / 3
            our_ms += timed(make(ours)) / 3
        rows.append((what, dask_ms, our_ms))
    print(f"{'run':<8} {'dask ms':>8} {'loop ms':>8} {'ratio':>6}   ({args.rounds} rounds each)")
    for what, dask_ms, our_ms in rows:
        print(f"{what:<8} {dask_ms:8.2f} {our_ms:8.2f} {dask_ms / our_ms:6.2f}")

    # bot.rule_lookup: RulePolicy's matching rules kept per state (the loop runner both ways)
    from bot import rule_lookup

    predict = make_predict(ours)
    scan = memo = 0.0
    for _ in range(3):
        rule_lookup.uninstall()
        scan += timed(predict) / 3
        rule_lookup.install()
        memo += timed(predict) / 3
    rule_lookup.uninstall()
    print(f"predict, RulePolicy scanning every rule {scan:.2f} ms, rules kept per state "
          f"{memo:.2f} ms, ratio {scan / memo:.2f}")


if __name__ == "__main__":
    main()
