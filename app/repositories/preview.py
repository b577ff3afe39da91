"""What a rule preview reads: one scan of the pending versions with the candidate's compiled
tree and the compiled deciding rule of the rules before it (preview_rule in rules.sql), then
the sample's versions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import asyncpg

from app.db import Connection
from app.models import Version
from app.repositories import fetch_all
from app.rules.compiler import (
    CompileContext,
    RuleToEvaluate,
    SqlParams,
    compile_condition,
    compile_deciding_rule,
)
from app.sql import queries


async def count_preview_positions(
    conn: Connection,
    *,
    candidate: RuleToEvaluate,
    higher: Sequence[RuleToEvaluate],
    position: int,
    at: dt.datetime,
    timeout_seconds: float,
) -> list[asyncpg.Record]:
    """Where `candidate` (at `position` of the evaluation order) is true, how many versions
    each position decides (`higher`: the rules before it) and, for its own position, the ids
    of a sample; the client gives up after `timeout_seconds`."""
    # One scan: where the candidate is true, only the rules before it can take a version from
    # it, so those alone are compiled into the CASE (the candidate's own position is the
    # fallback).
    ctx = CompileContext(SqlParams(first=2), at)
    statement = queries.preview_rule.sql.replace(
        "{candidate}", compile_condition(candidate.conditions, ctx)
    ).replace("{higher_rule}", compile_deciding_rule(higher, ctx))
    return await conn.fetch(statement, position, *ctx.params.values, timeout=timeout_seconds)


async def get_preview_sample(conn: Connection, ids: list[int]) -> list[Version]:
    """The versions of a preview's sample, by id."""
    rows = await fetch_all(queries.get_preview_sample(conn, ids=ids)) if ids else []
    return [Version.model_validate(dict(row)) for row in rows]
