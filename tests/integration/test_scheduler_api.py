"""Scheduled jobs over HTTP: definitions, validation, the job states, run now, next fires, and
the fence that gives each tick one run."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import zoneinfo

import pytest

from app.automation.publisher import PublishError
from app.automation.trigger import trigger_cron_run
from app.models import Role
from app.services import jobs as job_service

pytestmark = pytest.mark.timeout(60)

JOBS = "/api/v1/scheduler/jobs"
NIGHTLY = {"id": "nightly", "name": "Nightly", "cron": "30 2 * * *", "timezone": "Europe/Berlin"}


class NoPublisher:
    """A publisher that is never connected: runs stay PENDING for the relay."""

    connected = False

    async def publish(self, run_id):
        raise PublishError("RabbitMQ is down")


async def audit_actions(pool, job_id):
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT action, actor FROM audit_log WHERE details->>'job_id' = $1 ORDER BY id",
            job_id,
        )
    return [row["action"] for row in rows]


async def mark_registered(pool, job_id):
    """What the scheduler does once it registered a job."""
    async with pool.acquire() as conn:
        await conn.execute("UPDATE scheduled_jobs SET state = 'SCHEDULED' WHERE id = $1", job_id)


async def test_the_default_job_exists_after_the_migrations(app_client, admin):
    """daily-automation (0 9 * * * in SCHEDULER_TIMEZONE) is defined and waits for a scheduler."""
    response = await app_client.get(JOBS, headers=admin)
    assert response.status_code == 200
    (job,) = response.json()["items"]
    assert job["id"] == "daily-automation"
    assert (job["cron"], job["timezone"], job["task"]) == ("0 9 * * *", "UTC", "automation.run")
    assert (job["state"], job["enabled"], job["func_ref"], job["last_run"]) == (
        "PENDING",
        True,
        None,
        None,
    )


async def test_create_answers_201_with_the_job_and_audits_it(app_client, admin, pool):
    """A new job is PENDING, enabled by default, and audited as job.create."""
    response = await app_client.post(JOBS, json=NIGHTLY, headers=admin)
    assert response.status_code == 201, response.text
    job = response.json()
    assert {k: job[k] for k in NIGHTLY} == NIGHTLY
    assert (job["state"], job["enabled"], job["next_run_at"]) == ("PENDING", True, None)
    assert await audit_actions(pool, "nightly") == ["job.create"]
    default_zone = await app_client.post(
        JOBS, json={"id": "plain", "name": "Plain", "cron": "@daily"}, headers=admin
    )
    assert default_zone.json()["timezone"] == "UTC"


@pytest.mark.parametrize(
    ("cron", "problem"),
    [
        ("0 0 30 2 *", "never fires"),
        ("0 0 31 4,6,9,11 *", "never fires"),
        ("61 * * * *", "not valid"),
        ("0 0 * * 8", "not valid"),
        ("0 0 * * * *", "five fields"),
        ("", "five fields"),
        ("   ", "five fields"),
        ("@yearly", "five fields"),
        ("0 0 L * *", "standard cron"),
    ],
)
async def test_a_bad_cron_is_422_naming_it(app_client, admin, cron, problem):
    """Crons that cannot fire, out-of-range fields, six fields, empty ones are refused."""
    response = await app_client.post(JOBS, json={**NIGHTLY, "cron": cron}, headers=admin)
    assert response.status_code == 422, response.text
    (detail,) = response.json()["detail"]
    assert detail["loc"] == ["body", "cron"]
    assert problem in detail["msg"]


async def test_an_unknown_zone_or_task_or_id_is_422(app_client, admin):
    """The zone, the task and the slug are checked too."""
    for body, field in (
        ({**NIGHTLY, "timezone": "Mars/Olympus"}, "timezone"),
        ({**NIGHTLY, "timezone": "../../etc/passwd"}, "timezone"),
        ({**NIGHTLY, "task": "shell.exec"}, "task"),
        ({**NIGHTLY, "id": "Not A Slug"}, "id"),
        ({**NIGHTLY, "surprise": 1}, "surprise"),
    ):
        response = await app_client.post(JOBS, json=body, headers=admin)
        assert response.status_code == 422, (body, response.text)
        assert field in str(response.json()["detail"][0]["loc"]), response.text


async def test_update_pause_resume_delete_and_the_states_they_show(app_client, admin, pool):
    """PUT changes the definition (keeping a pause), pause and resume flip enabled, DELETE
    leaves a REMOVED job that GET still answers and nothing else may change."""
    await app_client.post(JOBS, json=NIGHTLY, headers=admin)
    await mark_registered(pool, "nightly")
    paused = await app_client.post(f"{JOBS}/nightly/pause", headers=admin)
    assert (paused.status_code, paused.json()["state"]) == (200, "PAUSED")
    changed = await app_client.put(
        f"{JOBS}/nightly", json={"name": "Nightly", "cron": "0 3 * * *"}, headers=admin
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["cron"], changed.json()["timezone"]) == ("0 3 * * *", "UTC")
    assert changed.json()["enabled"] is False, "a change of cron must not resume the job"
    resumed = await app_client.post(f"{JOBS}/nightly/resume", headers=admin)
    assert (resumed.json()["state"], resumed.json()["enabled"]) == ("SCHEDULED", True)

    removed = await app_client.delete(f"{JOBS}/nightly", headers=admin)
    assert (removed.status_code, removed.json()["state"]) == (200, "REMOVED")
    assert (await app_client.get(f"{JOBS}/nightly", headers=admin)).json()["state"] == "REMOVED"
    live = (await app_client.get(JOBS, headers=admin)).json()["items"]
    assert [job["id"] for job in live] == ["daily-automation"]
    gone = (await app_client.get(JOBS, params={"state": "REMOVED"}, headers=admin)).json()
    assert [job["id"] for job in gone["items"]] == ["nightly"]
    for method, path in (
        ("POST", f"{JOBS}/nightly/pause"),
        ("POST", f"{JOBS}/nightly/resume"),
        ("POST", f"{JOBS}/nightly/run"),
        ("DELETE", f"{JOBS}/nightly"),
        ("PUT", f"{JOBS}/nightly"),
    ):
        body = {"name": "x", "cron": "@daily"} if method == "PUT" else None
        response = await app_client.request(method, path, json=body, headers=admin)
        assert response.status_code == 409, (method, path, response.text)
    reused = await app_client.post(JOBS, json=NIGHTLY, headers=admin)
    assert reused.status_code == 409
    assert "taken" in reused.json()["detail"]
    assert await audit_actions(pool, "nightly") == [
        "job.create",
        "job.pause",
        "job.update",
        "job.resume",
        "job.delete",
    ]
    assert (await app_client.get(f"{JOBS}/nope", headers=admin)).status_code == 404
    assert (await app_client.post(f"{JOBS}/nope/pause", headers=admin)).status_code == 404


async def test_run_now_is_a_manual_run_in_the_jobs_history(app_client, auth_headers, pool):
    """An operator's run now answers 202 with a manual run carrying the job id; the job is
    EXECUTING while the run is unfinished and reports the run once it ends."""
    operator = await auth_headers(Role.OPERATOR)
    await mark_registered(pool, "daily-automation")
    response = await app_client.post(f"{JOBS}/daily-automation/run", headers=operator)
    assert response.status_code == 202, response.text
    answer = response.json()
    assert (answer["trigger"], answer["coalesced"]) == ("manual", False)
    job = (await app_client.get(f"{JOBS}/daily-automation", headers=operator)).json()
    assert job["state"] == "EXECUTING"
    history = (await app_client.get(f"{JOBS}/daily-automation/runs", headers=operator)).json()
    assert [run["id"] for run in history["items"]] == [answer["run_id"]]
    assert history["items"][0]["job_id"] == "daily-automation"
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE automation_runs SET state = 'FAILED', error = 'timeout',"
            " finished_at = now() WHERE id = $1",
            answer["run_id"],
        )
    job = (await app_client.get(f"{JOBS}/daily-automation", headers=operator)).json()
    assert job["state"] == "FAILED"
    assert job["last_run"]["id"] == answer["run_id"]
    assert job["last_run"]["state"] == "FAILED"


async def test_next_fires_are_in_the_jobs_zone(app_client, admin):
    """Fires come with the job zone's offset; 0 9 * * 1 fires on Mondays at 09:00."""
    await app_client.post(JOBS, json=NIGHTLY, headers=admin)
    body = (await app_client.get(f"{JOBS}/nightly/next-fires?n=3", headers=admin)).json()
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    fires = [dt.datetime.fromisoformat(fire) for fire in body["fires"]]
    assert len(fires) == 3
    for fire in fires:
        assert fire.utcoffset() == fire.astimezone(berlin).utcoffset()
        local = fire.astimezone(berlin)
        assert (local.hour, local.minute) in {(2, 30), (3, 0)}  # 03:00 on a spring-gap day
    monday = {"id": "monday", "name": "Monday", "cron": "0 9 * * 1", "timezone": "UTC"}
    await app_client.post(JOBS, json=monday, headers=admin)
    body = (await app_client.get(f"{JOBS}/monday/next-fires?n=5", headers=admin)).json()
    fires = [dt.datetime.fromisoformat(fire) for fire in body["fires"]]
    assert [(f.weekday(), f.hour, f.minute) for f in fires] == [(0, 9, 0)] * 5
    assert (await app_client.get(f"{JOBS}/monday/next-fires?n=0", headers=admin)).status_code == 422


