"""Nothing in clear reaches a log: a record factory that redacts every record at creation.

``install()`` is called once by each process Tuibao owns (the Rasa server through the tracker
store and the WeChat channel, the action server through ``actions``, the sandbox insurer, the
simulator). It wraps :func:`logging.setLogRecordFactory`, so every record is redacted before any
handler or formatter sees it, whichever library logs and whichever handlers it installed
(Sanic's and uvicorn's own handlers do not propagate to the root logger, so a filter on the
root's handlers alone would miss them). ``RedactingFilter`` does the same for a logging
configuration given as a dict (uvicorn's ``log_config``).
"""
from __future__ import annotations

import logging
import re
import threading
import traceback
from typing import Any, Optional

from redaction import redact as _redact_text

_installed = False
_install_lock = threading.Lock()
_MARK = "_tuibao_redacted"
# Rasa's structured logs are JSON with non-ASCII escaped ("\uff13\uff11…" is "３１…"): read
# them as text first, or a full-width or dictated identifier would pass unrecognised.
_UNICODE_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


def redact(text: Optional[str]) -> Optional[str]:
    """:func:`redaction.redact` for a log line, JSON unicode escapes read as characters."""
    if text and "\\u" in text:
        text = _UNICODE_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)
    return _redact_text(text)


def _safe(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float))


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """Redact one record in place (message, arguments and exception text); idempotent."""
    if getattr(record, _MARK, False):
        return record
    args = record.args
    if args and isinstance(args, tuple) and all(isinstance(a, str) or _safe(a) for a in args):
        # Plain arguments stay separate: formatters such as uvicorn's access log unpack them.
        record.msg = redact(record.msg) if isinstance(record.msg, str) else record.msg
        record.args = tuple(redact(a) if isinstance(a, str) else a for a in args)
    elif args or not isinstance(record.msg, str):
        # Objects (dicts, trackers, exceptions) are rendered now and the text redacted: their
        # repr is where a slot value or an entity would slip through.
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep what the logger gave, redacted
            message = f"{record.msg!r} {args!r}"
        record.msg, record.args = redact(message), ()
    else:
        record.msg = redact(record.msg)
    if record.exc_info and not record.exc_text:
        record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)).rstrip())
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    setattr(record, _MARK, True)
    return record


class RedactingFilter(logging.Filter):
    """A filter for handler configurations (``{"()": "redaction.logs.RedactingFilter"}``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


def install() -> None:
    """Redact every log record this process creates from now on (idempotent)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            return redact_record(previous(*args, **kwargs))

        logging.setLogRecordFactory(factory)
        _installed = True
