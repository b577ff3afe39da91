"""A full-size run with the audit log sealed (issue 13): 1,000,000 pending versions through a
real worker under the default 30 s guard, every decision audited once and sealed."""

from __future__ import annotations

import asyncio

import pytest

from app.audit.verify import verify_chain
from bench.dataset import RULES
from tests.support.factories import load_generated_versions
from tests.support.polling import is_final, publisher_ready, wait_for_run
from tests.support.services import connect_db

pytestmark = pytest.mark.timeout(300)

VERSIONS = 1_000_000


async def test_a_million_versions_complete_inside_the_guard_with_every_decision_sealed(
    app_client, admin, settings, start_worker
):
    """The run ends COMPLETED, not FAILED `timeout` (the guard is the default 30 s; the run
    is not split), having evaluated every version; each decision has one audit entry, and
    `audit verify` recomputes the chain over all of them."""
    url = settings.database.url.get_secret_value()
    for body in RULES:
        response = await app_client.post("/api/v1/automation/rules", json=body, headers=admin)
        assert response.status_code == 201, response.text
    await load_generated_versions(url, VERSIONS)
    worker = start_worker(AUTOMATION_TIMEOUT_SECONDS="30")
    await asyncio.gather(worker.ready(), publisher_ready(app_client))
    response = await app_client.post("/api/v1/automation/trigger", headers=admin)
    assert response.status_code == 202, response.text
    run = await wait_for_run(url, response.json()["run_id"], is_final, timeout=60)
    assert (run["state"], run["error"]) == ("COMPLETED", None)
    assert (run["evaluated"], run["shards"]) == (VERSIONS, 0)
    decided = run["approved"] + run["rejected"] + run["escalated"]
    assert decided > VERSIONS // 2
    conn = await connect_db(url)
    try:
        audited = await conn.fetchval(
            "SELECT count(*) FROM audit_log WHERE run_id = $1 AND action = ANY($2::text[])",
            run["id"],
            ["approve", "reject", "escalate"],
        )
        report = await verify_chain(conn)
    finally:
        await conn.close()
    assert audited == decided
    assert report.ok, report.as_dict()
    assert report.entries >= decided
