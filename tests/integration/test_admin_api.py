"""The admin surface: templates, preview, explain, decisions by people, the brake, cancel,
the audit log and its retention, statistics and trends."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import asyncpg
import pytest

from app.audit.retention import purge_expired_audit_entries
from app.automation.publisher import PublishError
from app.automation.trigger import trigger_cron_run
from app.models import Role
from app.repositories import rules as rule_repo
from app.rules.compiler import evaluation_order
from app.rules.evaluator import VersionFacts, deciding_rule
from app.rules.ruleset import to_evaluate
from tests.support.polling import until_blocked_by
from tests.support.services import connect_db

pytestmark = pytest.mark.timeout(60)

RULES = "/api/v1/automation/rules"
VERSIONS = "/api/v1/versions"


class DownPublisher:
    connected = False

    async def publish(self, run_id):
        raise PublishError("RabbitMQ is down")


def rule(name, priority, action, conditions, *, enabled=True):
    return {
        "name": name,
        "priority": priority,
        "action": action,
        "enabled": enabled,
        "conditions": conditions,
    }


def at_least(field, value):
    return {"field": field, "op": "gte", "value": value}


async def submit(client, headers, confidences, similarity=0.9, **extra):
    items = [
        {
            "entity_type": "topic" if i % 2 else "atom",
            "entity_id": f"e-{uuid.uuid4().hex[:8]}",
            "confidence": confidence,
            "similarity": similarity,
            "source": "llm",
            **extra,
        }
        for i, confidence in enumerate(confidences)
    ]
    response = await client.post(VERSIONS, json={"items": items}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["ids"]


async def create_rule(client, headers, body):
    response = await client.post(RULES, json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def test_templates_are_the_five_ready_rule_bodies(app_client, admin):
    """Five templates, each a valid rule body that can be created as is (disabled)."""
    response = await app_client.get("/api/v1/automation/templates", headers=admin)
    items = response.json()["items"]
    assert [t["name"] for t in items] == [
        "High Confidence",
        "Low Confidence Reject",
        "High Similarity",
        "Moderate Quality Escalate",
        "Urgent Topic Escalate",
    ]
    assert [t["action"] for t in items] == ["approve", "reject", "approve", "escalate", "escalate"]
    for template in items:
        created = await create_rule(app_client, admin, template)
        assert created["enabled"] is False


async def test_preview_counts_matches_shadowing_and_samples_like_a_run(app_client, admin, pool):
    """A candidate rule's matches split into what it would decide and what an enabled
    higher-priority rule takes; a stored rule previews the same; the answer agrees with the
    reference evaluator."""
    confidences = [0.95, 0.92, 0.85, 0.82, 0.81, 0.5, 0.3]
    ids = await submit(app_client, admin, confidences)
    high = await create_rule(
        app_client, admin, rule("High", 90, "approve", {"all": [at_least("confidence", 0.9)]})
    )
    await create_rule(  # disabled: it shadows nothing
        app_client,
        admin,
        rule("Off", 100, "reject", {"all": [at_least("confidence", 0.0)]}, enabled=False),
    )
    candidate = rule("Good", 50, "approve", {"all": [at_least("confidence", 0.8)]})
    response = await app_client.post(f"{RULES}/preview", json=candidate, headers=admin)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["matched"] == 5
    assert answer["would_decide"] == 3
    assert answer["shadowed_by"] == [{"rule_id": high["id"], "name": "High", "count": 2}]
    assert [v["id"] for v in answer["sample"]] == ids[2:5]

    stored = await create_rule(app_client, admin, {**candidate, "enabled": False})
    by_id = await app_client.post(f"{RULES}/preview", json={"rule_id": stored["id"]}, headers=admin)
    assert by_id.json() == answer

    # The reference evaluator, over the same rules, agrees version by version.
    async with pool.acquire() as conn:
        rules = [to_evaluate(r) for r in await rule_repo.list_enabled_rules(conn)]
        rules.append(to_evaluate(await rule_repo.get_rule(conn, stored["id"])))
        rows = await conn.fetch("SELECT * FROM versions WHERE status = 'pending' ORDER BY id")
    now = dt.datetime.now(dt.UTC)
    decided_by_candidate = [
        row["id"]
        for row in rows
        if (
            chosen := deciding_rule(
                evaluation_order(rules),
                VersionFacts(**{k: row[k] for k in VersionFacts.__dataclass_fields__}),
                now,
            )
        )
        and chosen.id == stored["id"]
    ]
    assert decided_by_candidate == [v["id"] for v in answer["sample"]]

    missing = await app_client.post(f"{RULES}/preview", json={"rule_id": 999}, headers=admin)
    assert missing.status_code == 404


@pytest.mark.parametrize(
    "conditions",
    [
        {"field": "password", "op": "eq", "value": "x"},
        {"field": "confidence", "op": "gte", "value": 80},
        {"all": []},
    ],
)
async def test_preview_refuses_bad_rules_like_create(app_client, admin, conditions):
    """A preview body is a rule body: the same 422s."""
    body = rule("Bad", 50, "approve", conditions)
    response = await app_client.post(f"{RULES}/preview", json=body, headers=admin)
    assert response.status_code == 422, response.text


async def test_explain_gives_each_condition_and_the_deciding_rule(app_client, admin):
    """Rules in evaluation order, every node with true/false/unknown, the deciding rule."""
    (version_id,) = await submit(app_client, admin, [0.95], similarity=None, data={"name": "x"})
    both = await create_rule(
        app_client,
        admin,
        rule(
            "Both",
            90,
            "approve",
            {"all": [at_least("confidence", 0.9), at_least("similarity", 0.85)]},
        ),
    )
    loose = await create_rule(
        app_client,
        admin,
        rule("Loose", 10, "escalate", {"not": {"field": "data.name", "op": "eq", "value": "y"}}),
    )
    response = await app_client.get(f"{VERSIONS}/{version_id}/explain", headers=admin)
    assert response.status_code == 200, response.text
    body = response.json()
    assert [r["rule_id"] for r in body["rules"]] == [both["id"], loose["id"]]
    first, second = body["rules"]
    assert first["outcome"] == "unknown"
    assert [(c["path"], c["node"], c["outcome"]) for c in first["conditions"]] == [
        ("", "all", "unknown"),
        ("all[0]", "leaf", "true"),
        ("all[1]", "leaf", "unknown"),
    ]
    assert first["conditions"][1]["actual"] == 0.95
    assert first["conditions"][2]["actual"] is None
    assert [(c["path"], c["node"], c["outcome"]) for c in second["conditions"]] == [
        ("", "not", "true"),
        ("not", "leaf", "false"),
    ]
    assert second["conditions"][1]["actual"] == "x"
    assert body["deciding_rule"] == {"rule_id": loose["id"], "name": "Loose"}
    assert (await app_client.get(f"{VERSIONS}/999999/explain", headers=admin)).status_code == 404


async def audit_of(pool, version_id):
    async with pool.acquire() as conn:
        return await conn.fetch(
            "SELECT actor, action, details FROM audit_log WHERE version_id = $1 ORDER BY id",
            version_id,
        )


async def test_people_decide_from_the_allowed_states_only(app_client, auth_headers, pool):
    """approve and reject take pending or escalated versions, escalate only pending ones;
    anything else is 409; each decision names the token in the audit log."""
    operator = await auth_headers(Role.OPERATOR)
    a, b, c = await submit(app_client, operator, [0.5, 0.5, 0.5])
    approved = await app_client.post(
        f"{VERSIONS}/{a}/approve", json={"reason": "looks right"}, headers=operator
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"
    assert approved.json()["decided_by"].startswith("user:operator-")
    assert approved.json()["reason"] == "looks right"
    assert (await app_client.post(f"{VERSIONS}/{a}/approve", headers=operator)).status_code == 409
    assert (await app_client.post(f"{VERSIONS}/{a}/escalate", headers=operator)).status_code == 409
    escalated = await app_client.post(f"{VERSIONS}/{b}/escalate", headers=operator)
    assert escalated.json()["status"] == "escalated"
    rejected = await app_client.post(f"{VERSIONS}/{b}/reject", headers=operator)
    assert rejected.json()["status"] == "rejected"
    assert (await app_client.post(f"{VERSIONS}/999999/reject", headers=operator)).status_code == 404
    assert [(r["action"], r["details"]["from"]) for r in await audit_of(pool, b)] == [
        ("escalate", "pending"),
        ("reject", "escalated"),
    ]
    (entry,) = await audit_of(pool, a)
    assert entry["actor"] == approved.json()["decided_by"]
    assert entry["details"]["reason"] == "looks right"
    assert (await app_client.get(f"{VERSIONS}/{c}", headers=operator)).json()["status"] == "pending"


async def test_a_decision_racing_a_run_loses_cleanly(app_client, admin, pool, database_url):
    """A run's uncommitted decision holds the row; the person's reject waits, then finds the
    version approved and answers 409, writing nothing."""
    (version_id,) = await submit(app_client, admin, [0.95])
    run_side = await asyncpg.connect(database_url)
    try:
        transaction = run_side.transaction()
        await transaction.start()
        await run_side.execute(
            "UPDATE versions SET status = 'approved', decided_by = 'rule:1@1' WHERE id = $1",
            version_id,
        )
        person = asyncio.create_task(
            app_client.post(f"{VERSIONS}/{version_id}/reject", headers=admin)
        )
        await until_blocked_by(run_side)  # the request has reached the row lock
        assert not person.done()
        await transaction.commit()
        response = await person
    finally:
        await run_side.close()
    assert response.status_code == 409
    assert "approved" in response.json()["detail"]
    assert await audit_of(pool, version_id) == []


async def test_bulk_decisions_report_each_id(app_client, admin):
    """Bulk approve decides what it may and says why it did not decide the rest."""
    a, b, c = await submit(app_client, admin, [0.5, 0.5, 0.5])
    await app_client.post(f"{VERSIONS}/{c}/reject", headers=admin)
    response = await app_client.post(
        f"{VERSIONS}/bulk-approve", json={"ids": [a, b, c, 999999, a]}, headers=admin
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["succeeded"] == [a, b]
    assert body["failed"][str(999999)] == "not found"
    assert body["failed"][str(c)].startswith("is rejected")
    assert set(body["failed"]) == {str(c), "999999"}
    empty = await app_client.post(f"{VERSIONS}/bulk-reject", json={"ids": []}, headers=admin)
    assert empty.status_code == 422
    too_many = await app_client.post(
        f"{VERSIONS}/bulk-reject", json={"ids": list(range(1, 1002))}, headers=admin
    )
    assert too_many.status_code == 422


async def test_pending_count_by_entity_type(app_client, admin):
    """pending-count counts pending versions, in all and per entity type."""
    ids = await submit(app_client, admin, [0.5, 0.5, 0.5])  # atom, topic, atom
    await app_client.post(f"{VERSIONS}/{ids[0]}/approve", headers=admin)
    response = await app_client.get(f"{VERSIONS}/pending-count", headers=admin)
    assert response.json() == {"total": 2, "topic": 1, "atom": 1}


async def test_the_brake_stops_everything_and_is_audited(app_client, admin, pool):
    """Pausing refuses triggers (409), records cron ticks FAILED paused and stops waiting runs;
    resuming lets triggers through again."""
    waiting = (await app_client.post("/api/v1/automation/trigger", headers=admin)).json()
    paused = await app_client.post(
        "/api/v1/automation/pause", json={"reason": "incident 42"}, headers=admin
    )
    assert paused.status_code == 200, paused.text
    assert paused.json()["paused"] is True
    assert paused.json()["reason"] == "incident 42"
    stopped = (
        await app_client.get(f"/api/v1/automation/runs/{waiting['run_id']}", headers=admin)
    ).json()
    assert (stopped["state"], stopped["error"]) == ("FAILED", "paused")

    refused = await app_client.post("/api/v1/automation/trigger", headers=admin)
    assert refused.status_code == 409
    assert "paused" in refused.json()["detail"]
    refused_now = await app_client.post(
        "/api/v1/scheduler/jobs/daily-automation/run", headers=admin
    )
    assert refused_now.status_code == 409
    tick = dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)
    cron = await trigger_cron_run(pool, DownPublisher(), "daily-automation", tick)
    assert (cron.state, cron.error, cron.finished_at is not None) == ("FAILED", "paused", True)

    resumed = await app_client.post("/api/v1/automation/resume", headers=admin)
    assert resumed.json()["paused"] is False
    assert (await app_client.post("/api/v1/automation/trigger", headers=admin)).status_code == 202
    async with pool.acquire() as conn:
        actions = [
            r["action"]
            for r in await conn.fetch(
                "SELECT action FROM audit_log WHERE action LIKE 'automation.%' ORDER BY id"
            )
        ]
    assert actions == ["automation.pause", "automation.resume"]


async def test_cancel_stops_a_waiting_run_at_once(app_client, auth_headers, pool):
    """An operator's cancel of a run still waiting ends it FAILED cancelled, audited; a second
    cancel is 409 and an unknown run 404."""
    operator = await auth_headers(Role.OPERATOR)
    run_id = (await app_client.post("/api/v1/automation/trigger", headers=operator)).json()[
        "run_id"
    ]
    response = await app_client.post(f"/api/v1/automation/runs/{run_id}/cancel", headers=operator)
    assert response.status_code == 200, response.text
    assert (response.json()["state"], response.json()["error"]) == ("FAILED", "cancelled")
    again = await app_client.post(f"/api/v1/automation/runs/{run_id}/cancel", headers=operator)
    assert again.status_code == 409
    unknown = await app_client.post(
        f"/api/v1/automation/runs/{uuid.uuid4()}/cancel", headers=operator
    )
    assert unknown.status_code == 404
    async with pool.acquire() as conn:
        audited = await conn.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = 'run.cancel' AND run_id = $1",
            uuid.UUID(run_id),
        )
    assert audited == 1


async def insert_audit(owner_url, rows):
    """Entries with times of the test's choosing: only the owner may write `at` (the
    processes' role writes every column but id, at and xid)."""
    conn = await connect_db(owner_url)
    try:
        await conn.executemany(
            "INSERT INTO audit_log (at, actor, action, version_id, rule_id, rule_revision)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            rows,
        )
    finally:
        await conn.close()


