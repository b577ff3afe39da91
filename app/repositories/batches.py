"""A run's batches: decide_batch (the compiled deciding rule spliced into its text) and
add_batch_to_run, the two statements of one batch's transaction (automation.sql)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from app.db import Connection
from app.repositories.compiled import splice_deciding_rule
from app.repositories.session import limit_transaction
from app.rules.compiler import RuleToEvaluate
from app.sql import queries

# $1..$14 of decide_batch (see its comment in automation.sql); the compiled values follow.
_BATCH_FIXED_PARAMS = 14
# Each batch's statement is planned anew (custom plans, app/db.py), and planning grows with
# the rules: about 25 ms for 1,000 rules, 0.2-0.4 s for 10,000 (docs/performance.md). A batch
# holds at least this many versions per rule, so that planning stays a small part of its
# cost (about 0.5 us a version) instead of 40% of it at 10,000 versions and 1,000 rules...
ROWS_PER_RULE = 50
# ...up to this many versions, so that a batch still ends (and is fenced, counted and
# cancellable) every few seconds.
MAX_BATCH_ROWS = 100_000


def batch_rows(configured: int, rule_count: int) -> int:
    """Versions per batch: AUTOMATION_BATCH_SIZE, or more for a large rule set."""
    return max(configured, min(MAX_BATCH_ROWS, ROWS_PER_RULE * rule_count))


@dataclass(frozen=True)
class BatchStatement:
    """decide_batch for one run's rules, compiled once and run for each of its batches: the
    statement's text and the parameters that are the same for every batch."""

    sql: str
    rule_columns: tuple[list[int], list[int], list[str], list[str]]
    compiled_values: list[Any]

    def rows(self, configured: int) -> int:
        """Versions per batch of this statement (batch_rows for its rule count)."""
        return batch_rows(configured, len(self.rule_columns[0]))


def batch_statement(
    rules: Sequence[RuleToEvaluate], evaluated_at: dt.datetime | None
) -> BatchStatement:
    """decide_batch with `rules` (in evaluation order) compiled as of `evaluated_at`."""
    sql, values = splice_deciding_rule(
        queries.decide_batch.sql, rules, evaluated_at, first=_BATCH_FIXED_PARAMS + 1
    )
    columns = (
        [rule.id for rule in rules],
        [rule.revision for rule in rules],
        [rule.action for rule in rules],
        [rule.name for rule in rules],
    )
    return BatchStatement(sql, columns, values)


async def set_batch_limits(
    conn: Connection, *, statement_timeout_ms: int, idle_timeout_ms: int
) -> None:
    """Bound the current batch's transaction: its statements never outlive the run's guard, a
    worker frozen before COMMIT loses it, and jit is off (automation.sql, limit_transaction)."""
    await limit_transaction(
        conn, statement_timeout_ms=statement_timeout_ms, idle_timeout_ms=idle_timeout_ms, jit=False
    )


async def decide_batch(
    conn: Connection,
    statement: BatchStatement,
    *,
    run_id: uuid.UUID,
    after: int,
    upto: int,
    batch_size: int,
    cap: int | None,
    dry_run: bool,
    worker: str,
    epoch: int,
    shard_id: uuid.UUID | None,
    allowance: int | None,
) -> asyncpg.Record:
    """Run one batch of a run (or of its shard `shard_id`): the next `batch_size` pending ids
    after `after` (up to `upto`) decided by the compiled rules, at most `allowance` of them
    for a run that is not split, within the run's `cap` for a shard (None: no cap), unless
    `dry_run`; the lease of `worker` and `epoch` fences a shard's progress. Answers the
    batch's counts for add_batch_to_run."""
    row: asyncpg.Record | None = await conn.fetchrow(
        statement.sql,
        run_id,
        after,
        upto,
        batch_size,
        *statement.rule_columns,
        cap,
        dry_run,
        worker,
        epoch,
        shard_id,
        allowance,
        *statement.compiled_values,
    )
    assert row is not None  # noqa: S101 - a SELECT without FROM answers one row
    return row


async def add_batch_to_run(
    conn: Connection,
    run_id: uuid.UUID,
    *,
    worker: str,
    epoch: int,
    shard_id: uuid.UUID | None,
    cap: int | None,
    batch: asyncpg.Record,
) -> asyncpg.Record | None:
    """Add a batch's counts (decide_batch's answer) to its run's sums; None when refused."""
    row: asyncpg.Record | None = await queries.add_batch_to_run(
        conn,
        id=run_id,
        worker=worker,
        epoch=epoch,
        shard=shard_id,
        cap=cap,
        scanned=batch["scanned"],
        last_id=batch["batch_last_id"],
        approved=batch["approved"],
        rejected=batch["rejected"],
        escalated=batch["escalated"],
        per_rule=batch["per_rule"],
    )
    return row
