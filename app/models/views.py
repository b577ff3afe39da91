"""Answers as the API shows them: pages, run and job views, explanations, previews, stats."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field

from app.models.enums import JobState, JobTask, RunState, RunTrigger, VersionStatus
from app.models.records import Run, Shard, Token, Version
from app.rules.models import RuleBody

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list; pass `next_cursor` back as `?cursor=` for the next."""

    items: list[T]
    next_cursor: str | None


class NewToken(BaseModel):
    """A token just created: the only moment its secret is known."""

    token: Token
    secret: str


class ShardView(BaseModel):
    """A shard's progress as the API shows it (in its run's answer)."""

    shard_no: int
    state: RunState
    attempts: int
    pending: int
    evaluated: int
    decided: int
    capped: bool
    error: str | None
    from_id: int = Field(description="The shard's range: from_id < id <= to_id")
    to_id: int
    last_version_id: int

    @classmethod
    def of(cls, shard: Shard) -> ShardView:
        return cls(
            shard_no=shard.shard_no,
            state=shard.state,
            attempts=shard.attempts,
            pending=shard.pending,
            evaluated=shard.evaluated,
            decided=shard.decided,
            capped=shard.capped,
            error=shard.error,
            from_id=shard.after_id,
            to_id=shard.max_version_id,
            last_version_id=shard.last_version_id,
        )


class Decisions(BaseModel):
    approve: int
    reject: int
    escalate: int


class RuleMatches(BaseModel):
    rule_id: int
    name: str
    revision: int
    matched: int


class RunView(BaseModel):
    """A run as the API shows it."""

    id: uuid.UUID
    job_id: str | None
    trigger: RunTrigger
    state: RunState
    dry_run: bool
    reason: str | None
    error: str | None
    scheduled_for: dt.datetime | None
    requested_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    duration_ms: int | None
    attempts: int
    evaluated: int
    capped: bool
    decisions: Decisions
    rules: list[RuleMatches]
    shards: list[ShardView] = Field(
        default_factory=list,
        description="A split run's shards and their progress (in the answer for one run)",
    )

    @classmethod
    def of(cls, run: Run, shards: list[Shard] | None = None) -> RunView:
        duration = (
            round((run.finished_at - run.started_at).total_seconds() * 1000)
            if run.finished_at and run.started_at
            else None
        )
        rules = [
            RuleMatches(
                rule_id=rule["id"],
                name=rule["name"],
                revision=rule["revision"],
                matched=run.decisions_by_rule.get(str(rule["id"]), 0),
            )
            for rule in run.rules or []
        ]
        return cls(
            id=run.id,
            job_id=run.job_id,
            trigger=run.trigger,
            state=run.state,
            dry_run=run.dry_run,
            reason=run.reason,
            error=run.error,
            scheduled_for=run.scheduled_for,
            requested_at=run.requested_at,
            started_at=run.started_at,
            finished_at=run.finished_at,
            duration_ms=duration,
            attempts=run.attempts,
            evaluated=run.evaluated,
            capped=run.capped,
            decisions=Decisions(approve=run.approved, reject=run.rejected, escalate=run.escalated),
            rules=rules,
            shards=[ShardView.of(shard) for shard in shards or []],
        )


class TriggerAnswer(BaseModel):
    run_id: uuid.UUID
    state: RunState
    trigger: RunTrigger
    dry_run: bool
    coalesced: bool


class LastRun(BaseModel):
    id: uuid.UUID
    state: RunState
    finished_at: dt.datetime | None


class JobView(BaseModel):
    """A job as the API shows it."""

    id: str
    name: str
    cron: str
    timezone: str
    task: JobTask
    enabled: bool
    state: JobState
    next_run_at: dt.datetime | None
    func_ref: str | None
    last_run: LastRun | None
    created_at: dt.datetime
    updated_at: dt.datetime


class NextFires(BaseModel):
    fires: list[dt.datetime]


class SchedulerLeader(BaseModel):
    host: str
    pid: int
    since: dt.datetime


class SchedulerHealth(BaseModel):
    leader: SchedulerLeader | None
    last_wakeup_at: dt.datetime | None
    missed_ticks: int
    jobs_defined: int
    jobs_registered: int


class PendingCount(BaseModel):
    total: int
    topic: int
    atom: int


class BulkDecisionAnswer(BaseModel):
    succeeded: list[int]
    failed: dict[str, str] = Field(description="version id -> why it was not decided")


class ConditionOutcome(BaseModel):
    """One node of a rule's tree and what it gave for the version: "true", "false" or
    "unknown" (a missing value). `path` is the way to it inside `conditions`: "" for the
    root, then `all[1]`, `all[1].not`, `all[1].not.any[0]`..."""

    path: str
    node: str = Field(description="all, any, not, or leaf")
    field: str | None = None
    op: str | None = None
    value: Any = None
    actual: Any = Field(default=None, description="the version's value the leaf read")
    outcome: str


class RuleExplanation(BaseModel):
    rule_id: int
    name: str
    priority: int
    action: str
    outcome: str
    conditions: list[ConditionOutcome]


class RuleRef(BaseModel):
    rule_id: int
    name: str


class Explanation(BaseModel):
    version_id: int
    status: VersionStatus
    decided_by: str | None
    evaluated_at: dt.datetime
    rules: list[RuleExplanation]
    deciding_rule: RuleRef | None


class Shadowing(BaseModel):
    rule_id: int
    name: str
    count: int


class PreviewAnswer(BaseModel):
    matched: int = Field(description="pending versions whose tree is true for this rule")
    would_decide: int = Field(description="of those, how many this rule would decide")
    shadowed_by: list[Shadowing] = Field(
        description="enabled higher-priority rules that take the other matched versions"
    )
    sample: list[Version] = Field(description="up to 10 versions it would decide, by id")


class Templates(BaseModel):
    items: list[RuleBody]


class RuleCount(BaseModel):
    rule_id: int
    name: str
    count: int


class PersonCount(BaseModel):
    name: str
    count: int


class Stats(BaseModel):
    pending: PendingCount
    decisions: Decisions
    by_rule: list[RuleCount]
    by_person: list[PersonCount]
    auto_decision_rate: float | None = Field(
        description="share of decisions made by rules; null before the first decision"
    )
    active_rules: int


class TrendDay(BaseModel):
    date: dt.date
    approved: int
    rejected: int
    escalated: int
    by_rule: list[RuleCount]
    by_person: list[PersonCount]


class Trends(BaseModel):
    period: str
    days: list[TrendDay]
