"""Every named query the code calls exists in app/sql (GUIDE habit 1)."""

from __future__ import annotations

import re
from pathlib import Path

from app.sql import queries

ROOT = Path(__file__).resolve().parents[2]


def test_every_query_name_used_in_code_exists():
    """`queries.<name>` in app/, broker/ and scheduler/ names a query loaded from a .sql file."""
    used: set[str] = set()
    for package in ("app", "broker", "scheduler"):
        for path in (ROOT / package).rglob("*.py"):
            used |= set(re.findall(r"\bqueries\.([a-z_][a-z0-9_]*)", path.read_text()))
    assert used, "the scan found no query use at all"
    missing = used - set(queries.available_queries) - {"available_queries"}
    assert not missing
