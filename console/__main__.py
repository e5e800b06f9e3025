"""``python -m console``: the agent console on CONSOLE_HOST:CONSOLE_PORT (127.0.0.1:8080)."""
from __future__ import annotations

import logging

import uvicorn

from console.app import create_app
from observability.logs import install as install_trace_logs
from console.settings import ConsoleSettings


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    install_trace_logs()
    settings = ConsoleSettings.from_env()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port,
                log_level="info", proxy_headers=False)


if __name__ == "__main__":
    main()
