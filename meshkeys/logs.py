"""The log lines meshkeys writes, for every door: one stderr handler, JSON or key=value.

``configure()`` is called once by each door at start (the API app, which also serves the UI,
and the CLI); it is safe to call again. Two loggers:

- ``meshkeys.keys.audit``: one line per committed audit event (``audit_line``), whichever
  door caused it;
- ``meshkeys.keys``: one line per key action of the API, with its outcome (a successful sign
  only with ``MESHKEYS_LOG_SIGNING=on``: ``api.observability.DATA_PLANE``).

Fields are chosen one by one by their callers: ids, names, statuses; never a secret.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any, TextIO

from meshkeys.config import get_settings

KEY_LOGGER = "meshkeys.keys"
AUDIT_LOGGER = "meshkeys.keys.audit"

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        body.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        return json.dumps(body, default=str, separators=(",", ":"))


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extra = " ".join(
            f"{k}={v}" for k, v in vars(record).items() if k not in _STANDARD and v is not None
        )
        head = f"{self.formatTime(record)} {record.levelname} {record.name}"
        return f"{head} {record.getMessage()} {extra}"


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time (servers and tests redirect it)."""

    meshkeys = True

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def configure(*, as_json: bool | None = None) -> logging.Logger:
    """One stderr handler on ``meshkeys.keys`` (and so its audit child); JSON or key=value.

    ``as_json`` defaults to the ``MESHKEYS_LOG_JSON`` setting.
    """
    if as_json is None:
        as_json = get_settings().log_json
    logger = logging.getLogger(KEY_LOGGER)
    logger.setLevel(logging.INFO)
    handler = next((h for h in logger.handlers if getattr(h, "meshkeys", False)), None)
    if handler is None:
        handler = _StderrHandler()
        logger.addHandler(handler)
    handler.setFormatter(JsonFormatter() if as_json else KeyValueFormatter())
    return logger


def audit_line(action: str, fields: dict[str, Any]) -> None:
    """The log line of one committed audit event."""
    extra = {k: v for k, v in fields.items() if v is not None}
    logging.getLogger(AUDIT_LOGGER).info(action, extra=extra)
