"""The review queue: escalated versions, then pending ones, each with what it changes against
its entity's latest approved version and why the enabled rules decide it (or do not); and a
person's decision on a selection, with who had decided each version that was already taken.

The console shows these; the decisions themselves go through `app.services.versions`, the
same calls the API's routes make, so each one is audited under the person who made it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from app.automation.explain import explain
from app.db import Pool
from app.models import EntityType, Explanation, Version, VersionStatus
from app.repositories import rules as rule_repo
from app.repositories import versions as version_repo
from app.rules.compiler import RuleToEvaluate
from app.rules.ruleset import to_evaluate
from app.services import versions as version_service
from app.services.versions import PersonAction

QUEUE_ORDER = (VersionStatus.ESCALATED, VersionStatus.PENDING)


@dataclass(frozen=True)
class ReviewFilter:
    """The queue's filters; None for any."""

    status: VersionStatus | None = None  # escalated or pending
    entity_type: EntityType | None = None
    source: str | None = None
    rule_id: int | None = None  # the rule that decided it (a run's escalation)


@dataclass(frozen=True)
class QueueCursor:
    """Where a page of the queue ends: the last version's status and id."""

    status: VersionStatus
    after_id: int

    def encode(self) -> str:
        return f"{self.status.value}-{self.after_id}"

    @classmethod
    def decode(cls, text: str) -> QueueCursor | None:
        """The cursor `encode` wrote, or None for anything else (a hand-edited URL)."""
        status, _, number = text.partition("-")
        if status not in {s.value for s in QUEUE_ORDER} or not number.isdigit():
            return None
        after_id = int(number)
        return cls(VersionStatus(status), after_id) if after_id < 2**63 else None


@dataclass(frozen=True)
class DataChange:
    """One key of `data` (nested keys joined by dots) that differs from the approved version."""

    key: str
    kind: str  # "added", "removed" or "changed"
    before: Any = None
    after: Any = None


@dataclass(frozen=True)
class ReviewItem:
    version: Version
    approved: Version | None  # the entity's latest approved version, if any
    changes: list[DataChange]  # empty when there is no approved version, or nothing differs
    explanation: Explanation


@dataclass(frozen=True)
class ReviewPage:
    items: list[ReviewItem]
    next_cursor: QueueCursor | None


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(_flatten(value, f"{path}."))
        else:
            flat[path] = value
    return flat


def data_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[DataChange]:
    """What `after` changes against `before`: added, removed and changed keys, in key order.
    Nested objects are compared key by key; lists and other values as a whole."""
    old, new = _flatten(before), _flatten(after)
    changes = []
    for key in sorted(old.keys() | new.keys()):
        if key not in old:
            changes.append(DataChange(key, "added", after=new[key]))
        elif key not in new:
            changes.append(DataChange(key, "removed", before=old[key]))
        elif old[key] != new[key] or type(old[key]) is not type(new[key]):
            changes.append(DataChange(key, "changed", before=old[key], after=new[key]))
    return changes


async def review_queue(
    pool: Pool, where: ReviewFilter, cursor: QueueCursor | None, limit: int
) -> ReviewPage:
    """One page of the queue (escalated first, then pending, each in id order) after `cursor`."""
    statuses = [where.status] if where.status else list(QUEUE_ORDER)
    if cursor is not None and cursor.status in statuses:
        statuses = statuses[statuses.index(cursor.status) :]
    else:
        cursor = None
    versions: list[Version] = []
    async with pool.acquire() as conn:
        for status in statuses:
            wanted = limit + 1 - len(versions)  # one more than a page: is there a next one?
            if wanted <= 0:
                break
            versions += await version_repo.list_review_versions(
                conn,
                status=status,
                entity_type=where.entity_type.value if where.entity_type else None,
                source=where.source,
                rule_id=where.rule_id,
                after_id=cursor.after_id if cursor and cursor.status is status else 0,
                limit=wanted,
            )
        more = len(versions) > limit
        versions = versions[:limit]
        entities = list(dict.fromkeys((v.entity_type.value, v.entity_id) for v in versions))
        approved = await version_repo.get_latest_approved_versions(conn, entities)
        rules = [to_evaluate(rule) for rule in await rule_repo.list_enabled_rules(conn)]
    at = dt.datetime.now(dt.UTC)
    items = [
        _item(version, approved.get((version.entity_type.value, version.entity_id)), rules, at)
        for version in versions
    ]
    last = versions[-1] if versions else None
    next_cursor = QueueCursor(last.status, last.id) if more and last else None
    return ReviewPage(items=items, next_cursor=next_cursor)


async def review_item(pool: Pool, version_id: int) -> ReviewItem:
    """One version as the queue shows it (NotFoundError for an unknown id)."""
    async with pool.acquire() as conn:
        version = await version_repo.get_version(conn, version_id)
        approved = await version_repo.get_latest_approved_versions(
            conn, [(version.entity_type.value, version.entity_id)]
        )
        rules = [to_evaluate(rule) for rule in await rule_repo.list_enabled_rules(conn)]
    base = approved.get((version.entity_type.value, version.entity_id))
    return _item(version, base, rules, dt.datetime.now(dt.UTC))


def _item(
    version: Version, base: Version | None, rules: Sequence[RuleToEvaluate], at: dt.datetime
) -> ReviewItem:
    return ReviewItem(
        version=version,
        approved=base,
        changes=data_changes(base.data, version.data) if base else [],
        explanation=explain(version, rules, at),
    )


@dataclass(frozen=True)
class SelectionOutcome:
    """A decision on a selection: what was decided, what someone else had decided already
    (the version as it stands, naming who), and why any other id was left."""

    decided: list[Version]
    taken: list[Version]
    refused: dict[int, str]


async def decide_selection(
    pool: Pool, ids: Sequence[int], action: PersonAction, actor: str, reason: str | None
) -> SelectionOutcome:
    """`decide_versions` (the API's bulk decision) on the ids, then who decided the others."""
    decided, refused = await version_service.decide_versions(pool, ids, action, actor, reason)
    taken: list[Version] = []
    if refused:
        async with pool.acquire() as conn:
            current = await version_repo.get_versions(conn, list(refused))
        taken = [version for version in current if version.decided_by is not None]
        for version in taken:
            del refused[version.id]
    return SelectionOutcome(decided=decided, taken=taken, refused=refused)
