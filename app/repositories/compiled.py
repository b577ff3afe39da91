"""Statements with the rule compiler's SQL spliced in: the compiled deciding rule (a CASE over
allow-listed identifiers) takes the place of `{deciding_rule}` in a named query's text, its
values bound as parameters after the query's own."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from app.rules.compiler import CompileContext, RuleToEvaluate, SqlParams, compile_deciding_rule

DECIDING_RULE = "{deciding_rule}"


def splice_deciding_rule(
    template: str, rules: Sequence[RuleToEvaluate], evaluated_at: dt.datetime | None, *, first: int
) -> tuple[str, list[Any]]:
    """`template` with `rules`' compiled deciding rule (as of `evaluated_at`) in place of
    `{deciding_rule}`, and the compiled values, bound from `$first` on."""
    ctx = CompileContext(SqlParams(first=first), evaluated_at)
    return template.replace(DECIDING_RULE, compile_deciding_rule(rules, ctx)), ctx.params.values
