"""``python -m simulator``: serve the WeChat simulator (127.0.0.1:8088 unless SIM_PORT)."""
from __future__ import annotations

import logging

from aiohttp import web

from observability.logs import install as install_trace_logs
from redaction.logs import install as install_log_redaction
from simulator.server import create_app
from simulator.settings import SimulatorSettings


def main() -> None:
    install_log_redaction()  # what the phone types never reaches the log in clear
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    install_trace_logs()
    settings = SimulatorSettings.from_env()
    logging.getLogger(__name__).info(
        "WeChat simulator on http://%s:%d/ → webhook %s (%s mode), sandbox %s",
        settings.host, settings.port, settings.webhook_url, settings.encrypt_mode,
        settings.sandbox_url)
    web.run_app(create_app(settings), host=settings.host, port=settings.port, print=None,
                access_log=None)


if __name__ == "__main__":
    main()
