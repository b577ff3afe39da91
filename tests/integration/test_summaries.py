"""The summaries (migration 0011): version and decision counts kept by triggers in the changes'
own transactions, read by stats, trends, pending-count and /metrics, identical to counting the
tables; compaction under concurrent writers; the audit filters' and pending counts' indexes."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import asyncpg
import pytest

from app.audit.retention import purge_expired_audit_entries
from app.models import Role
from app.repositories import summaries as summary_repo
from app.repositories.audit import AuditFilter, listing_for
from tests.support.factories import executor_for, insert_rule, insert_run, load_generated_versions
from tests.support.services import connect_db

pytestmark = pytest.mark.timeout(120)

RULES = "/api/v1/automation/rules"
VERSIONS = "/api/v1/versions"

# What stats and trends answered before the summaries: the same counts straight from the
# tables (the reference the summaries must equal).
DIRECT_STATS = """
WITH decisions AS (
    SELECT action, actor, rule_id FROM audit_log
    WHERE action IN ('approve', 'reject', 'escalate')
), per_rule AS (
    SELECT d.rule_id, r.name, count(*) AS n
    FROM decisions d JOIN automation_rules r ON r.id = d.rule_id
    WHERE d.actor LIKE 'rule:%' GROUP BY d.rule_id, r.name
), per_person AS (
    SELECT substr(actor, 6) AS name, count(*) AS n
    FROM decisions WHERE actor LIKE 'user:%' GROUP BY actor
)
SELECT
    (SELECT count(*) FROM decisions WHERE action = 'approve') AS approve,
    (SELECT count(*) FROM decisions WHERE action = 'reject') AS reject,
    (SELECT count(*) FROM decisions WHERE action = 'escalate') AS escalate,
    (SELECT count(*) FROM decisions WHERE actor LIKE 'rule:%') AS by_rules,
    (SELECT count(*) FROM decisions) AS total,
    (SELECT coalesce(jsonb_agg(jsonb_build_object('rule_id', rule_id, 'name', name, 'count', n)
                               ORDER BY n DESC, rule_id), '[]'::jsonb) FROM per_rule) AS by_rule,
    (SELECT coalesce(jsonb_agg(jsonb_build_object('name', name, 'count', n)
                               ORDER BY n DESC, name), '[]'::jsonb) FROM per_person) AS by_person,
    (SELECT count(*) FROM versions WHERE status = 'pending' AND entity_type = 'topic') AS topic,
    (SELECT count(*) FROM versions WHERE status = 'pending' AND entity_type = 'atom') AS atom
"""

DIRECT_DAYS = """
SELECT (at AT TIME ZONE 'UTC')::date AS day,
       count(*) FILTER (WHERE action = 'approve') AS approved,
       count(*) FILTER (WHERE action = 'reject') AS rejected,
       count(*) FILTER (WHERE action = 'escalate') AS escalated
