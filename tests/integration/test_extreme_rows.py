"""Bounds at the door, and no stored row that cannot be read (SPEC 7, issue 20 point 1-2).

A version's `data` nests at most 32 levels, its keys at most 200 characters, its numbers
within a double's range; scores and rule values are checked for range before any
conversion. Rows written around the door (with SQL) are read back by every route and page,
whatever they hold: nested thousands of levels deep, megabytes long, with odd keys and
numbers no float holds.
"""

from __future__ import annotations

import json
import uuid

import asyncpg
import httpx
import pytest

from app.db import Pool
from app.models import Role
from tests.conftest import TokenFactory
from tests.support.console import sign_in_as
from tests.support.services import connect_db


def _nested(levels: int, leaf: object = 1) -> object:
    """A JSON object `levels` levels deep (the outer object is level 1)."""
    value: object = leaf
    for _ in range(levels):
        value = {"a": value}
    return value


def _nested_text(levels: int) -> str:
    return '{"a": ' * levels + "1" + "}" * levels


def _version(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "entity_type": "topic",
        "entity_id": f"t-{uuid.uuid4().hex[:8]}",
        "confidence": 0.5,
        "source": "test",
        "data": {},
    }
    return {**body, **overrides}


async def _count_versions(pool: Pool) -> int:
    async with pool.acquire() as conn:
        count: int = await conn.fetchval("SELECT count(*) FROM versions")
    return count


# --- the door ----------------------------------------------------------------------------------


async def test_data_nests_at_most_32_levels_and_the_refusal_names_path_and_limit(
    app_client: httpx.AsyncClient, admin: dict[str, str], pool: Pool
) -> None:
    """32 levels are stored; 33 (and the 500 that once poisoned every listing) are a 422
    naming where and the limit, and nothing is stored."""
    kept = await app_client.post("/api/v1/versions", json=_version(data=_nested(32)), headers=admin)
    assert kept.status_code == 201, kept.text
    before = await _count_versions(pool)
    for levels in (33, 500):
        refused = await app_client.post(
            "/api/v1/versions", json=_version(data=_nested(levels)), headers=admin
        )
        assert refused.status_code == 422, refused.text
        message = refused.json()["detail"][0]["msg"]
        assert "nested deeper than 32 levels" in message
        assert "data.a.a.a" in message
    assert await _count_versions(pool) == before


async def test_a_batch_names_the_item_whose_data_is_too_deep(
    app_client: httpx.AsyncClient, admin: dict[str, str], pool: Pool
) -> None:
    before = await _count_versions(pool)
    body = {"items": [_version(), _version(data={"x": _nested(40)})]}
    refused = await app_client.post("/api/v1/versions", json=body, headers=admin)
    assert refused.status_code == 422, refused.text
    problem = refused.json()["detail"][0]
    assert problem["loc"][:4] == ["body", "batch", "items", 1]
    assert "data.x.a" in problem["msg"]
    assert await _count_versions(pool) == before


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"k" * 201: 1}, "a key is at most 200 characters"),
        ({"n": 10**400}, "data.n: a number is from -1.8e308 to 1.8e308"),
        ({"list": [1, -(10**400)]}, "data.list[1]: a number is from -1.8e308 to 1.8e308"),
    ],
)
async def test_keys_and_numbers_of_data_are_bounded(
    app_client: httpx.AsyncClient, admin: dict[str, str], data: object, message: str
) -> None:
    refused = await app_client.post("/api/v1/versions", json=_version(data=data), headers=admin)
    assert refused.status_code == 422, refused.text
    assert message in refused.json()["detail"][0]["msg"]


