"""`make bench`: pending versions through the real pipeline, against the SQL floor.

One invocation, on the local PostgreSQL and RabbitMQ:
  1. a fresh database, the rules over HTTP, a real `tasktracker api` and `tasktracker worker`;
  2. the small cases: 47 versions triggered to COMPLETED, and trigger-to-EXECUTING over 20
     triggers;
  3. N pending versions loaded with COPY;
  4. the floor (SPEC section 9): the same decisions by one hand-written UPDATE ... CASE plus
     the audit INSERT, on copies made with LIKE ... INCLUDING ALL, before and after the run;
     its audit copy is sealed by the same trigger function as audit_log (its own copies of
     audit_seals and audit_chain_head), so the ratio compares like with like; once more
     without the seal trigger (before and after the run too), for the cost of sealing;
  5. the run itself, triggered over HTTP, with the worker's peak memory; then
     `tasktracker audit verify` over what it wrote (the chain checks out, and how fast);
then a table on stdout and JSON in bench/results/. `--per-row` also times the per-row way
(fetch, decide in Python, one UPDATE per version) on a copy, and `--sweep` runs several sizes
and draws bench/results/scaling.png.

`--workers K [K ...]` and `--rules R [R ...]` measure every pair: K worker processes (the run
split into K shards, AUTOMATION_SHARDS=K) and R rules (the ten benchmark rules, and past ten
the rules of bench.rulesets.generated_rules(R - 10) ranked before them), each against the
single-statement floor and the K-way parallel floor (K connections, each its id range in
10,000-id batches) measured in the same invocation; several pairs draw
bench/results/workers.png.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import asyncpg
import httpx

from app.config import DatabaseSettings
from app.db import connect, with_database
from app.migrate import migrate
from app.repositories.compiled import splice_deciding_rule
from app.rules.compiler import RuleToEvaluate, rules_from_snapshot
from app.rules.evaluator import VersionFacts, deciding_rule
from app.services.audit_verify import verify_chain
from bench.dataset import RULES, load_versions
from bench.rulesets import generated_rules

ROOT = Path(__file__).parents[1]
RESULTS = ROOT / "bench" / "results"
TASKTRACKER = str(Path(sys.executable).with_name("tasktracker"))
ADMIN_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
AMQP_URL = os.environ.get("BENCH_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
SMALL_CASE = 47
LATENCY_TRIGGERS = 20
PARALLEL_BATCH_IDS = 10_000
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


# -- processes ---------------------------------------------------------------------------------


def _free_port() -> int:
    import socket  # noqa: PLC0415

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def service(argv: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(  # noqa: S603 - our own console script
        argv, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


# -- database ----------------------------------------------------------------------------------


# The processes connect as a role of their own, as deployed (SPEC section 3); the benchmark
# itself (its floor creates tables) as the owner.
BENCH_APP_ROLE = "tasktracker_bench_app"


def _as_app(url: str) -> str:
    parts = urlsplit(url)
    host = f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)
    return urlunsplit(parts._replace(netloc=f"{BENCH_APP_ROLE}:bench@{host}"))


@contextlib.asynccontextmanager
async def fresh_database() -> AsyncIterator[str]:
    """A migrated database: the owner's URL (the processes' is `_as_app` of it)."""
    name = f"tt_bench_{uuid.uuid4().hex[:10]}"
    url = with_database(ADMIN_URL, name)
    await asyncio.to_thread(migrate, DatabaseSettings(url=_as_app(url)), owner_url=url)
    try:
        yield url
    finally:
        admin = await asyncpg.connect(ADMIN_URL)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def wait_run(conn: asyncpg.Connection, run_id: str, states: set[str]) -> asyncpg.Record:
    """Poll the run every 2 ms until it reaches one of `states` (within 5 minutes)."""
    async with asyncio.timeout(300):
        while True:
            row = await conn.fetchrow(
                "SELECT * FROM automation_runs WHERE id = $1", uuid.UUID(run_id)
            )
            if row is not None and row["state"] in states:
                return row
            await asyncio.sleep(0.002)


FINAL = {"COMPLETED", "FAILED"}


async def trigger(client: httpx.AsyncClient) -> str:
    response = await client.post("/api/v1/automation/trigger")
    response.raise_for_status()
    return str(response.json()["run_id"])


# -- observing -----------------------------------------------------------------------------------


def _cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


@contextlib.asynccontextmanager
async def observe(url: str, into: dict[str, Any]) -> AsyncIterator[None]:
    """Fill `into` with the CPU busy share, WAL megabytes and the sampled wait events of the
    database's active sessions over the block (shares of the samples; `CPU` = not waiting)."""
    sampler = await asyncpg.connect(url)
    counts: dict[str, int] = {}
    samples = 0
    stop = asyncio.Event()

    async def sample() -> None:
        nonlocal samples
        while not stop.is_set():
            rows = await sampler.fetch(
                "SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU') AS event"
                " FROM pg_stat_activity WHERE datname = current_database()"
                " AND state = 'active' AND pid <> pg_backend_pid()"
            )
            samples += 1
            for row in rows:
                counts[row["event"]] = counts.get(row["event"], 0) + 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.02)

    wal_before = await sampler.fetchval("SELECT wal_bytes FROM pg_stat_wal")
    busy_before, total_before = _cpu_times()
    task = asyncio.create_task(sample())
    try:
        yield
    finally:
        stop.set()
        await task
        busy_after, total_after = _cpu_times()
        wal_after = await sampler.fetchval("SELECT wal_bytes FROM pg_stat_wal")
        await sampler.close()
        into["cpu_busy"] = round((busy_after - busy_before) / max(1, total_after - total_before), 3)
        into["wal_mb"] = round(float(wal_after - wal_before) / 1e6, 1)
        into["samples"] = samples
        top = sorted(counts.items(), key=lambda item: -item[1])[:8]
        into["active_sessions"] = round(sum(counts.values()) / max(1, samples), 2)
        into["waits"] = {event: round(n / max(1, samples), 3) for event, n in top}