async def test_scheduler_health_without_a_scheduler(app_client, admin):
    """No scheduler holds the lock: no leader; one job defined, none registered."""
    response = await app_client.get("/api/v1/health/scheduler", headers=admin)
    assert response.status_code == 200
    assert response.json() == {
        "leader": None,
        "last_wakeup_at": None,
        "missed_ticks": 0,
        "jobs_defined": 1,
        "jobs_registered": 0,
    }


async def test_a_tick_has_one_run_however_often_it_fires(pool):
    """Two fires of the same tick (two schedulers that both believe they lead) give one run;
    the next tick gets its own, a cron run with the job id and its tick."""
    tick = dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)
    first = await trigger_cron_run(pool, NoPublisher(), "daily-automation", tick)
    second = await trigger_cron_run(pool, NoPublisher(), "daily-automation", tick)
    later = await trigger_cron_run(
        pool, NoPublisher(), "daily-automation", tick + dt.timedelta(days=1)
    )
    assert first is not None
    assert second is None
    assert later is not None
    assert (first.trigger, first.job_id, first.scheduled_for) == ("cron", "daily-automation", tick)
    async with pool.acquire() as conn:
        count = await conn.fetchval("SELECT count(*) FROM automation_runs")
        audited = await conn.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = 'run.trigger' AND actor = 'system'"
        )
    assert (count, audited) == (2, 2)


