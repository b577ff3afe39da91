"""`make bench --year`'s measurements: every API call and console page five times each over
HTTP (signed in as people are: a bearer token for the API, the console's session cookie for
its pages), trigger to EXECUTING, and a run over 1,000 new versions with the backlog waiting.

Each call is one (name, kind, method, path, params, body); kinds carry the targets of SPEC
section 9: an API call under 200 ms, a console page under 300 ms, /metrics under 500 ms."""

from __future__ import annotations

import dataclasses
import statistics
import time
import uuid
from typing import Any

import asyncpg
import httpx

from bench.processes import FINAL, wait_run
from bench.year_data import PREVIEW_RULE, batch_body

SAMPLES = 5
TARGET_MS = {"api": 200.0, "page": 300.0, "metrics": 500.0, "run": 200.0}
DEEP_PAGES = 20


@dataclasses.dataclass
class Call:
    name: str
    kind: str  # api, page, metrics, run (its target in TARGET_MS)
    method: str = "GET"
    path: str = ""
    params: dict[str, Any] | None = None
    body: dict[str, Any] | None = None


@dataclasses.dataclass
class Measured:
    name: str
    kind: str
    target_ms: float
    samples_ms: list[float]
    statuses: list[int]
    median_ms: float = 0.0
    max_ms: float = 0.0
    bytes: int = 0
    ok: bool = True  # every answer 2xx (a 503 or 504 is a failure)
    within_target: bool = True

    def __post_init__(self) -> None:
        self.median_ms = round(statistics.median(self.samples_ms), 1) if self.samples_ms else 0.0
        self.max_ms = round(max(self.samples_ms), 1) if self.samples_ms else 0.0
        self.samples_ms = [round(s, 1) for s in self.samples_ms]
        self.ok = all(200 <= s < 300 for s in self.statuses)
        self.within_target = self.ok and self.median_ms < self.target_ms


@dataclasses.dataclass(frozen=True)
class Context:
    """What the calls point at, found in the database before measuring."""

    old_run: str
    recent_run: str
    pending_version: int
    escalated_version: int
    person: str
    since: str
    until: str


async def find_context(conn: asyncpg.Connection) -> Context:
    """An old run (the first completed), a recent one, a pending and an escalated version, a
    person who decided, and a time range: the middle tenth of the log's entries."""
    old_run = await conn.fetchval(
        "SELECT id FROM automation_runs WHERE state = 'COMPLETED' ORDER BY seq LIMIT 1"
    )
    recent_run = await conn.fetchval(
        "SELECT id FROM automation_runs WHERE state = 'COMPLETED' ORDER BY seq DESC LIMIT 1"
    )
    pending = await conn.fetchval("SELECT max(id) FROM versions WHERE status = 'pending'")
    escalated = await conn.fetchval("SELECT max(id) FROM versions WHERE status = 'escalated'")
    person = await conn.fetchval(
        "SELECT actor FROM audit_log WHERE id = (SELECT max(id) FROM audit_log"
        " WHERE action IN ('approve', 'reject') AND run_id IS NULL)"
    )
    # The time range holds the middle tenth of the entries (by id, so that the entries later
    # measurements add, minutes or days after the build, do not move it into an empty gap).
    since, until = await conn.fetchrow(
        "WITH ends AS (SELECT min(id) AS first, max(id) AS last FROM audit_log)"
        " SELECT (SELECT at FROM audit_log WHERE id >= first + (last - first) * 45 / 100"
        "         ORDER BY id LIMIT 1),"
        "        (SELECT at FROM audit_log WHERE id >= first + (last - first) * 55 / 100"
        "         ORDER BY id LIMIT 1)"
        " FROM ends"
    )
    return Context(
        old_run=str(old_run),
        recent_run=str(recent_run),
        pending_version=int(pending),
        escalated_version=int(escalated or pending),
        person=str(person),
        since=since.isoformat(),
        until=until.isoformat(),
    )


async def deep_cursor(client: httpx.AsyncClient, path: str, pages: int) -> str:
    """The cursor `pages` pages (of 50) into a list, walked through the API (not timed)."""
    cursor = None
    for _ in range(pages):
        answer = await client.get(path, params={"cursor": cursor} if cursor else None)
        answer.raise_for_status()
        cursor = answer.json()["next_cursor"]
        if cursor is None:
            break
    return str(cursor)


