"""`make bench`: pending versions through the real pipeline, against the SQL floor.

One invocation, on the local PostgreSQL and RabbitMQ:
  1. a fresh database, the rules over HTTP, a real `tasktracker api` and `tasktracker worker`;
  2. the small cases: 47 versions triggered to COMPLETED, and trigger-to-EXECUTING over 20
     triggers;
  3. N pending versions loaded with COPY;
  4. the floor (SPEC section 9): the same decisions by one hand-written UPDATE ... CASE plus
     the audit INSERT, on copies made with LIKE ... INCLUDING ALL, before and after the run;
     its audit copy is sealed by the same trigger function as audit_log (its own copies of
     audit_seals and audit_chain_head), so the ratio compares like with like; once more
     without the seal trigger (before and after the run too), for the cost of sealing;
  5. the run itself, triggered over HTTP, with the worker's peak memory; then
     `tasktracker audit verify` over what it wrote (the chain checks out, and how fast);
then a table on stdout and JSON in bench/results/. `--per-row` also times the per-row way
(fetch, decide in Python, one UPDATE per version) on a copy, and `--sweep` runs several sizes
and draws bench/results/scaling.png.

`--workers K [K ...]` and `--rules R [R ...]` measure every pair: K worker processes (the run
split into K shards, AUTOMATION_SHARDS=K) and R rules (the ten benchmark rules, and past ten
the rules of bench.rulesets.generated_rules(R - 10) ranked before them), each against the
single-statement floor and the K-way parallel floor (K connections, each its id range in
10,000-id batches) measured in the same invocation; several pairs draw
bench/results/workers.png.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from bench import year
from bench.backlog import measure_backlog
from bench.measurements import measure
from bench.processes import TASKTRACKER
from bench.report import plot, plot_matrix, print_table
from bench.rule_costs import add_arguments, run_rule_costs

ROOT = Path(__file__).parents[1]
RESULTS = ROOT / "bench" / "results"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__.splitlines()[0])
    parser.add_argument("--versions", type=int, default=1_000_000, help="pending versions")
    parser.add_argument(
        "--rules",
        type=int,
        nargs="+",
        default=[10],
        metavar="R",
        help="rule counts (ten realistic rules; past ten, generated ones ranked before them)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[1],
        metavar="K",
        help="worker counts (the run split into K shards), each against the K-way parallel floor",
    )
    parser.add_argument(
        "--per-row",
        type=int,
        default=0,
        metavar="N",
        help="also time the per-row way on N versions",
    )
    parser.add_argument(
        "--verify", action="store_true", help="check every decision against the reference evaluator"
    )
    parser.add_argument(
        "--sweep",
        type=int,
        nargs="*",
        metavar="N",
        help="run these sizes in turn and draw bench/results/scaling.png",
    )
    parser.add_argument(
        "--backlog", type=int, metavar="N", help="only bench.backlog: N undecided versions waiting"
    )
    parser.add_argument("--output", type=Path, default=RESULTS / "latest.json")
    year.add_arguments(parser)
    add_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if shutil.which(TASKTRACKER) is None and not Path(TASKTRACKER).exists():
        print("run `make install` first", file=sys.stderr)
        return 2
    if args.year:
        return year.main(args)
    if args.backlog:
        print(json.dumps(asyncio.run(measure_backlog(args.backlog)), indent=2, default=str))
        return 0
    if args.rule_costs:
        costs = asyncio.run(run_rule_costs(args))
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.with_name("rule_costs.json").write_text(json.dumps(costs, indent=2) + "\n")
        return 0
    sizes = args.sweep or [args.versions]
    matrix = [(r, k) for r in args.rules for k in args.workers]
    results = []
    for size in sizes:
        for rule_count, workers in matrix:
            figures = asyncio.run(
                measure(
                    size,
                    rule_count,
                    per_row=args.per_row,
                    check=args.verify,
                    workers=workers,
                    family=args.rule_family,
                )
            )
            print_table(figures)
            print(flush=True)
            results.append(figures)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    document: Any = [dataclasses.asdict(f) for f in results]
    single = len(results) == 1
    args.output.write_text(json.dumps(document[0] if single else document, indent=2) + "\n")
    if args.sweep:
        plot(results, args.output.with_name("scaling.png"))
    elif len(matrix) > 1:
        plot_matrix(results, args.output.with_name("workers.png"))
    failed = any(
        f.run_state != "COMPLETED" or f.verified is False or f.audit_verified is False
        for f in results
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