# -- the floor ---------------------------------------------------------------------------------

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


FLOOR_TABLES = "floor_versions, floor_audit, floor_seals, floor_chain_head"


async def create_floor_copies(
    conn: asyncpg.Connection, *, sealed: bool = True, limit: int | None = None
) -> None:
    """The floors' copies of versions (the pristine pending ones, or the first `limit`) and of
    the audit log; `sealed`: the audit copy sealed as audit_log is (the same trigger function,
    its own copies of audit_seals and audit_chain_head)."""
    await conn.execute(f"DROP TABLE IF EXISTS {FLOOR_TABLES}")
    await conn.execute("CREATE TABLE floor_versions (LIKE versions INCLUDING ALL)")
    await conn.execute("CREATE TABLE floor_audit (LIKE audit_log INCLUDING ALL)")
    await conn.execute("CREATE TABLE floor_seals (LIKE audit_seals INCLUDING ALL)")
    await conn.execute("CREATE TABLE floor_chain_head (LIKE audit_chain_head INCLUDING ALL)")
    await conn.execute("INSERT INTO floor_chain_head SELECT * FROM audit_chain_head")
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
    """Drop the floors' copies, first checking that every audit entry written was sealed."""
    if sealed:
        sealed_entries = await conn.fetchval(
            "SELECT coalesce(sum(entry_count), 0) FROM floor_seals"
        )
        if sealed_entries != await conn.fetchval("SELECT count(*) FROM floor_audit"):
            raise RuntimeError("the floor's audit copy was not sealed")
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
    statement, compiled = splice_deciding_rule(FLOOR_STATEMENT, rules, evaluated_at, first=6)
    ordered = sorted(rules, key=lambda r: (-r.priority, r.id))
    started = time.perf_counter()
    await conn.execute(
        statement,
        [r.id for r in ordered],
        [r.revision for r in ordered],
        [r.action for r in ordered],
        [r.name for r in ordered],
        uuid.uuid4(),
        *compiled,
    )
    elapsed = time.perf_counter() - started
    await drop_floor_copies(conn, sealed=sealed)
    return elapsed


