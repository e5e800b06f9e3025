"""A stand-in for Rasa under bot.serve's supervisor (tests/deploy/test_handover.py): a Sanic app
served the way bot.serve serves Rasa's (``bot.handover.install_child``: the inherited socket,
the control protocol, the graceful retire), with ``SANIC_WORKERS`` workers, and no model.

    GET /status  -> {"model_file": ..., "pid": ...}
    PUT /model   -> bot.handover.hand_over, as bot.swap's load_agent calls it: 204, or 500
    GET /slow    -> answers after 0.5 s (a turn in flight at the moment of the handover)
A model named ``*broken*`` exits with code 3 before serving, as Rasa does on a bad archive."""
from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bot import handover  # noqa: E402


class _Agent:
    def is_ready(self) -> bool:
        return True


def main() -> None:
    handover.install_child()
    from sanic import Sanic, response

    model = sys.argv[sys.argv.index("--model") + 1]
    if "broken" in model:
        sys.exit(3)
    app = Sanic("stand_in_rasa")

    @app.listener("before_server_start")
    async def load(app, _loop):  # what Rasa's load_agent_on_start leaves behind
        app.ctx.agent = _Agent()

    @app.get("/status")
    async def status(_request):
        return response.json({"model_file": model, "pid": os.getpid()})

    @app.get("/slow")
    async def slow(_request):
        await asyncio.sleep(0.5)
        return response.json({"model_file": model, "pid": os.getpid()})

    @app.put("/model")
    async def put(request):
        try:
            await handover.hand_over(request.json["model_file"])
        except RuntimeError as error:
            return response.json({"message": str(error)}, status=500)
        return response.empty(status=204)

    app.run(host="127.0.0.1", port=1, workers=int(os.environ.get("SANIC_WORKERS", "1")),
            access_log=False)


if __name__ == "__main__":
    main()
