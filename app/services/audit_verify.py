"""`tasktracker audit verify` and `GET /audit/verify`: recompute the audit log's hash chain.

The database seals (migration 0006, trigger `audit_log_seal`); this module recomputes every
seal from the stored values alone, in Python, with the canonical form of docs/audit.md: it
trusts no function of the database. It streams seals and their entries with server-side
cursors in one read-only snapshot, so memory stays flat in the size of the log.

What it proves, and what it cannot (a superuser who rewrites the chain from the change to the
head): docs/audit.md.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from app.db import Connection
from app.repositories import audit

# At most this many problems are listed (the first one is the one that matters).
MAX_PROBLEMS = 20
INDEX_ITEM = 24  # 8 bytes of id, 16 bytes of the entry's SHA-256


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


def utc_text(moment: dt.datetime) -> str:
    """A time as the canonical form writes it: UTC, microseconds, `Z`."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _record_field(value: str | None) -> str:
    """One field as PostgreSQL's record text form writes it (record_out)."""
    if value is None:
        return ""
    if value == "" or any(c in _RECORD_SPECIAL for c in value):
        return '"' + value.replace("\\", "\\\\").replace('"', '""') + '"'
    return value


# What makes record_out quote a field: these, and C's isspace() in the C locale.
_RECORD_SPECIAL = frozenset('"\\(), \t\n\v\f\r')


def timestamptz_text(moment: dt.datetime) -> str:
    """A time as PostgreSQL writes timestamptz with DateStyle ISO and TimeZone UTC."""
    utc = moment.astimezone(dt.UTC)
    text = utc.strftime("%Y-%m-%d %H:%M:%S")
    if utc.microsecond:
        text += f".{utc.microsecond:06d}".rstrip("0")
    return text + "+00"


def entry_line(row: asyncpg.Record) -> str:
    """An entry's canonical line (docs/audit.md), from its stored values: the text form of
    the row (id, at, actor, action, version_id, rule_id, rule_revision, run_id, details)."""
    fields = (
        str(row["id"]),
        timestamptz_text(row["at"]),
        row["actor"],
        row["action"],
        *(
            None if row[name] is None else str(row[name])
            for name in ("version_id", "rule_id", "rule_revision", "run_id")
        ),
        row["details"],
    )
    return "(" + ",".join(_record_field(field) for field in fields) + ")"


def entry_hash(row: asyncpg.Record) -> bytes:
    """The first 16 bytes of the SHA-256 of the entry's canonical line."""
    return hashlib.sha256(entry_line(row).encode()).digest()[:16]


def seal_hash(seal: asyncpg.Record, prev_hash: bytes, digest: bytes) -> bytes:
    """A seal's hash over its fields, its entries' digest and the hash of the seal before."""
    text = "|".join(
        (
            str(seal["seq"]),
            seal["xid"],
            str(seal["first_id"]),
            str(seal["last_id"]),
            str(seal["entry_count"]),
            utc_text(seal["newest_at"]),
            utc_text(seal["sealed_at"]),
            digest.hex(),
            prev_hash.hex(),
        )
    )
    return hashlib.sha256(text.encode()).digest()


class _Entries:
    """The entries stream, handed out one seal at a time (both streams are in seal order)."""

    def __init__(self, rows: AsyncIterator[asyncpg.Record]) -> None:
        self.rows = rows
        self.peeked: asyncpg.Record | None = None
        self.done = False

    async def of_seal(self, seq: int) -> list[asyncpg.Record]:
        taken: list[asyncpg.Record] = []
        while True:
            if self.peeked is None and not self.done:
                try:
                    self.peeked = await anext(self.rows)
                except StopAsyncIteration:
                    self.done = True
            if self.peeked is None or self.peeked["seq"] != seq:
                return taken
            taken.append(self.peeked)
            self.peeked = None