PARALLEL_STATEMENT = FLOOR_STATEMENT.replace(
    "WHERE v.status = 'pending'", "WHERE v.status = 'pending' AND v.id > $6 AND v.id <= $7"
)


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
    statement, compiled = splice_deciding_rule(PARALLEL_STATEMENT, rules, evaluated_at, first=8)
    ordered = sorted(rules, key=lambda r: (-r.priority, r.id))
    columns = (
        [r.id for r in ordered],
        [r.revision for r in ordered],
        [r.action for r in ordered],
        [r.name for r in ordered],
        uuid.uuid4(),
    )
    connections = [await asyncpg.connect(url) for _ in ranges]
    try:
        for other in connections:
            await other.execute("SET jit = off")

        async def one_range(other: asyncpg.Connection, low: int, high: int) -> None:
            for after in range(low, high, PARALLEL_BATCH_IDS):
                upto = min(after + PARALLEL_BATCH_IDS, high)
                await other.execute(statement, *columns, after, upto, *compiled)

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
            rule = deciding_rule(rules, _facts(row), evaluated_at)
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


def _facts(row: asyncpg.Record) -> VersionFacts:
    return VersionFacts(**{name: row[name] for name in VersionFacts.__dataclass_fields__})


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
        expected = deciding_rule(rules, _facts(row), run["evaluated_at"])
        if (row["rule_id"] if row["status"] != "pending" else None) != (
            expected.id if expected else None
        ):
            print(f"version {row['id']}: decided by {row['rule_id']}, expected {expected}")
            return False
    return True


# -- one measurement ---------------------------------------------------------------------------


async def measure(
    versions: int, rule_count: int, *, per_row: int, check: bool, workers: int = 1
) -> Figures:
    figures = Figures(versions=versions, rules=rule_count, workers=workers)
    queue = f"tt-bench-{uuid.uuid4().hex[:10]}"
    async with fresh_database() as url:
        port = _free_port()
        env = {
            "DATABASE_URL": _as_app(url),
            "RABBITMQ_URL": AMQP_URL,
            "RABBITMQ_QUEUE": queue,
            "AUTH_DISABLED": "true",
            "LOG_LEVEL": "WARNING",
        }
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
                    await _until_ready(client)
                    for body in _rules(rule_count):
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
            await _delete_queue(queue)
    return figures


def _rules(count: int) -> list[dict[str, Any]]:
    """The first `count` benchmark rules; past ten, the ten and `count - 10` rules of
    bench.rulesets.generated_rules (the same every time), ranked before the ten."""
    generated = [
        {**body, "priority": body["priority"] + GENERATED_PRIORITY_SHIFT}
        for body in generated_rules(max(0, count - len(RULES)))
    ]
    return [*generated, *RULES[: min(count, len(RULES))]]


async def _until_ready(client: httpx.AsyncClient) -> None:
    async with asyncio.timeout(60):
        while True:
            with contextlib.suppress(httpx.TransportError):
                if (await client.get("/api/v1/health/ready")).status_code == 200:
                    return
            await asyncio.sleep(0.1)


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


async def _delete_queue(name: str) -> None:
    with contextlib.suppress(Exception):
        connection = await aio_pika.connect(AMQP_URL)
        async with connection:
            channel = await connection.channel()
            await channel.queue_delete(name)
            with contextlib.suppress(Exception):
                await channel.queue_delete(f"{name}.dead_letter")


# -- report ------------------------------------------------------------------------------------

