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


def _load_quietly(agent, model_path: str) -> None:
    # Tried and dropped: the loading thread at nice 19 with 1 ms GIL turns. On the shared
    # machine (load 15) it got so little CPU that the load outlasted PUT /model's 10-minute
    # timeout (bench/model_swap.py, 4 December). The thread keeps the process's priority.
    agent.load_model(model_path)


def main() -> None:
    install()
    from rasa.__main__ import main as rasa_main

    sys.argv[0] = "rasa"
    rasa_main()


if __name__ == "__main__":
    main()
