"""A test seam: `tasktracker scheduler` whose jobs fire every TEST_TICK_SECONDS seconds.

Everything but the trigger is the real daemon (leader lock, job store, reconcile, executor,
fire), so tests see several ticks in seconds rather than minutes. Not a feature of the API.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import os

from apscheduler.triggers.base import BaseTrigger

from app.config import load_settings
from app.logging import configure_logging
from scheduler.daemon import serve_scheduler


class EverySeconds(BaseTrigger):  # type: ignore[misc]
    """Fires on every multiple of `seconds` since the epoch, so that every replica computes
    the same ticks."""

    def __init__(self, seconds: int) -> None:
        self.seconds = seconds

    def __str__(self) -> str:
        return f"every[{self.seconds}s]"

    def get_next_fire_time(
        self, previous_fire_time: dt.datetime | None, now: dt.datetime
    ) -> dt.datetime:
        start = previous_fire_time + dt.timedelta(microseconds=1) if previous_fire_time else now
        tick = math.ceil(start.timestamp() / self.seconds) * self.seconds
        return dt.datetime.fromtimestamp(tick, dt.UTC)


def main() -> None:
    settings = load_settings()
    configure_logging(settings.log)
    seconds = int(os.environ["TEST_TICK_SECONDS"])
    asyncio.run(serve_scheduler(settings, make_trigger=lambda _cron, _zone: EverySeconds(seconds)))


if __name__ == "__main__":
    main()