ROWS = [
    ("versions", "versions", "{:,}"),
    ("rules", "rules", "{}"),
    ("workers", "workers", "{}"),
    ("shards of the run", "shards", "{}"),
    ("decided", "decided", "{:,}"),
    ("run state", "run_state", "{}"),
    ("load (COPY)", "load_seconds", "{:.1f} s"),
    ("run, trigger to COMPLETED", "run_wall_seconds", "{:.2f} s"),
    ("run, worker's own timestamps", "run_worker_seconds", "{:.2f} s"),
    ("floor (best of before/after)", "floor_seconds", "{:.2f} s"),
    ("  floor before the run", "floor_before_seconds", "{:.2f} s"),
    ("  floor after the run", "floor_after_seconds", "{:.2f} s"),
    ("  floor without sealing (best of before/after)", "floor_unsealed_seconds", "{:.2f} s"),
    ("sealing's cost (floor sealed / unsealed - 1)", "sealing_cost", "{:.1%}"),
    ("batched floor (1 connection, 10k-id batches), sealed", "batched_floor_seconds", "{:.2f} s"),
    ("  the same without sealing", "batched_floor_unsealed_seconds", "{:.2f} s"),
    ("sealing's cost in batches (sealed / unsealed - 1)", "batched_sealing_cost", "{:.1%}"),
    ("ratio run / floor", "ratio", "{:.2f}x"),
    ("K-way parallel floor (best of before/after)", "parallel_floor_seconds", "{:.2f} s"),
    ("  parallel floor before the run", "parallel_floor_before_seconds", "{:.2f} s"),
    ("  parallel floor after the run", "parallel_floor_after_seconds", "{:.2f} s"),
    ("ratio run / parallel floor", "ratio_parallel", "{:.2f}x"),
    ("run, µs per version per rule", "us_per_version_per_rule", "{:.3f}"),
    ("floor, µs per version per rule", "floor_us_per_version_per_rule", "{:.3f}"),
    ("worker peak RSS before the run (largest)", "worker_peak_rss_mb_before_run", "{:.1f} MB"),
    ("worker peak RSS after the run (largest)", "worker_peak_rss_mb", "{:.1f} MB"),
    ("trigger to EXECUTING, median of 20", "trigger_to_executing_median_ms", "{:.1f} ms"),
    ("47 versions, trigger to COMPLETED", "small_case_wall_seconds", "{:.3f} s"),
    ("47 versions, requested to finished (db)", "small_case_db_seconds", "{:.3f} s"),
    ("per-row way: versions", "per_row_versions", "{:,}"),
    ("per-row way", "per_row_seconds", "{:.2f} s"),
    ("floor on the same versions", "per_row_floor_seconds", "{:.2f} s"),
    ("decisions equal the reference evaluator's", "verified", "{}"),
    ("audit verify: the chain checks out", "audit_verified", "{}"),
    ("audit verify: entries checked", "audit_verify_entries", "{:,}"),
    ("audit verify: seconds", "audit_verify_seconds", "{:.2f} s"),
]


def print_table(figures: Figures) -> None:
    values = dataclasses.asdict(figures)
    width = max(len(label) for label, _, _ in ROWS)
    for label, key, form in ROWS:
        value = values[key]
        if value is None or (key.startswith("per_row") and not figures.per_row_versions):
            continue
        print(f"{label:<{width}}  {form.format(value)}")
    for label, observed in (
        ("during the run", figures.run_observed),
        ("during the parallel floor", figures.parallel_floor_observed),
    ):
        if observed:
            waits = ", ".join(f"{event} {share:.2f}" for event, share in observed["waits"].items())
            print(
                f"{label:<{width}}  CPU busy {observed['cpu_busy']:.0%},"
                f" WAL {observed['wal_mb']:.0f} MB, active sessions"
                f" {observed['active_sessions']:.2f}: {waits}"
            )