async def calls(client: httpx.AsyncClient, ctx: Context) -> list[Call]:
    """Every API call and console page of the issue's list, with the context filled in."""
    api = "/api/v1"
    versions_cursor = await deep_cursor(client, f"{api}/versions", DEEP_PAGES)
    audit_cursor = await deep_cursor(client, f"{api}/audit", DEEP_PAGES)
    return [
        Call("GET /versions (first page)", "api", path=f"{api}/versions"),
        Call(
            "GET /versions (20 pages deep)",
            "api",
            path=f"{api}/versions",
            params={"cursor": versions_cursor},
        ),
        Call(
            "GET /versions?status=pending",
            "api",
            path=f"{api}/versions",
            params={"status": "pending"},
        ),
        Call("GET /versions/{id}", "api", path=f"{api}/versions/{ctx.pending_version}"),
        Call("GET /versions/pending-count", "api", path=f"{api}/versions/pending-count"),
        Call(
            "GET /versions/{id}/explain",
            "api",
            path=f"{api}/versions/{ctx.pending_version}/explain",
        ),
        Call("GET /automation/stats", "api", path=f"{api}/automation/stats"),
        *[
            Call(
                f"GET /automation/trends?period={p}",
                "api",
                path=f"{api}/automation/trends",
                params={"period": p},
            )
            for p in ("7d", "30d", "90d")
        ],
        Call("GET /automation/runs", "api", path=f"{api}/automation/runs"),
        Call("GET /automation/runs/{id}", "api", path=f"{api}/automation/runs/{ctx.recent_run}"),
        Call("GET /audit (first page)", "api", path=f"{api}/audit"),
        Call(
            "GET /audit (20 pages deep)",
            "api",
            path=f"{api}/audit",
            params={"cursor": audit_cursor},
        ),
        Call(
            "GET /audit?run_id= (old run)",
            "api",
            path=f"{api}/audit",
            params={"run_id": ctx.old_run},
        ),
        Call(
            "GET /audit?actor= (a person)", "api", path=f"{api}/audit", params={"actor": ctx.person}
        ),
        Call(
            "GET /audit?action=escalate", "api", path=f"{api}/audit", params={"action": "escalate"}
        ),
        Call(
            "GET /audit?version_id=",
            "api",
            path=f"{api}/audit",
            params={"version_id": ctx.escalated_version},
        ),
        Call(
            "GET /audit?since=&until=",
            "api",
            path=f"{api}/audit",
            params={"since": ctx.since, "until": ctx.until},
        ),
        Call("GET /automation/rules", "api", path=f"{api}/automation/rules"),
        Call(
            "POST /automation/rules/preview",
            "api",
            method="POST",
            path=f"{api}/automation/rules/preview",
            body=PREVIEW_RULE,
        ),
        Call("GET /automation/templates", "api", path=f"{api}/automation/templates"),
        Call("GET /scheduler/jobs", "api", path=f"{api}/scheduler/jobs"),
        Call("GET /health", "api", path=f"{api}/health"),
        Call("GET /health/ready", "api", path=f"{api}/health/ready"),
        Call("GET /health/scheduler", "api", path=f"{api}/health/scheduler"),
        Call("GET /metrics", "metrics", path="/metrics"),
        Call("console Overview", "page", path="/ui"),
        Call("console Runs", "page", path="/ui/runs"),
        Call("console a run", "page", path=f"/ui/runs/{ctx.old_run}"),
        Call("console Audit", "page", path="/ui/audit"),
        Call(
            "console Audit (run filter)", "page", path="/ui/audit", params={"run_id": ctx.old_run}
        ),
        Call("console Review queue", "page", path="/ui/review"),
        Call("console a version", "page", path=f"/ui/review/{ctx.pending_version}/why"),
        Call("console Rules", "page", path="/ui/rules"),
        Call("console Schedules", "page", path="/ui/schedules"),
    ]


async def measure_call(client: httpx.AsyncClient, call: Call) -> Measured:
    samples, statuses, size = [], [], 0
    for _ in range(SAMPLES):
        started = time.perf_counter()
        answer = await client.request(call.method, call.path, params=call.params, json=call.body)
        samples.append((time.perf_counter() - started) * 1000)
        statuses.append(answer.status_code)
        size = max(size, len(answer.content))
    return Measured(call.name, call.kind, TARGET_MS[call.kind], samples, statuses, bytes=size)


async def trigger_latencies(
    client: httpx.AsyncClient, conn: asyncpg.Connection
) -> tuple[Measured, Measured]:
    """POST /automation/trigger's own answer time, and trigger to EXECUTING (the run's
    requested_at to its started_at, as `make bench` measures it), five runs each waited for."""
    answers, latencies, statuses = [], [], []
    for _ in range(SAMPLES):
        started = time.perf_counter()
        answer = await client.post("/api/v1/automation/trigger")
        answers.append((time.perf_counter() - started) * 1000)
        statuses.append(answer.status_code)
        answer.raise_for_status()
        run = await wait_run(conn, str(answer.json()["run_id"]), FINAL)
        latencies.append((run["started_at"] - run["requested_at"]).total_seconds() * 1000)
    return (
        Measured("POST /automation/trigger", "api", TARGET_MS["api"], answers, statuses),
        Measured("trigger to EXECUTING", "api", TARGET_MS["api"], latencies, statuses),
    )


NEW_VERSIONS = 1_000


async def new_versions_runs(
    client: httpx.AsyncClient, conn: asyncpg.Connection, first: int
) -> Measured:
    """Five times: 1,000 new versions submitted (not timed), then a run triggered and timed
    from the trigger to COMPLETED, while the undecided backlog waits."""
    samples, statuses = [], []
    salt = uuid.uuid4().hex[:6]
    for n in range(SAMPLES):
        body = batch_body(first + n * NEW_VERSIONS, NEW_VERSIONS, salt=salt)
        (
            await client.post(
                "/api/v1/versions", content=body, headers={"content-type": "application/json"}
            )
        ).raise_for_status()
        started = time.perf_counter()
        answer = await client.post("/api/v1/automation/trigger")
        answer.raise_for_status()
        run = await wait_run(conn, str(answer.json()["run_id"]), FINAL)
        samples.append((time.perf_counter() - started) * 1000)
        statuses.append(200 if run["state"] == "COMPLETED" else 500)
    return Measured(
        "run over 1,000 new versions, trigger to COMPLETED",
        "run",
        TARGET_MS["run"],
        samples,
        statuses,
    )
