"""The run's log lines (SPEC 6.7): how it started, and its closing lines per rule, per action
and how it ended."""

from __future__ import annotations

import logging

from app.automation.executor.base import Lease
from app.i18n import N_
from app.logging import context
from app.models import Run, RunState
from app.rules.compiler import RuleToEvaluate, rules_from_snapshot

logger = logging.getLogger("automation")

# Log msgids per action: (a run's line, a dry run's line).
ACTION_LOG = {
    "approve": (
        N_("Auto-approved %(count)d versions"),
        N_("Would have approved %(count)d versions"),
    ),
    "reject": (
        N_("Auto-rejected %(count)d versions"),
        N_("Would have rejected %(count)d versions"),
    ),
    "escalate": (N_("Escalated %(count)d versions"), N_("Would have escalated %(count)d versions")),
}


def rules_of(run: Run) -> list[RuleToEvaluate]:
    """The rules the run evaluates (its snapshot), in evaluation order."""
    return rules_from_snapshot(run.rules or [])


def log_start(run: Run, lease: Lease) -> None:
    """The line that opens a run's (or a shard's) evaluation."""
    if lease.shard is not None:
        logger.info(
            "Shard %(shard)d of %(shards)d started",
            {"shard": lease.shard.shard_no, "shards": run.shards},
            extra=context(run=run.id, shard=lease.shard.shard_no, attempt=lease.shard.attempts),
        )
    else:
        logger.info(
            "Automation run started",
            extra=context(
                run=run.id,
                trigger=run.trigger.value,
                job=run.job_id or "-",
                attempt=run.attempts,
                dry_run=str(run.dry_run).lower(),
            ),
        )


def log_end(run: Run, state: RunState, error: str | None, elapsed: float, *, capped: bool) -> None:
    """The run's closing lines (SPEC 6.7): per rule, per action, and how it ended."""
    run_id = run.id
    for rule in rules_of(run):
        matched = run.decisions_by_rule.get(str(rule.id), 0)
        if matched:
            logger.info(
                "Rule '%(rule)s' matched %(count)d versions",
                {"rule": rule.name, "count": matched},
                extra=context(run=run_id, rule=rule.id, revision=rule.revision),
            )
    for action, count in (
        ("approve", run.approved),
        ("reject", run.rejected),
        ("escalate", run.escalated),
    ):
        if count:
            message = ACTION_LOG[action][run.dry_run]
            logger.info(message, {"count": count}, extra=context(run=run_id))
    if state is RunState.COMPLETED:
        tail = context(run=run_id, capped="true") if capped else context(run=run_id)
        logger.info("Run completed (%(seconds).1fs)", {"seconds": elapsed}, extra=tail)
    else:
        logger.warning(
            "Run failed (%(seconds).1fs)",
            {"seconds": elapsed},
            extra=context(run=run_id, error=error),
        )
