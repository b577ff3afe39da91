"""The checklist's vocabulary: a check's answer, its line, the checks' names in order, their
deadlines and the texts the checks share."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from urllib.parse import urlsplit


class Status(enum.StrEnum):
    """A check's answer: FAIL makes `tasktracker doctor` exit 1; WARN is worth a look."""

    OK = "OK"
    WARN = "WARN"
    FAIL = "FAIL"


@dataclass(frozen=True)
class Check:
    """One line of the checklist: what was checked, what was found, and the fix to try."""

    name: str
    status: Status
    detail: str
    fix: str = ""


# The checks' names, in the checklist's order.
DATABASE = "database reachable"
RABBITMQ = "RabbitMQ reachable"
WORKER = "worker alive"
LEADER = "scheduler leader"
JOBS = "jobs registered"
CRON = "cron valid"
TIME_ZONES = "time zones"
RECENT_RUNS = "recent runs"
RULES = "rules match pending"
DECISIONS = "decisions committed"
ROLE = "database role"

CHECK_SECONDS = 5.0
# Counting what the rules would decide reads every pending version (a million, in the
# benchmark): the server cancels it first, the client deadline is the backstop.
COUNT_STATEMENT_SECONDS = 10.0
COUNT_CHECK_SECONDS = COUNT_STATEMENT_SECONDS + 2.0
# SPEC section 8: the scheduler restores a job missing from apscheduler_jobs within this.
RESTORE_SECONDS = 30
TEXT_LIMIT = 200  # run errors and driver messages are cut to keep one check on one line

START_WORKER = "start `tasktracker worker` (compose: `docker compose restart worker`)"
START_SCHEDULER = "start `tasktracker scheduler` (compose: `docker compose restart scheduler`)"
FIX_ABOVE = "fix the connection that failed above first"


def address(url: str) -> str:
    """Where a URL points (host and port), without its user and password."""
    return urlsplit(url).netloc.rpartition("@")[2] or "the default host"


def describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    text = str(exc).strip()
    return clip(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)


def clip(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= TEXT_LIMIT else line[: TEXT_LIMIT - 3] + "..."


def when(at: dt.datetime | None) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ") if at is not None else "never"
