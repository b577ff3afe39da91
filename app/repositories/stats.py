"""Decision statistics and daily trends, computed in SQL (no rows loaded into Python)."""

from __future__ import annotations

from app.db import Connection
from app.models import Decisions, PendingCount, Stats, TrendDay
from app.repositories import fetch_all
from app.repositories.versions import count_pending_versions
from app.sql import queries


async def get_stats(conn: Connection) -> Stats:
    pending: PendingCount = await count_pending_versions(conn)
    row = await queries.get_decision_stats(conn)
    return Stats(
        pending=pending,
        decisions=Decisions(approve=row["approve"], reject=row["reject"], escalate=row["escalate"]),
        by_rule=row["by_rule"],
        by_person=row["by_person"],
        auto_decision_rate=row["by_rules"] / row["total"] if row["total"] else None,
        active_rules=row["active_rules"],
    )


async def get_trends(conn: Connection, days: int) -> list[TrendDay]:
    rows = await fetch_all(queries.get_decision_trends(conn, days=days))
    return [TrendDay.model_validate(dict(row)) for row in rows]