async def test_a_key_of_200_characters_and_a_large_whole_number_are_kept(
    app_client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    data = {"k" * 200: 2**70}
    kept = await app_client.post("/api/v1/versions", json=_version(data=data), headers=admin)
    assert kept.status_code == 201, kept.text
    assert kept.json()["data"] == data


@pytest.mark.parametrize("field", ["confidence", "similarity"])
@pytest.mark.parametrize("value", [10**4000, 2, -1])
async def test_scores_out_of_range_are_422_naming_the_range(
    app_client: httpx.AsyncClient, admin: dict[str, str], field: str, value: int
) -> None:
    body = _version(**{field: value})
    refused = await app_client.post("/api/v1/versions", json=body, headers=admin)
    assert refused.status_code == 422, refused.text
    problem = refused.json()["detail"][0]
    assert problem["loc"][-1] == field
    assert f"{field} is a score from 0 to 1" in problem["msg"]


# --- numbers in rules and previews --------------------------------------------------------------

RULE_VALUES = [
    ("confidence", 10**4000, "confidence is a score from 0 to 1"),
    ("similarity", -(10**4000), "similarity is a score from 0 to 1"),
    ("version", 2**70, "version is a whole number from 0 to 2,147,483,647"),
    ("version", -1, "version is a whole number from 0 to 2,147,483,647"),
    ("age_hours", 10**4000, "age_hours is a number from -1.79769e+308 to 1.79769e+308"),
    ("data.score", 10**4000, "data.score is a number from -1.79769e+308 to 1.79769e+308"),
]


@pytest.mark.parametrize(("field", "value", "message"), RULE_VALUES)
async def test_rule_values_past_their_range_are_422_in_create_and_preview(
    app_client: httpx.AsyncClient,
    auth_headers: TokenFactory,
    field: str,
    value: int,
    message: str,
) -> None:
    """The rule routes and the preview (which a viewer may call) answer 422 with the field's
    range, never a 500 or a dropped connection."""
    rule = {
        "name": "huge",
        "priority": 1,
        "action": "approve",
        "conditions": {"field": field, "op": "gt", "value": value},
    }
    admin = await auth_headers(Role.ADMIN)
    viewer = await auth_headers(Role.VIEWER)
    created = await app_client.post("/api/v1/automation/rules", json=rule, headers=admin)
    previewed = await app_client.post("/api/v1/automation/rules/preview", json=rule, headers=viewer)
    for answer in (created, previewed):
        assert answer.status_code == 422, answer.text
        assert message in answer.text


# --- rows written around the door ----------------------------------------------------------------

ODD_KEYS = {
    "": "empty key",
    "with.dots": 1,
    'quote"and\\backslash': 2,
    "<script>alert(1)</script>": "<b>x</b>",
    "ключ": "значення",
    "k" * 1_000: "a key five times the door's limit",
}
# A whole number of 5,000 digits: more than int() reads from text, far past a double's range.
WHOLE_NUMBER = "9" * 5_000


async def _insert_extreme_rows(owner_url: str) -> dict[str, int]:
    """Versions written with SQL as the owner, past every bound of the door; their ids."""
    huge = {"blob": "x" * 5_000_000, "title": "huge"}
    documents = {
        "deep_500": _nested_text(500),
        "deep_5000": _nested_text(5_000),
        "huge": json.dumps(huge),
        "odd_keys": json.dumps(ODD_KEYS, ensure_ascii=False)[:-1] + f', "whole": {WHOLE_NUMBER}}}',
        "not_an_object": '["a list", {"of": "things"}]',
    }
    conn = await connect_db(owner_url)
    try:
        ids = {}
        for number, (name, text) in enumerate(documents.items(), start=1):
            ids[name] = await conn.fetchval(
                "INSERT INTO versions (entity_type, entity_id, version, data, confidence,"
                " similarity, source) VALUES ('topic', $1, 1, $2::text::jsonb, 0.95, 0.9, 'sql')"
                " RETURNING id",
                f"extreme-{number}",
                text,
            )
    finally:
        await conn.close()
    return ids


async def _same_as_stored(
    conn: asyncpg.Connection, answer: str, path: str, version_id: int
) -> bool:
    """PostgreSQL (which reads JSON of any depth) says whether the answer's document at `path`
    is the stored snapshot."""
    same: bool = await conn.fetchval(
        "SELECT ($1::text::jsonb #> $2::text[]) = (SELECT data FROM versions WHERE id = $3)",
        answer,
        path.split("/") if path else [],
        version_id,
    )
    return same


@pytest.mark.timeout(180)
async def test_every_route_and_page_reads_rows_past_every_bound(
    app_client: httpx.AsyncClient,
    auth_headers: TokenFactory,
    pool: Pool,
    owner_database_url: str,
    database_url: str,
) -> None:
    """Versions nested 500 and 5,000 levels deep, one of 5 MB, one with odd keys and a
    5,000-digit number and one that is not an object, written with SQL, are listed, read,
    explained, previewed, decided and shown in the console; the API answers each snapshot
    exactly as stored."""
    ids = await _insert_extreme_rows(owner_database_url)
    admin = await auth_headers(Role.ADMIN)
    api = "/api/v1/versions"
    check = await connect_db(database_url)
    try:
        for listing in (f"{api}?limit=1000", f"{api}?status=pending&limit=1000"):
            answer = await app_client.get(listing, headers=admin)
            assert answer.status_code == 200, listing
            for index, version_id in enumerate(ids.values()):
                assert await _same_as_stored(check, answer.text, f"items/{index}/data", version_id)
        paged = await app_client.get(f"{api}?limit=1", headers=admin)
        cursor = paged.json()["next_cursor"]
        assert (await app_client.get(f"{api}?limit=1&cursor={cursor}", headers=admin)).is_success

        for version_id in ids.values():
            one = await app_client.get(f"{api}/{version_id}", headers=admin)
            assert one.status_code == 200
            assert await _same_as_stored(check, one.text, "data", version_id)
            explained = await app_client.get(f"{api}/{version_id}/explain", headers=admin)
            assert explained.status_code == 200, explained.text
        assert (await app_client.get(f"{api}/pending-count", headers=admin)).json()["total"] == len(
            ids
        )

        rule = {
            "name": "all of them",
            "priority": 1,
            "action": "escalate",
            "conditions": {"field": "source", "op": "eq", "value": "sql"},
        }
        preview = await app_client.post(
            "/api/v1/automation/rules/preview", json=rule, headers=admin
        )
        assert preview.status_code == 200, preview.text
        for index, version_id in enumerate(ids.values()):
            assert await _same_as_stored(check, preview.text, f"sample/{index}/data", version_id)

        # The console shows each of them: the queue, one version, its explain, its whole data.
        await sign_in_as(app_client, pool, Role.OPERATOR)
        queue = await app_client.get("/ui/review")
        assert queue.status_code == 200
        assert len(queue.text) < 2_000_000  # an excerpt of the 5 MB snapshot, not all of it
        assert "<script>alert(1)</script>" not in queue.text  # escaped, as every value
        for version_id in ids.values():
            for page in ("why", "explain", "data"):
                shown = await app_client.get(f"/ui/review/{version_id}/{page}")
                assert shown.status_code == 200, f"{page} of {version_id}"
        whole = await app_client.get(f"/ui/review/{ids['huge']}/data")
        assert whole.headers["content-type"] == "application/json"
        assert await _same_as_stored(check, whole.text, "", ids["huge"])
        huge_page = await app_client.get(f"/ui/review/{ids['huge']}/why")
        assert f'href="/ui/review/{ids["huge"]}/data"' in huge_page.text
        assert len(huge_page.text) < 200_000

        # Deciding them answers each version; the pages that list decisions still open.
        for verb, version_id in zip(
            ("approve", "reject", "escalate", "approve", "reject"), ids.values(), strict=True
        ):
            decided = await app_client.post(f"{api}/{version_id}/{verb}", headers=admin)
            assert decided.status_code == 200, decided.text
            assert await _same_as_stored(check, decided.text, "data", version_id)
        for page in ("/ui", "/ui/audit", "/ui/runs", "/ui/review?status=escalated"):
            assert (await app_client.get(page)).status_code == 200, page
    finally:
        await check.close()


async def test_a_version_whose_answer_cannot_be_made_is_not_stored(
    app_client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: Pool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The answer is made inside the submission's transaction: when making it fails, the
    client gets a 500 and the version is rolled back (a retry cannot make a duplicate)."""
    from app.api.routes import versions as routes  # noqa: PLC0415 - the seam this test breaks

    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("the answer cannot be made")

    monkeypatch.setattr(routes, "stored_json_response", broken)
    before = await _count_versions(pool)
    with pytest.raises(RuntimeError, match="cannot be made"):
        await app_client.post("/api/v1/versions", json=_version(), headers=admin)
    assert await _count_versions(pool) == before
