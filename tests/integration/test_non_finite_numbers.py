"""NaN, Infinity, -Infinity and 1e400 (which Python's JSON parser turns into infinity) are
refused with 422 naming the field wherever a number arrives in JSON; none reaches jsonb."""

from __future__ import annotations

import json

import pytest

from app.models import Role

pytestmark = pytest.mark.timeout(60)

# Written as JSON text: a client library would refuse to encode these itself.
NON_FINITE = ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"]


def version_json(data: str = '{"name": "Kickoff"}', confidence: str = "0.95") -> str:
    return (
        '{"entity_type": "topic", "entity_id": "t-1", "source": "llm", "similarity": 0.9,'
        f' "confidence": {confidence}, "data": {data}}}'
    )


async def post_json(app_client, path: str, text: str, headers: dict[str, str]):
    return await app_client.post(
        path, content=text.encode(), headers={**headers, "Content-Type": "application/json"}
    )


def problem_messages(response) -> str:
    return json.dumps(response.json()["detail"])


async def count_versions(pool) -> int:
    async with pool.acquire() as conn:
        return int(await conn.fetchval("SELECT count(*) FROM versions"))


@pytest.mark.parametrize("number", NON_FINITE)
@pytest.mark.parametrize(
    ("data", "field"),
    [
        ('{"score": NUMBER}', "data.score"),
        ('{"name": "x", "nested": {"deep": {"score": NUMBER}}}', "data.nested.deep.score"),
        ('{"scores": [1, 2, NUMBER]}', "data.scores[2]"),
        ('{"rows": [{"ok": 1}, {"score": NUMBER}]}', "data.rows[1].score"),
    ],
)
async def test_one_version_with_a_non_finite_number_in_data_is_422_naming_it(
    app_client, admin, pool, *, number, data, field
):
    """A non-finite number anywhere in `data` answers 422 naming its path; nothing is stored."""
    response = await post_json(
        app_client, "/api/v1/versions", version_json(data=data.replace("NUMBER", number)), admin
    )
    assert response.status_code == 422, response.text
    assert field in problem_messages(response)
    assert await count_versions(pool) == 0


@pytest.mark.parametrize("number", NON_FINITE)
async def test_a_batch_with_one_non_finite_number_is_422_naming_the_item(
    app_client, admin, pool, number
):
    """In `{"items": [...]}` the 422 names the item and the field; no item is stored."""
    items = [
        version_json(),
        version_json(data='{"a": {"score": NUMBER}}'.replace("NUMBER", number)),
    ]
    response = await post_json(
        app_client, "/api/v1/versions", '{"items": [' + ", ".join(items) + "]}", admin
    )
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert any(1 in problem["loc"] and "data.a.score" in problem["msg"] for problem in detail)
    assert await count_versions(pool) == 0


@pytest.mark.parametrize("number", NON_FINITE)
async def test_non_finite_scores_are_422_naming_the_score(app_client, admin, number):
    """confidence and similarity refuse the same numbers, single and in a batch."""
    response = await post_json(
        app_client, "/api/v1/versions", version_json(confidence=number), admin
    )
    assert response.status_code == 422, response.text
    assert "confidence" in problem_messages(response)
    batch = '{"items": [' + version_json(confidence=number) + "]}"
    response = await post_json(app_client, "/api/v1/versions", batch, admin)
    assert response.status_code == 422, response.text
    assert "confidence" in problem_messages(response)


async def test_finite_numbers_in_data_are_stored_as_sent(app_client, auth_headers):
    """The check refuses only non-finite numbers: large, tiny and negative ones are stored."""
    headers = await auth_headers(Role.OPERATOR)
    data = '{"big": 1.5e20, "tiny": -0.25, "n": -3, "list": [0.5, {"x": 1.5}]}'
    response = await post_json(app_client, "/api/v1/versions", version_json(data=data), headers)
    assert response.status_code == 201, response.text
    assert response.json()["data"] == json.loads(data)


@pytest.mark.parametrize("number", NON_FINITE)
@pytest.mark.parametrize("path", ["/api/v1/automation/rules", "/api/v1/automation/rules/preview"])
async def test_rule_values_refuse_non_finite_numbers(app_client, admin, number, path):
    """A rule's value (one, or in an `in` list) refuses them too, in a create and a preview."""
    for value in (number, f"[1, {number}]"):
        op = "in" if value.startswith("[") else "gte"
        body = (
            '{"name": "n", "priority": 1, "action": "approve", "conditions":'
            f' {{"field": "data.score", "op": "{op}", "value": {value}}}}}'
        )
        response = await post_json(app_client, path, body, admin)
        assert response.status_code == 422, response.text
        assert "value" in problem_messages(response)
