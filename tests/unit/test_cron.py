"""Cron as operators write it: standard semantics, validation, and the DST rules."""

from __future__ import annotations

import datetime as dt
import pickle
import zoneinfo

import pytest
from croniter import croniter
from hypothesis import given, settings
from hypothesis import strategies as st

from app.cron import WallClockCronTrigger, normalize_cron, validate_schedule
from app.errors import InvalidInputError

START = dt.datetime(2026, 1, 1, 0, 0, 30, tzinfo=dt.UTC)


def field(low: int, high: int, *, star_steps: bool = True) -> st.SearchStrategy[str]:
    value = st.integers(low, high)
    step = st.integers(1, max(1, (high - low) // 2))
    return st.one_of(
        st.just("*"),
        value.map(str),
        # croniter reads a one-value range such as 5-5 as "*" (a bug of the reference, not
        # of ours: test_one_value_ranges covers them), so ranges here span two values or more.
        st.tuples(value, value).filter(lambda p: p[0] != p[1]).map(lambda p: f"{min(p)}-{max(p)}"),
        st.lists(value, min_size=2, max_size=4, unique=True).map(lambda v: ",".join(map(str, v))),
        step.map(lambda s: f"*/{s}") if star_steps else st.nothing(),
        st.tuples(st.integers(low, high - 1), step).map(lambda p: f"{p[0]}-{high}/{p[1]}"),
    )


# In a day field croniter reads */n as a restriction; Vixie cron (and we) as unrestricted
# (a field starting with * never ORs with the other day field): test_star_step_day_fields
# covers that, so the generated day fields do not start with */.
crons = st.tuples(
    field(0, 59),
    field(0, 23),
    field(1, 28, star_steps=False),
    field(1, 12),
    field(0, 7, star_steps=False),
).map(" ".join)


@settings(max_examples=300, deadline=None)
@given(expression=crons)
def test_fires_like_a_second_cron_implementation(expression):
    """In UTC (no DST) the next 15 fires equal croniter's, an independent implementation."""
    ours = WallClockCronTrigger(expression, "UTC").next_fires(15, START)
    reference = croniter(expression, START)
    assert ours == [reference.get_next(dt.datetime) for _ in range(15)]


def test_star_step_day_fields_do_not_or_with_the_other_day_field():
    """As in Vixie cron, a day field starting with * leaves only the other one restricting."""
    assert WallClockCronTrigger("0 0 */1 * 0", "UTC").next_fires(2, START) == [
        dt.datetime(2026, 1, 4, tzinfo=dt.UTC),
        dt.datetime(2026, 1, 11, tzinfo=dt.UTC),
    ]


def test_one_value_ranges():
    """A range of one value (5-5) is that value."""
    assert WallClockCronTrigger("0 0 5-5 * 0-0", "UTC").next_fires(3, START) == [
        dt.datetime(2026, 1, 4, tzinfo=dt.UTC),
        dt.datetime(2026, 1, 5, tzinfo=dt.UTC),
        dt.datetime(2026, 1, 11, tzinfo=dt.UTC),
    ]


def test_day_of_week_zero_and_seven_are_sunday_and_day_fields_combine_with_or():
    """0 and 7 mean Sunday; a restricted day-of-month and day-of-week fire on either."""
    sunday = dt.datetime(2026, 1, 4, 9, tzinfo=dt.UTC)
    for dow in ("0", "7", "sun"):
        assert WallClockCronTrigger(f"0 9 * * {dow}", "UTC").next_fires(1, START)[0] == sunday
    fires = WallClockCronTrigger("0 0 1 * 1", "UTC").next_fires(6, START)
    assert [f.day for f in fires] == [5, 12, 19, 26, 1, 2]


@pytest.mark.parametrize(
    ("alias", "expanded"),
    [
        ("@hourly", "0 * * * *"),
        ("@daily", "0 0 * * *"),
        ("@weekly", "0 0 * * 0"),
        ("@monthly", "0 0 1 * *"),
        ("  0  9 * * *  ", "0 9 * * *"),
    ],
)
def test_aliases_and_spacing(alias, expanded):
    assert normalize_cron(alias) == expanded


@pytest.mark.parametrize(
    "expression",
    [
        "",
        "* * * *",
        "0 0 * * * *",
        "61 * * * *",
        "0 25 * * *",
        "0 0 0 * *",
        "0 0 * 13 *",
        "0 0 * * 8",
        "@yearly",
        "every day",
        "0 0 ? * *",
        "0 0 L * *",
        "0 0 * * 1#2",
        "0 0 * mon *",
        "*/0 * * * *",
        "0 0 30 2 *",
    ],
)
def test_bad_crons_are_refused(expression):
    with pytest.raises(InvalidInputError, match="cron"):
        normalize_cron(expression)


def test_a_cron_that_never_fires_is_refused_and_an_unknown_zone_too():
    with pytest.raises(InvalidInputError, match="never fires"):
        validate_schedule("0 0 30 2 *", "UTC")
    with pytest.raises(InvalidInputError, match="never fires"):
        validate_schedule("0 0 31 4,6,9,11 *", "UTC")
    assert validate_schedule("0 0 29 2 *", "UTC") == "0 0 29 2 *"  # leap years: it fires
    with pytest.raises(InvalidInputError, match="time zone"):
        validate_schedule("0 0 * * *", "Mars/Olympus")


BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def test_spring_gap_fires_at_the_end_of_the_gap_once():
    """02:30 does not exist on 29 March 2026 in Berlin: it fires at 03:00 local, once."""
    fires = WallClockCronTrigger("30 2 * * *", "Europe/Berlin").next_fires(2, utc(2026, 3, 28, 12))
    assert fires[0] == utc(2026, 3, 29, 1, 0)  # 03:00 CEST
    assert fires[1] == utc(2026, 3, 30, 0, 30)  # 02:30 CEST
    quarter = WallClockCronTrigger("*/15 * * * *", "Europe/Berlin").next_fires(
        3, utc(2026, 3, 29, 0, 40)
    )
    assert quarter == [utc(2026, 3, 29, 0, 45), utc(2026, 3, 29, 1, 0), utc(2026, 3, 29, 1, 15)]


def test_autumn_repeated_time_fires_once():
    """02:30 occurs twice on 25 October 2026 in Berlin: it fires at the first only."""
    fires = WallClockCronTrigger("30 2 * * *", "Europe/Berlin").next_fires(2, utc(2026, 10, 24, 12))
    assert fires == [utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]
    half = WallClockCronTrigger("*/30 * * * *", "Europe/Berlin").next_fires(
        4, utc(2026, 10, 24, 23, 40)
    )
    walls = [f.astimezone(BERLIN).strftime("%H:%M") for f in half]
    assert walls == ["02:00", "02:30", "03:00", "03:30"]


def test_the_trigger_survives_pickling():
    """APScheduler pickles triggers into apscheduler_jobs; the copy fires the same."""
    trigger = WallClockCronTrigger("0 9 * * 1-5", "Europe/Berlin")
    copy = pickle.loads(pickle.dumps(trigger))  # noqa: S301  # our own bytes
    assert copy.next_fires(5, START) == trigger.next_fires(5, START)
