"""What a rule costs per version, by rule family and rule count (`make bench` `--rule-costs`).

    .venv/bin/python -m bench.run --rule-costs --versions 100000

A scratch database of its own, N pending versions loaded with bench.dataset, then for each
rule family of bench.rulesets and each rule count (10, 100, 1,000, 10,000): the run's
deciding statement timed over every pending version in batches of ids as a run makes them
(10,000, or more for many rules: app.repositories.batches.batch_rows), one statement per batch
and a custom plan each, as a run does (jit off, as a run sets it), nothing written.
Printed per line: the median seconds, the cost per version per rule above the no-rule floor,
the planning time of one batch's statement and its size; then the dry-run ratio of 1,000
selective rules to ten over the same versions (SPEC 9: at most 3x).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import statistics
import time
import uuid
from typing import Any

import asyncpg
from pydantic import TypeAdapter

from app.config import DatabaseSettings
from app.db import with_database
from app.migrate import migrate
from app.repositories.batches import batch_rows
from app.rules.compiler import CompileContext, RuleToEvaluate, SqlParams, compile_deciding_rule
from app.rules.models import Condition
from bench.dataset import load_versions
from bench.rulesets import FAMILIES

BATCH = 10_000
COUNTS = (10, 100, 1_000, 10_000)
_CONDITION: TypeAdapter[Condition] = TypeAdapter(Condition)
# $1 after id, $2 last id; the compiled values follow (as decide_batch binds its own first).
_QUERY = (
    "SELECT count(*) FILTER (WHERE s.position IS NOT NULL) FROM ("
    " SELECT {deciding_rule} AS position FROM versions v"
    " WHERE v.status = 'pending' AND v.id > $1 AND v.id <= $2) AS s"
)


@dataclasses.dataclass
class RuleCost:
    family: str
    rules: int
    seconds: float
    us_per_version_per_rule: float
    planning_ms: float
    statement_kb: float
    matched: int


def family_rules(family: str, count: int) -> list[RuleToEvaluate]:
    """The first `count` rules of a family, as a run evaluates them."""
    return [
        RuleToEvaluate(
            id=index + 1,
            revision=1,
            priority=body["priority"],
            action=body["action"],
            name=body["name"],
            conditions=_CONDITION.validate_python(body["conditions"]),
        )
        for index, body in enumerate(FAMILIES[family](count))
    ]


async def _one_round(
    conn: asyncpg.Connection, query: str, params: list[Any], top: int, rules: int = 0
) -> tuple[float, int]:
    """Seconds to decide (without writing) every pending version, batch by batch: as a run
    does, in batches of batch_rows(10,000, rules) ids."""
    size = batch_rows(BATCH, rules)
    matched = 0
    started = time.perf_counter()
    async with conn.transaction():
        await conn.execute("SET LOCAL jit = off")
        await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
        for after in range(0, top, size):
            matched += await conn.fetchval(query, after, after + size, *params)
    return time.perf_counter() - started, matched


async def _planning_ms(conn: asyncpg.Connection, query: str, params: list[Any]) -> float:
    plan = await conn.fetchval(f"EXPLAIN (SUMMARY, FORMAT JSON) {query}", 0, BATCH, *params)
    document = plan if isinstance(plan, list) else json.loads(plan)
    return float(document[0]["Planning Time"])


async def measure_rule_costs(
    database: str, versions: int, families: list[str], counts: list[int], rounds: int
) -> tuple[float, list[RuleCost]]:
    """The no-rule floor's seconds and one RuleCost per (family, count), printed as they come."""
    name = f"tt_costs_{uuid.uuid4().hex[:12]}"
    url = with_database(database, name)
    migrate(DatabaseSettings(url=url))
    costs: list[RuleCost] = []
    try:
        conn = await asyncpg.connect(url)
        try:
            await load_versions(conn, versions)
            await conn.execute("VACUUM ANALYZE versions")
            top = await conn.fetchval("SELECT max(id) FROM versions")
            empty = _QUERY.replace("{deciding_rule}", "NULL::int4")
            floor = statistics.median(
                [(await _one_round(conn, empty, [], top))[0] for _ in range(rounds)]
            )
            print(
                f"rule costs over {versions} pending versions; floor (no rules) {floor:.3f} s",
                flush=True,
            )
            for family in families:
                for count in counts:
                    costs.append(
                        await _measure_one(conn, family, count, top, floor, versions, rounds)
                    )
        finally:
            await conn.close()
    finally:
        admin = await asyncpg.connect(database)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
    return floor, costs


async def _measure_one(  # noqa: PLR0917 - one measurement's context, in order
    conn: asyncpg.Connection,
    family: str,
    count: int,
    top: int,
    floor: float,
    versions: int,
    rounds: int,
) -> RuleCost:
    ctx = CompileContext(SqlParams(first=3), dt.datetime.now(dt.UTC))
    query = _QUERY.replace(
        "{deciding_rule}", compile_deciding_rule(family_rules(family, count), ctx)
    )
    params = ctx.params.values
    planning = await _planning_ms(conn, query, params)
    timed = [await _one_round(conn, query, params, top, count) for _ in range(rounds)]
    seconds = statistics.median(t for t, _ in timed)
    cost = RuleCost(
        family=family,
        rules=count,
        seconds=seconds,
        us_per_version_per_rule=(seconds - floor) / (versions * count) * 1e6,
        planning_ms=planning,
        statement_kb=len(query) / 1024,
        matched=timed[0][1],
    )
    print(
        f"{family:10s} rules={count:6d} median={seconds:8.3f} s"
        f" per_version_per_rule={cost.us_per_version_per_rule:.5f} us"
        f" planning={planning:8.1f} ms statement={cost.statement_kb:8.0f} KB"
        f" matched={cost.matched}",
        flush=True,
    )
    return cost


def dry_run_ratio(costs: list[RuleCost], family: str = "selective") -> float | None:
    """1,000 rules' time over ten rules' time for one family (None when either is missing)."""
    by_count = {c.rules: c.seconds for c in costs if c.family == family}
    if 1_000 not in by_count or 10 not in by_count:
        return None
    return by_count[1_000] / by_count[10]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `--rule-family` and `--rule-costs` options of `make bench`."""
    parser.add_argument(
        "--rule-family",
        default="guarded",
        choices=sorted(FAMILIES),
        help="the family of the rules past the ten benchmark rules (bench.rulesets)",
    )
    parser.add_argument(
        "--rule-costs",
        action="store_true",
        help="time the deciding statement per rule family and count, instead of a run",
    )
    parser.add_argument(
        "--rule-families", nargs="+", default=["selective", "branching"], choices=sorted(FAMILIES)
    )
    parser.add_argument("--rule-counts", type=int, nargs="+", default=list(COUNTS))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database", default="postgresql://postgres@127.0.0.1:5432/postgres")


async def run_rule_costs(args: argparse.Namespace) -> dict[str, Any]:
    """Measure, print the ratio, and answer the figures as a JSON-ready document."""
    floor, costs = await measure_rule_costs(
        args.database, args.versions, args.rule_families, args.rule_counts, args.rounds
    )
    ratio = dry_run_ratio(costs)
    if ratio is not None:
        print(f"dry-run ratio, 1,000 selective rules to ten: {ratio:.2f}x (target: at most 3x)")
    return {
        "versions": args.versions,
        "floor_seconds": floor,
        "costs": [dataclasses.asdict(c) for c in costs],
        "selective_1000_to_10": ratio,
    }
