"""Versions: submission, and the decisions people make on them."""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, overload

from app.db import Pool, transaction
from app.errors import ConflictError, NotFoundError
from app.models import PendingCount, Version, VersionIn, VersionStatus
from app.repositories import versions as version_repo

T = TypeVar("T")


async def submit_versions(pool: Pool, items: Sequence[VersionIn]) -> list[int]:
    """Store the versions, all or none; their ids in the items' order."""
    async with transaction(pool) as conn:
        return await version_repo.insert_versions(conn, items)


@overload
async def submit_version(pool: Pool, item: VersionIn) -> Version: ...
@overload
async def submit_version(pool: Pool, item: VersionIn, answer: Callable[[Version], T]) -> T: ...
async def submit_version(
    pool: Pool, item: VersionIn, answer: Callable[[Version], Any] | None = None
) -> Any:
    """Store one version, and make the caller's `answer` from it before the commit: a version
    whose answer cannot be made is not stored (the client sees a 5xx and nothing is kept)."""
    async with transaction(pool) as conn:
        (version_id,) = await version_repo.insert_versions(conn, [item])
        version = await version_repo.get_version(conn, version_id)
        return answer(version) if answer else version


class PersonAction(enum.StrEnum):
    """What a person may do to a version, and from which statuses."""

    APPROVE = "approve"
    REJECT = "reject"
    ESCALATE = "escalate"

    @property
    def status(self) -> VersionStatus:
        return _OUTCOME[self]

    @property
    def allowed_from(self) -> tuple[VersionStatus, ...]:
        if self is PersonAction.ESCALATE:
            return (VersionStatus.PENDING,)
        return (VersionStatus.PENDING, VersionStatus.ESCALATED)


_OUTCOME = {
    PersonAction.APPROVE: VersionStatus.APPROVED,
    PersonAction.REJECT: VersionStatus.REJECTED,
    PersonAction.ESCALATE: VersionStatus.ESCALATED,
}


def _refusal(action: PersonAction, status: VersionStatus | None) -> str:
    if status is None:
        return "not found"
    allowed = " or ".join(s.value for s in action.allowed_from)
    return f"is {status.value}; {action.value} takes a version that is {allowed}"


async def decide_versions(
    pool: Pool, ids: Sequence[int], action: PersonAction, actor: str, reason: str | None
) -> tuple[list[Version], dict[int, str]]:
    """A person's decision on each version (one statement, each with its audit row): the
    decided versions, and why each other id was not decided."""
    unique = list(dict.fromkeys(ids))
    async with transaction(pool) as conn:
        decided = await version_repo.decide_versions_by_person(
            conn,
            unique,
            status=action.status,
            from_statuses=action.allowed_from,
            actor=actor,
            action=action.value,
            reason=reason,
        )
        done = {version.id for version in decided}
        left = [version_id for version_id in unique if version_id not in done]
        statuses = await version_repo.get_version_statuses(conn, left) if left else {}
    return decided, {version_id: _refusal(action, statuses.get(version_id)) for version_id in left}


async def decide_version(
    pool: Pool, version_id: int, action: PersonAction, actor: str, reason: str | None
) -> Version:
    """404 for an unknown version, 409 when its status does not allow the action."""
    decided, refused = await decide_versions(pool, [version_id], action, actor, reason)
    if decided:
        return decided[0]
    why = refused[version_id]
    if why == "not found":
        raise NotFoundError(f"version {version_id} does not exist")
    raise ConflictError(f"version {version_id} {why}")


async def count_pending(pool: Pool) -> PendingCount:
    async with pool.acquire() as conn:
        return await version_repo.count_pending_versions(conn)
