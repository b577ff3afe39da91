"""Cron as operators write it, evaluated on the wall clock of the job's time zone.

Five standard fields (day of week 0 or 7 = Sunday; when both day fields are restricted a day
matching either fires, as in Vixie cron) or @hourly, @daily, @weekly, @monthly. cronsim (the
cron implementation of healthchecks.io) walks the wall-clock times; this module maps each to
an instant with the DST rules of SPEC section 7: a wall-clock time that occurs twice (autumn)
fires once, at its first occurrence; one that does not occur (spring) fires at the end of the
gap, the first instant that exists.
APScheduler 3's own CronTrigger does neither (it fires the repeated hour twice), so jobs use
`WallClockCronTrigger`.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo

from apscheduler.triggers.base import BaseTrigger
from cronsim import CronSim, CronSimError

from app.errors import InvalidInputError

ALIASES = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
}
# Far enough back that a start inside a DST shift still sees the wall times around it.
_LOOKBACK = dt.timedelta(hours=3)
_MAX_CANDIDATES = 100_000
_FIELD_NAMES = ("minute", "hour", "day-of-month", "month", "day-of-week")
_MONTHS = {"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}
_DAYS = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"}
# Standard cron only: numbers, names, * , - /. Extensions (L, W, #, ?) are refused.
_FIELD_SYNTAX = re.compile(r"[0-9A-Za-z*,/-]+")


def normalize_cron(expression: str) -> str:
    """The five-field form of a cron expression; InvalidInputError naming what is wrong."""
    text = " ".join(expression.split())
    text = ALIASES.get(text.lower(), text)
    fields = text.split(" ") if text else []
    if len(fields) != 5:
        raise InvalidInputError(
            "cron has five fields (minute hour day-of-month month day-of-week) or is one of "
            f"{', '.join(ALIASES)}; got {len(fields)} field(s)",
            loc=("body", "cron"),
        )
    for position, field in enumerate(fields):
        names = {word.lower() for word in re.findall("[A-Za-z]+", field)}
        allowed = _MONTHS if position == 3 else _DAYS if position == 4 else set()
        if not _FIELD_SYNTAX.fullmatch(field) or not names <= allowed:
            raise InvalidInputError(
                f"cron field {_FIELD_NAMES[position]} {field!r} is not standard cron syntax",
                loc=("body", "cron"),
            )
    try:
        # Also refuses a day that no month has (30 February): such a cron never fires.
        CronSim(text, dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    except CronSimError as exc:
        raise InvalidInputError(
            f"cron {expression!r} is not valid or never fires: {exc}", loc=("body", "cron")
        ) from exc
    return text


def zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInputError(f"unknown time zone {name!r}", loc=("body", "timezone")) from exc


def validate_schedule(expression: str, timezone: str) -> str:
    """The normalised cron, once it and the zone are known valid and the cron fires within
    the next years. CPU-bound for odd crons: call it off the event loop."""
    text = normalize_cron(expression)
    if not WallClockCronTrigger(text, timezone).next_fires(1, dt.datetime.now(dt.UTC)):
        raise InvalidInputError(f"cron {expression!r} never fires", loc=("body", "cron"))
    return text


def _gap_end(wall: dt.datetime, tz: zoneinfo.ZoneInfo) -> dt.datetime:
    """The first instant that exists after the DST gap that swallows `wall`."""
    low = wall.replace(tzinfo=tz, fold=1).astimezone(dt.UTC)  # before the transition
    high = wall.replace(tzinfo=tz, fold=0).astimezone(dt.UTC)  # after it
    after = high.astimezone(tz).utcoffset()
    lo, hi = int(low.timestamp()), int(high.timestamp())
    while lo < hi:  # the smallest whole second already on the new offset
        mid = (lo + hi) // 2
        if dt.datetime.fromtimestamp(mid, tz).utcoffset() == after:
            hi = mid
        else:
            lo = mid + 1
    return dt.datetime.fromtimestamp(lo, dt.UTC)


def wall_clock_instant(wall: dt.datetime, tz: zoneinfo.ZoneInfo) -> dt.datetime:
    """The instant a naive wall-clock time stands for in `tz`, by the DST rules above."""
    first = wall.replace(tzinfo=tz, fold=0)
    if first.utcoffset() == wall.replace(tzinfo=tz, fold=1).utcoffset():
        return first.astimezone(dt.UTC)  # an ordinary time
    if first.astimezone(dt.UTC).astimezone(tz).replace(tzinfo=None) == wall:
        return first.astimezone(dt.UTC)  # occurs twice: the first occurrence only
    return _gap_end(wall, tz)  # does not occur: the end of the gap


class WallClockCronTrigger(BaseTrigger):  # type: ignore[misc]  # APScheduler ships no types
    """An APScheduler trigger for a five-field cron in a time zone (see the module docstring)."""

    def __init__(self, expression: str, timezone: str) -> None:
        self.expression = normalize_cron(expression)
        self.timezone = timezone
        self._tz = zone(timezone)

    def __getstate__(self) -> dict[str, str]:
        return {"expression": self.expression, "timezone": self.timezone}

    def __setstate__(self, state: dict[str, str]) -> None:
        self.__init__(state["expression"], state["timezone"])  # type: ignore[misc]

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return self._tz

    def __str__(self) -> str:
        return f"cron[{self.expression} {self.timezone}]"

    def __repr__(self) -> str:
        return f"WallClockCronTrigger({self.expression!r}, {self.timezone!r})"

    def get_next_fire_time(
        self, previous_fire_time: dt.datetime | None, now: dt.datetime
    ) -> dt.datetime | None:
        start = (
            previous_fire_time + dt.timedelta(microseconds=1) if previous_fire_time else now
        ).astimezone(dt.UTC)
        return self.next_fire_at_or_after(start)

    def next_fire_at_or_after(self, start: dt.datetime) -> dt.datetime | None:
        wall_start = (start.astimezone(self._tz) - _LOOKBACK).replace(tzinfo=None)
        walls = CronSim(self.expression, wall_start)
        for _, wall in zip(range(_MAX_CANDIDATES), walls, strict=False):
            instant = wall_clock_instant(wall, self._tz)
            if instant >= start:
                return instant  # UTC: a time in the autumn fold compares unequal across zones
        return None

    def next_fires(self, count: int, after: dt.datetime) -> list[dt.datetime]:
        """The next `count` fire times strictly after `after`."""
        fires: list[dt.datetime] = []
        previous = after
        while len(fires) < count:
            fire = self.get_next_fire_time(previous, previous)
            if fire is None:
                break
            fires.append(fire)
            previous = fire
        return fires
