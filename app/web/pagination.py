"""Opaque cursors: the sort key of the last item of a page, as URL-safe base64 JSON."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from app.errors import InvalidInputError


def _invalid() -> InvalidInputError:
    return InvalidInputError(
        "cursor is not valid: pass back a next_cursor unchanged", loc=("query", "cursor")
    )


def encode_cursor(*key: int) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, width: int) -> list[int]:
    """The sort key a cursor carries; 422 for anything this service did not hand out."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key: Any = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise _invalid() from exc
    if (
        not isinstance(key, list)
        or len(key) != width
        or not all(type(part) is int and 0 <= part < 2**63 for part in key)
    ):
        raise _invalid()
    return key