async def test_a_cron_run_queues_behind_an_active_manual_run(app_client, admin, pool):
    """A tick during an active run is not coalesced: it gets its own run, which waits."""
    manual = (await app_client.post("/api/v1/automation/trigger", headers=admin)).json()
    tick = dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)
    cron = await trigger_cron_run(pool, NoPublisher(), "daily-automation", tick)
    assert cron is not None
    assert cron.id != manual["run_id"]
    assert cron.state == "PENDING"


async def test_validating_a_cron_does_not_block_the_event_loop(app_client, admin, monkeypatch):
    """While a cron is being checked (held here), the api keeps answering other requests."""
    entered, release = threading.Event(), threading.Event()
    check = job_service.validate_schedule

    def held_check(cron: str, zone: str) -> str:
        entered.set()
        release.wait(10)
        return check(cron, zone)

    monkeypatch.setattr(job_service, "validate_schedule", held_check)
    create = asyncio.create_task(app_client.post(JOBS, json=NIGHTLY, headers=admin))
    try:
        async with asyncio.timeout(5):  # cannot expire if the check holds the event loop
            assert await asyncio.to_thread(entered.wait, 5)
            health = await app_client.get("/api/v1/health")
        assert health.status_code == 200
        assert not create.done()
    finally:
        release.set()
    assert (await create).status_code == 201