async def test_audit_filters_and_pages_newest_first(app_client, admin, owner_database_url):
    """Every filter narrows the list; pages follow the cursor; a bad cursor is 422."""
    now = dt.datetime.now(dt.UTC)
    await insert_audit(
        owner_database_url,
        [
            (now - dt.timedelta(hours=3), "rule:7@2", "approve", 1, 7, 2),
            (now - dt.timedelta(hours=2), "rule:7@2", "reject", 2, 7, 2),
            (now - dt.timedelta(hours=1), "user:alice", "approve", 2, None, None),
        ],
    )
    url = "/api/v1/audit"

    async def ids(**params):
        response = await app_client.get(url, params=params, headers=admin)
        assert response.status_code == 200, response.text
        return [entry["version_id"] for entry in response.json()["items"]]

    assert await ids(rule_id=7) == [2, 1]
    assert await ids(version_id=2) == [2, 2]
    assert await ids(action="approve", actor="user:alice") == [2]
    assert await ids(
        since=(now - dt.timedelta(hours=2, minutes=30)).isoformat(), action="reject"
    ) == [2]
    assert await ids(until=(now - dt.timedelta(hours=2, minutes=30)).isoformat()) == [1]
    first = (await app_client.get(url, params={"limit": 2, "rule_id": 7}, headers=admin)).json()
    assert len(first["items"]) == 2
    entry = first["items"][0]
    assert set(entry) == {
        "id",
        "at",
        "actor",
        "action",
        "version_id",
        "rule_id",
        "rule_revision",
        "run_id",
        "details",
        "seal",
    }
    assert set(entry["seal"]) == {"seq", "hash"}
    assert entry["seal"]["seq"] >= 1
    assert len(entry["seal"]["hash"]) == 64
    rest = (
        await app_client.get(
            url, params={"limit": 2, "rule_id": 7, "cursor": first["next_cursor"]}, headers=admin
        )
    ).json()
    assert rest == {"items": [], "next_cursor": None}
    bad = await app_client.get(url, params={"cursor": "nope"}, headers=admin)
    assert bad.status_code == 422


