"""Typed records of the service's data, as repositories return them and the API shows them."""

from __future__ import annotations

import datetime as dt
import enum
import math
import uuid
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SerializationInfo,
    ValidationInfo,
    field_serializer,
    model_validator,
)

from app.json_documents import read_json
from app.rules.compiler import RuleToEvaluate
from app.rules.models import Action, Condition, RuleBody
from app.validation import StorableText, storable_json


class VersionStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    ESCALATED = "escalated"


class EntityType(enum.StrEnum):
    TOPIC = "topic"
    ATOM = "atom"


class Role(enum.StrEnum):
    """Roles grow: an operator may do what a viewer does, an admin what an operator does."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def allows(self, required: Role) -> bool:
        return self.rank >= required.rank


def storable_data(value: dict[str, Any]) -> dict[str, Any]:
    """A version's `data` as jsonb can store it; problems are named `data.<key>...`."""
    checked: dict[str, Any] = storable_json(value, "data")
    return checked


def score_in_range(value: Any, info: ValidationInfo) -> Any:
    """Refuse a score outside 0..1 by name and range, before pydantic converts it to a float
    (a 4,000-digit whole number would only be "not a valid number" after that)."""
    number = isinstance(value, int) and not isinstance(value, bool)
    number = number or (isinstance(value, float) and math.isfinite(value))
    if number and not 0 <= value <= 1:
        raise ValueError(f"{info.field_name} is a score from 0 to 1; the value is out of range")
    return value


Score = Annotated[float, BeforeValidator(score_in_range), Field(ge=0, le=1, allow_inf_nan=False)]


class VersionIn(BaseModel):
    """A proposed change to a topic or an atom, as a client submits it."""

    model_config = ConfigDict(extra="forbid")

    entity_type: EntityType
    entity_id: StorableText = Field(min_length=1, max_length=200)
    data: Annotated[dict[str, Any], AfterValidator(storable_data)] = Field(default_factory=dict)
    confidence: Score
    similarity: Score | None = None
    source: StorableText = Field(min_length=1, max_length=200)


class VersionBatchIn(BaseModel):
    """Several versions in one request, stored in one statement."""

    model_config = ConfigDict(extra="forbid")

    items: list[VersionIn] = Field(min_length=1, max_length=10_000)


# The serialisation context key under which an answer collects each version's stored `data`
# text (app/api/stored_json.py); without it `data` is serialised from the Python view.
STORED_DATA = "stored_data"


class Version(BaseModel):
    id: int
    entity_type: EntityType
    entity_id: str
    version: int
    data: dict[str, Any] = Field(
        description="the snapshot: any JSON object; submitted ones nest at most 32 levels"
    )
    # The snapshot as PostgreSQL renders it: what the API answers (app/json_documents.py).
    data_json: str = Field(exclude=True, repr=False)
    confidence: float
    similarity: float | None
    source: str
    status: VersionStatus
    decided_at: dt.datetime | None
    decided_by: str | None
    rule_id: int | None
    rule_revision: int | None
    run_id: uuid.UUID | None
    reason: str | None
    created_at: dt.datetime

    @model_validator(mode="before")
    @classmethod
    def _view_of_stored_data(cls, values: Any) -> Any:
        if isinstance(values, dict) and "data" not in values and "data_json" in values:
            view = read_json(values["data_json"])
            # A document that is not an object (written with SQL) has no keys for rules to
            # read, as `data -> 'key'` finds none in SQL; the API still answers it as stored.
            values = {**values, "data": view if isinstance(view, dict) else {}}
        return values

    @field_serializer("data", when_used="json")
    def _stored_data(self, data: dict[str, Any], info: SerializationInfo) -> Any:
        texts = info.context.get(STORED_DATA) if isinstance(info.context, dict) else None
        if texts is None:
            return data
        texts.append(self.data_json)
        return f"\x00{len(texts) - 1}"  # a placeholder no stored text can hold (no NUL)


class Rule(BaseModel):
    id: int
    name: str
    description: str
    enabled: bool
    priority: int
    action: Action
    conditions: Condition
    revision: int
    created_at: dt.datetime
    updated_at: dt.datetime
    deleted_at: dt.datetime | None

    def body(self) -> RuleBody:
        return RuleBody(
            name=self.name,
            description=self.description,
            enabled=self.enabled,
            priority=self.priority,
            action=self.action,
            conditions=self.conditions,
        )

    def to_evaluate(self) -> RuleToEvaluate:
        return RuleToEvaluate(
            id=self.id,
            revision=self.revision,
            priority=self.priority,
            action=self.action.value,
            name=self.name,
            conditions=self.conditions,
        )


class AuditSeal(BaseModel):
    """The seal that covers an entry: its place in the chain and its SHA-256 (hex)."""

    seq: int
    hash: str


class AuditEntry(BaseModel):
    id: int
    at: dt.datetime
    actor: str
    action: str
    version_id: int | None
    rule_id: int | None
    rule_revision: int | None
    run_id: uuid.UUID | None
    details: dict[str, Any]
    # Null only in the answer to the insert itself (the seal is written at the statement's end)
    # or for an entry no seal covers (which `tasktracker audit verify` reports).
    seal: AuditSeal | None = None


T = TypeVar("T")

TOKEN_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"  # noqa: S105 - a name, not a secret


class Token(BaseModel):
    id: int
    name: str
    role: Role
    created_at: dt.datetime
    revoked_at: dt.datetime | None


