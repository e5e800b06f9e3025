"""CPU per turn of the model alone (NLU + policies, no action server) under TensorFlow thread
settings, in-process: loads models/tuibao.tar.gz and runs the same messages through
``Agent.parse_message`` and the policy prediction, measuring this process's CPU time.

    TF_INTRA_OP_PARALLELISM_THREADS=1 TF_INTER_OP_PARALLELISM_THREADS=1 \
        .venv/bin/python bench/tf_threads.py --rounds 20
    .venv/bin/python bench/tf_threads.py --rounds 20          # TensorFlow's defaults

Run both at the same time on a shared machine: they then see the same neighbours.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MESSAGES = ["你好", "我要退保", "SBX1000000000012", "31002X", "钱多久能到账", "不退了"]


async def run(rounds: int) -> None:
    from rasa.core.agent import load_agent
    from rasa.shared.core.trackers import DialogueStateTracker
    from rasa.shared.core.events import UserUttered, ActionExecuted

    agent = await load_agent(model_path=str(ROOT / "models" / "tuibao.tar.gz"))
    processor = agent.processor
    domain = processor.domain

    async def one_round(sender: str) -> None:
        tracker = DialogueStateTracker(sender, domain.slots)
        tracker.update(ActionExecuted("action_listen"))
        for text in MESSAGES:
            parsed = await agent.parse_message(text)
            tracker.update(UserUttered(text, parsed["intent"], parsed["entities"], parsed))
            prediction = processor._predict_next_with_tracker(tracker)
            tracker.update(ActionExecuted(domain.action_names_or_texts[
                int(max(range(len(prediction.probabilities)),
                        key=prediction.probabilities.__getitem__))]))
            prediction = processor._predict_next_with_tracker(tracker)

    await one_round("warm")
    cpu, wall = time.process_time(), time.perf_counter()
    for number in range(rounds):
        await one_round(f"r{number}")
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    turns = rounds * len(MESSAGES)
    print(f"TF intra={os.environ.get('TF_INTRA_OP_PARALLELISM_THREADS', 'default')} "
          f"inter={os.environ.get('TF_INTER_OP_PARALLELISM_THREADS', 'default')}: "
          f"{turns} turns, CPU {1000 * cpu / turns:.1f} ms/turn, wall {1000 * wall / turns:.1f} ms/turn")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(run(min(args.rounds, 200)))


if __name__ == "__main__":
    main()