async def test_the_retention_purge_is_the_only_delete(pool, owner_database_url):
    """Entries older than the retention go; newer ones stay; a plain DELETE is refused."""
    now = dt.datetime.now(dt.UTC)
    await insert_audit(
        owner_database_url,
        [
            (now - dt.timedelta(days=400), "system", "approve", 1, None, None),
            (now - dt.timedelta(days=10), "system", "approve", 2, None, None),
        ],
    )
    assert await purge_expired_audit_entries(pool) == 1  # AUDIT_RETENTION_DAYS=365
    async with pool.acquire() as conn:
        left = await conn.fetch("SELECT version_id FROM audit_log")
        assert [r["version_id"] for r in left] == [2]
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("DELETE FROM audit_log")


async def test_stats_and_trends_count_decisions_in_sql(app_client, admin, pool, owner_database_url):
    """Stats add decisions up by action, rule and person; trends give one zero-filled row per
    UTC day of the period, ending today."""
    high = await create_rule(
        app_client, admin, rule("High", 90, "approve", {"all": [at_least("confidence", 0.9)]})
    )
    await submit(app_client, admin, [0.5, 0.5])
    now = dt.datetime.now(dt.UTC)
    actor = f"rule:{high['id']}@1"
    await insert_audit(
        owner_database_url,
        [
            (now, actor, "approve", 1, high["id"], 1),
            (now, actor, "approve", 2, high["id"], 1),
            (now - dt.timedelta(days=2), "user:alice", "reject", 3, None, None),
            (now - dt.timedelta(days=40), "user:bob", "escalate", 4, None, None),
        ],
    )
    stats = (await app_client.get("/api/v1/automation/stats", headers=admin)).json()
    assert stats["pending"] == {"total": 2, "topic": 1, "atom": 1}
    assert stats["decisions"] == {"approve": 2, "reject": 1, "escalate": 1}
    assert stats["by_rule"] == [{"rule_id": high["id"], "name": "High", "count": 2}]
    assert stats["by_person"] == [{"name": "alice", "count": 1}, {"name": "bob", "count": 1}]
    assert stats["auto_decision_rate"] == 0.5
    assert stats["active_rules"] == 1

    week = (await app_client.get("/api/v1/automation/trends?period=7d", headers=admin)).json()
    assert week["period"] == "7d"
    days = week["days"]
    assert len(days) == 7
    assert days[-1]["date"] == now.date().isoformat()
    assert days[-1]["approved"] == 2
    assert days[-1]["by_rule"] == [{"rule_id": high["id"], "name": "High", "count": 2}]
    assert days[-3]["rejected"] == 1
    assert days[-3]["by_person"] == [{"name": "alice", "count": 1}]
    assert sum(d["approved"] + d["rejected"] + d["escalated"] for d in days) == 3
    assert days[0] == {
        "date": (now.date() - dt.timedelta(days=6)).isoformat(),
        "approved": 0,
        "rejected": 0,
        "escalated": 0,
        "by_rule": [],
        "by_person": [],
    }
    quarter = (await app_client.get("/api/v1/automation/trends?period=90d", headers=admin)).json()
    assert len(quarter["days"]) == 90
    assert sum(d["escalated"] for d in quarter["days"]) == 1
    bad = await app_client.get("/api/v1/automation/trends?period=1y", headers=admin)
    assert bad.status_code == 422
