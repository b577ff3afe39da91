"""Request bodies as clients send them, with the bounds checked at the door."""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo

from app.models.enums import EntityType, JobTask
from app.rules.models import RuleBody
from app.validation import StorableText, storable_json


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


TOKEN_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"  # noqa: S105 - a name, not a secret


class TriggerRequest(BaseModel):
    """What `POST /automation/trigger` may carry; an empty body is a real run."""

    model_config = ConfigDict(extra="forbid")

    dry_run: bool = False
    reason: StorableText | None = Field(default=None, max_length=1000)


JOB_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"


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


class BrakeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: StorableText | None = Field(default=None, max_length=1000)


class DecisionRequest(BaseModel):
    """A person's decision on one version; the reason is kept on it and in the audit log."""

    model_config = ConfigDict(extra="forbid")

    reason: StorableText | None = Field(default=None, max_length=1000)


BULK_MAX = 1000


class BulkDecisionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[Annotated[int, Field(ge=1, le=2**63 - 1)]] = Field(min_length=1, max_length=BULK_MAX)
    reason: StorableText | None = Field(default=None, max_length=1000)


class PreviewByRuleId(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rule_id: int = Field(ge=1, le=2**31 - 1)
    edited: RuleBody | None = Field(
        default=None,
        description="the rule as edited, not saved yet: previewed in the stored rule's place"
        " (the stored version takes no part)",
    )
