"""Rows as the repositories return them: versions, rules, audit entries, tokens, runs."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, Field, SerializationInfo, field_serializer, model_validator

from app.json_documents import read_json
from app.models.enums import EntityType, Role, RunState, RunTrigger, VersionStatus
from app.rules.models import Action, Condition, RuleBody

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
    rules_digest: str | None = None
    scope_closed: bool = False


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


class AutomationState(BaseModel):
    """The global brake."""

    paused: bool
    changed_at: dt.datetime
    changed_by: str
    reason: str | None
