"""Checks shared by every model that takes text from outside: what PostgreSQL can store.

PostgreSQL text and jsonb refuse the NUL character, and UTF-8 cannot carry lone surrogates
(which JSON's \\uD800 escapes can produce); refusing them here gives a 422 instead of a
driver error.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import AfterValidator


def storable_text(value: str) -> str:
    if "\x00" in value:
        raise ValueError("text must not contain the NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text must be valid Unicode (no lone surrogates)") from None
    return value


def storable_json(value: Any, path: str = "") -> Any:
    """Check every key, string and number of a JSON document, however deep; `path` names the
    document in messages (`data` gives `data.score`, `data.items[2]`).

    Python's JSON parser (Starlette's) accepts `NaN` and `Infinity` and turns `1e400` into
    infinity; jsonb refuses all three, so they are refused here, naming where they are."""
    _check_json(value, path)
    return value


def _check_json(value: Any, path: str) -> None:
    if isinstance(value, str):
        storable_text(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            where = f"{path}: " if path else ""
            raise ValueError(
                f"{where}NaN and infinities cannot be stored (JSON has no such numbers)"
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            storable_text(key)
            _check_json(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_json(item, f"{path}[{index}]")


StorableText = Annotated[str, AfterValidator(storable_text)]
