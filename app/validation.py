"""Checks shared by every model that takes text from outside: what PostgreSQL can store.

PostgreSQL text and jsonb refuse the NUL character, and UTF-8 cannot carry lone surrogates
(which JSON's \\uD800 escapes can produce); refusing them here gives a 422 instead of a
driver error.
"""

from __future__ import annotations

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


def storable_json(value: Any) -> Any:
    """Check every key and string of a JSON document, however deep."""
    if isinstance(value, str):
        storable_text(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            storable_text(key)
            storable_json(item)
    elif isinstance(value, list):
        for item in value:
            storable_json(item)
    return value


StorableText = Annotated[str, AfterValidator(storable_text)]
