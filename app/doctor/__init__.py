"""`tasktracker doctor`: the operators' troubleshooting checklist of SPEC section 8, run for
real. Each check answers OK, WARN or FAIL with the fix to try.

Every check is bounded in time, so a silent service costs a few seconds, never a hang; a
check that cannot run because PostgreSQL or RabbitMQ is down says it was skipped. The runner
(runner.py) owns the connections; one small function per check: the services (services.py),
the schedule (schedule.py), what PostgreSQL holds (contents.py). No line ever carries a URL or
a password.
"""

from __future__ import annotations

from app.doctor.checklist import (
    CHECK_SECONDS,
    COUNT_CHECK_SECONDS,
    COUNT_STATEMENT_SECONDS,
    CRON,
    DATABASE,
    DECISIONS,
    JOBS,
    LEADER,
    RABBITMQ,
    RECENT_RUNS,
    RESTORE_SECONDS,
    ROLE,
    RULES,
    START_SCHEDULER,
    START_WORKER,
    TEXT_LIMIT,
    TIME_ZONES,
    WORKER,
    Check,
    Status,
)
from app.doctor.runner import run_checks

__all__ = [
    "CHECK_SECONDS",
    "COUNT_CHECK_SECONDS",
    "COUNT_STATEMENT_SECONDS",
    "CRON",
    "DATABASE",
    "DECISIONS",
    "JOBS",
    "LEADER",
    "RABBITMQ",
    "RECENT_RUNS",
    "RESTORE_SECONDS",
    "ROLE",
    "RULES",
    "START_SCHEDULER",
    "START_WORKER",
    "TEXT_LIMIT",
    "TIME_ZONES",
    "WORKER",
    "Check",
    "Status",
    "run_checks",
]
