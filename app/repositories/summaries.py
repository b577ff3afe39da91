"""The summaries the aggregates are read from (version_counts, decision_counts; migration
0011): triggers append their delta rows, the compaction folds them."""

from __future__ import annotations

from app.db import Connection
from app.sql import queries


async def compact_summaries(conn: Connection) -> int:
    """Fold the delta rows into one row per key, in one short transaction: the rows folded."""
    return int(await queries.compact_summaries(conn))
