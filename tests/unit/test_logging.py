"""The log formatters: the key=value tail on the event's first line, logfmt quoting, the JSON
shape, and messages translated before their arguments are applied."""

from __future__ import annotations

import io
import json
import logging
import re
import sys
import uuid

import pytest

from app.config import Language, LogFormat, LogSettings
from app.i18n import translator
from app.logging import (
    JsonFormatter,
    TextFormatter,
    configure_logging,
    context,
    logfmt,
    logfmt_value,
    scoped,
)

LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (?P<level>[A-Z]+) (?P<logger>[a-z.]+): ")
RUN = uuid.UUID("3f2b6c1e-8d4a-4f0e-9b1c-2a7d5e6f8a90")


def record(
    msg: str,
    args: object = None,
    *,
    name: str = "automation",
    level: int = logging.INFO,
    exc_info: object = None,
    **fields: object,
) -> logging.LogRecord:
    """A record as `logging.getLogger(name).log(level, msg, args, extra=context(**fields))`
    makes it."""
    made = logging.LogRecord(
        name,
        level,
        __file__,
        1,
        msg,
        (args,) if args is not None else None,
        exc_info,  # type: ignore[arg-type]
    )
    made.context = fields
    return made


def _statement_timeout() -> None:
    raise RuntimeError("canceling statement due to statement timeout")


def failure() -> tuple[type[BaseException], BaseException, object]:
    """exc_info of a raised exception, with its traceback."""
    try:
        _statement_timeout()
    except RuntimeError:
        info = sys.exc_info()
    assert info[0] is not None
    return info  # type: ignore[return-value]


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("plain", "plain"),
        (42, "42"),
        (RUN, str(RUN)),
        ("", '""'),
        ("two words", '"two words"'),
        ('say "hi"', r'"say \"hi\""'),
        ("a=b", '"a=b"'),
        (r"C:\temp", r"C:\temp"),  # a backslash alone needs no quotes
        (r'a "b\c"', r'"a \"b\\c\""'),  # inside quotes a backslash is escaped
        ("line one\nline two", r'"line one\nline two"'),
        ("tab\there", r'"tab\there"'),
        ("bell\x07", r'"bell\x07"'),
    ],
)
def test_a_value_is_quoted_when_it_is_empty_or_holds_a_space_quote_equals_or_control(
    value, written
):
    """logfmt: plain values as they are; empty ones, or with a space, `"`, `=` or a control
    character, in double quotes with quotes, backslashes and control characters escaped."""
    assert logfmt_value(value) == written


def test_the_tail_keeps_the_order_of_its_fields():
    """`key=value` pairs appear in the order the fields were given."""
    assert logfmt({"run": RUN, "trigger": "cron", "job": "daily automation"}) == (
        f'run={RUN} trigger=cron job="daily automation"'
    )


def test_a_text_line_has_time_level_logger_message_and_tail():
    """`YYYY-MM-DD HH:MM:SS LEVEL logger: message key=value`, as SPEC 6.7 writes it."""
    line = TextFormatter().format(
        record("Evaluating %(count)d pending versions", {"count": 47}, run=RUN)
    )
    assert LINE.match(line)
    assert line.endswith(f" INFO automation: Evaluating 47 pending versions run={RUN}")
    assert "\n" not in line


def test_a_traceback_follows_the_line_that_carries_the_tail():
    """With exc_info, the first line is the whole event with its keys (a quoted error with
    spaces and quotes), and the traceback comes after it."""
    error = 'error: canceling "statement" due to statement timeout'
    line = TextFormatter().format(
        record("Run failed", exc_info=failure(), level=logging.ERROR, run=RUN, error=error)
    )
    first, *rest = line.split("\n")
    assert first.endswith(
        f' ERROR automation: Run failed run={RUN} error="error: canceling \\"statement\\" due'
        ' to statement timeout"'
    )
    assert rest[0] == "Traceback (most recent call last):"
    assert rest[-1] == "RuntimeError: canceling statement due to statement timeout"
    assert not any("run=" in later for later in rest)


def test_a_message_over_several_lines_keeps_the_tail_on_its_first():
    """A message with a newline (another library's) still has its keys on the first line."""
    line = TextFormatter().format(record("first part\nsecond part", name="taskiq", run=RUN))
    assert line.split("\n") == [line.split("\n")[0], "second part"]
    assert line.split("\n")[0].endswith(f"taskiq: first part run={RUN}")


