"""The background loop (`every`) and the watch on background tasks (`watched`)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from app.loops import STOP, every, watched

log = logging.getLogger("test-loops")


async def test_every_logs_a_failed_round_and_goes_on_until_stop(caplog):
    """A round that raises is logged with the given message and context, and the loop goes on
    to the next round; a round answering STOP ends it."""
    rounds = []

    async def round_() -> object:
        rounds.append(len(rounds))
        if len(rounds) == 1:
            raise RuntimeError("database restarting")
        return STOP if len(rounds) == 3 else None

    with caplog.at_level(logging.WARNING, logger="test-loops"):
        await asyncio.wait_for(
            every(0.001, round_, log=log, failed="Round failed", extra={"context": {"k": 1}}),
            timeout=5,
        )
    assert rounds == [0, 1, 2]
    [record] = caplog.records
    assert (record.levelno, record.getMessage(), record.context) == (
        logging.WARNING,
        "Round failed",
        {"k": 1},
    )
    assert record.exc_info is not None


@pytest.mark.parametrize("wait_first", [False, True])
async def test_every_runs_at_once_or_after_the_first_wait(wait_first):
    """Without `wait_first` the first round runs at once; with it, only after one interval."""
    rounds = []

    async def round_() -> object:
        rounds.append(1)
        return None

    loop = asyncio.create_task(every(3600, round_, log=log, failed="x", wait_first=wait_first))
    await asyncio.sleep(0.05)
    loop.cancel()
    with pytest.raises(asyncio.CancelledError):
        await loop
    assert rounds == ([] if wait_first else [1])


async def test_a_watched_task_that_dies_is_logged_when_it_dies(caplog):
    """A background task (the worker's receiver) that dies of an exception mid-life is logged
    at once with its name and traceback, before anyone awaits it."""

    async def receive() -> None:
        raise ConnectionError("channel closed")

    with caplog.at_level(logging.ERROR, logger="test-loops"):
        task = watched(asyncio.create_task(receive(), name="receiver"), log)
        await asyncio.wait([task])  # not awaited itself: nobody retrieves its exception
        await asyncio.sleep(0)  # done callbacks run on the next turn of the loop
    [record] = caplog.records
    assert (record.getMessage(), record.context) == ("Background task failed", {"task": "receiver"})
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], ConnectionError)


async def test_a_watched_task_cancelled_or_finished_is_not_logged(caplog):
    """Cancelling a watched task at shutdown, or its ending normally, logs nothing."""

    async def forever() -> None:
        await asyncio.Event().wait()

    async def brief() -> int:
        return 1

    with caplog.at_level(logging.DEBUG, logger="test-loops"):
        cancelled = watched(asyncio.create_task(forever(), name="reaper"), log)
        finished = watched(asyncio.create_task(brief(), name="brief"), log)
        await asyncio.sleep(0)
        cancelled.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        assert await finished == 1
        await asyncio.sleep(0)
    assert caplog.records == []
