"""Checks 8-11, what PostgreSQL holds: recent runs, the enabled rules' reach over the pending
versions, the last run's decisions in the audit log, and the processes' database role."""

from __future__ import annotations

import datetime as dt

import asyncpg

from app.db import StatementCancelledError
from app.doctor.checklist import (
    COUNT_STATEMENT_SECONDS,
    DECISIONS,
    RECENT_RUNS,
    ROLE,
    RULES,
    START_WORKER,
    Check,
    Status,
    clip,
    when,
)
from app.repositories import doctor as doctor_repo
from app.repositories import rules as rule_repo
from app.repositories import versions as version_repo
from app.rules.ruleset import to_evaluate


async def check_recent_runs(conn: asyncpg.Connection[asyncpg.Record]) -> Check:
    """The last finished run, and whether a run was triggered in the last 25 hours."""
    activity = await doctor_repo.get_recent_run_activity(conn)
    trigger = "`POST /api/v1/automation/trigger`, or wait for the daily job's tick"
    if activity.runs == 0:
        return Check(RECENT_RUNS, Status.WARN, "no run yet", f"trigger one: {trigger}")
    if activity.last_id is None:
        return Check(
            RECENT_RUNS,
            Status.WARN,
            f"no run finished yet ({activity.runs} run(s) not finished)",
            f"{START_WORKER}; follow it: `docker logs task-tracker-worker --follow`",
        )
    last = f"last run {activity.last_id} {activity.last_state} at {when(activity.last_finished_at)}"
    if activity.last_state == "FAILED":
        return Check(
            RECENT_RUNS,
            Status.WARN,
            f"{last}: {clip(activity.last_error or 'no error recorded')}",
            f"see `GET /api/v1/automation/runs/{activity.last_id}` and the worker's log; "
            f"trigger again: {trigger}",
        )
    if not activity.triggered_recently:
        return Check(
            RECENT_RUNS,
            Status.WARN,
            f"{last}; no run.trigger audit entry in the last 25 hours",
            "check that a job is enabled and a scheduler leads (see above)",
        )
    return Check(RECENT_RUNS, Status.OK, f"{last}; a run was triggered in the last 25 hours")


async def check_rules(conn: asyncpg.Connection[asyncpg.Record]) -> Check:
    """How many pending versions the enabled rules would decide now."""
    pending = (await version_repo.count_pending_versions(conn)).total
    if not pending:
        return Check(RULES, Status.OK, "no pending version")
    rules = await rule_repo.list_enabled_rules(conn)
    if not rules:
        return Check(
            RULES,
            Status.WARN,
            f"{pending} pending version(s) and no enabled rule",
            "enable or create a rule: `GET /api/v1/automation/rules`",
        )
    try:
        decided = await doctor_repo.count_decidable_versions(
            conn,
            [to_evaluate(rule) for rule in rules],
            dt.datetime.now(dt.UTC),
            int(COUNT_STATEMENT_SECONDS * 1000),
        )
    except StatementCancelledError:
        return Check(
            RULES,
            Status.WARN,
            f"counting what {len(rules)} enabled rule(s) decide among {pending} pending "
            f"version(s) took over {COUNT_STATEMENT_SECONDS:g} s: not known",
            "preview the rules one by one: `POST /api/v1/automation/rules/preview`",
        )
    if not decided:
        return Check(
            RULES,
            Status.WARN,
            f"enabled rules match none of {pending} pending versions",
            "preview the rules (`POST /api/v1/automation/rules/preview`) and adjust their "
            "conditions",
        )
    return Check(
        RULES,
        Status.OK,
        f"{len(rules)} enabled rule(s) would decide {decided} of {pending} pending versions",
    )


async def check_decisions(conn: asyncpg.Connection[asyncpg.Record]) -> Check:
    """The last finished run's decision counters equal its decision entries in the audit log."""
    last = await doctor_repo.get_last_run_decisions(conn)
    if last is None:
        return Check(DECISIONS, Status.OK, "no finished run yet: nothing to compare")
    if last.counted != last.audited:
        return Check(
            DECISIONS,
            Status.FAIL,
            f"run {last.id} ({last.state}) counts {last.counted} decision(s) but the audit "
            f"log holds {last.audited}",
            f"decisions and their audit entries commit together: compare "
            f"`GET /api/v1/audit?run_id={last.id}` with "
            f"`GET /api/v1/automation/runs/{last.id}` and report it",
        )
    return Check(
        DECISIONS,
        Status.OK,
        f"run {last.id} ({last.state}): {last.counted} decision(s), each in the audit log",
    )


async def check_role(conn: asyncpg.Connection[asyncpg.Record]) -> Check:
    """The processes' role is neither a superuser nor the owner, and only appends to the log."""
    found = await doctor_repo.get_database_role(conn)
    fix = (
        "give the processes a role of their own: MIGRATE_DATABASE_URL = the owner, "
        "DATABASE_URL = another role, then `tasktracker migrate` creates and grants it "
        "(docs/operations.md, Database roles)"
    )
    if found.superuser:
        return Check(ROLE, Status.WARN, f"the processes connect as {found.role}, a superuser", fix)
    if found.owner:
        return Check(
            ROLE, Status.WARN, f"the processes connect as {found.role}, the schema's owner", fix
        )
    if found.can_change_audit:
        return Check(
            ROLE,
            Status.WARN,
            f"{found.role} may update, delete or truncate audit_log",
            "run `tasktracker migrate` (it grants the processes' role exactly what they use)",
        )
    return Check(
        ROLE, Status.OK, f"{found.role}: not the owner, reads and appends to the audit log only"
    )
