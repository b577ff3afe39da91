"""`every`: the one "forever: do it, log a failure, do it again" loop of the background work
(the relay, the reaper, a run's heartbeat, the hourly purges); `watched`: a background task
whose death by an exception is logged when it happens.

It lives at the top of `app`, beside `app.logging`, and imports nothing else of the service:
app/automation and app/services both import it, and neither imports the other for it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from app.logging import context

T = TypeVar("T")

STOP: Any = object()
"""What a round answers to end the loop (any other answer goes on)."""


async def every(
    seconds: float,
    fn: Callable[[], Awaitable[object]],
    *,
    log: logging.Logger,
    failed: str,
    level: int = logging.WARNING,
    extra: Mapping[str, object] | None = None,
    wait_first: bool = False,
) -> None:
    """Call `fn` every `seconds` (at once, or after the first wait if `wait_first`) until
    cancelled or until it answers STOP. A round that raises is logged as `failed` (a
    catalogued message: mark it with N_ where it is written) at `level`, with its traceback
    and `extra`, and the next round comes as usual."""
    while True:
        if wait_first:
            await asyncio.sleep(seconds)
        try:
            answer = await fn()
        except Exception:  # background work must outlive a database or broker restart
            log.log(level, failed, exc_info=True, extra=extra)
        else:
            if answer is STOP:
                return
        if not wait_first:
            await asyncio.sleep(seconds)


def watched(task: asyncio.Task[T], log: logging.Logger) -> asyncio.Task[T]:
    """`task`, whose death by an exception is logged when it happens (with the task's name
    and the traceback), not only noticed, or swallowed, when it is awaited at shutdown."""

    def done(finished: asyncio.Task[T]) -> None:
        if not finished.cancelled() and finished.exception() is not None:
            log.error(
                "Background task failed",
                exc_info=finished.exception(),
                extra=context(task=finished.get_name()),
            )

    task.add_done_callback(done)
    return task
