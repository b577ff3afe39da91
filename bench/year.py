"""`make bench BENCH_ARGS=--year`: a database like a year of use, built through the service's
own paths, then every API call and console page measured five times (docs/performance.md,
"A year of data").

Build (once per database name; `--reuse` measures a database built before):
  1. the database migrated; the real `tasktracker api` (authentication on) and `tasktracker
     worker`; an admin token and three people's operator tokens made by `tasktracker token
     create`; the rules and a scheduled job over HTTP;
  2. in chunks of up to 1,000,000: the chunk's versions submitted over HTTP
     (`POST /api/v1/versions`, batches of 10,000 items, two requests in flight), then a run
     triggered over HTTP and decided by the worker (again if a run ends FAILED);
  3. people's decisions through the API's decide routes (bulk and single, each person's own
     token), on escalated and pending versions;
  4. `VACUUM (ANALYZE)`, what autovacuum does over a year; the database marked as built.
Measure: the api and worker started afresh on the database, signed in; every call and page
five times, trigger to EXECUTING, and a run over 1,000 new versions five times.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import dataclasses
import json
import math
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from app.config import DatabaseSettings
from app.db import with_database
from app.migrate import migrate
from bench.processes import (
    ADMIN_URL,
    AMQP_URL,
    FINAL,
    TASKTRACKER,
    as_app,
    delete_queue,
    free_port,
    service,
    until_ready,
    wait_run,
)
from bench.year_calls import (
    Measured,
    calls,
    find_context,
    measure_call,
    new_versions_runs,
    trigger_latencies,
)
from bench.year_data import YEAR_RULES, batch_body

ROOT = Path(__file__).parents[1]
DEFAULT_VERSIONS = 10_000_000
BUILT = "tasktracker bench --year: built"  # the database's comment once its build is complete
SUBMIT_BATCH = 10_000  # the batch route's limit (SPEC section 7)
SUBMIT_IN_FLIGHT = 2
CHUNK_MAX = 1_000_000
RETRIES = 3  # runs triggered again for a chunk whose run ends FAILED (e.g. the 30 s guard)
PEOPLE = ("reviewer-ana", "reviewer-ben", "reviewer-olha")
PEOPLE_MAX = 3_000
BULK = 100


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("a year of data")
    group.add_argument(
        "--year",
        action="store_true",
        help="build a database like a year of use (or reuse it) and time every call and page",
    )
    group.add_argument(
        "--year-versions", type=int, default=DEFAULT_VERSIONS, help="versions to build (--year)"
    )
    group.add_argument(
        "--year-database",
        help="the database's name (default tt_bench_year_<versions>); kept after the run",
    )
    group.add_argument(
        "--reuse", action="store_true", help="measure the database built before (build if none)"
    )
    group.add_argument("--year-output", type=Path, default=ROOT / "bench" / "results" / "year.json")


@dataclasses.dataclass
class YearFigures:
    database: str
    versions: int
    reused: bool = False
    phases: dict[str, float] = dataclasses.field(default_factory=dict)
    counts: dict[str, int] = dataclasses.field(default_factory=dict)
    build_runs: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    people_decisions: int = 0
    calls: list[Measured] = dataclasses.field(default_factory=list)
    machine: dict[str, Any] = dataclasses.field(default_factory=dict)
    failures: list[str] = dataclasses.field(default_factory=list)
    targets_met: bool = False


@asynccontextmanager
async def phase(figures: YearFigures, name: str) -> AsyncIterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        seconds = time.perf_counter() - started
        figures.phases[name] = round(figures.phases.get(name, 0.0) + seconds, 2)
        print(f"  {name}: {seconds:.1f} s", flush=True)


def main(args: argparse.Namespace) -> int:
    versions = args.year_versions
    database = args.year_database or f"tt_bench_year_{versions}"
    figures = YearFigures(database=database, versions=versions)
    started = time.perf_counter()
    asyncio.run(year(figures, reuse=args.reuse))
    figures.phases["total"] = round(time.perf_counter() - started, 2)
    figures.targets_met = all(call.within_target for call in figures.calls)
    print_report(figures)
    args.year_output.parent.mkdir(parents=True, exist_ok=True)
    args.year_output.write_text(json.dumps(dataclasses.asdict(figures), indent=2) + "\n")
    return 1 if figures.failures else 0


async def year(figures: YearFigures, *, reuse: bool) -> None:
    url = with_database(ADMIN_URL, figures.database)
    figures.reused = reuse and await _built(figures.database)
    if not figures.reused:
        await _drop(figures.database)
    print(f"database {figures.database}: {'reused' if figures.reused else 'building'}", flush=True)
    async with phase(figures, "migrate"):
        await asyncio.to_thread(migrate, DatabaseSettings(url=as_app(url)), owner_url=url)
    queue = f"tt-bench-year-{uuid.uuid4().hex[:10]}"
    port = free_port()
    env = {
        "DATABASE_URL": as_app(url),
        "RABBITMQ_URL": AMQP_URL,
        "RABBITMQ_QUEUE": queue,
        "LOG_LEVEL": "WARNING",
    }
    base = f"http://127.0.0.1:{port}"
    conn = await asyncpg.connect(url)
    try:
        with (
            service([TASKTRACKER, "api", "--port", str(port)], env),
            service([TASKTRACKER, "worker"], env),
        ):
            admin = await asyncio.to_thread(_token, env, f"bench-year-{uuid.uuid4().hex[:6]}")
            async with httpx.AsyncClient(base_url=base, timeout=120, headers=_bearer(admin)) as api:
                await until_ready(api)
                if not figures.reused:
                    await build(figures, api, conn, env, base)
                    mark = f"{BUILT} {figures.versions}"
                    await conn.execute(f"COMMENT ON DATABASE \"{figures.database}\" IS '{mark}'")
                await measure(figures, api, conn, base, admin)
    finally:
        await conn.close()
        await delete_queue(queue)


async def _built(database: str) -> bool:
    admin = await asyncpg.connect(ADMIN_URL)
    try:
        comment = await admin.fetchval(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1",
            database,
        )
    finally:
        await admin.close()
    return bool(comment and comment.startswith(BUILT))


async def _drop(database: str) -> None:
    admin = await asyncpg.connect(ADMIN_URL)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    finally:
        await admin.close()


def _token(env: dict[str, str], name: str, role: str = "admin") -> str:
    """A new token made by the CLI, as an administrator makes one; its secret."""
    made = subprocess.run(  # noqa: S603 - our own console script
        [TASKTRACKER, "token", "create", "--name", name, "--role", role],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return made.stdout.strip().splitlines()[-1]


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


# The build -----------------------------------------------------------------------------------


async def build(
    figures: YearFigures,
    api: httpx.AsyncClient,
    conn: asyncpg.Connection,
    env: dict[str, str],
    base: str,
) -> None:
    async with phase(figures, "rules and a job"):
        for body in YEAR_RULES:
            (await api.post("/api/v1/automation/rules", json=body)).raise_for_status()
        job = {"id": "nightly", "name": "Nightly run", "cron": "0 3 * * *", "timezone": "UTC"}
        (await api.post("/api/v1/scheduler/jobs", json=job)).raise_for_status()
    versions = figures.versions
    chunk = min(CHUNK_MAX, max(1_000, math.ceil(versions / 10)))
    # Each chunk's run decides while the next chunk is submitted, as a service's runs do while
    # versions keep arriving: a run covers what was pending when it was triggered.
    deciding: asyncio.Task[None] | None = None
    with concurrent.futures.ProcessPoolExecutor(max_workers=1) as bodies:
        async with phase(figures, "submit and runs (overlapped)"):
            for first in range(0, versions, chunk):
                count = min(chunk, versions - first)
                async with phase(figures, "submit"):
                    await submit(api, bodies, first, count)
                if deciding is not None:
                    await deciding
                deciding = asyncio.create_task(decide(figures, api, conn, count))
            if deciding is not None:
                await deciding
    figures.phases["runs"] = round(sum(run["seconds"] for run in figures.build_runs), 2)
    async with phase(figures, "people"):
        figures.people_decisions = await people(figures, api, env, base)
    async with phase(figures, "vacuum analyze"):
        await conn.execute("VACUUM (ANALYZE)")


async def submit(
    api: httpx.AsyncClient, bodies: concurrent.futures.Executor, first: int, count: int
) -> None:
    """Versions `first`.. over HTTP in batches of 10,000, two in flight; the next bodies made
    in another process meanwhile."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=4)

    async def make() -> None:
        for start in range(first, first + count, SUBMIT_BATCH):
            size = min(SUBMIT_BATCH, first + count - start)
            await ready.put(await loop.run_in_executor(bodies, batch_body, start, size))
        for _ in range(SUBMIT_IN_FLIGHT):
            await ready.put(None)

    async def send() -> None:
        while (body := await ready.get()) is not None:
            answer = await api.post(
                "/api/v1/versions", content=body, headers={"content-type": "application/json"}
            )
            answer.raise_for_status()

    await asyncio.gather(make(), *(send() for _ in range(SUBMIT_IN_FLIGHT)))


