"""What a rule would do to the pending versions now, from the same compiled SQL as a run:
how many it matches, how many it would decide, which enabled higher-priority rules take the
rest (shadowing), and a sample."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import math
from collections.abc import Iterator

from app.db import Connection, Pool, StatementCancelledError, transaction
from app.errors import BusyError, ConflictError, OutOfTimeError
from app.models import PreviewAnswer, Shadowing
from app.repositories import preview as preview_repo
from app.repositories import rules as rule_repo
from app.repositories.session import limit_transaction
from app.rules.compiler import RuleToEvaluate, evaluation_order
from app.rules.models import RuleBody
from app.rules.ruleset import to_evaluate

# An unsaved rule sorts after every saved rule of its priority, as it would once created.
UNSAVED_RULE_ID = 2**31 - 1

# The client waits this much longer than the server's statement_timeout, so that the server
# cancels first and the connection goes back to the pool clean.
CLIENT_MARGIN_SECONDS = 1.0


class PreviewSlots:
    """At most `size` previews at once in this api process; one more is refused at once
    (BusyError, a 429) rather than queued. A queue would hold the requests, then the pool's
    connections, then PostgreSQL's cores: any viewer could starve triggers and runs."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.busy = 0

    @contextlib.contextmanager
    def take(self) -> Iterator[None]:
        """Hold one slot for the block; BusyError when every slot is taken."""
        # One event loop and no await between the test and the count: no lock is needed.
        if self.busy >= self.size:
            raise BusyError(
                f"{self.size} previews are running already (API_PREVIEW_CONCURRENCY);"
                " try again shortly"
            )
        self.busy += 1
        try:
            yield
        finally:
            self.busy -= 1


async def preview_rule(
    pool: Pool,
    *,
    body: RuleBody | None,
    rule_id: int | None,
    timeout_seconds: float,
    slots: PreviewSlots,
    replacing: int | None = None,
) -> PreviewAnswer:
    """Preview an unsaved rule (`body`) or a stored one (`rule_id`, enabled or not) among the
    enabled rules, as a run starting now would evaluate them. `body` with `replacing` (a
    stored rule's id) is that rule as edited: the stored version then takes no part.

    Bounded: BusyError when `slots` are all taken; OutOfTimeError when it needs more than
    `timeout_seconds` (the server cancels its statements then)."""
    with slots.take():
        try:
            async with asyncio.timeout(timeout_seconds + CLIENT_MARGIN_SECONDS):
                return await _preview(pool, body, rule_id, timeout_seconds, replacing)
        except (TimeoutError, StatementCancelledError) as exc:
            raise OutOfTimeError(
                f"the preview needed more than {timeout_seconds:g} s"
                " (API_PREVIEW_TIMEOUT_SECONDS); try again later or narrow the rule"
            ) from exc


async def _candidate(
    conn: Connection, body: RuleBody | None, rule_id: int | None, replacing: int | None
) -> RuleToEvaluate:
    """The rule previewed: stored (`rule_id`), or `body` (unsaved, or the edit of
    `replacing`)."""
    known = rule_id if rule_id is not None else replacing
    if known is not None:  # 404 for no such rule, 409 for a deleted one
        stored = await rule_repo.get_rule(conn, known)
        if stored.deleted_at is not None:
            raise ConflictError(f"rule {known} was deleted")
        if rule_id is not None:
            return to_evaluate(stored)
    assert body is not None  # noqa: S101 - one of the two, checked by the route
    return RuleToEvaluate(
        id=replacing or UNSAVED_RULE_ID,
        revision=0,
        priority=body.priority,
        action=body.action.value,
        name=body.name,
        conditions=body.conditions,
    )


async def _preview(
    pool: Pool,
    body: RuleBody | None,
    rule_id: int | None,
    timeout_seconds: float,
    replacing: int | None,
) -> PreviewAnswer:
    async with transaction(pool) as conn:
        # Local to this transaction: the pooled connection goes back without it.
        # (at least 1 ms: 0 would mean no timeout at all).
        timeout_ms = max(1, math.ceil(timeout_seconds * 1000))
        await limit_transaction(conn, statement_timeout_ms=timeout_ms)
        enabled = await rule_repo.list_enabled_rules(conn)
        candidate = await _candidate(conn, body, rule_id, replacing)
        rules = evaluation_order(
            [r for r in (to_evaluate(rule) for rule in enabled) if r.id != candidate.id]
            + [candidate]
        )
        position = rules.index(candidate) + 1

        rows = await preview_repo.count_preview_positions(
            conn,
            candidate=candidate,
            higher=rules[: position - 1],
            position=position,
            at=dt.datetime.now(dt.UTC),
            timeout_seconds=timeout_seconds + CLIENT_MARGIN_SECONDS,
        )
        per_position = {row["position"]: row["versions"] for row in rows}
        sample_ids: list[int] = next(
            (row["sample_ids"] for row in rows if row["position"] == position), []
        )
        sample = await preview_repo.get_preview_sample(conn, sample_ids)
    return PreviewAnswer(
        matched=sum(per_position.values()),
        would_decide=per_position.get(position, 0),
        shadowed_by=[
            Shadowing(rule_id=rules[p - 1].id, name=rules[p - 1].name, count=n)
            for p, n in sorted(per_position.items())
            if p != position
        ],
        sample=sample,
    )
