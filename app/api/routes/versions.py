"""Versions: submitted by client systems, read by everyone."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, status
from pydantic import BaseModel, Discriminator, Tag

from app.api.auth import GuardedRoute, requires
from app.api.deps import Cursor, DbPool, Limit
from app.api.pagination import decode_cursor, encode_cursor
from app.models import EntityType, Page, Role, Version, VersionBatchIn, VersionIn, VersionStatus
from app.repositories import versions as version_repo
from app.services import versions as version_service
from app.validation import StorableText

router = APIRouter(prefix="/versions", tags=["versions"], route_class=GuardedRoute)

VersionId = Annotated[int, Path(ge=1, le=2**63 - 1)]


class SubmittedIds(BaseModel):
    """Ids of the versions stored, in the order of the submitted items."""

    ids: list[int]


def _submission_kind(value: Any) -> str:
    return "batch" if isinstance(value, dict) and "items" in value else "one"


Submission = Annotated[
    Annotated[VersionIn, Tag("one")] | Annotated[VersionBatchIn, Tag("batch")],
    Discriminator(_submission_kind),
]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Version | SubmittedIds,
    openapi_extra=requires(Role.OPERATOR),
    summary="Submit one version, or up to 10,000 as {items: [...]}",
)
async def submit_versions(
    pool: DbPool, body: Annotated[Submission, Body()]
) -> Version | SubmittedIds:
    if isinstance(body, VersionBatchIn):
        return SubmittedIds(ids=await version_service.submit_versions(pool, body.items))
    return await version_service.submit_version(pool, body)


@router.get("", openapi_extra=requires(Role.VIEWER), summary="List versions in id order")
async def list_versions(
    *,
    pool: DbPool,
    limit: Limit = 50,
    cursor: Cursor = None,
    status: VersionStatus | None = None,
    entity_type: EntityType | None = None,
    entity_id: Annotated[StorableText | None, Query(min_length=1, max_length=200)] = None,
) -> Page[Version]:
    after_id = decode_cursor(cursor, 1)[0] if cursor else 0
    async with pool.acquire() as conn:
        items = await version_repo.list_versions(
            conn,
            status=status.value if status else None,
            entity_type=entity_type.value if entity_type else None,
            entity_id=entity_id,
            after_id=after_id,
            limit=limit,
        )
    next_cursor = encode_cursor(items[-1].id) if len(items) == limit else None
    return Page[Version](items=items, next_cursor=next_cursor)


@router.get("/{version_id}", openapi_extra=requires(Role.VIEWER), summary="One version")
async def get_version(pool: DbPool, version_id: VersionId) -> Version:
    async with pool.acquire() as conn:
        return await version_repo.get_version(conn, version_id)
