"""`tasktracker doctor`'s checks against real PostgreSQL and RabbitMQ, with no worker and no
scheduler running (tests/e2e/test_doctor.py runs them beside the real processes)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aio_pika
import aio_pika.abc
import pytest

from app.config import BrokerSettings, DatabaseSettings, SchedulerSettings, Settings
from app.doctor import (
    CHECK_SECONDS,
    CRON,
    DATABASE,
    DECISIONS,
    JOBS,
    LEADER,
    RABBITMQ,
    RECENT_RUNS,
    ROLE,
    RULES,
    TIME_ZONES,
    WORKER,
    Check,
    Status,
    run_checks,
)
from app.repositories import doctor as doctor_repo
from tests.support.factories import insert_rule
from tests.support.services import AMQP_URL, APP_ROLE, connect_db

pytestmark = pytest.mark.timeout(60)

ORDER = [
    DATABASE,
    RABBITMQ,
    WORKER,
    LEADER,
    JOBS,
    CRON,
    TIME_ZONES,
    RECENT_RUNS,
    RULES,
    DECISIONS,
    ROLE,
]
DATABASE_CHECKS = ORDER[3:]
CLOSED_DATABASE = "postgresql://postgres:s3cret@127.0.0.1:1/tasktracker"
CLOSED_BROKER = "amqp://guest:s3cret@127.0.0.1:1/"


async def doctor(settings: Settings) -> dict[str, Check]:
    """The checks by name, after asserting they come one per name in the checklist's order."""
    checks = await run_checks(settings)
    assert [check.name for check in checks] == ORDER
    for check in checks:
        assert check.detail
        assert (check.status is Status.OK) or check.fix, f"{check.name} gives no fix"
    return {check.name: check for check in checks}


def with_urls(settings: Settings, *, database: str | None = None, broker: str | None = None):
    return settings.model_copy(
        update={
            "database": DatabaseSettings(
                url=database or settings.database.url.get_secret_value(),
                connect_timeout_seconds=2,
            ),
            "broker": BrokerSettings(
                url=broker or settings.broker.url.get_secret_value(),
                queue=settings.broker.queue,
            ),
        }
    )


@pytest.fixture
async def db(owner_database_url):
    """The test's database as its owner, to arrange states the processes would not write."""
    conn = await connect_db(owner_database_url)
    yield conn
    await conn.close()


async def test_a_fresh_install_with_nothing_running_fails_only_on_the_processes(settings):
    """Migrated database, RabbitMQ up, no worker, no scheduler: the worker, the leader and the
    default job's registration fail, each naming what to start; the rest is OK or WARN."""
    checks = await doctor(settings)
    queue = settings.broker.queue

    assert checks[DATABASE].status is Status.OK
    assert "PostgreSQL" in checks[DATABASE].detail
    assert checks[RABBITMQ].status is Status.OK

    assert checks[WORKER].status is Status.FAIL
    assert f"no worker consumes {queue}" in checks[WORKER].detail
    assert "tasktracker worker" in checks[WORKER].fix

    assert checks[LEADER].status is Status.FAIL
    assert "tasktracker scheduler" in checks[LEADER].fix

    assert checks[JOBS].status is Status.FAIL
    assert "daily-automation (missing from apscheduler_jobs)" in checks[JOBS].detail
    assert "tasktracker scheduler" in checks[JOBS].fix
    assert "scheduled_jobs within 30 s" in checks[JOBS].fix

    assert checks[CRON].status is Status.OK
    assert "daily-automation `0 9 * * *`" in checks[CRON].detail
    assert (checks[RECENT_RUNS].status, checks[RECENT_RUNS].detail) == (Status.WARN, "no run yet")
    assert checks[RULES].status is Status.OK
    assert checks[DECISIONS].status is Status.OK
    assert checks[ROLE].status is Status.OK
    assert checks[ROLE].detail == (
        f"{APP_ROLE}: not the owner, reads and appends to the audit log only"
    )


