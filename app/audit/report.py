"""What verifying the chain found: its problems, counts and speed, as JSON
(`GET /audit/verify`, `audit verify --json`) and as the lines `tasktracker audit verify`
prints."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

# At most this many problems are listed (the first one is the one that matters).
MAX_PROBLEMS = 20


class ProblemKind(enum.StrEnum):
    CHANGED = "changed"
    REMOVED = "removed"
    INSERTED = "inserted"
    OUT_OF_ORDER = "out of order"
    HEAD = "head"


@dataclass(frozen=True)
class Problem:
    """One thing the chain does not account for: an entry (`entry_id`) or a seal (`seal`)."""

    kind: ProblemKind
    seal: int | None
    entry_id: int | None
    detail: str

    def describe(self) -> str:
        if self.entry_id is not None:
            what = f"entry {self.entry_id}"
            if self.seal is not None:
                what += f" (seal {self.seal})"
        else:
            what = f"seal {self.seal}"
        return f"{what} {self.kind.value}: {self.detail}"


@dataclass
class VerifyReport:
    """What verify found: `ok` when every seal and entry since the start checks out."""

    start_after_seq: int
    from_checkpoint: bool
    seals: int = 0
    entries: int = 0
    seconds: float = 0.0
    head_seq: int = 0
    head_hash: str = ""
    problems: list[Problem] = field(default_factory=list)
    problem_count: int = 0

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    @property
    def entries_per_second(self) -> float:
        return self.entries / self.seconds if self.seconds > 0 else 0.0

    def add(self, problem: Problem) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "start_after_seq": self.start_after_seq,
            "from_checkpoint": self.from_checkpoint,
            "seals": self.seals,
            "entries": self.entries,
            "seconds": round(self.seconds, 3),
            "entries_per_second": round(self.entries_per_second),
            "head": {"seq": self.head_seq, "hash": self.head_hash},
            "problem_count": self.problem_count,
            "first_problem": self.problems[0].describe() if self.problems else None,
            "problems": [
                {
                    "kind": p.kind.value,
                    "seal": p.seal,
                    "entry_id": p.entry_id,
                    "detail": p.detail,
                    "message": p.describe(),
                }
                for p in self.problems
            ],
        }


def summary_lines(report: VerifyReport) -> list[str]:
    """What `audit verify` prints (and GET /audit/verify answers as fields)."""
    start = (
        f"after checkpoint seal {report.start_after_seq}"
        if report.from_checkpoint
        else f"after seal {report.start_after_seq}"
    )
    lines = [
        f"checked {report.entries} entries in {report.seals} seals {start} in "
        f"{report.seconds:.2f} s ({report.entries_per_second:,.0f} entries/s)",
        f"head: seal {report.head_seq} {report.head_hash}",
    ]
    if report.ok:
        lines.append("OK: every entry and seal matches the chain")
    else:
        lines.append(f"FAIL: {report.problems[0].describe()}")
        lines.extend(f"  also: {problem.describe()}" for problem in report.problems[1:])
        if report.problem_count > len(report.problems):
            lines.append(f"  ... {report.problem_count - len(report.problems)} more")
    return lines
