"""`make run` as a newcomer stops it: Ctrl-C in its terminal."""

from __future__ import annotations

import signal

import pytest

from tests.e2e.conftest import MakeRun


@pytest.mark.timeout(240)
# A second Ctrl-C: none, while the api shuts down, after the api has ended (the others may
# still be stopping).
@pytest.mark.parametrize("again_after", [None, r"Shutting down", r"Finished server process"])
def test_ctrl_c_ends_make_run_cleanly_with_nothing_left(start_make_run, again_after):
    """Ctrl-C (SIGINT to the foreground process group), once or again while it stops, ends
    `make run` with 0 or 130 and no make error line, the api, worker and scheduler stopped."""
    make_run: MakeRun = start_make_run()
    make_run.wait_healthy()
    make_run.wait_for_line(r"Leadership gained|Scheduler started")
    make_run.wait_for_line(r"Listening started")

    make_run.interrupt()
    if again_after is not None:
        make_run.wait_for_line(again_after)
        make_run.interrupt()
    code = make_run.wait(60)

    assert code in (0, 130, -signal.SIGINT), make_run.text()
    assert "make: ***" not in make_run.text()
    assert make_run.wait_group_gone(10), "processes of make run are left"
    assert "Finished server process" in make_run.text()
    assert "Worker stopped" in make_run.text()
    assert "Scheduler stopped" in make_run.text()
