"""How the deciding CASE costs per version per rule: a measurement script, not part of the suite.

    .venv/bin/python -m bench.compiler_probe --versions 100000 --rules 10 100 1000 --rounds 3

It migrates a scratch database of its own, loads pending versions with bench.dataset, and
times the executor's decision expression over every pending version in 10k-id batches (one
statement per batch, as a run does), with `jit` on and off, for each rule count of
bench.rulesets. `--compiler FILE` times another version of app/rules/compiler.py (for a
before/after table). Nothing is written to `versions`; the scratch database is dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import importlib.util
import statistics
import sys
import time
import uuid
from types import ModuleType
from typing import Any

import asyncpg
from pydantic import TypeAdapter

from app.config import DatabaseSettings
from app.db import with_database
from app.migrate import migrate
from app.rules import compiler as current_compiler
from app.rules.models import Condition
from bench.dataset import load_versions
from bench.rulesets import generated_rules

BATCH = 10_000
_CONDITION: TypeAdapter[Condition] = TypeAdapter(Condition)
# The batch's own positional parameters ($1 after id, $2 max id); compiled values follow.
_QUERY = (
    "SELECT count(*) FILTER (WHERE s.position IS NOT NULL) FROM ("
    " SELECT {deciding_rule} AS position FROM versions v"
    " WHERE v.status = 'pending' AND v.id > $1 AND v.id <= $2) AS s"
)


def _load_compiler(path: str | None) -> ModuleType:
    if path is None:
        return current_compiler
    spec = importlib.util.spec_from_file_location("probe_compiler", path)
    assert spec is not None and spec.loader is not None  # noqa: S101 - a script's own check
    module = importlib.util.module_from_spec(spec)
    sys.modules["probe_compiler"] = module
    spec.loader.exec_module(module)
    return module


def _rules(compiler: ModuleType, count: int) -> list[Any]:
    return [
        compiler.RuleToEvaluate(
            id=index + 1,
            revision=1,
            priority=body["priority"],
            action=body["action"],
            name=body["name"],
            conditions=_CONDITION.validate_python(body["conditions"]),
        )
        for index, body in enumerate(generated_rules(count))
    ]


async def _one_round(
    conn: asyncpg.Connection, query: str, params: list[Any], top: int, jit: str
) -> float:
    """Seconds to decide (without writing) every pending version, batch by batch."""
    started = time.perf_counter()
    async with conn.transaction():
        await conn.execute(f"SET LOCAL jit = {jit}")
        for after in range(0, top, BATCH):
            await conn.fetchval(query, after, after + BATCH, *params)
    return time.perf_counter() - started


async def probe(args: argparse.Namespace) -> None:
    """Load the versions, then print one line of medians per (rule count, jit)."""
    admin = args.database
    name = f"tt_probe_{uuid.uuid4().hex[:12]}"
    url = with_database(admin, name)
    migrate(DatabaseSettings(url=url))
    compiler = _load_compiler(args.compiler)
    try:
        conn = await asyncpg.connect(url)
        try:
            await load_versions(conn, args.versions)
            await conn.execute("VACUUM ANALYZE versions")
            top = await conn.fetchval("SELECT max(id) FROM versions")
            at = dt.datetime.now(dt.UTC)
            empty = _QUERY.replace("{deciding_rule}", "NULL::int4")
            floor = statistics.median(
                [await _one_round(conn, empty, [], top, "off") for _ in range(args.rounds)]
            )
            print(f"floor (no rules): {floor:.3f} s over {args.versions} versions")
            for count in args.rules:
                ctx = compiler.CompileContext(compiler.SqlParams(first=3), at)
                expression = compiler.compile_deciding_rule(_rules(compiler, count), ctx)
                query = _QUERY.replace("{deciding_rule}", expression)
                for jit in args.jit:
                    times = [
                        await _one_round(conn, query, ctx.params.values, top, jit)
                        for _ in range(args.rounds)
                    ]
                    median = statistics.median(times)
                    per = (median - floor) / (args.versions * count) * 1e6
                    print(
                        f"rules={count:5d} jit={jit:3s} median={median:8.3f} s"
                        f" rounds={','.join(f'{t:.2f}' for t in times)}"
                        f" per_version_per_rule={per:.4f} us",
                        flush=True,
                    )
        finally:
            await conn.close()
    finally:
        admin_conn = await asyncpg.connect(admin)
        try:
            await admin_conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin_conn.close()


def main() -> None:
    """Parse the command line and run the probe."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--versions", type=int, default=100_000)
    parser.add_argument("--rules", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--jit", nargs="+", choices=["on", "off"], default=["off", "on"])
    parser.add_argument("--compiler", help="another compiler.py to time (before/after)")
    asyncio.run(probe(parser.parse_args()))


if __name__ == "__main__":
    main()
