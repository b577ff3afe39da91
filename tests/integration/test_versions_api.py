"""Versions over HTTP: submission (one or many), numbering per entity, reading and paging."""

from __future__ import annotations

import asyncio

import pytest

from app.models import Role

pytestmark = pytest.mark.timeout(60)


def version_body(entity_id: str = "t-1", **overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "entity_type": "topic",
        "entity_id": entity_id,
        "data": {"name": "Kickoff"},
        "confidence": 0.95,
        "similarity": 0.9,
        "source": "llm",
    }
    body.update(overrides)
    return body


async def test_one_version_is_stored_pending_and_numbered_from_one(app_client, auth_headers):
    """A single submission answers 201 with the stored version, pending, version 1."""
    headers = await auth_headers(Role.OPERATOR)
    response = await app_client.post("/api/v1/versions", json=version_body(), headers=headers)
    assert response.status_code == 201, response.text
    stored = response.json()
    assert stored["status"] == "pending"
    assert stored["version"] == 1
    assert stored["similarity"] == 0.9
    assert stored["data"] == {"name": "Kickoff"}
    assert stored["created_at"].endswith("Z") or "+" in stored["created_at"]

    again = await app_client.get(f"/api/v1/versions/{stored['id']}", headers=headers)
    assert again.json() == stored


async def test_a_batch_returns_ids_in_item_order_and_numbers_each_entity(app_client, admin):
    """Items of one batch are numbered per entity in item order; ids come back in item order."""
    items = [
        version_body("a", confidence=0.1),
        version_body("b", confidence=0.2),
        version_body("a", confidence=0.3),
        version_body("a", entity_type="atom", confidence=0.4),
    ]
    response = await app_client.post("/api/v1/versions", json={"items": items}, headers=admin)
    assert response.status_code == 201, response.text
    ids = response.json()["ids"]
    assert len(ids) == 4
    got = [(await app_client.get(f"/api/v1/versions/{i}", headers=admin)).json() for i in ids]
    assert [v["confidence"] for v in got] == [0.1, 0.2, 0.3, 0.4]
    assert [(v["entity_type"], v["entity_id"], v["version"]) for v in got] == [
        ("topic", "a", 1),
        ("topic", "b", 1),
        ("topic", "a", 2),
        ("atom", "a", 1),
    ]


async def test_ten_thousand_items_in_one_request(app_client, admin):
    """The largest batch allowed is stored whole."""
    items = [version_body(f"e-{i % 100}", data={"n": i}) for i in range(10_000)]
    response = await app_client.post("/api/v1/versions", json={"items": items}, headers=admin)
    assert response.status_code == 201, response.text
    assert len(response.json()["ids"]) == 10_000
    too_many = {"items": [*items, version_body()]}
    response = await app_client.post("/api/v1/versions", json=too_many, headers=admin)
    assert response.status_code == 422


async def test_concurrent_submissions_for_one_entity_get_distinct_gapless_numbers(
    app_client, admin
):
    """Twenty concurrent requests for one entity end with versions 1..N, each once."""

    async def submit(n: int):
        body = {"items": [version_body("shared")] * n}
        return await app_client.post("/api/v1/versions", json=body, headers=admin)

    responses = await asyncio.gather(*(submit(1 + i % 3) for i in range(20)))
    assert all(r.status_code == 201 for r in responses)
    listed = await app_client.get(
        "/api/v1/versions", params={"entity_id": "shared", "limit": 1000}, headers=admin
    )
    numbers = sorted(v["version"] for v in listed.json()["items"])
    assert numbers == list(range(1, len(numbers) + 1))
    assert len(numbers) == sum(1 + i % 3 for i in range(20))


async def test_listing_filters_and_pages_with_a_cursor(app_client, admin):
    """Filters narrow the list; following next_cursor visits every item once."""
    items = [version_body(f"p-{i}", entity_type="atom" if i % 2 else "topic") for i in range(7)]
    await app_client.post("/api/v1/versions", json={"items": items}, headers=admin)
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, object] = {"limit": 2, "entity_type": "atom"}
        if cursor:
            params["cursor"] = cursor
        page = (await app_client.get("/api/v1/versions", params=params, headers=admin)).json()
        assert all(v["entity_type"] == "atom" for v in page["items"])
        seen += [v["id"] for v in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 3 == len(set(seen))
    assert seen == sorted(seen)
    pending = await app_client.get("/api/v1/versions", params={"status": "pending"}, headers=admin)
    assert len(pending.json()["items"]) == 7


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"confidence": 1.5}, "confidence"),
        ({"confidence": None}, "confidence"),
        ({"similarity": -0.1}, "similarity"),
        ({"entity_type": "page"}, "entity_type"),
        ({"entity_id": ""}, "entity_id"),
        ({"entity_id": "x" * 201}, "entity_id"),
        ({"data": [1, 2]}, "data"),
        ({"status": "approved"}, "status"),
        ({"source": ""}, "source"),
    ],
)
async def test_bad_versions_are_refused_naming_the_field(app_client, admin, body, field):
    """A bad version answers 422 and the message names the offending field."""
    response = await app_client.post("/api/v1/versions", json=version_body(**body), headers=admin)
    assert response.status_code == 422
    assert field in response.text


async def test_missing_version_is_404_and_bad_cursor_is_422(app_client, admin):
    """Unknown ids are 404; a cursor this service did not hand out is 422."""
    assert (await app_client.get("/api/v1/versions/999999", headers=admin)).status_code == 404
    assert (await app_client.get("/api/v1/versions/0", headers=admin)).status_code == 422
    for cursor in ("nope", "W10", "WyJhIl0", "%%%"):
        response = await app_client.get(
            "/api/v1/versions", params={"cursor": cursor}, headers=admin
        )
        assert response.status_code == 422, cursor
        assert "cursor" in response.text


async def test_a_body_over_the_limit_is_413(app_client, admin):
    """Bodies larger than API_MAX_BODY_BYTES (8 MB by default) are refused with 413."""
    huge = {"items": [version_body(data={"pad": "x" * 1000})] * 9000}
    response = await app_client.post("/api/v1/versions", json=huge, headers=admin)
    assert response.status_code == 413


async def test_malformed_json_is_422(app_client, admin):
    """A body that is not JSON is 422, not 500."""
    response = await app_client.post(
        "/api/v1/versions",
        content=b"{not json",
        headers={**admin, "Content-Type": "application/json"},
    )
    assert response.status_code == 422
