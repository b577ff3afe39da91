"""Checks shared by every model that takes text from outside: what PostgreSQL can store.

PostgreSQL text and jsonb refuse the NUL character, and UTF-8 cannot carry lone surrogates
(which JSON's \\uD800 escapes can produce); refusing them here gives a 422 instead of a
driver error.
"""

from __future__ import annotations

import math
import sys
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


# Bounds of a JSON document taken from outside (a version's `data`): past them a stored row
# could not be read back (pydantic serialises at most about 255 levels, Python's JSON parser
# about 900), nor compared by the rules.
MAX_JSON_DEPTH = 32
MAX_JSON_KEY = 200
# The largest finite double, as an exact whole number: JSON's numbers as every reader holds
# them. A larger whole number is refused before anything converts it (float() would overflow).
MAX_JSON_NUMBER = int(sys.float_info.max)


def storable_json(value: Any, path: str = "") -> Any:
    """Check every key, string and number of a JSON document, and how deep it nests; `path`
    names the document in messages (`data` gives `data.score`, `data.items[2]`).

    Python's JSON parser (Starlette's) accepts `NaN` and `Infinity` and turns `1e400` into
    infinity; jsonb refuses all three, so they are refused here, naming where they are."""
    _check_json(value, path, 1)
    return value


def _check_json(value: Any, path: str, level: int) -> None:
    where = f"{path}: " if path else ""
    if isinstance(value, str):
        storable_text(value)
    elif isinstance(value, bool):
        pass
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(
                f"{where}NaN and infinities cannot be stored (JSON has no such numbers)"
            )
    elif isinstance(value, int):
        if not -MAX_JSON_NUMBER <= value <= MAX_JSON_NUMBER:
            raise ValueError(f"{where}a number is from -1.8e308 to 1.8e308 (a double's range)")
    elif isinstance(value, dict | list):
        if level > MAX_JSON_DEPTH:
            raise ValueError(f"{where}nested deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(value, list):
            for index, item in enumerate(value):
                _check_json(item, f"{path}[{index}]", level + 1)
            return
        for key, item in value.items():
            storable_text(key)
            if len(key) > MAX_JSON_KEY:
                raise ValueError(f"{where}a key is at most {MAX_JSON_KEY} characters")
            _check_json(item, f"{path}.{key}" if path else key, level + 1)


StorableText = Annotated[str, AfterValidator(storable_text)]