def plot(sweep: list[Figures], path: Path) -> None:
    import matplotlib  # noqa: PLC0415 - only the sweep draws

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    sizes = [f.versions for f in sweep]
    figure, axes = plt.subplots(figsize=(7, 4.5))
    axes.plot(sizes, [f.run_worker_seconds for f in sweep], "o-", label="run (worker timestamps)")
    axes.plot(sizes, [f.floor_seconds for f in sweep], "s--", label="SQL floor")
    axes.axhline(30, color="grey", linestyle=":", label="30 s guard")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("pending versions")
    axes.set_ylabel("seconds")
    axes.set_title("Run time against the floor (2 cores)")
    axes.legend()
    axes.grid(visible=True, which="both", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def plot_matrix(results: list[Figures], path: Path) -> None:
    """Run time against both floors per worker count, and per rule count."""
    import matplotlib  # noqa: PLC0415 - only a matrix draws

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    figure, (by_workers, by_rules) = plt.subplots(1, 2, figsize=(11, 4.5))
    first_rules = results[0].rules
    row = sorted((f for f in results if f.rules == first_rules), key=lambda f: f.workers)
    ks = [f.workers for f in row]
    width = 0.27
    for offset, (label, values) in enumerate(
        (
            ("run (worker timestamps)", [f.run_worker_seconds for f in row]),
            ("single-statement floor", [f.floor_seconds for f in row]),
            ("K-way parallel floor", [f.parallel_floor_seconds for f in row]),
        )
    ):
        by_workers.bar(
            [i + (offset - 1) * width for i in range(len(ks))], values, width, label=label
        )
    by_workers.set_xticks(range(len(ks)), [str(k) for k in ks])
    by_workers.set_xlabel("workers K (the run in K shards)")
    by_workers.set_ylabel("seconds")
    by_workers.set_title(f"{results[0].versions:,} versions, {first_rules} rules")
    by_workers.legend()
    by_workers.grid(visible=True, axis="y", alpha=0.3)
    for k in sorted({f.workers for f in results}):
        line = sorted((f for f in results if f.workers == k), key=lambda f: f.rules)
        by_rules.plot(
            [f.rules for f in line], [f.run_worker_seconds for f in line], "o-", label=f"run, K={k}"
        )
    by_rules.axhline(30, color="grey", linestyle=":", label="30 s guard")
    by_rules.set_xscale("log")
    by_rules.set_xlabel("rules R")
    by_rules.set_ylabel("seconds")
    by_rules.set_title("Run time by rule count")
    by_rules.legend()
    by_rules.grid(visible=True, which="both", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__.splitlines()[0])
    parser.add_argument("--versions", type=int, default=1_000_000, help="pending versions")
    parser.add_argument(
        "--rules",
        type=int,
        nargs="+",
        default=[10],
        metavar="R",
        help="rule counts (ten realistic rules; past ten, generated ones ranked before them)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[1],
        metavar="K",
        help="worker counts (the run split into K shards), each against the K-way parallel floor",
    )
    parser.add_argument(
        "--per-row",
        type=int,
        default=0,
        metavar="N",
        help="also time the per-row way on N versions",
    )
    parser.add_argument(
        "--verify", action="store_true", help="check every decision against the reference evaluator"
    )
    parser.add_argument(
        "--sweep",
        type=int,
        nargs="*",
        metavar="N",
        help="run these sizes in turn and draw bench/results/scaling.png",
    )
    parser.add_argument("--output", type=Path, default=RESULTS / "latest.json")
    args = parser.parse_args(argv)
    if shutil.which(TASKTRACKER) is None and not Path(TASKTRACKER).exists():
        print("run `make install` first", file=sys.stderr)
        return 2
    sizes = args.sweep or [args.versions]
    matrix = [(r, k) for r in args.rules for k in args.workers]
    results = []
    for size in sizes:
        for rule_count, workers in matrix:
            figures = asyncio.run(
                measure(size, rule_count, per_row=args.per_row, check=args.verify, workers=workers)
            )
            print_table(figures)
            print(flush=True)
            results.append(figures)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    document: Any = [dataclasses.asdict(f) for f in results]
    single = len(results) == 1
    args.output.write_text(json.dumps(document[0] if single else document, indent=2) + "\n")
    if args.sweep:
        plot(results, args.output.with_name("scaling.png"))
    elif len(matrix) > 1:
        plot_matrix(results, args.output.with_name("workers.png"))
    failed = any(
        f.run_state != "COMPLETED" or f.verified is False or f.audit_verified is False
        for f in results
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
