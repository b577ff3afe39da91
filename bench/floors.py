"""The floors the run is measured against (SPEC section 9): the same decisions by one
hand-written statement on copies of the pending versions (sealed as audit_log is, or not), the
same statement from K connections over id ranges in 10,000-id batches, and the per-row way."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
import uuid
from typing import Any

import asyncpg

from app.repositories.compiled import splice_deciding_rule
from app.rules.compiler import RuleToEvaluate
from app.rules.evaluator import VersionFacts, deciding_rule
from bench.processes import observe

PARALLEL_BATCH_IDS = 10_000

FLOOR_STATEMENT = """
WITH chosen AS (
    SELECT v.id, {deciding_rule} AS position FROM floor_versions v WHERE v.status = 'pending'
), decided AS (
    UPDATE floor_versions t
    SET status = CASE r.action WHEN 'approve' THEN 'approved' WHEN 'reject' THEN 'rejected'
                               ELSE 'escalated' END,
        decided_at = now(), decided_by = 'rule:' || r.rule_id || '@' || r.revision,
        rule_id = r.rule_id, rule_revision = r.revision, run_id = $5, reason = r.name
    FROM chosen c
    JOIN unnest($1::int4[], $2::int4[], $3::text[], $4::text[])
         WITH ORDINALITY AS r(rule_id, revision, action, name, position)
      ON r.position = c.position
    WHERE t.id = c.id
    RETURNING t.id, r.rule_id, r.revision, r.action
)
INSERT INTO floor_audit (actor, action, version_id, rule_id, rule_revision, run_id)
SELECT 'rule:' || rule_id || '@' || revision, action, id, rule_id, revision, $5 FROM decided
"""


PARALLEL_STATEMENT = FLOOR_STATEMENT.replace(
    "WHERE v.status = 'pending'", "WHERE v.status = 'pending' AND v.id > $6 AND v.id <= $7"
)


def floor_statement(
    rules: list[RuleToEvaluate], evaluated_at: dt.datetime, *, ranged: bool
) -> tuple[str, tuple[Any, ...], list[Any]]:
    """The floor's statement with the rules' compiled decision spliced in, its leading
    parameters ($1-$5: the rules in evaluation order and a run id) and the compiled decision's
    own (from $6; from $8 when `ranged`, whose $6 < id <= $7 is each batch's range). The floors'
    two ways of deciding a batch, kept in this one place."""
    if ranged:
        statement, compiled = splice_deciding_rule(PARALLEL_STATEMENT, rules, evaluated_at, first=8)
    else:
        statement, compiled = splice_deciding_rule(FLOOR_STATEMENT, rules, evaluated_at, first=6)
    ordered = sorted(rules, key=lambda r: (-r.priority, r.id))
    columns = (
        [r.id for r in ordered],
        [r.revision for r in ordered],
        [r.action for r in ordered],
        [r.name for r in ordered],
        uuid.uuid4(),
    )
    return statement, columns, compiled


FLOOR_TABLES = (
    "floor_versions, floor_audit, floor_seals, floor_chain_head,"
    " floor_version_counts, floor_decision_counts"
)

# The summaries (migration 0011) kept on the copies by the same trigger functions as on
# versions and audit_log, writing to copies of the summary tables: the floor pays the rollup.
FLOOR_SUMMARY_TRIGGERS = (
    "CREATE TRIGGER floor_versions_count_insert AFTER INSERT ON floor_versions"
    " REFERENCING NEW TABLE AS new_versions FOR EACH STATEMENT"
    " EXECUTE FUNCTION versions_count_change('floor_version_counts')",
    "CREATE TRIGGER floor_versions_count_update AFTER UPDATE ON floor_versions"
    " REFERENCING OLD TABLE AS old_versions NEW TABLE AS new_versions FOR EACH STATEMENT"
    " EXECUTE FUNCTION versions_count_change('floor_version_counts')",
    "CREATE TRIGGER floor_audit_count_insert AFTER INSERT ON floor_audit"
    " REFERENCING NEW TABLE AS new_entries FOR EACH STATEMENT"
    " EXECUTE FUNCTION audit_log_count_decisions('floor_decision_counts')",
)


async def create_floor_copies(
    conn: asyncpg.Connection, *, sealed: bool = True, limit: int | None = None
) -> None:
    """The floors' copies of versions (the pristine pending ones, or the first `limit`) and of
    the audit log, their summaries kept by the same triggers as the real tables' (their own
    copies of version_counts and decision_counts); `sealed`: the audit copy sealed as audit_log
    is (the same trigger function, its own copies of audit_seals and audit_chain_head)."""
    await conn.execute(f"DROP TABLE IF EXISTS {FLOOR_TABLES}")
    await conn.execute("CREATE TABLE floor_versions (LIKE versions INCLUDING ALL)")
    await conn.execute("CREATE TABLE floor_audit (LIKE audit_log INCLUDING ALL)")
    await conn.execute("CREATE TABLE floor_seals (LIKE audit_seals INCLUDING ALL)")
    await conn.execute("CREATE TABLE floor_chain_head (LIKE audit_chain_head INCLUDING ALL)")
    await conn.execute("INSERT INTO floor_chain_head SELECT * FROM audit_chain_head")
    await conn.execute("CREATE TABLE floor_version_counts (LIKE version_counts INCLUDING ALL)")
    await conn.execute("CREATE TABLE floor_decision_counts (LIKE decision_counts INCLUDING ALL)")
    for trigger in FLOOR_SUMMARY_TRIGGERS:
        await conn.execute(trigger)
    if sealed:
        await conn.execute(
            "CREATE TRIGGER floor_audit_seal AFTER INSERT ON floor_audit"
            " REFERENCING NEW TABLE AS new_entries FOR EACH STATEMENT"
            " EXECUTE FUNCTION audit_log_seal('floor_seals', 'floor_chain_head')"
        )
    await conn.execute(
        "INSERT INTO floor_versions OVERRIDING SYSTEM VALUE"
        " SELECT * FROM bench_pristine ORDER BY id LIMIT $1",
        limit,
    )
    await conn.execute("VACUUM ANALYZE floor_versions")


async def drop_floor_copies(conn: asyncpg.Connection, *, sealed: bool = True) -> None:
    """Drop the floors' copies, first checking that every audit entry written was sealed and
    counted in the summary."""
    if sealed:
        sealed_entries = await conn.fetchval(
            "SELECT coalesce(sum(entry_count), 0) FROM floor_seals"
        )
        if sealed_entries != await conn.fetchval("SELECT count(*) FROM floor_audit"):
            raise RuntimeError("the floor's audit copy was not sealed")
    counted = await conn.fetchval("SELECT coalesce(sum(n), 0) FROM floor_decision_counts")
    if counted != await conn.fetchval("SELECT count(*) FROM floor_audit"):
        raise RuntimeError("the floor's decisions were not counted in its summary")
    await conn.execute(f"DROP TABLE {FLOOR_TABLES}")


async def measure_floor(
    conn: asyncpg.Connection,
    rules: list[RuleToEvaluate],
    evaluated_at: dt.datetime,
    *,
    sealed: bool = True,
) -> float:
    """Seconds for the floor's one statement over copies of the pristine pending versions;
    `sealed`: its audit copy sealed as audit_log is (the same trigger function)."""
    await create_floor_copies(conn, sealed=sealed)
    await conn.execute("CHECKPOINT")
    statement, columns, values = floor_statement(rules, evaluated_at, ranged=False)
    started = time.perf_counter()
    await conn.execute(statement, *columns, *values)
    elapsed = time.perf_counter() - started
    await drop_floor_copies(conn, sealed=sealed)
    return elapsed


async def measure_parallel_floor(
    conn: asyncpg.Connection,
    url: str,
    rules: list[RuleToEvaluate],
    evaluated_at: dt.datetime,
    ways: int,
    *,
    observed: dict[str, Any] | None = None,
    sealed: bool = True,
) -> float:
    """Seconds for the K-way parallel floor: the floor's statement on the same copies, from
    `ways` connections at once, each over its id range (about equal pending count) in
    10,000-id batches, each batch its own transaction (with jit off, as a run's batches);
    `sealed` as in measure_floor."""
    await create_floor_copies(conn, sealed=sealed)
    bounds = await conn.fetch(
        "SELECT max(id) AS hi FROM (SELECT id, ntile($1) OVER (ORDER BY id) AS part"
        " FROM floor_versions WHERE status = 'pending') p GROUP BY part ORDER BY part",
        ways,
    )
    highs = [int(row["hi"]) for row in bounds]
    ranges = list(zip([0, *highs[:-1]], highs, strict=True))
    await conn.execute("CHECKPOINT")
    statement, columns, values = floor_statement(rules, evaluated_at, ranged=True)
    connections = [await asyncpg.connect(url) for _ in ranges]
    try:
        for other in connections:
            await other.execute("SET jit = off")

        async def one_range(other: asyncpg.Connection, low: int, high: int) -> None:
            for after in range(low, high, PARALLEL_BATCH_IDS):
                upto = min(after + PARALLEL_BATCH_IDS, high)
                await other.execute(statement, *columns, after, upto, *values)

        started = time.perf_counter()
        async with observe(url, observed) if observed is not None else contextlib.nullcontext():
            await asyncio.gather(
                *(
                    one_range(other, low, high)
                    for other, (low, high) in zip(connections, ranges, strict=True)
                )
            )
        elapsed = time.perf_counter() - started
    finally:
        for other in connections:
            await other.close()
    await drop_floor_copies(conn, sealed=sealed)
    return elapsed


async def measure_per_row(
    conn: asyncpg.Connection, rules: list[RuleToEvaluate], evaluated_at: dt.datetime, count: int
) -> float:
    """The per-row way on `count` pristine versions: fetch, decide in Python, one UPDATE and
    one audit INSERT per decided version, in one transaction."""
    await create_floor_copies(conn, limit=count)
    await conn.execute("CHECKPOINT")
    statuses = {"approve": "approved", "reject": "rejected", "escalate": "escalated"}
    started = time.perf_counter()
    async with conn.transaction():
        rows = await conn.fetch("SELECT * FROM floor_versions WHERE status = 'pending'")
        for row in rows:
            rule = deciding_rule(rules, version_facts(row), evaluated_at)
            if rule is None:
                continue
            await conn.execute(
                "UPDATE floor_versions SET status = $2, decided_at = now(), decided_by = $3,"
                " rule_id = $4, rule_revision = $5, reason = $6"
                " WHERE id = $1 AND status = 'pending'",
                row["id"],
                statuses[rule.action],
                f"rule:{rule.id}@{rule.revision}",
                rule.id,
                rule.revision,
                rule.name,
            )
            await conn.execute(
                "INSERT INTO floor_audit (actor, action, version_id, rule_id, rule_revision)"
                " VALUES ($1, $2, $3, $4, $5)",
                f"rule:{rule.id}@{rule.revision}",
                rule.action,
                row["id"],
                rule.id,
                rule.revision,
            )
    elapsed = time.perf_counter() - started
    await drop_floor_copies(conn)
    return elapsed


def version_facts(row: asyncpg.Record) -> VersionFacts:
    return VersionFacts(**{name: row[name] for name in VersionFacts.__dataclass_fields__})
