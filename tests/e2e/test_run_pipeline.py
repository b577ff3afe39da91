"""The run pipeline end to end: HTTP trigger -> RabbitMQ -> a real worker process -> PostgreSQL."""

from __future__ import annotations

import asyncio
import random
import re
import uuid

import pytest

from app.models import Role
from app.rules.evaluator import VersionFacts, deciding_rule
from tests.support.api import post_rules, seed, trigger
from tests.support.factories import rule_to_evaluate
from tests.support.polling import is_final, publisher_ready, wait_for_run
from tests.support.services import connect_db

pytestmark = pytest.mark.timeout(120)

STATUS_OF = {"approve": "approved", "reject": "rejected", "escalate": "escalated"}


def random_versions(count: int, seed: int = 3) -> list[dict[str, object]]:
    rng = random.Random(seed)
    words = ["Kickoff", "URGENT outage", "retro", "urgent-ish", "draft plan"]
    return [
        {
            "entity_type": rng.choice(["topic", "atom"]),
            "entity_id": f"e-{i % 40}",
            "data": rng.choice(
                [
                    {"name": rng.choice(words), "type": rng.choice(["fact", "draft", "note"])},
                    {"name": 42},
                    {},
                    {"type": None},
                ]
            ),
            "confidence": round(rng.random(), 3),
            "similarity": None if rng.random() < 0.2 else round(rng.random(), 3),
            "source": rng.choice(["llm", "editor", "import"]),
        }
        for i in range(count)
    ]


async def seed_random(app_client, admin, versions: int = 300) -> list[dict]:
    rules = await post_rules(app_client, admin)
    response = await app_client.post(
        "/api/v1/versions", json={"items": random_versions(versions)}, headers=admin
    )
    assert response.status_code == 201
    return rules


async def test_a_run_decides_like_the_reference_evaluator_with_one_audit_row_each(
    app_client, admin, settings, start_worker
):
    """Every pending version ends as the Python evaluator says, each decision audited once,
    the run's counters add up, and the log lines read as operators expect."""
    worker = start_worker()
    rules = await seed_random(app_client, admin)
    await asyncio.gather(worker.ready(), publisher_ready(app_client))

    answer = await trigger(app_client, admin)
    assert answer["trigger"] == "manual"
    assert answer["coalesced"] is False
    assert answer["state"] in ("SCHEDULED", "EXECUTING", "COMPLETED")
    url = settings.database.url.get_secret_value()
    run = await wait_for_run(url, answer["run_id"], is_final)
    assert run["state"] == "COMPLETED", run["error"]

    conn = await connect_db(url)
    try:
        versions = await conn.fetch("SELECT * FROM versions ORDER BY id")
        decisions = await conn.fetch(
            "SELECT version_id, action, actor, rule_id, rule_revision, run_id FROM audit_log"
            " WHERE action IN ('approve', 'reject', 'escalate')"
        )
    finally:
        await conn.close()

    to_evaluate = [
        rule_to_evaluate(
            r["id"],
            r["conditions"],
            revision=r["revision"],
            priority=r["priority"],
            action=r["action"],
            name=r["name"],
        )
        for r in rules
    ]
    audit_by_version = {}
    for row in decisions:
        assert row["version_id"] not in audit_by_version, "a version has two decision rows"
        audit_by_version[row["version_id"]] = row
    for version in versions:
        fields = {k: version[k] for k in VersionFacts.__dataclass_fields__}
        facts = VersionFacts(**fields)
        expected = deciding_rule(to_evaluate, facts, run["evaluated_at"])
        if expected is None:
            assert version["status"] == "pending"
            assert version["id"] not in audit_by_version
            continue
        assert version["status"] == STATUS_OF[expected.action], version["id"]
        assert (version["rule_id"], version["rule_revision"]) == (expected.id, expected.revision)
        assert version["decided_by"] == f"rule:{expected.id}@{expected.revision}"
        assert version["run_id"] == run["id"]
        entry = audit_by_version.pop(version["id"])
        assert (entry["action"], entry["rule_id"], entry["run_id"]) == (
            expected.action,
            expected.id,
            run["id"],
        )
        assert entry["actor"] == f"rule:{expected.id}@{expected.revision}"
    assert audit_by_version == {}

    decided = sum(1 for v in versions if v["status"] != "pending")
    assert decided > 0
    assert run["approved"] + run["rejected"] + run["escalated"] == decided
    assert sum(run["decisions_by_rule"].values()) == decided
    assert run["evaluated"] == len(versions)
    shown = (await app_client.get(f"/api/v1/automation/runs/{run['id']}", headers=admin)).json()
    assert shown["decisions"] == {
        "approve": run["approved"],
        "reject": run["rejected"],
        "escalate": run["escalated"],
    }
    assert sum(r["matched"] for r in shown["rules"]) == decided
    assert shown["duration_ms"] is not None
    assert shown["attempts"] == 1

    # The log lines of SPEC section 6, in order, from the logger `automation`.
    run_id = str(run["id"])
    expected_lines = [
        rf"INFO automation: Automation run started run={run_id} trigger=manual job=-",
        rf"INFO automation: Evaluating {len(versions)} pending versions run={run_id}",
        rf"INFO automation: Rule '[^']+' matched \d+ versions run={run_id}",
        rf"INFO automation: Auto-approved {run['approved']} versions run={run_id}",
        rf"INFO automation: Run completed \(\d+\.\ds\) run={run_id}",
    ]
    positions = []
    for pattern in expected_lines:
        line = await asyncio.to_thread(worker.wait_for_line, pattern, 10)
        assert re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d INFO automation: ", line)
        positions.append(worker.lines.index(line))
    assert positions == sorted(positions)


