"""Named queries, one `.sql` file per feature; each query's comment names its parameters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiosql

SQL_DIR = Path(__file__).parent

queries: Any = aiosql.from_path(SQL_DIR, "asyncpg")
