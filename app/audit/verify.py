"""`tasktracker audit verify` and `GET /audit/verify`: recompute the audit log's hash chain.

It streams seals and their entries with server-side cursors in one read-only snapshot, so
memory stays flat in the size of the log.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg

from app.audit.canonical import INDEX_ITEM, entry_hash, seal_hash
from app.audit.report import MAX_PROBLEMS, Problem, ProblemKind, VerifyReport
from app.db import Connection
from app.repositories import audit as audit_repo


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


@dataclass
class _Walk:
    """Where the walk along the chain is."""

    expected: int  # the seal that should come next
    prev: bytes  # the hash of the seal before it
    expect_head: str | None  # a seal hash recorded earlier, to be met along the way
    head_seen: bool = False
    first_id: int | None = None  # the first entry of the first seal walked


async def verify_chain(
    conn: Connection, *, since: dt.datetime | None = None, expect_head: str | None = None
) -> VerifyReport:
    """Recompute every seal after the latest checkpoint (or from the first sealed at or after
    `since`) and the entries each covers; report the first problems, counts and speed.
    `expect_head`: a seal hash recorded earlier, which must still be in the chain."""
    began = time.perf_counter()
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        start = await audit_repo.chain_start(conn, since)
        if start is None:  # nothing sealed since `since`
            head_seq, head = await audit_repo.chain_head(conn)
            return VerifyReport(
                head_seq,
                False,
                seconds=time.perf_counter() - began,
                head_seq=head_seq,
                head_hash=head.hex(),
            )
        report = VerifyReport(start.after_seq, start.checkpoint)
        walk = _Walk(start.after_seq + 1, start.prev_hash, expect_head)
        walk.head_seen = expect_head is not None and walk.prev.hex() == expect_head
        await _walk_seals(conn, start.after_seq, report, walk)
        await _check_ends(conn, report, walk, since)
    report.head_seq, report.head_hash = walk.expected - 1, walk.prev.hex()
    report.seconds = time.perf_counter() - began
    return report


async def _walk_seals(conn: Connection, after_seq: int, report: VerifyReport, walk: _Walk) -> None:
    """Every seal after `after_seq` in order, and the entries each covers."""
    entries = _Entries(audit_repo.stream_sealed_entries(conn, after_seq))
    async for seal in audit_repo.stream_seals(conn, after_seq):
        seq = int(seal["seq"])
        walk.first_id = int(seal["first_id"]) if walk.first_id is None else walk.first_id
        index, stored = _check_seal(report, seal, walk)
        rows = await entries.of_seal(seq)
        _check_entries(report, seq, index, rows)
        report.seals += 1
        report.entries += len(rows)
        walk.expected, walk.prev = seq + 1, stored
        walk.head_seen = walk.head_seen or stored.hex() == walk.expect_head


def _check_seal(report: VerifyReport, seal: asyncpg.Record, walk: _Walk) -> tuple[bytes, bytes]:
    """Check one seal's place in the chain and its own hash; its entry index and stored hash."""
    seq = int(seal["seq"])
    if seq != walk.expected:
        expected = walk.expected
        missing = f"{expected}" if seq == expected + 1 else f"{expected} to {seq - 1}"
        report.add(Problem(ProblemKind.REMOVED, expected, None, f"seals {missing} missing"))
    elif bytes(seal["prev_hash"]) != walk.prev:
        report.add(Problem(ProblemKind.OUT_OF_ORDER, seq, None, f"does not follow seal {seq - 1}"))
    index = bytes(seal["entry_index"])
    digest = hashlib.sha256(index).digest()
    stored = bytes(seal["hash"])
    if (
        digest != bytes(seal["entries_digest"])
        or len(index) != INDEX_ITEM * int(seal["entry_count"])
        or seal_hash(seal, bytes(seal["prev_hash"]), digest) != stored
    ):
        report.add(Problem(ProblemKind.CHANGED, seq, None, "its hash does not match it"))
    return index, stored


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


async def _check_ends(
    conn: Connection, report: VerifyReport, walk: _Walk, since: dt.datetime | None
) -> None:
    """After the walk: the chain's head is the last seal (for a whole walk), no entry is left
    unsealed, and the recorded head was met."""
    head_seq, head = await audit_repo.chain_head(conn)
    expected, prev = walk.expected, walk.prev
    if since is None and (head_seq != expected - 1 or head != prev):
        report.add(
            Problem(
                ProblemKind.REMOVED,
                expected,
                None,
                f"the chain's head is seal {head_seq} but the last seal is {expected - 1}",
            )
        )
    from_id = (walk.first_id or 0) if since is not None else 0
    for entry_id in await audit_repo.list_unsealed_entries(conn, from_id, MAX_PROBLEMS):
        report.add(Problem(ProblemKind.INSERTED, None, entry_id, "no seal covers it"))
    if walk.expect_head is not None and not walk.head_seen:
        report.add(
            Problem(ProblemKind.HEAD, None, None, f"the recorded head {walk.expect_head} is gone")
        )