async def test_a_second_run_decides_nothing_new_and_a_dry_run_writes_nothing(
    app_client, admin, settings, start_worker
):
    """After a run, another decides nothing; a dry run reports without changing a row."""
    worker = start_worker()
    await seed_random(app_client, admin, versions=120)
    await asyncio.gather(worker.ready(), publisher_ready(app_client))
    url = settings.database.url.get_secret_value()

    conn = await connect_db(url)
    try:
        dry = await trigger(app_client, admin, dry_run=True, reason="what if")
        dry_run = await wait_for_run(url, dry["run_id"], is_final)
        assert dry_run["state"] == "COMPLETED"
        assert await conn.fetchval("SELECT count(*) FROM versions WHERE status <> 'pending'") == 0
        audit_actions = await conn.fetch(
            "SELECT action FROM audit_log WHERE run_id = $1", dry_run["id"]
        )
        assert [a["action"] for a in audit_actions] == ["run.trigger"]
        would = dry_run["approved"] + dry_run["rejected"] + dry_run["escalated"]
        assert would > 0

        first = await wait_for_run(url, (await trigger(app_client, admin))["run_id"], is_final)
        assert first["approved"] + first["rejected"] + first["escalated"] == would
        before = await conn.fetch("SELECT id, status, decided_at FROM versions ORDER BY id")
        second = await wait_for_run(url, (await trigger(app_client, admin))["run_id"], is_final)
        assert second["state"] == "COMPLETED"
        assert second["approved"] + second["rejected"] + second["escalated"] == 0
        after = await conn.fetch("SELECT id, status, decided_at FROM versions ORDER BY id")
        assert before == after
    finally:
        await conn.close()


async def test_fifty_concurrent_triggers_make_one_run(app_client, admin, settings):
    """With no worker to finish it, 50 simultaneous triggers all answer the same run."""
    await publisher_ready(app_client)
    answers = await asyncio.gather(*(trigger(app_client, admin) for _ in range(50)))
    assert len({a["run_id"] for a in answers}) == 1
    assert sum(1 for a in answers if not a["coalesced"]) == 1
    conn = await connect_db(settings.database.url.get_secret_value())
    try:
        assert await conn.fetchval("SELECT count(*) FROM automation_runs") == 1
        assert (
            await conn.fetchval("SELECT count(*) FROM audit_log WHERE action = 'run.trigger'") == 1
        )
    finally:
        await conn.close()
    # Dry runs never coalesce.
    dry = await asyncio.gather(*(trigger(app_client, admin, dry_run=True) for _ in range(3)))
    assert len({a["run_id"] for a in dry}) == 3


async def test_idempotency_key_replays_the_same_run_and_refuses_another_body(
    app_client, auth_headers
):
    """The same key answers the same run; the same key with another body is 422; keys are
    per token."""
    operator = await auth_headers(Role.OPERATOR)
    other = await auth_headers(Role.OPERATOR)
    key = {"Idempotency-Key": f"k-{uuid.uuid4()}"}
    first = await trigger(app_client, {**operator, **key}, dry_run=True)
    again = await trigger(app_client, {**operator, **key}, dry_run=True)
    assert again["run_id"] == first["run_id"]
    mismatch = await app_client.post(
        "/api/v1/automation/trigger", json={"dry_run": False}, headers={**operator, **key}
    )
    assert mismatch.status_code == 422
    assert "Idempotency-Key" in mismatch.text
    other_token = await trigger(app_client, {**other, **key}, dry_run=True)
    assert other_token["run_id"] != first["run_id"]
    concurrent = await asyncio.gather(
        *(
            trigger(app_client, {**operator, "Idempotency-Key": "same"}, dry_run=True)
            for _ in range(20)
        )
    )
    assert len({a["run_id"] for a in concurrent}) == 1


async def test_the_guard_fails_a_blocked_run_with_timeout_and_the_next_run_completes(
    app_client, admin, settings, start_worker
):
    """A run blocked by a lock on versions ends FAILED timeout after its 2 s guard; the worker
    keeps serving and the next run completes."""
    worker = start_worker(AUTOMATION_TIMEOUT_SECONDS="2")
    await seed_random(app_client, admin, versions=50)
    await asyncio.gather(worker.ready(), publisher_ready(app_client))
    url = settings.database.url.get_secret_value()
    blocker = await connect_db(url)
    try:
        transaction = blocker.transaction()
        await transaction.start()
        await blocker.execute("LOCK TABLE versions IN ACCESS EXCLUSIVE MODE")
        answer = await trigger(app_client, admin)
        started = asyncio.get_running_loop().time()
        run = await wait_for_run(url, answer["run_id"], is_final, timeout=20)
        elapsed = asyncio.get_running_loop().time() - started
        await transaction.rollback()
    finally:
        await blocker.close()
    assert (run["state"], run["error"]) == ("FAILED", "timeout")
    assert elapsed < 6
    following = await wait_for_run(url, (await trigger(app_client, admin))["run_id"], is_final)
    assert following["state"] == "COMPLETED"
    assert following["approved"] + following["rejected"] + following["escalated"] > 0


