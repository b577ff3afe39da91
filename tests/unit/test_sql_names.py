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


# Where SQL may be read (GUIDE habit 2): the repositories, the migrations, the pool's module
# and the APScheduler job store.
SQL_READERS = ("app/sql/", "app/repositories/", "app/migrations/", "app/migrate.py", "app/db.py")
SQL_READERS_ELSEWHERE = ("scheduler/jobstore.py",)


def test_only_the_database_boundary_reads_the_named_queries():
    """No module outside the repositories (and the migrations, app/db.py, the job store)
    imports app.sql."""
    readers = []
    for package in ("app", "broker", "scheduler"):
        for path in (ROOT / package).rglob("*.py"):
            name = path.relative_to(ROOT).as_posix()
            if name.startswith(SQL_READERS) or name in SQL_READERS_ELSEWHERE:
                continue
            if re.search(
                r"^\s*(from app\.sql\b|import app\.sql\b|from app import sql\b)",
                path.read_text(),
                re.M,
            ):
                readers.append(name)
    assert readers == []


def test_the_statements_that_take_compiled_sql_have_its_placeholder():
    """The named queries the repositories splice the rule compiler's SQL into hold the
    placeholder they replace (otherwise the compiled rules would silently not be applied)."""
    assert "{deciding_rule}" in queries.decide_batch.sql
    assert "{deciding_rule}" in queries.count_decidable_versions.sql
    assert "{candidate}" in queries.preview_rule.sql
    assert "{higher_rule}" in queries.preview_rule.sql
