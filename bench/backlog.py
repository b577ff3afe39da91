"""`make bench --backlog N`: what a run costs when N versions that no rule decides wait.

A fresh database, the ten benchmark rules over HTTP, a real `tasktracker api` and one
`tasktracker worker`. N versions are loaded with COPY and made neutral (mid scores, a plain
name, source `llm`, created in id order within the last 667 hours: none of the ten rules
decides them, Stale Escalate's 720 hours included), and a first run evaluates them all.
Then, `repeats` times each: 1,000 new realistic versions arrive and a run is triggered over
HTTP, (a) under the same rules (it evaluates only the new ones: docs/performance.md, "What a
run evaluates") and (b) after a rule changed (disabled and enabled again: it evaluates every
pending version). Trigger to COMPLETED is printed per case: median and max, wall clock (this
process's trigger to its poll seeing COMPLETED) and the run's own requested_at to finished_at.
"""

from __future__ import annotations

import statistics
import time
import uuid
from typing import Any

import asyncpg
import httpx

from bench.dataset import RULES, load_versions
from bench.processes import (
    FINAL,
    TASKTRACKER,
    delete_queue,
    free_port,
    fresh_database,
    service,
    service_env,
    trigger,
    until_ready,
    wait_run,
)

NEW_VERSIONS = 1_000
_SPREAD_SECONDS = 2_400_000  # the waiting versions' ages: 0 to ~667 hours
_FIRST_NEW_ID = 30_000_000  # entity ids of the new versions (the waiting ones use 0..N)


async def measure_backlog(waiting: int, repeats: int = 5) -> dict[str, Any]:
    """The figures of one backlog measurement (see the module's docstring)."""
    queue = f"tt-bench-{uuid.uuid4().hex[:10]}"
    async with fresh_database() as url:
        port = free_port()
        env = service_env(url, queue)
        try:
            with (
                service([TASKTRACKER, "api", "--port", str(port)], env),
                service([TASKTRACKER, "worker"], env),
            ):
                async with httpx.AsyncClient(
                    base_url=f"http://127.0.0.1:{port}", timeout=60
                ) as client:
                    await until_ready(client)
                    rule_ids = []
                    for body in RULES:
                        created = await client.post("/api/v1/automation/rules", json=body)
                        rule_ids.append(created.raise_for_status().json()["id"])
                    conn = await asyncpg.connect(url)
                    try:
                        return await _measure(conn, client, waiting, repeats, rule_ids[-1])
                    finally:
                        await conn.close()
        finally:
            await delete_queue(queue)


async def _measure(
    conn: asyncpg.Connection, client: httpx.AsyncClient, waiting: int, repeats: int, rule: int
) -> dict[str, Any]:
    await load_versions(conn, waiting)
    # Created in id order, as the service creates them (created_at is the inserting
    # transaction's now()), over the last ~667 hours: none yet past Stale Escalate's 720.
    await conn.execute(
        "UPDATE versions AS v SET confidence = 0.55, similarity = 0.55, source = 'llm',"
        """ data = '{"name": "plain", "type": "note"}',"""
        " created_at = now() - make_interval(secs => (m.hi - v.id) * $1::float8)"
        " FROM (SELECT max(id) AS hi FROM versions) AS m",
        _SPREAD_SECONDS / max(1, waiting),
    )
    await conn.execute("VACUUM ANALYZE versions")
    first = await _timed_run(conn, client)
    figures: dict[str, Any] = {
        "waiting": await conn.fetchval("SELECT count(*) FROM versions WHERE status = 'pending'"),
        "first_run": first,
        "new_versions_per_run": NEW_VERSIONS,
    }
    loaded = 0
    for case in ("same rules", "a rule changed"):
        runs = []
        for _ in range(repeats):
            start = _FIRST_NEW_ID + loaded * NEW_VERSIONS
            await load_versions(conn, NEW_VERSIONS, seed=100 + loaded, first=start)
            loaded += 1
            if case != "same rules":  # a new revision of one rule: the next run sees everything
                for verb in ("disable", "enable"):
                    answer = await client.post(f"/api/v1/automation/rules/{rule}/{verb}")
                    answer.raise_for_status()
            runs.append(await _timed_run(conn, client))
        figures[case] = {
            "wall_ms_median": statistics.median(r["wall_ms"] for r in runs),
            "wall_ms_max": max(r["wall_ms"] for r in runs),
            "db_ms_median": statistics.median(r["db_ms"] for r in runs),
            "evaluated": [r["evaluated"] for r in runs],
            "states": sorted({r["state"] for r in runs}),
        }
    return figures


async def _timed_run(conn: asyncpg.Connection, client: httpx.AsyncClient) -> dict[str, Any]:
    started = time.perf_counter()
    run = await wait_run(conn, await trigger(client), FINAL)
    wall = time.perf_counter() - started
    return {
        "state": run["state"],
        "evaluated": run["evaluated"],
        "decided": run["approved"] + run["rejected"] + run["escalated"],
        "wall_ms": round(wall * 1000, 1),
        "db_ms": round((run["finished_at"] - run["requested_at"]).total_seconds() * 1000, 1),
    }
