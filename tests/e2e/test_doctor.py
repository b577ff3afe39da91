"""`tasktracker doctor`'s checks beside real worker and scheduler processes."""

from __future__ import annotations

import asyncio

import pytest

from app.doctor import DECISIONS, JOBS, LEADER, RECENT_RUNS, RULES, WORKER, Status, run_checks
from tests.support.polling import is_final, publisher_ready, wait_for_run
from tests.support.services import connect_db

pytestmark = pytest.mark.timeout(120)

REGISTERED = r"Job registered job=daily-automation"
RULE = {
    "name": "Fairly sure",
    "priority": 50,
    "action": "approve",
    "conditions": {"field": "confidence", "op": "gte", "value": 0.6},
}


def version(entity_id: str, confidence: float) -> dict[str, object]:
    return {
        "entity_type": "topic",
        "entity_id": entity_id,
        "confidence": confidence,
        "source": "llm",
    }


async def test_with_a_worker_and_a_scheduler_nothing_fails_until_the_worker_stops(
    settings, start_worker, start_scheduler, app_client, admin
):
    """After a real run: no FAIL line, the run's decisions found in the audit log, a pending
    version no rule matches only a warning; with the worker stopped, a FAIL names it."""
    worker = start_worker()
    scheduler = start_scheduler()
    await asyncio.gather(
        worker.ready(), publisher_ready(app_client), scheduler.until_line(REGISTERED)
    )
    response = await app_client.post("/api/v1/automation/rules", json=RULE, headers=admin)
    assert response.status_code == 201, response.text
    items = [version("sure", 0.9), version("unsure", 0.2)]
    response = await app_client.post("/api/v1/versions", json={"items": items}, headers=admin)
    assert response.status_code == 201, response.text
    response = await app_client.post("/api/v1/automation/trigger", headers=admin)
    assert response.status_code == 202, response.text
    run_id = response.json()["run_id"]
    run = await wait_for_run(settings.database.url.get_secret_value(), run_id, is_final)
    assert run["state"] == "COMPLETED", run["error"]

    checks = {check.name: check for check in await run_checks(settings)}
    assert [c for c in checks.values() if c.status is Status.FAIL] == []
    assert checks[WORKER].detail.startswith(f"1 consumer(s) on {settings.broker.queue}")
    assert checks[LEADER].status is Status.OK
    assert checks[JOBS].detail.startswith("1 enabled job(s) registered; next: daily-automation")
    assert checks[RECENT_RUNS].status is Status.OK
    assert f"last run {run_id} COMPLETED" in checks[RECENT_RUNS].detail
    assert (checks[RULES].status, checks[RULES].detail) == (
        Status.WARN,
        "enabled rules match none of 1 pending versions",
    )
    assert (checks[DECISIONS].status, checks[DECISIONS].detail) == (
        Status.OK,
        f"run {run_id} (COMPLETED): 1 decision(s), each in the audit log",
    )

    worker.stop()
    checks = {check.name: check for check in await run_checks(settings)}
    failed = [check.name for check in checks.values() if check.status is Status.FAIL]
    assert failed == [WORKER]
    assert checks[WORKER].detail.startswith(f"no worker consumes {settings.broker.queue}")
    assert "tasktracker worker" in checks[WORKER].fix


async def test_a_job_deleted_from_apscheduler_jobs_fails_until_a_scheduler_restores_it(
    settings, start_scheduler
):
    """The scheduler stopped and the job's row deleted: FAILs name the job and the missing
    leader; a scheduler started as the fix says restores the job and both turn OK."""
    scheduler = start_scheduler()
    await scheduler.until_line(REGISTERED)
    assert scheduler.stop() == 0
    conn = await connect_db(settings.database.url.get_secret_value())
    try:
        await conn.execute("DELETE FROM apscheduler_jobs WHERE id = 'daily-automation'")
    finally:
        await conn.close()

    checks = {check.name: check for check in await run_checks(settings)}
    assert checks[JOBS].status is Status.FAIL
    assert checks[JOBS].detail == (
        "not registered with a next run: daily-automation (missing from apscheduler_jobs)"
    )
    assert checks[JOBS].fix.startswith("start `tasktracker scheduler`")
    assert checks[LEADER].status is Status.FAIL

    restarted = start_scheduler()
    await restarted.until_line(r"Job restored.*job=daily-automation")
    checks = {check.name: check for check in await run_checks(settings)}
    assert checks[JOBS].status is Status.OK
    assert checks[LEADER].status is Status.OK
