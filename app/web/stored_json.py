"""Answers that carry versions, each version's `data` exactly as PostgreSQL stored it.

pydantic cannot serialise a document nested deeper than about 255 levels, and a row written
with SQL (or before the service bounded `data`) may be nested thousands deep: one such row
would make every listing that reaches it a 500. So the answer is serialised with each
`data` replaced by a placeholder, and the stored texts are put in their places: whatever
the table holds, the API can answer (app/json_documents.py says the rest).
"""

from __future__ import annotations

import re

from fastapi.responses import Response
from pydantic import BaseModel

from app.models import STORED_DATA

# What Version's serialiser writes for the n-th `data` (NUL cannot occur in stored text).
_PLACEHOLDER = re.compile(r'"\\u0000(\d+)"')


def stored_json_response(answer: BaseModel, status_code: int = 200) -> Response:
    """`answer` as JSON, each Version's `data` spliced in as stored."""
    texts: list[str] = []
    body = answer.model_dump_json(context={STORED_DATA: texts})
    return Response(
        _PLACEHOLDER.sub(lambda found: texts[int(found[1])], body),
        status_code=status_code,
        media_type="application/json",
    )
