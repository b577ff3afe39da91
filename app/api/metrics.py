"""GET /metrics: Prometheus text, read from PostgreSQL at scrape time.

prometheus-client counts per process, but runs and decisions are made by every worker,
scheduler and api: so the series are built at each scrape from what the database holds, in
a registry of their own, and exposed with the client's own text format."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from app.db import Pool
from app.repositories import metrics as metric_repo

DURATION_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0)


class _Snapshot(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families


def _families(counts: Any, durations: Any) -> list[Metric]:
    runs = GaugeMetricFamily(
        "tasktracker_runs", "Automation runs by trigger and state", labels=["trigger", "state"]
    )
    for row in counts["runs"]:
        runs.add_metric([row["trigger"], row["state"]], row["n"])
    decisions = CounterMetricFamily(
        "tasktracker_rule_decisions",
        "Versions decided by rules in runs, by action and rule id",
        labels=["action", "rule"],
    )
    for row in counts["decisions"]:
        decisions.add_metric([row["action"], row["rule"]], row["n"])
    pending = GaugeMetricFamily(
        "tasktracker_pending_versions", "Pending versions by entity type", labels=["entity_type"]
    )
    for entity_type in ("topic", "atom"):
        pending.add_metric([entity_type], counts["pending"][entity_type])
    backlog = GaugeMetricFamily(
        "tasktracker_relay_backlog", "Runs stored but not yet published to RabbitMQ (PENDING)"
    )
    backlog.add_metric([], counts["relay_backlog"])
    lag = GaugeMetricFamily(
        "tasktracker_scheduler_tick_lag_seconds",
        "How late each registered job's next tick is (0 while it is in the future)",
        labels=["job"],
    )
    for row in counts["tick_lag"]:
        lag.add_metric([row["job"]], row["lag"])
    missed = CounterMetricFamily(
        "tasktracker_scheduler_missed_ticks", "Ticks dropped for being later than the grace"
    )
    missed.add_metric([], counts["missed_ticks"])
    duration = HistogramMetricFamily(
        "tasktracker_run_duration_seconds", "Duration of finished runs (claim to end)"
    )
    buckets = [
        (str(bound), count)
        for bound, count in zip(DURATION_BUCKETS, durations["buckets"], strict=True)
    ]
    duration.add_metric([], [*buckets, ("+Inf", durations["runs"])], durations["total_seconds"])
    return [runs, decisions, pending, backlog, lag, missed, duration]


async def render_metrics(pool: Pool) -> bytes:
    """The Prometheus text of every series, read now."""
    async with pool.acquire() as conn:
        counts = await metric_repo.get_metric_counts(conn)
        durations = await metric_repo.get_run_durations(conn, DURATION_BUCKETS)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(_families(counts, durations)))
    return generate_latest(registry)
