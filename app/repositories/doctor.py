"""What `tasktracker doctor` reads: job registrations, recent runs, the rules' reach over the
pending versions and whether the last run's decisions reached the audit log."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from app.db import Connection
from app.repositories import fetch_all
from app.repositories.compiled import splice_deciding_rule
from app.repositories.session import limit_transaction
from app.rules.compiler import RuleToEvaluate
from app.sql import queries


@dataclass(frozen=True)
class JobRegistration:
    """A live job and what APScheduler's store holds for it."""

    id: str
    cron: str
    timezone: str
    enabled: bool
    registered: bool  # a row in apscheduler_jobs
    next_run_at: dt.datetime | None  # None: paused, or not registered


@dataclass(frozen=True)
class RecentRuns:
    """The latest finished run (None when no run has finished) and the trigger activity."""

    last_id: uuid.UUID | None
    last_state: str | None
    last_error: str | None
    last_finished_at: dt.datetime | None
    runs: int
    triggered_recently: bool


@dataclass(frozen=True)
class RunDecisions:
    """A finished run's decision counters against its decision entries in the audit log."""

    id: uuid.UUID
    state: str
    counted: int
    audited: int


async def get_server_timezone(conn: Connection) -> str:
    zone: str = await queries.get_server_timezone(conn)
    return zone


async def list_job_registrations(conn: Connection) -> list[JobRegistration]:
    rows = await fetch_all(queries.list_job_registrations(conn))
    return [JobRegistration(**dict(row)) for row in rows]


async def get_recent_run_activity(conn: Connection) -> RecentRuns:
    row = await queries.get_recent_run_activity(conn)
    return RecentRuns(
        last_id=row["id"],
        last_state=row["state"],
        last_error=row["error"],
        last_finished_at=row["finished_at"],
        runs=row["runs"],
        triggered_recently=row["triggered_recently"],
    )


async def count_decidable_versions(
    conn: Connection, rules: Sequence[RuleToEvaluate], at: dt.datetime, timeout_ms: int
) -> int:
    """How many pending versions `rules` would decide at `at`, with the compiled CASE a run
    uses. It reads every pending version, so the server cancels it after `timeout_ms`
    (app.db.StatementCancelledError)."""
    statement, values = splice_deciding_rule(
        queries.count_decidable_versions.sql, rules, at, first=1
    )
    # A local setting needs a transaction, and the transaction keeps it to this statement.
    async with conn.transaction():
        await limit_transaction(conn, statement_timeout_ms=timeout_ms)
        count: int = await conn.fetchval(statement, *values)
    return count


async def get_last_run_decisions(conn: Connection) -> RunDecisions | None:
    """The latest finished non-dry run's counters and audited decisions, or None."""
    row = await queries.get_last_run_decisions(conn)
    return RunDecisions(**dict(row)) if row is not None else None


@dataclass(frozen=True)
class DatabaseRole:
    """The role the processes connect as, and what it may do to the audit log."""

    role: str
    superuser: bool
    owner: bool
    can_change_audit: bool


async def get_database_role(conn: Connection) -> DatabaseRole:
    row = await queries.get_database_role(conn)
    return DatabaseRole(
        role=row["role"],
        superuser=row["superuser"],
        owner=row["owner"],
        can_change_audit=row["can_change_audit"],
    )
