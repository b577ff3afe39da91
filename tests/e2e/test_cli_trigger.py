"""`tasktracker trigger` from a shell, with a worker running."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess

import pytest

from tests.support.factories import insert_rule, load_generated_versions
from tests.support.processes import TASKTRACKER
from tests.support.services import AMQP_URL

pytestmark = pytest.mark.timeout(120)


def trigger(settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": settings.database.url.get_secret_value(),
        "RABBITMQ_URL": AMQP_URL,
        "RABBITMQ_QUEUE": settings.broker.queue,
        "LOG_LEVEL": "DEBUG",
    }
    return subprocess.run(  # noqa: S603 - our own console script
        [TASKTRACKER, "trigger", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


async def test_trigger_wait_prints_the_finished_run_and_audits_the_cli(
    settings, start_worker, pool
):
    """`trigger --wait` exits 0 with the COMPLETED run as JSON; `--dry-run` decides nothing;
    the audit log names the actor `cli`."""
    await load_generated_versions(settings.database.url.get_secret_value(), 500)
    await insert_rule(pool, "low", 0.5, op="lt", action="reject")
    worker = start_worker()
    await worker.ready()

    dry = await asyncio.to_thread(trigger, settings, "--wait", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    dry_run = json.loads(dry.stdout)
    assert (dry_run["state"], dry_run["dry_run"]) == ("COMPLETED", True)
    assert dry_run["decisions"]["reject"] == 250

    real = await asyncio.to_thread(trigger, settings, "--wait", "--json")
    assert real.returncode == 0, real.stderr
    run = json.loads(real.stdout)
    assert (run["state"], run["decisions"]["reject"]) == ("COMPLETED", 250)
    async with pool.acquire() as conn:
        actors = await conn.fetch(
            "SELECT DISTINCT actor FROM audit_log WHERE action = 'run.trigger'"
        )
    assert [a["actor"] for a in actors] == ["cli"]


async def test_trigger_wait_keeps_its_logs_off_stdout(settings, start_worker):
    """`trigger --wait` at LOG_LEVEL=DEBUG: stdout holds only the run's field/value lines; its
    log lines (the RabbitMQ connection) and progress are on stderr."""
    worker = start_worker()
    await worker.ready()
    result = await asyncio.to_thread(trigger, settings, "--wait")
    assert result.returncode == 0, result.stderr
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert all(len(row) == 2 for row in rows), result.stdout
    assert dict(rows)["state"] == "COMPLETED"
    assert "Connected to RabbitMQ" in result.stderr
