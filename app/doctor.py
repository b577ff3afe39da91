"""`tasktracker doctor`: the operators' troubleshooting checklist of SPEC section 8, run for
real. Each check answers OK, WARN or FAIL with the fix to try."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from app.config import Settings


class Status(enum.StrEnum):
    OK = "OK"
    WARN = "WARN"
    FAIL = "FAIL"


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""


async def run_checks(settings: Settings) -> list[Check]:
    """Every check, in the checklist's order; never raises for a failing dependency."""
    raise NotImplementedError  # filled in by the doctor work
