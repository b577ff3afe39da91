"""One measurement: a fresh database, the api and K workers, the rules over HTTP, the small
cases, then N pending versions decided by a run between the floors before and after it."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import statistics
import time
import uuid
from typing import Any

import asyncpg
import httpx

from app.audit.verify import verify_chain
from app.config import DatabaseSettings
from app.db import connect
from app.rules.compiler import RuleToEvaluate, rules_from_snapshot
from app.rules.evaluator import deciding_rule
from bench.dataset import RULES, load_versions
from bench.floors import measure_floor, measure_parallel_floor, measure_per_row, version_facts
from bench.processes import (
    FINAL,
    TASKTRACKER,
    delete_queue,
    free_port,
    fresh_database,
    observe,
    peak_rss_mb,
    service,
    service_env,
    trigger,
    until_ready,
    wait_run,
)
from bench.rulesets import FAMILIES

SMALL_CASE = 47
LATENCY_TRIGGERS = 20
# Generated rules rank before the ten benchmark rules (priorities 901-1000 against 20-90), so
# that every version passes through all of them: the CASE's worst case, with the decisions of
# the ten (about four in five) unchanged.
GENERATED_PRIORITY_SHIFT = 900


@dataclasses.dataclass
class Figures:
    versions: int
    rules: int
    decided: int = 0
    load_seconds: float = 0.0
    run_wall_seconds: float = 0.0
    run_worker_seconds: float = 0.0
    floor_seconds: float = 0.0
    floor_before_seconds: float = 0.0
    floor_after_seconds: float = 0.0
    floor_unsealed_seconds: float = 0.0
    sealing_cost: float = 0.0
    # Sealing in the run's own shape: one connection, 10,000-id batches, each committed and
    # sealed (8,000 entries a seal), with and without the seal trigger.
    batched_floor_seconds: float = 0.0
    batched_floor_unsealed_seconds: float = 0.0
    batched_sealing_cost: float = 0.0
    ratio: float = 0.0
    run_state: str = ""
    worker_peak_rss_mb_before_run: float = 0.0
    worker_peak_rss_mb: float = 0.0
    trigger_to_executing_median_ms: float = 0.0
    small_case_versions: int = SMALL_CASE
    small_case_wall_seconds: float = 0.0
    small_case_db_seconds: float = 0.0
    per_row_versions: int = 0
    per_row_seconds: float | None = None
    per_row_floor_seconds: float | None = None
    verified: bool | None = None
    audit_verified: bool | None = None
    audit_verify_entries: int = 0
    audit_verify_seconds: float = 0.0
    workers: int = 1
    shards: int = 0
    parallel_floor_seconds: float = 0.0
    parallel_floor_before_seconds: float = 0.0
    parallel_floor_after_seconds: float = 0.0
    ratio_parallel: float = 0.0
    us_per_version_per_rule: float = 0.0
    floor_us_per_version_per_rule: float = 0.0
    # Where the time goes (docs/scaling.md): the machine's CPU busy share, the cluster's WAL
    # written, and what the bench database's active sessions waited on (sampled every 20 ms),
    # during the run and during the K-way parallel floor (its second measurement).
    run_observed: dict[str, Any] = dataclasses.field(default_factory=dict)
    parallel_floor_observed: dict[str, Any] = dataclasses.field(default_factory=dict)


async def measure(
    versions: int,
    rule_count: int,
    *,
    per_row: int,
    check: bool,
    workers: int = 1,
    family: str = "guarded",
) -> Figures:
    figures = Figures(versions=versions, rules=rule_count, workers=workers)
    queue = f"tt-bench-{uuid.uuid4().hex[:10]}"
    async with fresh_database() as url:
        port = free_port()
        env = service_env(url, queue)
        # K workers decide one run together: split into K shards (one worker: never split).
        worker_env = {**env, "AUTOMATION_SHARDS": str(workers)}
        try:
            with (
                service([TASKTRACKER, "api", "--port", str(port)], env),
                contextlib.ExitStack() as stack,
            ):
                pids = [
                    stack.enter_context(service([TASKTRACKER, "worker"], worker_env)).pid
                    for _ in range(workers)
                ]
                async with httpx.AsyncClient(
                    base_url=f"http://127.0.0.1:{port}", timeout=60
                ) as client:
                    await until_ready(client)
                    for body in _rules(rule_count, family):
                        (
                            await client.post("/api/v1/automation/rules", json=body)
                        ).raise_for_status()
                    # jsonb as Python objects, as the service reads it (the evaluator needs it).
                    conn = await connect(DatabaseSettings(url=url), "bench")
                    try:
                        await _small_cases(conn, client, figures)
                        figures.worker_peak_rss_mb_before_run = max(map(peak_rss_mb, pids))
                        await _big_run(conn, client, figures, pids, per_row, check, url)
                    finally:
                        await conn.close()
        finally:
            await delete_queue(queue)
    return figures


def _rules(count: int, family: str = "guarded") -> list[dict[str, Any]]:
    """The first `count` benchmark rules; past ten, the ten and `count - 10` rules of a
    bench.rulesets family (the same every time), ranked before the ten."""
    generated = [
        {**body, "priority": body["priority"] + GENERATED_PRIORITY_SHIFT}
        for body in FAMILIES[family](max(0, count - len(RULES)))
    ]
    return [*generated, *RULES[: min(count, len(RULES))]]


async def _small_cases(
    conn: asyncpg.Connection, client: httpx.AsyncClient, figures: Figures
) -> None:
    # Warm up the pipeline once (first connections, first plans), as a running service is.
    await wait_run(conn, await trigger(client), FINAL)
    await load_versions(conn, SMALL_CASE, seed=47, first=10_000_000)
    started = time.perf_counter()
    run = await wait_run(conn, await trigger(client), FINAL)
    figures.small_case_wall_seconds = time.perf_counter() - started
    figures.small_case_db_seconds = (run["finished_at"] - run["requested_at"]).total_seconds()
    latencies = []
    for _ in range(LATENCY_TRIGGERS):
        run = await wait_run(conn, await trigger(client), FINAL)
        latencies.append((run["started_at"] - run["requested_at"]).total_seconds() * 1000)
    figures.trigger_to_executing_median_ms = statistics.median(latencies)


async def _big_run(  # noqa: PLR0917 - one measurement's context, in order
    conn: asyncpg.Connection,
    client: httpx.AsyncClient,
    figures: Figures,
    worker_pids: list[int],
    per_row: int,
    check: bool,
    url: str,
) -> None:
    started = time.perf_counter()
    await load_versions(conn, figures.versions)
    figures.load_seconds = time.perf_counter() - started
    await conn.execute(
        "CREATE TABLE bench_pristine AS SELECT * FROM versions WHERE status = 'pending'"
    )
    rules = rules_from_snapshot(
        await conn.fetch("SELECT * FROM automation_rules WHERE enabled AND deleted_at IS NULL")
    )
    evaluated_at = dt.datetime.now(dt.UTC)
    # The floors run with jit off, as a run's batches do (docs/performance.md: jit gives the
    # compiled decision nothing, and compiling a CASE of 1,000 rules costs the one statement
    # its largest share).
    await conn.execute("SET jit = off")
    floors = _Floors(conn, url, rules, evaluated_at)
    unsealed_before = await _floors_before(floors, figures, per_row)
    run = await _the_run(conn, client, figures, worker_pids, url)
    await _floors_after(floors, figures, unsealed_before)
    report = await verify_chain(conn)
    figures.audit_verified = report.ok
    figures.audit_verify_entries = report.entries
    figures.audit_verify_seconds = report.seconds
    figures.parallel_floor_after_seconds = await measure_parallel_floor(
        conn, url, rules, evaluated_at, figures.workers, observed=figures.parallel_floor_observed
    )
    figures.parallel_floor_seconds = min(
        figures.parallel_floor_before_seconds, figures.parallel_floor_after_seconds
    )
    figures.ratio_parallel = figures.run_worker_seconds / figures.parallel_floor_seconds
    per_unit = 1e6 / (figures.versions * figures.rules)
    figures.us_per_version_per_rule = figures.run_worker_seconds * per_unit
    figures.floor_us_per_version_per_rule = figures.floor_seconds * per_unit
    if check:
        snapshot = json.loads(run["rules"]) if isinstance(run["rules"], str) else run["rules"]
        figures.verified = await verify(conn, rules_from_snapshot(snapshot), run)


@dataclasses.dataclass(frozen=True)
class _Floors:
    """What every floor of one measurement runs with: the owner's connection and URL, the
    rules as stored and the instant they are evaluated at."""

    conn: asyncpg.Connection
    url: str
    rules: list[RuleToEvaluate]
    evaluated_at: dt.datetime


async def _floors_before(floors: _Floors, figures: Figures, per_row: int) -> float:
    """The floors before the run (and the per-row way); the unsealed floor's seconds."""
    conn, url, rules, evaluated_at = floors.conn, floors.url, floors.rules, floors.evaluated_at
    figures.floor_before_seconds = await measure_floor(conn, rules, evaluated_at)
    unsealed_before = await measure_floor(conn, rules, evaluated_at, sealed=False)
    figures.parallel_floor_before_seconds = await measure_parallel_floor(
        conn, url, rules, evaluated_at, figures.workers
    )
    if per_row:
        figures.per_row_versions = per_row
        figures.per_row_seconds = await measure_per_row(conn, rules, evaluated_at, per_row)
        await conn.execute(
            "CREATE TABLE bench_sample AS SELECT * FROM bench_pristine ORDER BY id LIMIT $1",
            per_row,
        )
        await conn.execute("ALTER TABLE bench_pristine RENAME TO bench_all")
        await conn.execute("ALTER TABLE bench_sample RENAME TO bench_pristine")
        figures.per_row_floor_seconds = await measure_floor(conn, rules, evaluated_at)
        await conn.execute("DROP TABLE bench_pristine")
        await conn.execute("ALTER TABLE bench_all RENAME TO bench_pristine")
    return unsealed_before


