"""Versions: submitted by client systems, read by everyone."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, status
from fastapi.responses import Response
from pydantic import BaseModel, Discriminator, Tag

from app.automation.explain import explain_version
from app.models import (
    BULK_MAX,
    BulkDecisionAnswer,
    BulkDecisionRequest,
    DecisionRequest,
    EntityType,
    Explanation,
    Page,
    PendingCount,
    Role,
    Version,
    VersionBatchIn,
    VersionIn,
    VersionStatus,
)
from app.repositories import versions as version_repo
from app.services import versions as version_service
from app.services.versions import PersonAction
from app.validation import StorableText
from app.web.auth import GuardedRoute, requires
from app.web.deps import CurrentPrincipal, Cursor, DbPool, Limit
from app.web.pagination import decode_cursor, encode_cursor
from app.web.stored_json import stored_json_response

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
async def submit_versions(pool: DbPool, body: Annotated[Submission, Body()]) -> Response:
    if isinstance(body, VersionBatchIn):
        ids = await version_service.submit_versions(pool, body.items)
        return stored_json_response(SubmittedIds(ids=ids), status.HTTP_201_CREATED)
    return await version_service.submit_version(
        pool, body, lambda version: stored_json_response(version, status.HTTP_201_CREATED)
    )


@router.get(
    "",
    response_model=Page[Version],
    openapi_extra=requires(Role.VIEWER),
    summary="List versions in id order",
)
async def list_versions(
    *,
    pool: DbPool,
    limit: Limit = 50,
    cursor: Cursor = None,
    status: VersionStatus | None = None,
    entity_type: EntityType | None = None,
    entity_id: Annotated[StorableText | None, Query(min_length=1, max_length=200)] = None,
) -> Response:
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
    return stored_json_response(Page[Version](items=items, next_cursor=next_cursor))


@router.get(
    "/pending-count",
    openapi_extra=requires(Role.VIEWER),
    summary="Pending versions, in all and per entity type",
)
async def pending_count(pool: DbPool) -> PendingCount:
    return await version_service.count_pending(pool)


@router.get(
    "/{version_id}",
    response_model=Version,
    openapi_extra=requires(Role.VIEWER),
    summary="One version",
)
async def get_version(pool: DbPool, version_id: VersionId) -> Response:
    async with pool.acquire() as conn:
        return stored_json_response(await version_repo.get_version(conn, version_id))


@router.get(
    "/{version_id}/explain",
    openapi_extra=requires(Role.VIEWER),
    summary="Why the version is (or would be) decided: every enabled rule, condition by condition",
)
async def explain(pool: DbPool, version_id: VersionId) -> Explanation:
    return await explain_version(pool, version_id)


def _decision_route(action: PersonAction, allowed: str) -> None:
    async def decide(
        pool: DbPool,
        principal: CurrentPrincipal,
        version_id: VersionId,
        body: Annotated[DecisionRequest | None, Body()] = None,
    ) -> Response:
        reason = body.reason if body else None
        decided = await version_service.decide_version(
            pool, version_id, action, principal.actor, reason
        )
        return stored_json_response(decided)

    router.post(
        f"/{{version_id}}/{action.value}",
        response_model=Version,
        openapi_extra=requires(Role.OPERATOR),
        summary=f"A person decides: {action.value} a version that is {allowed} (409 otherwise)",
        name=f"{action.value}_version",
    )(decide)


def _bulk_route(action: PersonAction) -> None:
    async def decide_many(
        pool: DbPool, principal: CurrentPrincipal, body: BulkDecisionRequest
    ) -> BulkDecisionAnswer:
        decided, refused = await version_service.decide_versions(
            pool, body.ids, action, principal.actor, body.reason
        )
        return BulkDecisionAnswer(
            succeeded=[version.id for version in decided],
            failed={str(version_id): why for version_id, why in refused.items()},
        )

    router.post(
        f"/bulk-{action.value}",
        openapi_extra=requires(Role.OPERATOR),
        summary=f"A person decides: {action.value} up to {BULK_MAX} versions, with each outcome",
        name=f"bulk_{action.value}_versions",
    )(decide_many)


_decision_route(PersonAction.APPROVE, "pending or escalated")
_decision_route(PersonAction.REJECT, "pending or escalated")
_decision_route(PersonAction.ESCALATE, "pending")
_bulk_route(PersonAction.APPROVE)
_bulk_route(PersonAction.REJECT)
