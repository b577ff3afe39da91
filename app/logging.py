"""Process-wide logging: one line per event on stdout, as text or as JSON.

Text lines read `2025-10-26 09:00:02 INFO automation: Run completed (3.2s) run=...`; the
`key=value` tail comes from the mapping passed as `extra={"context": {...}}`, after the
fields of the enclosing `scoped(...)` block (a request's id, a run's id), so that every line
of a request or a run carries its id. Times are UTC.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
import time
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any, TextIO

from app.config import LogFormat, LogSettings


def context(**fields: Any) -> dict[str, Any]:
    """Build the `extra` argument that carries key=value context for one log line."""
    return {"context": fields}


# Never mutated: `scoped` sets a new mapping each time.
_scope: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "log_scope", default=MappingProxyType({})
)


@contextlib.contextmanager
def scoped(**fields: Any) -> Iterator[None]:
    """Add `fields` to every line logged inside the block (in this task and those it starts)."""
    token = _scope.set({**_scope.get(), **fields})
    try:
        yield
    finally:
        _scope.reset(token)


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = getattr(record, "context", None)
    return {**_scope.get(), **(fields if isinstance(fields, dict) else {})}


class TextFormatter(logging.Formatter):
    converter = time.gmtime  # type: ignore[assignment]  # logging's documented way to log UTC

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        tail = " ".join(f"{key}={value}" for key, value in _fields(record).items())
        return f"{line} {tail}" if tail else line


class JsonFormatter(logging.Formatter):
    converter = time.gmtime  # type: ignore[assignment]  # as above

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "at": self.formatTime(record, "%Y-%m-%dT%H:%M:%SZ"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_fields(record),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(settings: LogSettings, stream: TextIO | None = None) -> None:
    """Send every logger's records to stdout (or `stream`) in the chosen format; call once per
    process. Servers log to stdout; commands that print results log to stderr."""
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(JsonFormatter() if settings.format is LogFormat.JSON else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.level.value)
    # The access log repeats what a reverse proxy records; keep it for debugging only.
    logging.getLogger("uvicorn.access").setLevel(
        logging.DEBUG if settings.level.value == "DEBUG" else logging.WARNING
    )
