"""Version submission and reading."""

from __future__ import annotations

from collections.abc import Sequence

from app.db import Pool, transaction
from app.models import Version, VersionIn
from app.repositories import versions as version_repo


async def submit_versions(pool: Pool, items: Sequence[VersionIn]) -> list[int]:
    """Store the versions, all or none; their ids in the items' order."""
    async with transaction(pool) as conn:
        return await version_repo.insert_versions(conn, items)


async def submit_version(pool: Pool, item: VersionIn) -> Version:
    async with transaction(pool) as conn:
        (version_id,) = await version_repo.insert_versions(conn, [item])
        return await version_repo.get_version(conn, version_id)
