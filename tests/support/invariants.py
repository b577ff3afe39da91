"""The guarantees every fault scenario must leave intact, checked by SQL (issue: fault
tolerance, point 1), over the runs a scenario created."""

from __future__ import annotations

import uuid
from collections.abc import Collection

import asyncpg

from tests.support.services import connect_db


async def assert_invariants(conn: asyncpg.Connection, run_ids: Collection[uuid.UUID]) -> None:
    """Every run ended COMPLETED or FAILED; no version was decided twice by rules; each
    version a rule decided has exactly one decision row; each run's counters add up to the
    decisions it wrote."""
    ids = list(run_ids)
    # The scenario just wrote these rows: without statistics the planner would join a
    # million versions to their audit rows by nested loops.
    await conn.execute("ANALYZE versions, audit_log, automation_runs")
    unfinished = await conn.fetch(
        "SELECT id, state FROM automation_runs WHERE id = ANY($1::uuid[])"
        " AND state NOT IN ('COMPLETED', 'FAILED')",
        ids,
    )
    assert not unfinished, f"runs left unfinished: {[tuple(r) for r in unfinished]}"
    found = await conn.fetchval(
        "SELECT count(*) FROM automation_runs WHERE id = ANY($1::uuid[])", ids
    )
    assert found == len(set(ids)), "a run the scenario created is missing"

    twice = await conn.fetch(
        "SELECT version_id, count(*) FROM audit_log"
        " WHERE action IN ('approve', 'reject', 'escalate') AND actor LIKE 'rule:%'"
        " GROUP BY version_id HAVING count(*) > 1"
    )
    assert not twice, f"versions decided twice by rules: {[tuple(r) for r in twice][:10]}"

    unaudited = await conn.fetchval(
        "SELECT count(*) FROM versions v WHERE v.decided_by LIKE 'rule:%' AND NOT EXISTS ("
        " SELECT 1 FROM audit_log a WHERE a.version_id = v.id AND a.run_id = v.run_id"
        " AND a.action IN ('approve', 'reject', 'escalate'))"
    )
    assert unaudited == 0, f"{unaudited} rule decisions without their audit row"

    mismatched = await conn.fetch(
        "SELECT r.id, r.approved + r.rejected + r.escalated AS counted,"
        " (SELECT count(*) FROM audit_log a WHERE a.run_id = r.id"
        " AND a.action IN ('approve', 'reject', 'escalate')) AS written"
        " FROM automation_runs r WHERE r.id = ANY($1::uuid[]) AND NOT r.dry_run",
        ids,
    )
    wrong = [tuple(r) for r in mismatched if r["counted"] != r["written"]]
    assert not wrong, f"run counters that do not add up: {wrong}"


async def assert_one_evaluation_at_a_time(conn: asyncpg.Connection) -> None:
    """No two non-dry runs were evaluating at the same moment (their [started, finished]
    spans do not overlap)."""
    overlaps = await conn.fetch(
        "SELECT a.id, b.id FROM automation_runs a JOIN automation_runs b ON a.id < b.id"
        " WHERE NOT a.dry_run AND NOT b.dry_run AND a.started_at IS NOT NULL"
        " AND b.started_at IS NOT NULL"
        " AND tstzrange(a.started_at, a.finished_at) && tstzrange(b.started_at, b.finished_at)"
    )
    assert not overlaps, f"non-dry runs evaluated at once: {[tuple(r) for r in overlaps]}"


async def check_runs(url: str, runs: list[uuid.UUID]) -> None:
    """assert_invariants over `runs` and assert_one_evaluation_at_a_time, in the database at
    `url`."""
    conn = await connect_db(url)
    try:
        await assert_invariants(conn, runs)
        await assert_one_evaluation_at_a_time(conn)
    finally:
        await conn.close()
