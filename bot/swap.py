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
import os
import sys
import threading
import warnings
from typing import Optional, Text


def install() -> None:
    """Replace ``rasa.core.agent.load_agent`` by a version that loads off the event loop."""
    import rasa.core.agent as agent_module
    from rasa.core.agent import Agent

    original = agent_module.load_agent
    if getattr(original, "_tuibao_threaded", False):
        return

    async def load_agent(model_path: Optional[Text] = None, model_server=None,
                         remote_storage=None, endpoints=None, loop=None) -> Agent:
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


# While a model loads, the loading thread and the event loop take turns at the GIL; Python's
# default turn is 5 ms, and on a busy machine the loader also competes for a core. The loader
# runs at the lowest CPU priority (Linux: a thread's own nice value) and turns are 1 ms, so
# the loop answers between the loader's steps.
LOAD_NICE = 19
SWITCH_INTERVAL = 0.001


def _load_quietly(agent, model_path: str) -> None:
    previous = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL)
    try:
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), LOAD_NICE)
        except (AttributeError, OSError):  # not Linux: the thread keeps the process's priority
            pass
        agent.load_model(model_path)
    finally:
        sys.setswitchinterval(previous)
        try:  # executor threads are reused: give this one its priority back if allowed
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 0)
        except (AttributeError, OSError):
            pass


def main() -> None:
    install()
    from rasa.__main__ import main as rasa_main

    sys.argv[0] = "rasa"
    rasa_main()


if __name__ == "__main__":
    main()
