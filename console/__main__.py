"""``python -m console``: the agent console on CONSOLE_HOST:CONSOLE_PORT (127.0.0.1:8080).

Its log holds no secret and no whole openid: every record goes through ``redaction.logs``
(the Rasa API token travels as ``?token=`` on each call to Rasa, and Rasa 3.6 reads it nowhere
else, so httpx's request lines are not logged at all, and any that were would show
``token=***``), and the access log names a chat by :func:`redaction.mask_openid`."""
from __future__ import annotations

import logging
import re

import uvicorn

from console.app import create_app
from console.settings import ConsoleSettings
from observability.logs import install as install_trace_logs
from redaction import mask_openid
from redaction.logs import install as install_log_redaction

# A chat id in a console URL: /api/v1/chats/<id>/… and ?chat_id=<id>.
_CHAT_IN_PATH = re.compile(r"(/chats/|[?&]chat_id=)([^/?&#\s\"]+)")


def mask_chat_ids(text: str) -> str:
    return _CHAT_IN_PATH.sub(lambda m: m.group(1) + mask_openid(m.group(2)), text)


class AccessLogMask(logging.Filter):
    """uvicorn's access lines (client, method, path, version, status) with chat ids masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(mask_chat_ids(a) if isinstance(a, str) else a
                                for a in record.args)
        if isinstance(record.msg, str):
            record.msg = mask_chat_ids(record.msg)
        return True


def main() -> None:
    install_log_redaction()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # One INFO line per call to Rasa, each with its URL: nothing an operator needs.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    install_trace_logs()
    settings = ConsoleSettings.from_env()
    config = uvicorn.Config(
        create_app(settings), host=settings.host, port=settings.port, log_level="info",
        proxy_headers=bool(settings.forwarded_allow_ips),
        forwarded_allow_ips=settings.forwarded_allow_ips or None)
    logging.getLogger("uvicorn.access").addFilter(AccessLogMask())
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