FROM audit_log WHERE action IN ('approve', 'reject', 'escalate')
GROUP BY 1
"""

DIRECT_VERSION_COUNTS = "SELECT status, entity_type, count(*) FROM versions GROUP BY 1, 2"
SUMMED_VERSION_COUNTS = (
    "SELECT status, entity_type, sum(n)::bigint FROM version_counts GROUP BY 1, 2"
    " HAVING sum(n) <> 0"
)
DIRECT_DECISION_COUNTS = (
    "SELECT action, actor, rule_id, count(*) FROM audit_log"
    " WHERE action IN ('approve', 'reject', 'escalate') GROUP BY 1, 2, 3"
)


def rule(name, priority, action, op, value):
    return {
        "name": name,
        "priority": priority,
        "action": action,
        "conditions": {"all": [{"field": "confidence", "op": op, "value": value}]},
    }


async def submit(client, headers, confidences):
    items = [
        {
            "entity_type": "topic" if i % 3 else "atom",
            "entity_id": f"e-{uuid.uuid4().hex[:8]}",
            "confidence": confidence,
            "similarity": 0.5,
            "source": "llm",
        }
        for i, confidence in enumerate(confidences)
    ]
    response = await client.post(VERSIONS, json={"items": items}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["ids"]


async def expect_the_direct_counts(app_client, admin, owner_url):
    """Every aggregate people read equals counting the tables."""
    conn = await connect_db(owner_url)
    try:
        direct = await conn.fetchrow(DIRECT_STATS)
        days = {r["day"].isoformat(): dict(r) for r in await conn.fetch(DIRECT_DAYS)}
    finally:
        await conn.close()
    stats = (await app_client.get("/api/v1/automation/stats", headers=admin)).json()
    assert stats["pending"] == {
        "total": direct["topic"] + direct["atom"],
        "topic": direct["topic"],
        "atom": direct["atom"],
    }
    assert stats["decisions"] == {a: direct[a] for a in ("approve", "reject", "escalate")}
    assert stats["by_rule"] == direct["by_rule"]
    assert stats["by_person"] == direct["by_person"]
    rate = direct["by_rules"] / direct["total"] if direct["total"] else None
    assert stats["auto_decision_rate"] == rate
    pending = (await app_client.get(f"{VERSIONS}/pending-count", headers=admin)).json()
    assert pending == stats["pending"]
    quarter = (await app_client.get("/api/v1/automation/trends?period=90d", headers=admin)).json()
    for day in quarter["days"]:
        want = days.get(day["date"], {"approved": 0, "rejected": 0, "escalated": 0})
        got = (day["approved"], day["rejected"], day["escalated"])
        assert got == (want["approved"], want["rejected"], want["escalated"]), day["date"]
    metrics = (await app_client.get("/metrics")).text
    assert f'tasktracker_pending_versions{{entity_type="topic"}} {direct["topic"]}.0' in metrics
    assert f'tasktracker_pending_versions{{entity_type="atom"}} {direct["atom"]}.0' in metrics
    return stats


async def test_aggregates_equal_counting_the_tables_after_mixed_activity(
    app_client, auth_headers, pool, owner_database_url
):
    """Submissions, a run in several batches, people's decisions one by one and in bulk, old
    entries and their retention purge: stats, trends, pending-count and /metrics answer what
    counting versions and audit_log answers, before and after compaction."""
    # The purge takes the oldest seals first: the expired entries come first.
    now = dt.datetime.now(dt.UTC)
    conn = await connect_db(owner_database_url)
    try:
        await conn.executemany(
            "INSERT INTO audit_log (at, actor, action, version_id, rule_id, rule_revision)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            [
                (now - dt.timedelta(days=400), "user:old", "approve", 1, None, None),
                (now - dt.timedelta(days=400), "rule:1@1", "reject", 2, 1, 1),
                (now - dt.timedelta(days=40), "user:bob", "escalate", 3, None, None),
                (now - dt.timedelta(days=3), "system", "approve", 4, None, None),
                (now - dt.timedelta(days=2), "rule:2@1", "reject", 5, 2, 1),
            ],
        )
    finally:
        await conn.close()
    admin = await auth_headers(Role.ADMIN)  # its token's entry after the expired ones
    for body in (
        rule("High", 90, "approve", "gte", 0.8),
        rule("Low", 50, "reject", "lt", 0.2),
        rule("Mid", 10, "escalate", "lt", 0.3),
    ):
        response = await app_client.post(RULES, json=body, headers=admin)
        assert response.status_code == 201, response.text
    ids = await submit(app_client, admin, [i / 100 for i in range(100)] * 3)
    await expect_the_direct_counts(app_client, admin, owner_database_url)

    executor, _ = executor_for(pool, batch_size=37)
    run_id = await insert_run(pool)
    await executor.execute(str(run_id))
    async with pool.acquire() as conn:
        left = [
            r["id"]
            for r in await conn.fetch(
                "SELECT id FROM versions WHERE status = 'pending' ORDER BY id"
            )
        ]
        escalated = [
            r["id"]
            for r in await conn.fetch(
                "SELECT id FROM versions WHERE status = 'escalated' ORDER BY id"
            )
        ]
    assert len(left) > 20 and escalated
    for version_id, verb in zip(left[:6], ["approve", "reject", "escalate"] * 2, strict=True):
        response = await app_client.post(f"{VERSIONS}/{version_id}/{verb}", headers=admin)
        assert response.status_code == 200, response.text
    response = await app_client.post(
        f"{VERSIONS}/bulk-approve",
        json={"ids": left[6:16] + escalated[:3] + ids[:2]},
        headers=admin,
    )
    assert response.status_code == 200, response.text
    response = await app_client.post(
        f"{VERSIONS}/bulk-reject", json={"ids": left[16:20]}, headers=admin
    )
    assert response.status_code == 200, response.text
    await submit(app_client, admin, [0.5] * 7)

    before = await expect_the_direct_counts(app_client, admin, owner_database_url)
    assert {"name": "old", "count": 1} in before["by_person"]

    assert await purge_expired_audit_entries(pool) == 2  # AUDIT_RETENTION_DAYS=365
    purged = await expect_the_direct_counts(app_client, admin, owner_database_url)
    assert {"name": "old", "count": 1} not in purged["by_person"]

    async with pool.acquire() as conn:
        rows_before = await conn.fetchval("SELECT count(*) FROM decision_counts")
        assert await summary_repo.compact_summaries(conn) > 0
        keys = await conn.fetchval(
            "SELECT count(*) FROM (SELECT DISTINCT day, action, actor_kind, rule_id, person"
            " FROM decision_counts) AS k"
        )
        rows_after = await conn.fetchval("SELECT count(*) FROM decision_counts")
    assert rows_after == keys < rows_before
    assert await expect_the_direct_counts(app_client, admin, owner_database_url) == purged


async def _writer(url: str, rounds: int, seen: list[int]) -> None:
    """Submissions, decisions of pending versions with their audit entries and the odd
    deletion, each its own transaction, as concurrent shards and people write."""
    conn = await connect_db(url)
    try:
        for n in range(rounds):
            async with conn.transaction():
                await conn.execute(
                    "INSERT INTO versions (entity_type, entity_id, version, confidence, source)"
                    " SELECT CASE WHEN g % 2 = 0 THEN 'topic' ELSE 'atom' END,"
                    " 'c-' || gen_random_uuid(), 1, 0.5, 's' FROM generate_series(1, 40) g"
                )
            async with conn.transaction():
                await conn.execute(
                    "WITH picked AS ("
                    "  SELECT id FROM versions WHERE status = 'pending'"
                    "  ORDER BY random() LIMIT 25 FOR UPDATE SKIP LOCKED"
                    "), decided AS ("
                    "  UPDATE versions AS v SET status = (ARRAY['approved', 'rejected',"
                    "    'escalated'])[1 + v.id % 3]"
                    "  FROM picked WHERE v.id = picked.id RETURNING v.id, v.status"
                    ")"
                    " INSERT INTO audit_log (actor, action, version_id, rule_id)"
                    " SELECT CASE WHEN id % 2 = 0 THEN 'rule:' || ($1::int % 3 + 1) || '@1'"
                    "  ELSE 'user:p' || $1::int END,"
                    " (ARRAY['approve', 'reject', 'escalate'])[1 + id % 3], id,"
                    " CASE WHEN id % 2 = 0 THEN $1::int % 3 + 1 END FROM decided",
                    n,
                )
            if n % 7 == 3:
                async with conn.transaction():
                    await conn.execute(
                        "DELETE FROM versions WHERE id IN (SELECT id FROM versions"
                        " WHERE status = 'approved' ORDER BY random() LIMIT 3)"
                    )
            seen.append(n)
    finally:
        await conn.close()


async def _compactor(pool, stop: asyncio.Event, folded: list[int]) -> None:
    while not stop.is_set():
        async with pool.acquire() as conn:
            folded.append(await summary_repo.compact_summaries(conn))
        await asyncio.sleep(0)


async def test_compaction_loses_and_doubles_nothing_under_concurrent_writers(
    pool, owner_database_url
):
    """Four writers (submissions, decisions with audit entries, deletions) and two
    compactions at once, round after round: the summed summaries equal counting the tables,
    and the compactions did fold rows meanwhile."""
    seen: list[int] = []
    folded: list[int] = []
    stop = asyncio.Event()
    compactors = [asyncio.create_task(_compactor(pool, stop, folded)) for _ in range(2)]
    try:
        await asyncio.gather(*(_writer(owner_database_url, 30, seen) for _ in range(4)))
    finally:
        stop.set()
        await asyncio.gather(*compactors)
    assert len(seen) == 120
    assert sum(folded) > 0
    conn = await connect_db(owner_database_url)
    try:
        direct = sorted(map(tuple, await conn.fetch(DIRECT_VERSION_COUNTS)))
        summed = sorted(map(tuple, await conn.fetch(SUMMED_VERSION_COUNTS)))
        assert summed == direct
        decisions = await conn.fetch(DIRECT_DECISION_COUNTS)
        by_kind = await conn.fetch(
            "SELECT action, actor_kind, rule_id, person, sum(n)::bigint AS n"
            " FROM decision_counts GROUP BY 1, 2, 3, 4 HAVING sum(n) <> 0"
        )
    finally:
        await conn.close()
    want = sorted(
        (
            r["action"],
            "rule" if r["actor"].startswith("rule:") else "user",
            r["rule_id"] if r["actor"].startswith("rule:") else None,
            r["actor"][5:] if r["actor"].startswith("user:") else None,
            r["count"],
        )
        for r in decisions
    )
    got = sorted((r["action"], r["actor_kind"], r["rule_id"], r["person"], r["n"]) for r in by_kind)
    # Several actors (rule:k@1 of one rule id) fold into one key: sum the reference likewise.
    merged: dict[tuple[object, ...], int] = {}
    for *key, n in want:
        merged[tuple(key)] = merged.get(tuple(key), 0) + n
    assert got == sorted((*k, n) for k, n in merged.items())


async def test_the_processes_role_reads_the_summaries_and_never_writes_them(pool):
    """The processes' role may read the summaries and call the compaction; writing them
    directly is refused (only the owner's triggers and compaction write them)."""
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM version_counts") >= 0
        await summary_repo.compact_summaries(conn)
        for statement in (
            "INSERT INTO version_counts VALUES ('pending', 'topic', 1000)",
            "UPDATE version_counts SET n = n + 1",
            "DELETE FROM decision_counts",
            "TRUNCATE version_counts",
            "INSERT INTO decision_counts VALUES (current_date, 'approve', 'rule', 1, NULL, 9)",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(statement)


async def test_truncating_versions_empties_its_counts(owner_database_url):
    """TRUNCATE (the owner's, e.g. a benchmark's reset) leaves no stale count."""
    conn = await connect_db(owner_database_url)
    try:
        await conn.execute(
            "INSERT INTO versions (entity_type, entity_id, version, confidence, source)"
            " SELECT 'topic', 't-' || g, 1, 0.5, 's' FROM generate_series(1, 10) g"
        )
        assert await conn.fetchval("SELECT sum(n) FROM version_counts") == 10
        await conn.execute("TRUNCATE versions")
        assert await conn.fetchval("SELECT count(*) FROM version_counts") == 0
    finally:
        await conn.close()


async def _plan(conn: asyncpg.Connection, sql: str, *args: object) -> str:
    rows = await conn.fetch(f"EXPLAIN {sql}", *args)
    return "\n".join(r[0] for r in rows)


async def test_each_audit_filter_reads_its_own_index(owner_database_url):
    """On a log of 200,000 entries, each filter of GET /audit (run, version, rule, a person's
    actor, an action that is not a decision) is served by an index in its order, not by the
    primary key scanned backwards; pending counts by type are an index-only scan of
    versions_pending_idx."""
    conn = await connect_db(owner_database_url)
    try:
        await conn.execute(
            "INSERT INTO audit_log (actor, action, version_id, rule_id, run_id)"
            " SELECT CASE WHEN g % 500 = 0 THEN 'user:ann' ELSE 'rule:' || (g % 10) || '@1' END,"
            " CASE WHEN g % 1000 = 0 THEN 'rule.update'"
            " ELSE 'approve' END, g, g % 10, md5((g / 10000)::text)::uuid"
            " FROM generate_series(1, 200000) g"
        )
        await conn.execute(
            "INSERT INTO versions (entity_type, entity_id, version, confidence, source, status)"
            " SELECT 'topic', 'e' || g, 1, 0.5, 's',"
            " CASE WHEN g % 100 = 0 THEN 'pending' ELSE 'approved' END"
            " FROM generate_series(1, 50000) g"
        )
        await conn.execute("VACUUM ANALYZE audit_log")
        await conn.execute("VACUUM ANALYZE versions")
        old_run = await conn.fetchval("SELECT md5('0')::uuid")
        cases = {
            "audit_log_run_id_idx": AuditFilter(run_id=old_run),
            "audit_log_actor_idx": AuditFilter(actor="user:ann"),
            "audit_log_action_idx": AuditFilter(action="rule.update"),
            "audit_log_version_id_idx": AuditFilter(version_id=17),
            "audit_log_rule_id_idx": AuditFilter(rule_id=3, action="approve"),
        }
        for index, where in cases.items():
            listing = listing_for(where).sql
            for before_id in (None, 150_000):
                plan = await _plan(
                    conn, listing, before_id, where.version_id, where.rule_id, where.run_id,
                    where.actor, where.action, None, None, 50,
                )  # fmt: skip
                assert f"Index Scan Backward using {index}" in plan, plan
                assert "Sort" not in plan, plan
            # The first page, prepared (as the pool does) and planned generically, too.
            await conn.execute("SET plan_cache_mode = force_generic_plan")
            plan = await _plan(
                conn, listing, None, where.version_id, where.rule_id, where.run_id,
                where.actor, where.action, None, None, 50,
            )  # fmt: skip
            await conn.execute("RESET plan_cache_mode")
            assert f"Index Scan Backward using {index}" in plan, plan
        pending = await _plan(
            conn,
            "SELECT entity_type, count(*) FROM versions WHERE status = 'pending' GROUP BY 1",
        )
        assert "Index Only Scan using versions_pending_idx" in pending, pending
    finally:
        await conn.close()


async def test_a_run_leaves_its_summaries_compacted(pool, database_url):
    """After a run in several batches, each summary holds one row per key (the executor
    compacts after a run): what the batches appended is folded."""
    await load_generated_versions(database_url, 500)
    await insert_rule(pool, "half", 0.5)
    executor, _ = executor_for(pool, batch_size=50)
    await executor.execute(str(await insert_run(pool)))
    async with pool.acquire() as conn:
        for table, key in (
            ("version_counts", "status, entity_type"),
            ("decision_counts", "day, action, actor_kind, rule_id, person"),
        ):
            rows = await conn.fetchval(f"SELECT count(*) FROM {table}")  # noqa: S608
            keys = await conn.fetchval(
                f"SELECT count(*) FROM (SELECT DISTINCT {key} FROM {table}) AS k"  # noqa: S608
            )
            assert rows == keys, table
        approved = await conn.fetchval(
            "SELECT sum(n) FROM version_counts WHERE status = 'approved'"
        )
    assert approved == 250