async def test_the_processes_connecting_as_a_superuser_or_the_owner_is_a_warning(
    settings, owner_database_url
):
    """As postgres (a superuser, here also the owner) the role line warns with the fix."""
    checks = await doctor(with_urls(settings, database=owner_database_url))
    assert checks[ROLE].status is Status.WARN
    assert checks[ROLE].detail == "the processes connect as postgres, a superuser"
    assert "MIGRATE_DATABASE_URL" in checks[ROLE].fix
    assert "tasktracker migrate" in checks[ROLE].fix


async def test_worker_alive_reads_the_consumers_of_the_configured_queue(settings):
    """A queue without a consumer fails naming the worker; one consumer makes it OK."""
    queue_name = settings.broker.queue
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(queue_name, durable=True)

        idle = (await doctor(settings))[WORKER]
        assert idle.status is Status.FAIL
        assert idle.detail == f"no worker consumes {queue_name} (0 message(s) waiting)"
        assert "tasktracker worker" in idle.fix

        async def ack(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            await message.ack()

        tag = await queue.consume(ack)
        consumed = (await doctor(settings))[WORKER]
        assert consumed.status is Status.OK
        assert consumed.detail.startswith(f"1 consumer(s) on {queue_name}")
        await queue.cancel(tag)


async def test_an_enabled_job_needs_a_row_with_a_next_run_in_apscheduler_jobs(settings, db):
    """Missing row or no next run: FAIL naming the job; a disabled job needs neither."""
    await db.execute(
        "INSERT INTO apscheduler_jobs (id, next_run_time, job_state, func_ref)"
        " VALUES ('daily-automation', NULL, '\\x00'::bytea, 'scheduler.ticks:fire_automation_job')"
    )
    await db.execute(
        "INSERT INTO scheduled_jobs (id, name, cron, timezone) VALUES ('hourly', 'Hourly', $1, $2)",
        "0 * * * *",
        settings.scheduler.timezone,
    )
    jobs = (await doctor(settings))[JOBS]
    assert jobs.status is Status.FAIL
    assert jobs.detail == (
        "not registered with a next run: daily-automation (no next run), "
        "hourly (missing from apscheduler_jobs)"
    )

    await db.execute("UPDATE apscheduler_jobs SET next_run_time = 4102444800")  # 2100-01-01
    await db.execute("UPDATE scheduled_jobs SET enabled = false WHERE id = 'hourly'")
    jobs = (await doctor(settings))[JOBS]
    assert jobs.status is Status.OK
    assert jobs.detail == (
        "1 enabled job(s) registered; next: daily-automation at 2100-01-01 00:00:00Z"
    )

    await db.execute("UPDATE scheduled_jobs SET state = 'REMOVED'")
    jobs = (await doctor(settings))[JOBS]
    assert (jobs.status, jobs.detail) == (
        Status.OK,
        "no enabled job: runs start only when triggered",
    )


async def test_a_cron_that_never_fires_fails_and_a_foreign_zone_warns(settings, db):
    """A stored cron that cannot fire fails naming its job; a job in another zone than
    SCHEDULER_TIMEZONE is a warning, and all zones are listed."""
    settings = settings.model_copy(update={"scheduler": SchedulerSettings(timezone="UTC")})
    await db.execute("UPDATE scheduled_jobs SET timezone = 'UTC'")
    zones = (await doctor(settings))[TIME_ZONES]
    assert zones.status is Status.OK
    assert "PostgreSQL TimeZone " in zones.detail
    assert "SCHEDULER_TIMEZONE UTC; jobs: UTC" in zones.detail

    # Written past the API's validation, as a hand edit or an old release could have.
    await db.execute(
        "INSERT INTO scheduled_jobs (id, name, cron, timezone)"
        " VALUES ('leap', 'Never', '0 9 30 2 *', 'Europe/Paris')"
    )
    checks = await doctor(settings)
    assert checks[CRON].status is Status.FAIL
    assert checks[CRON].detail.startswith("leap: cron '0 9 30 2 *'")
    assert "daily-automation" not in checks[CRON].detail
    assert checks[TIME_ZONES].status is Status.WARN
    assert "jobs: Europe/Paris, UTC" in checks[TIME_ZONES].detail
    assert "not in SCHEDULER_TIMEZONE: leap (Europe/Paris)" in checks[TIME_ZONES].detail


async def insert_run(db, *, state, approved=0, dry_run=False, error=None, audited=0):
    run_id = await db.fetchval(
        "INSERT INTO automation_runs (trigger, state, dry_run, error, approved, finished_at)"
        " VALUES ('manual', $1, $2, $3, $4, clock_timestamp()) RETURNING id",
        state,
        dry_run,
        error,
        approved,
    )
    await db.execute(
        "INSERT INTO audit_log (actor, action, run_id) VALUES ('tests', 'run.trigger', $1)", run_id
    )
    for _ in range(audited):
        await db.execute(
            "INSERT INTO audit_log (actor, action, run_id) VALUES ('rule:1@1', 'approve', $1)",
            run_id,
        )
    return run_id


async def test_recent_runs_warn_on_a_failed_run_and_decisions_must_match_the_audit_log(
    settings, db
):
    """The last finished run reports; a FAILED one is a warning with its error; counters
    that disagree with the audit log's decisions fail naming the run; dry runs are skipped."""
    await insert_run(db, state="COMPLETED", approved=2, audited=2)
    checks = await doctor(settings)
    assert checks[RECENT_RUNS].status is Status.OK
    assert "COMPLETED" in checks[RECENT_RUNS].detail
    assert "triggered in the last 25 hours" in checks[RECENT_RUNS].detail
    assert checks[DECISIONS].status is Status.OK
    assert ": 2 decision(s), each in the audit log" in checks[DECISIONS].detail

    failed = await insert_run(db, state="FAILED", error="lost", approved=3, audited=1)
    await insert_run(db, state="COMPLETED", approved=5, dry_run=True)  # no audit rows: dry
    checks = await doctor(settings)
    assert checks[RECENT_RUNS].status is Status.OK  # the dry run is the latest
    assert checks[DECISIONS].status is Status.FAIL  # dry runs write no decisions: skipped

    await db.execute("DELETE FROM automation_runs WHERE dry_run")
    checks = await doctor(settings)
    assert checks[RECENT_RUNS].status is Status.WARN
    assert checks[RECENT_RUNS].detail.endswith(": lost")
    assert f"last run {failed} FAILED" in checks[RECENT_RUNS].detail
    assert checks[DECISIONS].status is Status.FAIL
    assert checks[DECISIONS].detail == (
        f"run {failed} (FAILED) counts 3 decision(s) but the audit log holds 1"
    )
    assert f"run_id={failed}" in checks[DECISIONS].fix


async def insert_versions(db, *confidences):
    await db.executemany(
        "INSERT INTO versions (entity_type, entity_id, version, confidence, source)"
        " VALUES ('topic', $1, 1, $2, 'llm')",
        [(f"e-{i}", confidence) for i, confidence in enumerate(confidences)],
    )


async def test_enabled_rules_are_counted_against_the_pending_versions(settings, db):
    """Nothing pending is OK; pending without an enabled rule, or with rules that match none,
    warns; otherwise the compiled rules' reach is reported."""
    assert (await doctor(settings))[RULES].detail == "no pending version"

    await insert_versions(db, 0.5, 0.6, 0.95)
    await insert_rule(db, "Disabled catches all", 0.0, priority=50, enabled=False)
    rules = (await doctor(settings))[RULES]
    assert (rules.status, rules.detail) == (
        Status.WARN,
        "3 pending version(s) and no enabled rule",
    )

    await insert_rule(db, "Too strict", 0.99, priority=50)
    rules = (await doctor(settings))[RULES]
    assert (rules.status, rules.detail) == (
        Status.WARN,
        "enabled rules match none of 3 pending versions",
    )
    assert "preview" in rules.fix

    await insert_rule(db, "Fairly sure", 0.6, priority=50)
    rules = (await doctor(settings))[RULES]
    assert (rules.status, rules.detail) == (
        Status.OK,
        "2 enabled rule(s) would decide 2 of 3 pending versions",
    )


async def test_database_down_fails_naming_postgresql_and_skips_its_checks(settings):
    """DATABASE_URL at a closed port: one FAIL naming PostgreSQL, the database's checks
    skipped, RabbitMQ still checked."""
    checks = await doctor(with_urls(settings, database=CLOSED_DATABASE))
    assert checks[DATABASE].status is Status.FAIL
    assert checks[DATABASE].detail.startswith("PostgreSQL unreachable at 127.0.0.1:1")
    assert "DATABASE_URL" in checks[DATABASE].fix
    assert checks[RABBITMQ].status is Status.OK
    for name in DATABASE_CHECKS:
        assert (checks[name].status, checks[name].detail) == (
            Status.WARN,
            "skipped: PostgreSQL unreachable",
        )


async def test_broker_down_fails_naming_rabbitmq_and_skips_the_worker_check(settings):
    """RABBITMQ_URL at a closed port: one FAIL naming RabbitMQ; the database is still checked."""
    checks = await doctor(with_urls(settings, broker=CLOSED_BROKER))
    assert checks[RABBITMQ].status is Status.FAIL
    assert checks[RABBITMQ].detail.startswith("RabbitMQ unreachable at 127.0.0.1:1")
    assert "RABBITMQ_URL" in checks[RABBITMQ].fix
    assert (checks[WORKER].status, checks[WORKER].detail) == (
        Status.WARN,
        "skipped: RabbitMQ unreachable",
    )
    assert checks[DATABASE].status is Status.OK
    assert checks[CRON].status is Status.OK


async def test_no_line_carries_a_password(settings):
    """Passwords in both URLs, both services down: no name, detail or fix shows them."""
    checks = await run_checks(with_urls(settings, database=CLOSED_DATABASE, broker=CLOSED_BROKER))
    assert [check.status for check in checks[:2]] == [Status.FAIL, Status.FAIL]
    for check in checks:
        assert "s3cret" not in f"{check.name} {check.detail} {check.fix}"
        assert "guest" not in f"{check.name} {check.detail} {check.fix}"


@contextlib.asynccontextmanager
async def silent_server() -> AsyncIterator[int]:
    """A port that accepts connections and never says a word; its port."""
    writers: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for writer in writers:
            writer.close()
        await server.wait_closed()


async def test_silent_services_cost_one_deadline_not_a_hang(settings):
    """PostgreSQL and RabbitMQ that accept connections and never answer: both FAIL within
    about one check's deadline (they are tried at once)."""
    async with silent_server() as port:
        silent = with_urls(
            settings,
            database=f"postgresql://postgres:s3cret@127.0.0.1:{port}/tasktracker",
            broker=f"amqp://guest:s3cret@127.0.0.1:{port}/",
        )
        loop = asyncio.get_running_loop()
        started = loop.time()
        checks = await doctor(silent)
        elapsed = loop.time() - started
    assert elapsed < CHECK_SECONDS + 3
    assert checks[DATABASE].status is Status.FAIL
    assert checks[DATABASE].detail.startswith(f"PostgreSQL unreachable at 127.0.0.1:{port}")
    assert checks[RABBITMQ].status is Status.FAIL
    assert checks[RABBITMQ].detail.startswith(f"RabbitMQ unreachable at 127.0.0.1:{port}")


async def test_one_pass_reads_the_job_registrations_once(settings, monkeypatch):
    """The jobs, cron and time-zone checks share one read of the job registrations."""
    reads = []
    read = doctor_repo.list_job_registrations

    async def counted(conn):
        reads.append(conn)
        return await read(conn)

    monkeypatch.setattr(doctor_repo, "list_job_registrations", counted)
    checks = await doctor(settings)
    assert len(reads) == 1
    assert checks[CRON].status is Status.OK