def test_scoped_fields_come_first_and_a_line_without_fields_has_no_tail():
    """Fields of the enclosing `scoped` block precede the line's own; no fields, no tail."""
    formatter = TextFormatter()
    with scoped(request="r-1"):
        scoped_line = formatter.format(record("Request handled", status=200))
    assert scoped_line.endswith("Request handled request=r-1 status=200")
    assert formatter.format(record("Worker stopped")).endswith("automation: Worker stopped")


def test_the_json_shape_is_unchanged_and_carries_the_exception():
    """JSON: at, level, logger, message, the context keys, and `exception` when there is one."""
    entry = json.loads(
        JsonFormatter().format(
            record("Run failed", exc_info=failure(), level=logging.ERROR, run=RUN, error="x y")
        )
    )
    assert list(entry) == ["at", "level", "logger", "message", "run", "error", "exception"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", entry["at"])
    assert (entry["level"], entry["logger"], entry["message"]) == (
        "ERROR",
        "automation",
        "Run failed",
    )
    assert (entry["run"], entry["error"]) == (str(RUN), "x y")
    assert entry["exception"].startswith("Traceback (most recent call last):")


SPEC_LINES = [
    (("Automation run started", None), "Запущено виконання автоматизації"),
    (
        ("Evaluating %(count)d pending versions", {"count": 47}),
        "Оцінювання 47 незавершених версій",
    ),
    (
        ("Rule '%(rule)s' matched %(count)d versions", {"rule": "High Confidence", "count": 34}),
        "Правило 'High Confidence' відповідало 34 версіям",
    ),
    (("Auto-approved %(count)d versions", {"count": 34}), "Авто-затверджено 34 версій"),
    (("Run completed (%(seconds).1fs)", {"seconds": 3.2049}), "Виконання завершено (3.2s)"),
]


@pytest.mark.parametrize(("message", "ukrainian"), SPEC_LINES)
def test_uk_writes_the_spec_lines_in_the_operators_words(message, ukrainian):
    """In Ukrainian, the five lines of SPEC 6.7 read exactly as the operators' guide shows
    them, with the same logger name and keys."""
    msg, args = message
    line = TextFormatter(translator("uk")).format(record(msg, args, run=RUN))
    assert line.endswith(f" INFO automation: {ukrainian} run={RUN}")


def test_uk_json_translates_the_message_and_keeps_the_keys():
    """JSON in Ukrainian: the message translated, logger and keys as in English."""
    entry = json.loads(
        JsonFormatter(translator("uk")).format(
            record("Evaluating %(count)d pending versions", {"count": 5}, run=RUN)
        )
    )
    assert entry["message"] == "Оцінювання 5 незавершених версій"
    assert (entry["logger"], entry["run"]) == ("automation", str(RUN))


def test_a_message_not_in_the_catalogue_passes_through():
    """Another library's message (not a msgid of ours), with positional args, is unchanged."""
    line = TextFormatter(translator("uk")).format(
        logging.LogRecord("taskiq", logging.INFO, __file__, 1, "Listening started %s", ("x",), None)
    )
    assert line.endswith("taskiq: Listening started x")


def test_english_is_the_msgid_itself():
    """The default language needs no catalogue: the msgid is the English text."""
    line = TextFormatter(translator("en")).format(
        record("Auto-approved %(count)d versions", {"count": 3}, run=RUN)
    )
    assert line.endswith(f"automation: Auto-approved 3 versions run={RUN}")


def test_a_language_without_a_catalogue_fails_loudly():
    """Asking for a catalogue that does not exist raises instead of logging in English."""
    with pytest.raises(FileNotFoundError):
        translator("xx")


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        (Language.EN, "Evaluating 2 pending versions"),
        (Language.UK, "Оцінювання 2 незавершених версій"),
    ],
)
@pytest.mark.parametrize("log_format", list(LogFormat))
def test_configure_logging_applies_the_language_to_every_logger(language, expected, log_format):
    """After configure_logging, a real logger call comes out in the configured language and
    format."""
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        configure_logging(LogSettings(language=language, format=log_format), stream)
        logging.getLogger("automation").info(
            "Evaluating %(count)d pending versions", {"count": 2}, extra=context(run=RUN)
        )
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    output = stream.getvalue().strip()
    if log_format is LogFormat.JSON:
        assert json.loads(output)["message"] == expected
    else:
        assert output.endswith(f"automation: {expected} run={RUN}")