def _check_entries(
    report: VerifyReport, seq: int, index: bytes, rows: list[asyncpg.Record]
) -> None:
    """Compare the seal's index (id and hash per entry) with the entries it covers now."""
    sealed = sorted(
        (int.from_bytes(index[i : i + 8], "big", signed=True), index[i + 8 : i + INDEX_ITEM])
        for i in range(0, len(index), INDEX_ITEM)
    )
    present = [(int(row["id"]), entry_hash(row)) for row in rows]
    i = j = 0
    while i < len(sealed) or j < len(present):
        if j == len(present) or (i < len(sealed) and sealed[i][0] < present[j][0]):
            report.add(Problem(ProblemKind.REMOVED, seq, sealed[i][0], "sealed but missing"))
            i += 1
        elif i == len(sealed) or present[j][0] < sealed[i][0]:
            report.add(
                Problem(ProblemKind.INSERTED, seq, present[j][0], "not in the seal that covers it")
            )
            j += 1
        else:
            if sealed[i][1] != present[j][1]:
                report.add(
                    Problem(ProblemKind.CHANGED, seq, sealed[i][0], "differs from what was sealed")
                )
            i += 1
            j += 1


async def verify_chain(
    conn: Connection, *, since: dt.datetime | None = None, expect_head: str | None = None
) -> VerifyReport:
    """Recompute every seal after the latest checkpoint (or from the first sealed at or after
    `since`) and the entries each covers; report the first problems, counts and speed.
    `expect_head`: a seal hash recorded earlier, which must still be in the chain."""
    began = time.perf_counter()
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        start = await audit.chain_start(conn, since)
        if start is None:  # nothing sealed since `since`
            head_seq, head = await audit.chain_head(conn)
            return VerifyReport(
                head_seq,
                False,
                seconds=time.perf_counter() - began,
                head_seq=head_seq,
                head_hash=head.hex(),
            )
        report = VerifyReport(start.after_seq, start.checkpoint)
        expected, prev = start.after_seq + 1, start.prev_hash
        seen_expected = expect_head is not None and prev.hex() == expect_head
        entries = _Entries(audit.stream_sealed_entries(conn, start.after_seq))
        first_id: int | None = None
        async for seal in audit.stream_seals(conn, start.after_seq):
            seq = int(seal["seq"])
            first_id = int(seal["first_id"]) if first_id is None else first_id
            if seq != expected:
                missing = f"{expected}" if seq == expected + 1 else f"{expected} to {seq - 1}"
                report.add(Problem(ProblemKind.REMOVED, expected, None, f"seals {missing} missing"))
            elif bytes(seal["prev_hash"]) != prev:
                report.add(
                    Problem(ProblemKind.OUT_OF_ORDER, seq, None, f"does not follow seal {seq - 1}")
                )
            index = bytes(seal["entry_index"])
            digest = hashlib.sha256(index).digest()
            stored = bytes(seal["hash"])
            if (
                digest != bytes(seal["entries_digest"])
                or len(index) != INDEX_ITEM * int(seal["entry_count"])
                or seal_hash(seal, bytes(seal["prev_hash"]), digest) != stored
            ):
                report.add(Problem(ProblemKind.CHANGED, seq, None, "its hash does not match it"))
            rows = await entries.of_seal(seq)
            _check_entries(report, seq, index, rows)
            report.seals += 1
            report.entries += len(rows)
            expected, prev = seq + 1, stored
            seen_expected = seen_expected or stored.hex() == expect_head
        head_seq, head = await audit.chain_head(conn)
        if since is None and (head_seq != expected - 1 or head != prev):
            report.add(
                Problem(
                    ProblemKind.REMOVED,
                    expected,
                    None,
                    f"the chain's head is seal {head_seq} but the last seal is {expected - 1}",
                )
            )
        from_id = (first_id or 0) if since is not None else 0
        for entry_id in await audit.list_unsealed_entries(conn, from_id, MAX_PROBLEMS):
            report.add(Problem(ProblemKind.INSERTED, None, entry_id, "no seal covers it"))
        if expect_head is not None and not seen_expected:
            report.add(
                Problem(ProblemKind.HEAD, None, None, f"the recorded head {expect_head} is gone")
            )
    report.head_seq, report.head_hash = expected - 1, prev.hex()
    report.seconds = time.perf_counter() - began
    return report


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
