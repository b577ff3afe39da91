"""The benchmark's report: the table on stdout, and the sweep's and the matrix's plots."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from bench.measurements import Figures

ROWS = [
    ("versions", "versions", "{:,}"),
    ("rules", "rules", "{}"),
    ("workers", "workers", "{}"),
    ("shards of the run", "shards", "{}"),
    ("decided", "decided", "{:,}"),
    ("run state", "run_state", "{}"),
    ("load (COPY)", "load_seconds", "{:.1f} s"),
    ("run, trigger to COMPLETED", "run_wall_seconds", "{:.2f} s"),
    ("run, worker's own timestamps", "run_worker_seconds", "{:.2f} s"),
    ("floor (best of before/after)", "floor_seconds", "{:.2f} s"),
    ("  floor before the run", "floor_before_seconds", "{:.2f} s"),
    ("  floor after the run", "floor_after_seconds", "{:.2f} s"),
    ("  floor without sealing (best of before/after)", "floor_unsealed_seconds", "{:.2f} s"),
    ("sealing's cost (floor sealed / unsealed - 1)", "sealing_cost", "{:.1%}"),
    ("batched floor (1 connection, 10k-id batches), sealed", "batched_floor_seconds", "{:.2f} s"),
    ("  the same without sealing", "batched_floor_unsealed_seconds", "{:.2f} s"),
    ("sealing's cost in batches (sealed / unsealed - 1)", "batched_sealing_cost", "{:.1%}"),
    ("ratio run / floor", "ratio", "{:.2f}x"),
    ("K-way parallel floor (best of before/after)", "parallel_floor_seconds", "{:.2f} s"),
    ("  parallel floor before the run", "parallel_floor_before_seconds", "{:.2f} s"),
    ("  parallel floor after the run", "parallel_floor_after_seconds", "{:.2f} s"),
    ("ratio run / parallel floor", "ratio_parallel", "{:.2f}x"),
    ("run, µs per version per rule", "us_per_version_per_rule", "{:.3f}"),
    ("floor, µs per version per rule", "floor_us_per_version_per_rule", "{:.3f}"),
    ("worker peak RSS before the run (largest)", "worker_peak_rss_mb_before_run", "{:.1f} MB"),
    ("worker peak RSS after the run (largest)", "worker_peak_rss_mb", "{:.1f} MB"),
    ("trigger to EXECUTING, median of 20", "trigger_to_executing_median_ms", "{:.1f} ms"),
    ("47 versions, trigger to COMPLETED", "small_case_wall_seconds", "{:.3f} s"),
    ("47 versions, requested to finished (db)", "small_case_db_seconds", "{:.3f} s"),
    ("per-row way: versions", "per_row_versions", "{:,}"),
    ("per-row way", "per_row_seconds", "{:.2f} s"),
    ("floor on the same versions", "per_row_floor_seconds", "{:.2f} s"),
    ("decisions equal the reference evaluator's", "verified", "{}"),
    ("audit verify: the chain checks out", "audit_verified", "{}"),
    ("audit verify: entries checked", "audit_verify_entries", "{:,}"),
    ("audit verify: seconds", "audit_verify_seconds", "{:.2f} s"),
]


def print_table(figures: Figures) -> None:
    values = dataclasses.asdict(figures)
    width = max(len(label) for label, _, _ in ROWS)
    for label, key, form in ROWS:
        value = values[key]
        if value is None or (key.startswith("per_row") and not figures.per_row_versions):
            continue
        print(f"{label:<{width}}  {form.format(value)}")
    for label, observed in (
        ("during the run", figures.run_observed),
        ("during the parallel floor", figures.parallel_floor_observed),
    ):
        if observed:
            waits = ", ".join(f"{event} {share:.2f}" for event, share in observed["waits"].items())
            print(
                f"{label:<{width}}  CPU busy {observed['cpu_busy']:.0%},"
                f" WAL {observed['wal_mb']:.0f} MB, active sessions"
                f" {observed['active_sessions']:.2f}: {waits}"
            )


def plot(sweep: list[Figures], path: Path) -> None:
    import matplotlib  # noqa: PLC0415 - only the sweep draws

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    sizes = [f.versions for f in sweep]
    figure, axes = plt.subplots(figsize=(7, 4.5))
    axes.plot(sizes, [f.run_worker_seconds for f in sweep], "o-", label="run (worker timestamps)")
    axes.plot(sizes, [f.floor_seconds for f in sweep], "s--", label="SQL floor")
    axes.axhline(30, color="grey", linestyle=":", label="30 s guard")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("pending versions")
    axes.set_ylabel("seconds")
    axes.set_title("Run time against the floor (2 cores)")
    axes.legend()
    axes.grid(visible=True, which="both", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def plot_matrix(results: list[Figures], path: Path) -> None:
    """Run time against both floors per worker count, and per rule count."""
    import matplotlib  # noqa: PLC0415 - only a matrix draws

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    figure, (by_workers, by_rules) = plt.subplots(1, 2, figsize=(11, 4.5))
    first_rules = results[0].rules
    row = sorted((f for f in results if f.rules == first_rules), key=lambda f: f.workers)
    ks = [f.workers for f in row]
    width = 0.27
    for offset, (label, values) in enumerate(
        (
            ("run (worker timestamps)", [f.run_worker_seconds for f in row]),
            ("single-statement floor", [f.floor_seconds for f in row]),
            ("K-way parallel floor", [f.parallel_floor_seconds for f in row]),
        )
    ):
        by_workers.bar(
            [i + (offset - 1) * width for i in range(len(ks))], values, width, label=label
        )
    by_workers.set_xticks(range(len(ks)), [str(k) for k in ks])
    by_workers.set_xlabel("workers K (the run in K shards)")
    by_workers.set_ylabel("seconds")
    by_workers.set_title(f"{results[0].versions:,} versions, {first_rules} rules")
    by_workers.legend()
    by_workers.grid(visible=True, axis="y", alpha=0.3)
    for k in sorted({f.workers for f in results}):
        line = sorted((f for f in results if f.workers == k), key=lambda f: f.rules)
        by_rules.plot(
            [f.rules for f in line], [f.run_worker_seconds for f in line], "o-", label=f"run, K={k}"
        )
    by_rules.axhline(30, color="grey", linestyle=":", label="30 s guard")
    by_rules.set_xscale("log")
    by_rules.set_xlabel("rules R")
    by_rules.set_ylabel("seconds")
    by_rules.set_title("Run time by rule count")
    by_rules.legend()
    by_rules.grid(visible=True, which="both", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