async def _the_run(
    conn: asyncpg.Connection,
    client: httpx.AsyncClient,
    figures: Figures,
    worker_pids: list[int],
    url: str,
) -> asyncpg.Record:
    """The run itself, triggered over HTTP and watched; its row once it is final."""
    await conn.execute("CHECKPOINT")
    started = time.perf_counter()
    async with observe(url, figures.run_observed):
        run = await wait_run(conn, await trigger(client), FINAL)
    figures.run_wall_seconds = time.perf_counter() - started
    figures.run_worker_seconds = (run["finished_at"] - run["started_at"]).total_seconds()
    figures.run_state = run["state"] + (f" ({run['error']})" if run["error"] else "")
    figures.decided = run["approved"] + run["rejected"] + run["escalated"]
    figures.shards = run["shards"]
    figures.worker_peak_rss_mb = max(map(peak_rss_mb, worker_pids))
    return run


async def _floors_after(floors: _Floors, figures: Figures, unsealed_before: float) -> None:
    """The single-statement floors after the run, sealed and not, and the batched floor."""
    conn, url, rules, evaluated_at = floors.conn, floors.url, floors.rules, floors.evaluated_at
    figures.floor_after_seconds = await measure_floor(conn, rules, evaluated_at)
    figures.floor_seconds = min(figures.floor_before_seconds, figures.floor_after_seconds)
    # Sealed and unsealed each measured before and after the run, the best of each compared:
    # on a shared machine one measurement of each can differ by more than sealing costs.
    figures.floor_unsealed_seconds = min(
        unsealed_before, await measure_floor(conn, rules, evaluated_at, sealed=False)
    )
    figures.sealing_cost = figures.floor_seconds / figures.floor_unsealed_seconds - 1
    figures.batched_floor_unsealed_seconds = await measure_parallel_floor(
        conn, url, rules, evaluated_at, 1, sealed=False
    )
    figures.batched_floor_seconds = await measure_parallel_floor(conn, url, rules, evaluated_at, 1)
    figures.batched_sealing_cost = (
        figures.batched_floor_seconds / figures.batched_floor_unsealed_seconds - 1
    )
    figures.ratio = figures.run_worker_seconds / figures.floor_seconds


async def verify(
    conn: asyncpg.Connection, rules: list[RuleToEvaluate], run: asyncpg.Record
) -> bool:
    """Every version the run covered is decided exactly as the reference evaluator decides it."""
    rows = await conn.fetch(
        "SELECT * FROM versions WHERE id <= $1 AND (run_id = $2 OR status = 'pending')",
        run["max_version_id"],
        run["id"],
    )
    for row in rows:
        expected = deciding_rule(rules, version_facts(row), run["evaluated_at"])
        if (row["rule_id"] if row["status"] != "pending" else None) != (
            expected.id if expected else None
        ):
            print(f"version {row['id']}: decided by {row['rule_id']}, expected {expected}")
            return False
    return True
