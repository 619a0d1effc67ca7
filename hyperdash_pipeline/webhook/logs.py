"""Structured logs: one JSON object a line on stderr, never a name, e-mail, phone or secret.

Call sites pass only identifiers (organization id, lead id, error code, sizes, timings) in `extra`;
nothing from the request body but its byte size is ever logged.
"""

from __future__ import annotations

import logging
import time
import traceback
from typing import Any

import orjson

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """`{"ts", "level", "logger", "event", ...extra}`; an exception logs its type and frames, not its message."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD:
                entry[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            # Exception messages from drivers can quote row values; the type is what an operator needs.
            entry["exception"] = record.exc_info[0].__name__
            entry["where"] = [f"{frame.filename}:{frame.lineno}" for frame in traceback.extract_tb(record.exc_info[2])]
        return orjson.dumps(entry, default=str).decode()


def log_config(level: str) -> dict[str, Any]:
    """A logging.config dict for uvicorn and the app: JSON lines on stderr, no access log."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
            "hyperdash.webhook": {"handlers": ["stderr"], "level": level, "propagate": False},
        },
    }


def configure(level: str) -> None:
    import logging.config

    logging.config.dictConfig(log_config(level))


logger = logging.getLogger("hyperdash.webhook")
