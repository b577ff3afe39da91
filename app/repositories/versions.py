"""Versions: submitted in bulk, read one by one or in pages."""

from __future__ import annotations

import json
from collections.abc import Sequence

from app.db import Connection
from app.errors import NotFoundError
from app.models import PendingCount, Version, VersionIn, VersionStatus
from app.repositories import fetch_all, translated_errors
from app.sql import queries


async def insert_versions(conn: Connection, items: Sequence[VersionIn]) -> list[int]:
    """Store versions in one statement, numbered per entity; their ids in the items' order."""
    with translated_errors():
        rows = await fetch_all(
            queries.insert_versions(
                conn,
                entity_types=[item.entity_type.value for item in items],
                entity_ids=[item.entity_id for item in items],
                datas=[json.dumps(item.data) for item in items],
                confidences=[item.confidence for item in items],
                similarities=[item.similarity for item in items],
                sources=[item.source for item in items],
            )
        )
    return [row["id"] for row in rows]


async def get_version(conn: Connection, version_id: int) -> Version:
    row = await queries.get_version(conn, id=version_id)
    if row is None:
        raise NotFoundError(f"version {version_id} does not exist")
    return Version.model_validate(dict(row))


async def list_versions(
    conn: Connection,
    *,
    status: str | None,
    entity_type: str | None,
    entity_id: str | None,
    after_id: int,
    limit: int,
) -> list[Version]:
    rows = await fetch_all(
        queries.list_versions(
            conn,
            status=status,
            entity_type=entity_type,
            entity_id=entity_id,
            after_id=after_id,
            limit=limit,
        )
    )
    return [Version.model_validate(dict(row)) for row in rows]


async def decide_versions_by_person(
    conn: Connection,
    ids: Sequence[int],
    *,
    status: VersionStatus,
    from_statuses: Sequence[VersionStatus],
    actor: str,
    action: str,
    reason: str | None,
) -> list[Version]:
    """Decide the versions still in one of `from_statuses`, each with its audit row."""
    rows = await fetch_all(
        queries.decide_versions_by_person(
            conn,
            ids=list(ids),
            status=status.value,
            from_statuses=[s.value for s in from_statuses],
            actor=actor,
            action=action,
            reason=reason,
        )
    )
    return [
        Version.model_validate({k: v for k, v in row.items() if k != "previous_status"})
        for row in rows
    ]


async def get_version_statuses(conn: Connection, ids: Sequence[int]) -> dict[int, VersionStatus]:
    rows = await fetch_all(queries.get_version_statuses(conn, ids=list(ids)))
    return {row["id"]: VersionStatus(row["status"]) for row in rows}


async def count_pending_versions(conn: Connection) -> PendingCount:
    return PendingCount.model_validate(dict(await queries.count_pending_versions(conn)))


async def list_review_versions(
    conn: Connection,
    *,
    status: VersionStatus,
    entity_type: str | None,
    source: str | None,
    rule_id: int | None,
    after_id: int,
    limit: int,
) -> list[Version]:
    """Versions of one status in id order after a cursor, for the review queue's filters."""
    rows = await fetch_all(
        queries.list_review_versions(
            conn,
            status=status.value,
            entity_type=entity_type,
            source=source,
            rule_id=rule_id,
            after_id=after_id,
            limit=limit,
        )
    )
    return [Version.model_validate(dict(row)) for row in rows]


async def get_versions(conn: Connection, ids: Sequence[int]) -> list[Version]:
    """The existing versions among `ids`, in id order (unknown ids are left out)."""
    rows = await fetch_all(queries.get_versions(conn, ids=list(ids)))
    return [Version.model_validate(dict(row)) for row in rows]


async def get_latest_approved_versions(
    conn: Connection, entities: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], Version]:
    """Each (entity type, entity id)'s approved version with the highest number, if it has one."""
    rows = await fetch_all(
        queries.get_latest_approved_versions(
            conn,
            entity_types=[kind for kind, _ in entities],
            entity_ids=[entity for _, entity in entities],
        )
    )
    found = [Version.model_validate(dict(row)) for row in rows]
    return {(version.entity_type.value, version.entity_id): version for version in found}