async def test_runs_are_listed_newest_first_filtered_and_read_by_id(app_client, admin):
    """GET /automation/runs pages newest first with filters; an unknown id is 404."""
    ids = [(await trigger(app_client, admin, dry_run=True))["run_id"] for _ in range(3)]
    page = (
        await app_client.get("/api/v1/automation/runs", params={"limit": 2}, headers=admin)
    ).json()
    assert [r["id"] for r in page["items"]] == ids[::-1][:2]
    rest = await app_client.get(
        "/api/v1/automation/runs", params={"cursor": page["next_cursor"]}, headers=admin
    )
    assert [r["id"] for r in rest.json()["items"]] == [ids[0]]
    none = await app_client.get(
        "/api/v1/automation/runs", params={"trigger": "cron"}, headers=admin
    )
    assert none.json()["items"] == []
    assert (
        await app_client.get(f"/api/v1/automation/runs/{uuid.uuid4()}", headers=admin)
    ).status_code == 404
    assert (
        await app_client.get("/api/v1/automation/runs/not-a-uuid", headers=admin)
    ).status_code == 422
    one = (await app_client.get(f"/api/v1/automation/runs/{ids[0]}", headers=admin)).json()
    assert set(one) >= {
        "id",
        "job_id",
        "trigger",
        "state",
        "dry_run",
        "reason",
        "error",
        "scheduled_for",
        "requested_at",
        "started_at",
        "finished_at",
        "duration_ms",
        "attempts",
        "evaluated",
        "capped",
        "decisions",
        "rules",
    }
    assert one["attempts"] == 0


async def test_sigkill_mid_run_is_reclaimed_and_no_version_is_decided_twice(
    app_client, admin, settings, start_worker
):
    """A worker killed mid-run: another reclaims the run (attempt 2) and completes it; every
    decided version has exactly one decision row and the counters add up."""
    url = settings.database.url.get_secret_value()
    await seed(app_client, admin, url, 150_000)
    first = start_worker(AUTOMATION_BATCH_SIZE="500")
    await asyncio.gather(first.ready(), publisher_ready(app_client))
    answer = await trigger(app_client, admin)
    mid = await wait_for_run(
        url, answer["run_id"], lambda r: r["state"] == "EXECUTING" and r["evaluated"] > 0
    )
    first.kill()
    assert mid["evaluated"] < 150_000, "the run was not caught mid-way"
    second = start_worker(AUTOMATION_BATCH_SIZE="5000")
    await second.ready()
    run = await wait_for_run(url, answer["run_id"], is_final, timeout=90)
    assert run["state"] == "COMPLETED", run["error"]
    assert run["attempts"] == 2
    conn = await connect_db(url)
    try:
        twice = await conn.fetchval(
            "SELECT count(*) FROM (SELECT version_id FROM audit_log"
            " WHERE action IN ('approve','reject','escalate') GROUP BY version_id"
            " HAVING count(*) > 1) d"
        )
        decided = await conn.fetchval("SELECT count(*) FROM versions WHERE status <> 'pending'")
        rows = await conn.fetchval(
            "SELECT count(*) FROM audit_log WHERE action IN ('approve','reject','escalate')"
        )
    finally:
        await conn.close()
    assert twice == 0
    assert rows == decided == run["approved"] + run["rejected"] + run["escalated"]


async def test_sigterm_hands_the_run_back_after_its_batch(
    app_client, admin, settings, start_worker
):
    """SIGTERM mid-run: the worker hands the run back and exits; another finishes it without
    counting an extra attempt."""
    url = settings.database.url.get_secret_value()
    await seed(app_client, admin, url, 150_000)
    first = start_worker(AUTOMATION_BATCH_SIZE="500")
    await asyncio.gather(first.ready(), publisher_ready(app_client))
    answer = await trigger(app_client, admin)
    await wait_for_run(
        url, answer["run_id"], lambda r: r["state"] == "EXECUTING" and r["evaluated"] > 0
    )
    assert first.stop() == 0
    assert any("Run handed back" in line for line in first.lines)
    handed = await wait_for_run(url, answer["run_id"], lambda r: r["state"] != "EXECUTING")
    assert handed["state"] == "SCHEDULED"
    assert 0 < handed["evaluated"] < 150_000
    second = start_worker()
    await second.ready()
    run = await wait_for_run(url, answer["run_id"], is_final, timeout=90)
    assert run["state"] == "COMPLETED", run["error"]
    assert run["attempts"] == 1