async def decide(
    figures: YearFigures, api: httpx.AsyncClient, conn: asyncpg.Connection, submitted: int
) -> None:
    """A run over what is pending, triggered over HTTP; again while a run ends FAILED."""
    for _ in range(1 + RETRIES):
        answer = await api.post("/api/v1/automation/trigger", json={"reason": "bench --year"})
        answer.raise_for_status()
        run = await wait_run(conn, str(answer.json()["run_id"]), FINAL)
        seconds = (run["finished_at"] - run["requested_at"]).total_seconds()
        decided = run["approved"] + run["rejected"] + run["escalated"]
        figures.build_runs.append(
            {
                "submitted": submitted,
                "state": run["state"],
                "error": run["error"],
                "decided": decided,
                "seconds": round(seconds, 2),
            }
        )
        print(f"    run {run['state']} {run['error'] or ''} {decided:,} decided in {seconds:.1f} s")
        if run["state"] == "COMPLETED":
            return
    figures.failures.append(f"the build's runs ended FAILED {RETRIES + 1} times in a row")


async def people(
    figures: YearFigures, api: httpx.AsyncClient, env: dict[str, str], base: str
) -> int:
    """People's decisions through the decide routes, each person with their own token: two
    thirds on escalated versions, a third on pending ones, mostly in bulk of 100."""
    wanted = min(PEOPLE_MAX, max(30, figures.versions * 3 // 10_000))
    escalated = await _ids(api, "escalated", wanted * 2 // 3)
    pending = await _ids(api, "pending", wanted - len(escalated))
    secrets = [await asyncio.to_thread(_token, env, name, "operator") for name in PEOPLE]
    decided = 0
    for n, (ids, verbs) in enumerate(
        ((escalated, ("approve", "reject", "approve")), (pending, ("reject", "approve")))
    ):
        for k, start in enumerate(range(0, len(ids), BULK)):
            batch = ids[start : start + BULK]
            who = secrets[(n + k) % len(secrets)]
            verb = verbs[k % len(verbs)]
            async with httpx.AsyncClient(base_url=base, timeout=60, headers=_bearer(who)) as person:
                if len(batch) == 1:
                    answer = await person.post(f"/api/v1/versions/{batch[0]}/{verb}")
                    answer.raise_for_status()
                    decided += 1
                    continue
                answer = await person.post(
                    f"/api/v1/versions/bulk-{verb}",
                    json={"ids": batch[:-1], "reason": "checked by hand"},
                )
                answer.raise_for_status()
                decided += len(answer.json()["succeeded"])
                # one at a time too, as the review queue's buttons do
                single = await person.post(f"/api/v1/versions/{batch[-1]}/{verb}")
                single.raise_for_status()
                decided += 1
    return decided


async def _ids(api: httpx.AsyncClient, status: str, count: int) -> list[int]:
    ids: list[int] = []
    cursor = None
    while len(ids) < count:
        params: dict[str, Any] = {"status": status, "limit": 1000}
        if cursor:
            params["cursor"] = cursor
        answer = await api.get("/api/v1/versions", params=params)
        answer.raise_for_status()
        ids += [item["id"] for item in answer.json()["items"]]
        cursor = answer.json()["next_cursor"]
        if cursor is None:
            break
    return ids[:count]


# The measurement -----------------------------------------------------------------------------


async def sign_in(console: httpx.AsyncClient, secret: str) -> None:
    """The console's sign-in form, as a person fills it in: the session cookie is kept."""
    form = await console.get("/ui/sign-in")
    form.raise_for_status()
    csrf = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    answer = await console.post("/ui/sign-in", data={"token": secret, "csrf_token": csrf})
    if answer.status_code != 303:
        raise RuntimeError(f"console sign-in answered {answer.status_code}")


async def measure(
    figures: YearFigures, api: httpx.AsyncClient, conn: asyncpg.Connection, base: str, admin: str
) -> None:
    async with phase(figures, "counts"):
        rows = await conn.fetch("SELECT status, count(*) AS n FROM versions GROUP BY status")
        figures.counts = {row["status"]: row["n"] for row in rows}
        figures.counts["versions"] = sum(row["n"] for row in rows)
        figures.counts["audit_entries"] = await conn.fetchval("SELECT count(*) FROM audit_log")
        figures.counts["runs"] = await conn.fetchval("SELECT count(*) FROM automation_runs")
        figures.machine = await _machine(conn)
    async with (
        phase(figures, "measure"),
        httpx.AsyncClient(base_url=base, timeout=120, follow_redirects=False) as console,
    ):
        await sign_in(console, admin)
        context = await find_context(conn)
        for call in await calls(api, context):
            measured = await measure_call(console if call.kind == "page" else api, call)
            figures.calls.append(measured)
            print(f"    {_line(measured)}", flush=True)
        for measured in (
            *await trigger_latencies(api, conn),
            await new_versions_runs(api, conn, figures.counts["versions"] + 10_000_000),
        ):
            figures.calls.append(measured)
            print(f"    {_line(measured)}", flush=True)
    figures.machine["load_after"] = list(os.getloadavg())
    figures.failures += [
        f"{call.name}: answered {sorted(set(call.statuses))}"
        for call in figures.calls
        if not call.ok
    ]


async def _machine(conn: asyncpg.Connection) -> dict[str, Any]:
    """What else the machine was doing: load averages, other databases' active sessions."""
    others = await conn.fetch(
        "SELECT datname, count(*) AS n FROM pg_stat_activity WHERE state = 'active'"
        " AND datname IS NOT NULL AND datname <> current_database() GROUP BY datname"
    )
    return {
        "cpus": os.cpu_count(),
        "load_before": list(os.getloadavg()),
        "other_active_sessions": {row["datname"]: row["n"] for row in others},
    }


def _line(measured: Measured) -> str:
    verdict = "ok" if measured.within_target else ("FAILED" if not measured.ok else "slow")
    statuses = ",".join(str(s) for s in sorted(set(measured.statuses)))
    return (
        f"{measured.name:<52} {measured.median_ms:>9.1f} {measured.max_ms:>9.1f}"
        f" {measured.target_ms:>7.0f}  {statuses:<8} {verdict}"
    )


def print_report(figures: YearFigures) -> None:
    print()
    print(
        f"database {figures.database} ({'reused' if figures.reused else 'built'}):"
        f" {json.dumps(figures.counts)}"
    )
    print("phases (s): " + ", ".join(f"{k} {v:.1f}" for k, v in figures.phases.items()))
    print(f"{'call':<52} {'median':>9} {'max':>9} {'target':>7}  {'status':<8} verdict (ms)")
    for measured in figures.calls:
        print(_line(measured))
    met = sum(call.within_target for call in figures.calls)
    print(f"within target: {met} of {len(figures.calls)}")
    for failure in figures.failures:
        print(f"FAILED: {failure}", file=sys.stderr)
