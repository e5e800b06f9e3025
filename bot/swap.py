"""``rasa run`` whose model swap does not stop the conversation.

Rasa 3.6's ``PUT /model`` (``rasa.server``) awaits ``rasa.core.agent.load_agent``, which loads
the archive synchronously on the server's event loop: every request that arrives meanwhile
waits for the whole load (tens of seconds for our model). This entry point is ``rasa`` itself
with one change: the archive is loaded in a worker thread (``loop.run_in_executor``) while the
loop keeps answering with the running model; the new agent replaces it in one assignment once
it is ready, as before. Everything else (arguments, endpoints, channels, the API) is Rasa's.

    .venv/bin/python -m bot.swap run --enable-api --model models/current.tar.gz ...

Measured by bench/model_swap.py (the promote under load).
"""
from __future__ import annotations

import asyncio
import logging
import os
import sys
import warnings
from typing import Optional, Text

log = logging.getLogger(__name__)


def install() -> None:
    """Replace ``rasa.core.agent.load_agent`` by a version that loads off the event loop."""
    import rasa.core.agent as agent_module
    from rasa.core.agent import Agent

    original = agent_module.load_agent
    if getattr(original, "_tuibao_threaded", False):
        return

    async def load_agent(model_path: Optional[Text] = None, model_server=None,
                         remote_storage=None, endpoints=None, loop=None) -> Agent:
        from bot import handover

        if handover.serving() and model_path and remote_storage is None and \
                model_server is None and os.path.exists(model_path):
            # PUT /model under bot.serve's supervisor: another process loads it (bot/handover.py)
            return await handover.hand_over(model_path)
        if model_path is None or remote_storage is not None or (
                endpoints is not None and endpoints.model) or model_server is not None \
                or not os.path.exists(model_path):
            return await original(model_path=model_path, model_server=model_server,
                                  remote_storage=remote_storage, endpoints=endpoints, loop=loop)
        # Everything but the archive as Rasa builds it (tracker store, lock store, NLG, ...),
        # on the loop; then the archive in a thread.
        with warnings.catch_warnings():  # "Agent loaded with no model!": not for long
            warnings.simplefilter("ignore")
            agent = await original(model_path=None, model_server=None, remote_storage=None,
                                   endpoints=endpoints, loop=loop)
        running = asyncio.get_running_loop()
        await running.run_in_executor(None, _load_quietly, agent, model_path)
        return agent

    load_agent._tuibao_threaded = True  # type: ignore[attr-defined]
    agent_module.load_agent = load_agent


# Messages of the lengths users send, for the warm-up: TensorFlow traces a model's functions
# again for inputs of new shapes, and each trace costs the event loop up to a second or more
# (bench/model_swap.py: three clients 1.0-1.5 s late at the moment of the swap, 6 December).
WARM_UP_TEXTS = ("好", "你好", "我要退保", "退保要扣多少钱", "查询退保进度", "不退了 我再想想",
                 "我想把那张意外险退了 保单号SBX1000000000012",
                 "你们什么破服务 热线打了三天都没人接 我要投诉 找个真人来 退保到底怎么弄 钱什么时候能到账")


def _load_quietly(agent, model_path: str) -> None:
    # Tried and dropped: the loading thread at nice 19 with 1 ms GIL turns. On the shared
    # machine (load 15) it got so little CPU that the load outlasted PUT /model's 10-minute
    # timeout (bench/model_swap.py, 4 December). The thread keeps the process's priority.
    agent.load_model(model_path)
    try:
        warm_up(agent)
    except Exception:  # a model that cannot be warmed still answers, only its first turns slower
        log.warning("the new model's warm-up failed", exc_info=True)


def warm_up(agent) -> int:
    """Parse and predict on a throwaway tracker for messages of several lengths, TED included,
    in this (the loading) thread, before the agent is swapped in: the traces happen here, not
    in the users' first turns. Nothing is stored. Returns how many predictions ran."""
    from rasa.core.channels.channel import UserMessage
    from rasa.shared.core.events import ActionExecuted, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    from bot import lazy_ted

    processor = agent.processor
    if processor is None:
        return 0
    tracker = DialogueStateTracker.from_events("tuibao-warm-up", [], slots=agent.domain.slots)
    ran = 0
    with lazy_ted.every_policy():
        for text in WARM_UP_TEXTS:
            parsed = processor._parse_message_with_graph(UserMessage(text, sender_id="tuibao-warm-up"),
                                                         tracker)
            tracker.update(ActionExecuted("action_listen"))
            tracker.update(UserUttered(text, parsed.get("intent"), parsed.get("entities"),
                                       parse_data=parsed))
            if processor.model_metadata.training_type.name != "NLU":
                processor.predict_next_with_tracker(tracker)
            ran += 1
    return ran


def main() -> None:
    install()
    from rasa.__main__ import main as rasa_main

    sys.argv[0] = "rasa"
    rasa_main()


if __name__ == "__main__":
    main()
