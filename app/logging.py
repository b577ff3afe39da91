"""Process-wide logging: one line per event on stdout, as text or as JSON, in the operators'
language.

Text lines read `2025-10-26 09:00:02 INFO automation: Run completed (3.2s) run=...`; the
`key=value` tail comes from the mapping passed as `extra={"context": {...}}`, after the
fields of the enclosing `scoped(...)` block (a request's id, a run's id), so that every line
of a request or a run carries its id. Times are UTC.

The tail is logfmt: it stays on the event's first line (a traceback, or the rest of a
message that spans lines, follows on the next lines), and a value that is empty or holds a
space, a quote, `=` or a control character is written in double quotes, with `"` and `\\`
escaped by a backslash and newlines, tabs and carriage returns as `\\n`, `\\t`, `\\r`.

Messages are constant msgids with %-style named arguments,
`logger.info("Evaluating %(count)d pending versions", {"count": n}, extra=context(run=id))`:
the formatters translate `record.msg` through the catalogue of LOG_LANGUAGE (app.i18n) and
only then apply `record.args`, so one msgid is one catalogue entry whatever its values.
Logger names and keys are never translated (operators grep for them). Records from other
libraries pass through unchanged: their messages are not in the catalogue.

Why not structlog's LogfmtRenderer: every call site logs through the standard library
(`getLogger(__name__)`, `extra=`), and so do uvicorn, taskiq and APScheduler, whose lines
must share the format; structlog would mean either rewriting every call site or running its
ProcessorFormatter in front of a renderer anyway. A small formatter over `logging`, with the
quoting rules above under unit tests, does the one thing needed.
"""

from __future__ import annotations

import contextlib
import contextvars
import gettext
import json
import logging
import re
import sys
import time
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any, TextIO

from app.config import LogFormat, LogSettings
from app.i18n import translator


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


# A value with any of these (or none at all) is quoted; control characters are escaped so
# that a value can never end the line.
_NEEDS_QUOTES = re.compile(r'[\s"=\x00-\x1f\x7f]')
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_TO_ESCAPE = re.compile(r'[\\"\x00-\x1f\x7f]')


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return _ESCAPES.get(char) or f"\\x{ord(char):02x}"


def logfmt_value(value: object) -> str:
    """`value` as it is written after `key=`: as is, or quoted and escaped when it is empty or
    holds a space, a quote, `=` or a control character."""
    text = str(value)
    if text and not _NEEDS_QUOTES.search(text):
        return text
    return '"' + _TO_ESCAPE.sub(_escape, text) + '"'


def logfmt(fields: Mapping[str, Any]) -> str:
    """The `key=value` tail for `fields`, in their order."""
    return " ".join(f"{key}={logfmt_value(value)}" for key, value in fields.items())


def translated_message(record: logging.LogRecord, translations: gettext.NullTranslations) -> str:
    """The record's message in the language of `translations`: its msgid translated, then its
    arguments applied. A translation that does not fit the arguments (a catalogue mistake)
    falls back to the English message rather than losing the line."""
    if not isinstance(record.msg, str) or not record.msg:
        return record.getMessage()
    text = translations.gettext(record.msg)
    if text == record.msg:  # English, or a message of another library: nothing to translate
        return record.getMessage()
    if not record.args:
        return text
    try:
        return text % record.args
    except (TypeError, ValueError, KeyError):
        return record.getMessage()


class TextFormatter(logging.Formatter):
    """`YYYY-MM-DD HH:MM:SS LEVEL logger: message key=value ...`, then any traceback."""

    converter = time.gmtime  # type: ignore[assignment]  # logging's documented way to log UTC

    def __init__(self, translations: gettext.NullTranslations | None = None) -> None:
        super().__init__(datefmt="%Y-%m-%d %H:%M:%S")
        self.translations = translations or gettext.NullTranslations()

    def format(self, record: logging.LogRecord) -> str:
        record.message = translated_message(record, self.translations)
        first, newline, rest = record.message.partition("\n")
        head = f"{self.formatTime(record, self.datefmt)} {record.levelname} {record.name}: {first}"
        tail = logfmt(_fields(record))
        lines = [f"{head} {tail}" if tail else head]
        if newline:
            lines.append(rest)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            lines.append(record.exc_text)
        if record.stack_info:
            lines.append(self.formatStack(record.stack_info))
        return "\n".join(lines)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: at, level, logger, message (translated), the context keys,
    and `exception` when there is a traceback."""

    converter = time.gmtime  # type: ignore[assignment]  # as above

    def __init__(self, translations: gettext.NullTranslations | None = None) -> None:
        super().__init__()
        self.translations = translations or gettext.NullTranslations()

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "at": self.formatTime(record, "%Y-%m-%dT%H:%M:%SZ"),
            "level": record.levelname,
            "logger": record.name,
            "message": translated_message(record, self.translations),
            **_fields(record),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(settings: LogSettings, stream: TextIO | None = None) -> None:
    """Send every logger's records to stdout (or `stream`) in the chosen format and language;
    call once per process. Servers log to stdout; commands that print results log to stderr."""
    handler = logging.StreamHandler(stream or sys.stdout)
    translations = translator(settings.language.value)
    formatter: logging.Formatter = (
        JsonFormatter(translations)
        if settings.format is LogFormat.JSON
        else TextFormatter(translations)
    )
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.level.value)
    # The access log repeats what a reverse proxy records; keep it for debugging only.
    logging.getLogger("uvicorn.access").setLevel(
        logging.DEBUG if settings.level.value == "DEBUG" else logging.WARNING
    )
