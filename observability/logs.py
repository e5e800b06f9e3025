"""Every log line of a Tuibao process names the message it belongs to.

``install()`` wraps the log record factory (after ``redaction.logs``, so the id is added to a
record already masked): each record gets ``record.trace_id`` (``-`` outside a message) and, in
the readable format, the line ends with `` [trace <id>]``, whatever handler or formatter a
library installed (Sanic's and uvicorn's do not reach the root logger), so one
``grep <id>`` follows a message through Rasa, the action server and the insurer.

``TUIBAO_LOG_FORMAT=json`` (production): the handlers known at ``install()`` (and uvicorn's,
via ``uvicorn_log_config``) write one JSON object per line with ``trace_id`` as a field.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
from typing import Any, Dict

from observability import metrics, tracing

_installed = False
_lock = threading.Lock()
_MARK = "_tuibao_traced"


def json_logs() -> bool:
    return os.environ.get("TUIBAO_LOG_FORMAT", "").strip().lower() == "json"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, trace_id (and the exception)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: Dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.timezone.utc)
            .isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name,
            "message": record.getMessage(), "trace_id": getattr(record, "trace_id", "-"),
        }
        if record.exc_info:
            entry["exception"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def _traced(record: logging.LogRecord, readable: bool) -> logging.LogRecord:
    if getattr(record, _MARK, False):
        return record
    trace_id = tracing.current()
    record.trace_id = trace_id or "-"
    if trace_id and readable:
        suffix = f" [trace {trace_id}]"
        if isinstance(record.msg, str):
            # Arguments stay apart (uvicorn's access formatter unpacks them); the suffix is
            # literal text, a trace id holds no "%".
            record.msg = record.msg + suffix
        else:
            record.msg, record.args = f"{record.getMessage()}{suffix}", ()
    setattr(record, _MARK, True)
    return record


def _all_handlers():
    yield from logging.getLogger().handlers
    for logger in list(logging.Logger.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger):
            yield from logger.handlers


def install() -> None:
    """Trace ids in every record from now on (idempotent; masks first, see module doc)."""
    global _installed
    from redaction.logs import install as install_redaction

    install_redaction()  # first: this factory wraps it, so the id is added after masking
    with _lock:
        if _installed or not metrics.enabled():
            return
        readable = not json_logs()
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            return _traced(previous(*args, **kwargs), readable)

        logging.setLogRecordFactory(factory)
        if not readable:
            for handler in _all_handlers():
                handler.setFormatter(JsonFormatter())
        _installed = True


def uvicorn_log_config(config: Dict[str, Any]) -> Dict[str, Any]:
    """uvicorn's ``log_config`` with JSON formatters when ``TUIBAO_LOG_FORMAT=json``."""
    if json_logs():
        for name in config.get("formatters", {}):
            config["formatters"][name] = {"()": "observability.logs.JsonFormatter"}
    return config