class Principal(BaseModel):
    """Who is calling: a token's name and role; `actor` is how the audit log names them."""

    name: str
    role: Role

    @property
    def actor(self) -> str:
        return f"user:{self.name}"


class Page(BaseModel, Generic[T]):
    """One page of a list; pass `next_cursor` back as `?cursor=` for the next."""

    items: list[T]
    next_cursor: str | None


class NewToken(BaseModel):
    """A token just created: the only moment its secret is known."""

    token: Token
    secret: str


class RunState(enum.StrEnum):
    PENDING = "PENDING"  # stored, not yet confirmed by RabbitMQ
    SCHEDULED = "SCHEDULED"  # published and confirmed, waiting for a worker
    EXECUTING = "EXECUTING"  # claimed by a worker that beats while it works
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"

    @property
    def is_final(self) -> bool:
        return self in (RunState.COMPLETED, RunState.FAILED)


class RunTrigger(enum.StrEnum):
    CRON = "cron"
    MANUAL = "manual"


class Run(BaseModel):
    """A row of automation_runs."""

    id: uuid.UUID
    seq: int
    job_id: str | None
    trigger: RunTrigger
    state: RunState
    dry_run: bool
    reason: str | None
    scheduled_for: dt.datetime | None
    requested_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    heartbeat_at: dt.datetime | None
    attempts: int
    claimed_by: str | None
    max_version_id: int | None
    evaluated_at: dt.datetime | None
    rules: list[dict[str, Any]] | None
    last_version_id: int
    evaluated: int
    approved: int
    rejected: int
    escalated: int
    decisions_by_rule: dict[str, int]
    capped: bool
    cancel_requested_at: dt.datetime | None
    cancel_reason: str | None = None
    error: str | None
    shards: int = 0


class Shard(BaseModel):
    """A row of automation_run_shards: one id range of a split run, a lease of its own."""

    id: uuid.UUID
    run_id: uuid.UUID
    shard_no: int
    after_id: int
    max_version_id: int
    pending: int
    state: RunState
    attempts: int
    claimed_by: str | None
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    heartbeat_at: dt.datetime | None
    last_version_id: int
    evaluated: int
    decided: int
    capped: bool
    error: str | None


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


class TriggerRequest(BaseModel):
    """What `POST /automation/trigger` may carry; an empty body is a real run."""

    model_config = ConfigDict(extra="forbid")

    dry_run: bool = False
    reason: StorableText | None = Field(default=None, max_length=1000)


class TriggerAnswer(BaseModel):
    run_id: uuid.UUID
    state: RunState
    trigger: RunTrigger
    dry_run: bool
    coalesced: bool


class JobState(enum.StrEnum):
    """A scheduled job's state (SPEC section 4). The first four are stored; EXECUTING,
    COMPLETED and FAILED are read from the job's runs."""

    PENDING = "PENDING"  # defined, not yet registered by the scheduler
    SCHEDULED = "SCHEDULED"  # registered with a next run, no run yet
    PAUSED = "PAUSED"  # enabled false, no next run
    EXECUTING = "EXECUTING"  # one of its runs is not finished yet
    COMPLETED = "COMPLETED"  # its last run completed; waiting for the next tick
    FAILED = "FAILED"  # its last run failed; waiting for the next tick
    REMOVED = "REMOVED"  # deleted from the schedule; row and history kept


JOB_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"


class JobTask(enum.StrEnum):
    AUTOMATION_RUN = "automation.run"


class JobBody(BaseModel):
    """A job definition as an admin writes it (PUT replaces all of it)."""

    model_config = ConfigDict(extra="forbid")

    name: StorableText = Field(min_length=1, max_length=200)
    cron: StorableText = Field(
        max_length=200, description="five fields (day of week 0 or 7 = Sunday) or @daily etc."
    )
    timezone: StorableText | None = Field(
        default=None, max_length=100, description="IANA zone; SCHEDULER_TIMEZONE when omitted"
    )
    task: JobTask = JobTask.AUTOMATION_RUN
    enabled: bool | None = Field(
        default=None,
        description="true when a job is created without it; an update without it keeps it, "
        "so a paused job is never resumed by a change of its cron",
    )


class JobIn(JobBody):
    """A new job: its definition and the slug that names it for good."""

    id: str = Field(pattern=JOB_ID_PATTERN, description="a slug: a-z, 0-9 and -, 1-63 long")


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


class AutomationState(BaseModel):
    """The global brake."""

    paused: bool
    changed_at: dt.datetime
    changed_by: str
    reason: str | None


class BrakeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: StorableText | None = Field(default=None, max_length=1000)


class PendingCount(BaseModel):
    total: int
    topic: int
    atom: int


class DecisionRequest(BaseModel):
    """A person's decision on one version; the reason is kept on it and in the audit log."""

    model_config = ConfigDict(extra="forbid")

    reason: StorableText | None = Field(default=None, max_length=1000)


BULK_MAX = 1000


class BulkDecisionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[Annotated[int, Field(ge=1, le=2**63 - 1)]] = Field(min_length=1, max_length=BULK_MAX)
    reason: StorableText | None = Field(default=None, max_length=1000)


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


class PreviewByRuleId(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rule_id: int = Field(ge=1, le=2**31 - 1)
    edited: RuleBody | None = Field(
        default=None,
        description="the rule as edited, not saved yet: previewed in the stored rule's place"
        " (the stored version takes no part)",
    )


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
