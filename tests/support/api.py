"""The HTTP API as tests drive it: rules posted, data seeded, runs triggered."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import httpx

from bench.dataset import RULES
from tests.support.factories import load_generated_versions

# The benchmark's first rule, shaped as the "High Confidence" template (a copy, so that no
# test can change the benchmark's).
HIGH_CONFIDENCE = copy.deepcopy(RULES[0])


async def post_rules(
    client: httpx.AsyncClient,
    headers: Mapping[str, str],
    bodies: Iterable[Mapping[str, Any]] = RULES,
) -> list[dict[str, Any]]:
    """POST each rule body (the benchmark's rules unless `bodies`), each answered 201; the
    rules as the API answered them."""
    rules = []
    for body in bodies:
        response = await client.post("/api/v1/automation/rules", json=body, headers=headers)
        assert response.status_code == 201, response.text
        rules.append(response.json())
    return rules


async def seed(client: httpx.AsyncClient, headers: Mapping[str, str], url: str, count: int) -> None:
    """The benchmark's rules through the API and `count` generated pending versions (SQL)."""
    await post_rules(client, headers)
    await load_generated_versions(url, count)


async def trigger(
    client: httpx.AsyncClient, headers: Mapping[str, str], **body: object
) -> dict[str, Any]:
    """POST /api/v1/automation/trigger (no body unless `body`), answered 202; the answer."""
    response = await client.post("/api/v1/automation/trigger", json=body or None, headers=headers)
    assert response.status_code == 202, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def trigger_run(
    client: httpx.AsyncClient, headers: Mapping[str, str], **body: object
) -> uuid.UUID:
    """`trigger`; the run's id."""
    return uuid.UUID((await trigger(client, headers, **body))["run_id"])
