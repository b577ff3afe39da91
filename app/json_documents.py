"""Reading a stored JSON document (a version's `data`) whatever the table holds.

The door bounds what the service accepts (32 levels, app/validation.py), but a row may come
from elsewhere: written with SQL, or stored before the bounds. PostgreSQL keeps jsonb nested
thousands of levels deep; Python's parser gives up near 1,000 levels, pydantic serialises at
most about 255, and whole numbers of more than 4,300 digits are refused by `int()`. So:

- the API answers the document's text exactly as PostgreSQL renders it (`data_json`, spliced
  into the answer by app/api/stored_json.py), never re-encoded by Python;
- Python reads a view of it (`read_json`), the same document except that a container nested
  deeper than READ_DEPTH levels is replaced by a string saying so, and that a number too long
  for `int()` is read as a float. The view is what the explain, the review queue's "what
  changes" and the console's pages show; rules read two levels at most, so they see no
  difference.
"""

from __future__ import annotations

import json
import re
from typing import Any

READ_DEPTH = 64
# Python refuses to convert longer digit strings (sys.get_int_max_str_digits, 4,300).
_INT_DIGITS = 4_000
# A JSON string (escapes included), or one bracket: the tokens that decide nesting.
_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


def _whole_number(text: str) -> int | float:
    return int(text) if len(text) <= _INT_DIGITS else float(text)


def read_json(text: str) -> Any:
    """The document `text` as Python holds it, cut at READ_DEPTH levels (see the module)."""
    if text.count("{") + text.count("[") > READ_DEPTH:  # brackets in strings count: a bound
        text = _cut_deeper_than(text, READ_DEPTH)
    return json.loads(text, parse_int=_whole_number)


def _cut_deeper_than(text: str, limit: int) -> str:
    """`text` with each container that opens at level limit + 1 replaced by a string."""
    kept: list[str] = []
    start = 0
    level = 0
    cut_at: int | None = None
    for token in _TOKENS.finditer(text):
        bracket = token.group()
        if bracket.startswith('"'):
            continue
        if bracket in "[{":
            level += 1
            if level == limit + 1:
                cut_at = token.start()
        else:
            if level == limit + 1 and cut_at is not None:
                kept += [text[start:cut_at], json.dumps(too_deep_marker(token.end() - cut_at))]
                start = token.end()
                cut_at = None
            level -= 1
    kept.append(text[start:])
    return "".join(kept)


def too_deep_marker(length: int) -> str:
    """What the view holds in place of a container nested too deep to read."""
    return f"[{length:,} characters nested deeper than {READ_DEPTH} levels: see the whole]"
