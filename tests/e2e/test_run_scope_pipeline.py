"""What a run evaluates, end to end (HTTP trigger -> RabbitMQ -> a real worker): the runs
after a complete one evaluate only new versions until a rule changes over the API."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.support.api import post_rules, trigger
from tests.support.polling import is_final, publisher_ready, wait_for_run

pytestmark = pytest.mark.timeout(120)

NEVER = {
    "name": "Never",
    "priority": 5,
    "action": "approve",
    "conditions": {"field": "data.name", "op": "eq", "value": "nothing is called this"},
}


def versions(prefix: str, count: int) -> list[dict[str, object]]:
    return [
        {
            "entity_type": "atom",
            "entity_id": f"{prefix}-{i}",
            "data": {"name": prefix},
            "confidence": 0.5,
            "similarity": 0.5,
            "source": "llm",
        }
        for i in range(count)
    ]


async def test_runs_evaluate_new_versions_until_a_rule_changes(
    app_client, admin, settings, start_worker
):
    """First run: every pending version; then only the new ones; after a rule is edited over
    the API, every pending version again; a dry run reports what a real run would evaluate."""
    worker = start_worker()
    (rule,) = await post_rules(app_client, admin, [NEVER])
    await asyncio.gather(worker.ready(), publisher_ready(app_client))
    url = settings.database.url.get_secret_value()

    async def submit_and_run(prefix: str, count: int, **body: Any) -> int:
        answer = await app_client.post(
            "/api/v1/versions", json={"items": versions(prefix, count)}, headers=admin
        )
        assert answer.status_code == 201, answer.text
        run = await wait_for_run(
            url, (await trigger(app_client, admin, **body))["run_id"], is_final
        )
        assert run["state"] == "COMPLETED", run["error"]
        evaluated: int = run["evaluated"]
        return evaluated

    assert await submit_and_run("a", 200) == 200
    assert await submit_and_run("b", 30) == 30
    assert await submit_and_run("c", 5, dry_run=True) == 5
    assert await submit_and_run("d", 7) == 12
    edited = await app_client.put(
        f"/api/v1/automation/rules/{rule['id']}", json={**NEVER, "priority": 6}, headers=admin
    )
    assert edited.status_code == 200, edited.text
    assert await submit_and_run("e", 3) == 245
    assert await submit_and_run("f", 1) == 1
