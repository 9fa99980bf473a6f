"""JSON log lines: one object per line with the time, level, logger, message, the request id
where there is one, and any `extra` fields. Secrets never go through here.

Nothing a client sent reaches the logs unredacted: a malformed request line or header makes
aiohttp's parser log the raw line in its exception (`aiohttp.server`, or gunicorn's error log in
a worker), token included. `JsonFormatter` redacts all it prints (message, extra fields,
exception); `RedactingFilter`, on gunicorn's handlers (which format records their own way),
rewrites each record's message, arguments, exception text, stack and extra fields. Bearer tokens,
`access_token=` values and Authorization header values become `[REDACTED]`.

Terminal colours stay out of the lines: the `color_message` extra that `databases` (and uvicorn)
attach for coloured consoles is dropped, and ANSI escape sequences are taken out of every string
printed."""
from __future__ import annotations

import logging
import re
import sys
from datetime import datetime, timezone
from typing import Any

import orjson

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
_NOT_PRINTED = _STANDARD | {"color_message"}  # a copy of the message with ANSI colours, for terminals
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")  # CSI sequences: colours, bold, cursor moves
REDACTED = "[REDACTED]"
# A secret runs to whitespace, a quote or a separator; a backslash is part of it, so a control
# byte shown escaped (`\x01`) and whatever follows it is redacted too.
_SECRET = r"""[^\s'"&,;]+"""
_PATTERN = re.compile(
    r"""(?P<keep>(?i:bearer)\s+)""" + _SECRET                                  # Bearer <token>
    + r"""|(?P<keep_q>(?i:access_token)(?:=|%3D))[^\s'"&#]+"""                  # access_token=<token>
    + r"""|(?P<keep_h>(?i:authorization)['"]?\s*[:=]\s*['"]?)(?!(?i:bearer)\s)"""  # Authorization: <value>
    + r"""(?:(?!\\r|\\n)[^\r\n'"])+""")


def _keep(match: re.Match) -> str:
    return (match.group("keep") or match.group("keep_q") or match.group("keep_h") or "") + REDACTED


def redact(text: str) -> str:
    """`text` without bearer tokens, `access_token` values or Authorization header values."""
    return _PATTERN.sub(_keep, text)


def _printable(value: Any) -> Any:
    """`value` redacted and, if a string, without ANSI escape sequences."""
    return _ANSI_ESCAPE.sub("", redact(value)) if isinstance(value, str) else value


class RedactingFilter(logging.Filter):
    """Redacts every part of a record a formatter prints (see the module docstring); on a
    handler, it sees the records of every logger, aiohttp's and gunicorn's included."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a record whose arguments do not fit its message: print both, redacted
            message = f"{record.msg!s} {record.args!r}"
        record.msg, record.args = redact(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for key, value in list(vars(record).items()):
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, redact(value))
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": _printable(record.getMessage()),
        }
        line.update({k: _printable(v) for k, v in vars(record).items() if k not in _NOT_PRINTED})
        if record.exc_info or record.exc_text:
            line["exception"] = redact(record.exc_text or self.formatException(record.exc_info))
        return orjson.dumps(line, default=str).decode()


def configure_logging(level: str = "INFO", access_log: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())  # redacts what it prints: no filter needed here as well
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("payments.access").setLevel("INFO" if access_log else "WARNING")
    logging.getLogger("aiohttp.access").setLevel("WARNING")


def gunicorn_logger_class() -> type:
    """Gunicorn's logger class (its aiohttp workers hand the logger to aiohttp as the server's
    logger, whose records then go to gunicorn's own handlers), with the redaction on each of its
    handlers. Built on first use: gunicorn is imported only where it serves."""
    from gunicorn.glogging import Logger

    class RedactingGunicornLogger(Logger):
        def setup(self, cfg) -> None:
            super().setup(cfg)
            for log in (self.error_log, self.access_log):
                for handler in log.handlers:
                    if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                        handler.addFilter(RedactingFilter())

    return RedactingGunicornLogger
