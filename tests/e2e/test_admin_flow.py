"""The admin surface against a real worker: a rule from a template to its audited decisions,
a reviewer's explain and decision, and stopping runs mid-way (cancel, the brake)."""

from __future__ import annotations

import asyncio

import pytest

from bench.dataset import RULES
from tests.support.factories import load_generated_versions
from tests.support.polling import is_final, publisher_ready, wait_for_run
from tests.support.services import connect_db

pytestmark = pytest.mark.timeout(120)

API = "/api/v1"


async def test_template_to_preview_to_audited_decisions_and_a_reviewers_answer(
    app_client, admin, settings, start_worker
):
    """An admin creates a rule from a template (disabled), previews it, enables it, runs, and
    reads in the audit log which versions it decided at which revision; a reviewer asks why
    an escalated version was escalated and approves it."""
    worker = start_worker()
    versions = [
        {"confidence": 0.95, "similarity": 0.9},  # High Confidence
        {"confidence": 0.96, "similarity": 0.99},  # High Confidence (also High Similarity)
        {"confidence": 0.7, "similarity": 0.5},  # Moderate Quality Escalate
        {"confidence": 0.55, "similarity": 0.5},  # nobody
    ]
    items = [
        {"entity_type": "topic", "entity_id": f"t{i}", "source": "llm", **v}
        for i, v in enumerate(versions)
    ]
    ids = (await app_client.post(f"{API}/versions", json={"items": items}, headers=admin)).json()[
        "ids"
    ]
    templates = (await app_client.get(f"{API}/automation/templates", headers=admin)).json()["items"]
    by_name = {t["name"]: t for t in templates}
    created = {}
    for name in ("High Confidence", "High Similarity", "Moderate Quality Escalate"):
        response = await app_client.post(
            f"{API}/automation/rules", json=by_name[name], headers=admin
        )
        created[name] = response.json()
    high_sim = created["High Similarity"]
    await app_client.post(
        f"{API}/automation/rules/{created['High Confidence']['id']}/enable", headers=admin
    )
    preview = (
        await app_client.post(
            f"{API}/automation/rules/preview", json={"rule_id": high_sim["id"]}, headers=admin
        )
    ).json()
    assert (preview["matched"], preview["would_decide"]) == (1, 0)
    assert preview["shadowed_by"] == [
        {"rule_id": created["High Confidence"]["id"], "name": "High Confidence", "count": 1}
    ]
    escalate = created["Moderate Quality Escalate"]
    enabled = await app_client.post(
        f"{API}/automation/rules/{escalate['id']}/enable", headers=admin
    )
    assert enabled.json()["revision"] == 2

    await asyncio.gather(worker.ready(), publisher_ready(app_client))
    run_id = (await app_client.post(f"{API}/automation/trigger", headers=admin)).json()["run_id"]
    run = await wait_for_run(settings.database.url.get_secret_value(), run_id, is_final)
    assert (run["state"], run["approved"], run["escalated"]) == ("COMPLETED", 2, 1)

    audit = (
        await app_client.get(f"{API}/audit", params={"rule_id": escalate["id"]}, headers=admin)
    ).json()["items"]
    decisions = [e for e in audit if e["action"] == "escalate"]
    assert [(e["version_id"], e["rule_revision"], e["run_id"]) for e in decisions] == [
        (ids[2], 2, run_id)
    ]

    reviewer = await app_client.get(f"{API}/versions/{ids[2]}/explain", headers=admin)
    answer = reviewer.json()
    assert answer["status"] == "escalated"
    assert answer["decided_by"] == f"rule:{escalate['id']}@2"
    assert answer["deciding_rule"]["rule_id"] == escalate["id"]
    outcomes = {r["name"]: r["outcome"] for r in answer["rules"]}
    assert outcomes == {
        "High Confidence": "false",
        "Moderate Quality Escalate": "true",
    }
    approved = await app_client.post(f"{API}/versions/{ids[2]}/approve", headers=admin)
    assert approved.json()["status"] == "approved"
    untouched = await app_client.get(f"{API}/versions/{ids[3]}/explain", headers=admin)
    assert untouched.json()["deciding_rule"] is None


async def long_run(app_client, admin, settings, start_worker):
    """A run over 150,000 versions in batches of 500, caught while it evaluates."""
    url = settings.database.url.get_secret_value()
    for body in RULES:
        await app_client.post(f"{API}/automation/rules", json=body, headers=admin)
    await load_generated_versions(url, 150_000)
    worker = start_worker(AUTOMATION_BATCH_SIZE="500")
    await asyncio.gather(worker.ready(), publisher_ready(app_client))
    run_id = (await app_client.post(f"{API}/automation/trigger", headers=admin)).json()["run_id"]
    await wait_for_run(url, run_id, lambda r: r["state"] == "EXECUTING" and r["evaluated"] > 0)
    return url, run_id


async def committed_decisions(url):
    conn = await connect_db(url)
    try:
        return await conn.fetchval("SELECT count(*) FROM versions WHERE status <> 'pending'")
    finally:
        await conn.close()


@pytest.mark.parametrize(("stop", "error"), [("cancel", "cancelled"), ("pause", "paused")])
async def test_a_run_stopped_mid_way_keeps_what_it_committed(
    *, app_client, admin, settings, start_worker, stop, error
):
    """Cancel (or the brake) while a run evaluates: it stops at its next batch, FAILED with
    the reason, its committed batches stay and its counters match them."""
    url, run_id = await long_run(app_client, admin, settings, start_worker)
    path = f"automation/runs/{run_id}/cancel" if stop == "cancel" else "automation/pause"
    response = await app_client.post(f"{API}/{path}", headers=admin)
    assert response.status_code == 200, response.text
    run = await wait_for_run(url, run_id, is_final, timeout=30)
    assert (run["state"], run["error"]) == ("FAILED", error)
    assert 0 < run["evaluated"] < 150_000
    decided = run["approved"] + run["rejected"] + run["escalated"]
    assert decided == await committed_decisions(url)
