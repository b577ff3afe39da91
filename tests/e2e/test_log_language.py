"""LOG_LANGUAGE=uk end to end: a real worker (and scheduler) write the run's lines of SPEC 6.7
in Ukrainian, as the operators' guide shows them, with the same logger names and keys, so
that `docker logs task-tracker-worker | grep -i "automation\\|schedule"` finds them."""

from __future__ import annotations

import asyncio
import re

import pytest

from tests.support.api import HIGH_CONFIDENCE
from tests.support.polling import is_final, publisher_ready, wait_for_run

pytestmark = pytest.mark.timeout(120)

# The operators' grep: `grep -i "automation\|schedule"`.
OPERATORS_GREP = re.compile(r"automation|schedule", re.IGNORECASE)
STAMP = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d INFO "


def versions(matching: int, others: int) -> list[dict[str, object]]:
    """`matching` versions the rule approves, then `others` it leaves pending."""
    return [
        {
            "entity_type": "topic",
            "entity_id": f"t-{i}",
            "data": {"name": f"topic {i}"},
            "confidence": 0.95 if i < matching else 0.5,
            "similarity": 0.9 if i < matching else 0.5,
            "source": "llm",
        }
        for i in range(matching + others)
    ]


async def test_a_run_logs_the_spec_lines_in_ukrainian(app_client, admin, settings, start_worker):
    """With LOG_LANGUAGE=uk, a manual run over 47 pending versions of which 34 match
    'High Confidence' logs the operators' five lines, in order, from `automation`, each with
    `run=`, all found by the operators' grep, and none of them in English."""
    worker = start_worker(LOG_LANGUAGE="uk")
    response = await app_client.post(
        "/api/v1/automation/rules", json=HIGH_CONFIDENCE, headers=admin
    )
    assert response.status_code == 201, response.text
    response = await app_client.post(
        "/api/v1/versions", json={"items": versions(34, 13)}, headers=admin
    )
    assert response.status_code == 201, response.text
    await asyncio.gather(worker.ready(), publisher_ready(app_client))

    response = await app_client.post("/api/v1/automation/trigger", headers=admin)
    assert response.status_code == 202, response.text
    run_id = response.json()["run_id"]
    run = await wait_for_run(settings.database.url.get_secret_value(), run_id, is_final)
    assert run["state"] == "COMPLETED", run["error"]
    assert run["approved"] == 34

    expected = [
        rf"{STAMP}automation: Запущено виконання автоматизації run={run_id} trigger=manual job=-",
        rf"{STAMP}automation: Оцінювання 47 незавершених версій run={run_id}$",
        rf"{STAMP}automation: Правило 'High Confidence' відповідало 34 версіям run={run_id} ",
        rf"{STAMP}automation: Авто-затверджено 34 версій run={run_id}$",
        rf"{STAMP}automation: Виконання завершено \(\d+\.\ds\) run={run_id}$",
    ]
    positions = []
    for pattern in expected:
        line = await worker.until_line(pattern, timeout=10)
        assert OPERATORS_GREP.search(line), line
        positions.append(worker.lines.index(line))
    assert positions == sorted(positions)
    english = r"automation: (Automation run started|Evaluating|Rule '|Auto-approved|Run completed)"
    assert worker.count_lines(english) == 0


async def test_a_cron_run_and_the_scheduler_log_in_ukrainian(
    app_client, settings, start_worker, start_scheduler
):
    """With LOG_LANGUAGE=uk, the scheduler's `scheduler:` line for a fired job and the worker's
    first line of the cron run (`trigger=cron job=daily-automation`) are Ukrainian, with the
    same logger names and keys, and the operators' grep finds both."""
    worker = start_worker(LOG_LANGUAGE="uk")
    await asyncio.gather(worker.ready(), publisher_ready(app_client))
    scheduler = start_scheduler(tick_seconds=2, LOG_LANGUAGE="uk")

    fired = await scheduler.until_line(
        r"INFO scheduler: Завдання запущено за розкладом job=daily-automation run=(\S+) ",
        timeout=30,
    )
    match = re.search(r"run=(\S+)", fired)
    assert match is not None
    run_id = match.group(1)
    started = await worker.until_line(
        rf"{STAMP}automation: Запущено виконання автоматизації run={run_id} trigger=cron"
        r" job=daily-automation ",
        timeout=20,
    )
    assert OPERATORS_GREP.search(fired)
    assert OPERATORS_GREP.search(started)
    await scheduler.until_line(r"INFO scheduler: Лідерство отримано host=", timeout=1)
    assert scheduler.count_lines(r"scheduler: (Leadership gained|Job fired)") == 0
