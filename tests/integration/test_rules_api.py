"""Rules over HTTP: revisions, soft deletion, evaluation order, and an audit entry per change."""

from __future__ import annotations

import pytest

from app.models import Role
from tests.support.api import HIGH_CONFIDENCE

pytestmark = pytest.mark.timeout(60)


async def audit_rows(pool, rule_id):
    async with pool.acquire() as conn:
        return await conn.fetch(
            "SELECT actor, action, rule_revision, details FROM audit_log"
            " WHERE rule_id = $1 ORDER BY id",
            rule_id,
        )


async def test_create_answers_the_rule_at_revision_one_and_audits_it(app_client, admin, pool):
    """Creating a rule answers 201 at revision 1 with defaults, and writes rule.create."""
    response = await app_client.post(
        "/api/v1/automation/rules", json=HIGH_CONFIDENCE, headers=admin
    )
    assert response.status_code == 201, response.text
    rule = response.json()
    assert rule["revision"] == 1
    assert rule["enabled"] is True
    assert rule["description"] == ""
    assert rule["conditions"] == HIGH_CONFIDENCE["conditions"]
    rows = await audit_rows(pool, rule["id"])
    assert [(r["action"], r["rule_revision"]) for r in rows] == [("rule.create", 1)]
    assert rows[0]["actor"].startswith("user:admin-")
    assert rows[0]["details"]["after"]["name"] == "High Confidence"


async def test_a_duplicate_name_is_409(app_client, admin):
    """Two live rules cannot share a name."""
    await app_client.post("/api/v1/automation/rules", json=HIGH_CONFIDENCE, headers=admin)
    again = await app_client.post("/api/v1/automation/rules", json=HIGH_CONFIDENCE, headers=admin)
    assert again.status_code == 409
    assert "High Confidence" in again.text


async def test_every_change_raises_the_revision_once_and_no_op_changes_do_not(
    app_client, admin, pool
):
    """Update, disable, enable and delete each add one revision and one audit entry."""
    rule = (
        await app_client.post("/api/v1/automation/rules", json=HIGH_CONFIDENCE, headers=admin)
    ).json()
    base = f"/api/v1/automation/rules/{rule['id']}"

    same = await app_client.put(base, json=HIGH_CONFIDENCE, headers=admin)
    assert same.status_code == 200
    assert same.json()["revision"] == 1

    changed = await app_client.put(base, json={**HIGH_CONFIDENCE, "priority": 95}, headers=admin)
    assert changed.json()["revision"] == 2
    assert changed.json()["priority"] == 95

    disabled = await app_client.post(f"{base}/disable", headers=admin)
    assert (disabled.json()["enabled"], disabled.json()["revision"]) == (False, 3)
    assert (await app_client.post(f"{base}/disable", headers=admin)).json()["revision"] == 3
    enabled = await app_client.post(f"{base}/enable", headers=admin)
    assert (enabled.json()["enabled"], enabled.json()["revision"]) == (True, 4)

    deleted = await app_client.delete(base, headers=admin)
    assert deleted.status_code == 200
    assert deleted.json()["revision"] == 5
    assert deleted.json()["deleted_at"] is not None

    rows = await audit_rows(pool, rule["id"])
    assert [(r["action"], r["rule_revision"]) for r in rows] == [
        ("rule.create", 1),
        ("rule.update", 2),
        ("rule.update", 3),
        ("rule.update", 4),
        ("rule.delete", 5),
    ]
    update = rows[1]["details"]
    assert (update["before"]["priority"], update["after"]["priority"]) == (90, 95)
    assert rows[2]["details"]["change"] == "disable"


async def test_a_deleted_rule_keeps_its_row_but_leaves_the_list(app_client, admin):
    """After delete the rule is still readable by id, gone from the list, and frozen."""
    rule = (
        await app_client.post("/api/v1/automation/rules", json=HIGH_CONFIDENCE, headers=admin)
    ).json()
    base = f"/api/v1/automation/rules/{rule['id']}"
    await app_client.delete(base, headers=admin)

    fetched = await app_client.get(base, headers=admin)
    assert fetched.status_code == 200
    assert fetched.json()["deleted_at"] is not None
    listed = await app_client.get("/api/v1/automation/rules", headers=admin)
    assert listed.json()["items"] == []
    with_deleted = await app_client.get(
        "/api/v1/automation/rules", params={"include_deleted": "true"}, headers=admin
    )
    assert [r["id"] for r in with_deleted.json()["items"]] == [rule["id"]]
    assert (await app_client.post(f"{base}/enable", headers=admin)).status_code == 409
    assert (await app_client.delete(base, headers=admin)).status_code == 409
    # The name is free again.
    recreated = await app_client.post(
        "/api/v1/automation/rules", json=HIGH_CONFIDENCE, headers=admin
    )
    assert recreated.status_code == 201


async def test_the_list_is_in_evaluation_order_across_pages(app_client, admin):
    """Rules list by priority descending, then id ascending, through the cursor."""
    specs = [("a", 10), ("b", 500), ("c", 10), ("d", 1000), ("e", 0), ("f", 500)]
    for name, priority in specs:
        body = {**HIGH_CONFIDENCE, "name": name, "priority": priority}
        assert (
            await app_client.post("/api/v1/automation/rules", json=body, headers=admin)
        ).status_code == 201
    names: list[str] = []
    cursor = None
    while True:
        params: dict[str, object] = {"limit": 4}
        if cursor:
            params["cursor"] = cursor
        page = (
            await app_client.get("/api/v1/automation/rules", params=params, headers=admin)
        ).json()
        names += [r["name"] for r in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert names == ["d", "b", "f", "a", "c", "e"]


BAD_CONDITIONS = [
    ({"field": "password", "op": "eq", "value": "x"}, "unknown field"),
    ({"field": "status;DROP TABLE versions", "op": "eq", "value": "x"}, "unknown field"),
    ({"field": "confidence", "op": "like", "value": 0.5}, "op"),
    ({"field": "confidence", "op": "gte", "value": 80}, "0 to 1"),
    ({}, "field"),
    ({"all": []}, "at least 1"),
    ({"any": []}, "at least 1"),
    ({"field": "source", "op": "in", "value": []}, "at least one value"),
    ({"field": "source", "op": "in", "value": ["x"] * 100_000}, "at most 1000"),
    ({"field": "confidence", "op": "gte", "value": "high"}, "number"),
    ({"field": "version", "op": "eq", "value": 1.5}, "whole number from 0 to 2,147,483,647"),
    ({"field": "data.Name", "op": "eq", "value": "x"}, "unknown field"),
    ({"field": "data.a.b.c", "op": "eq", "value": "x"}, "unknown field"),
    ({"field": "data.name", "op": "gt", "value": "x"}, "compares numbers"),
    ({"field": "entity_type", "op": "eq", "value": "page"}, "entity_type"),
    ({"field": "similarity", "op": "is_null", "value": 1}, "takes no value"),
]


def nested(depth: int) -> dict[str, object]:
    node: dict[str, object] = {"field": "confidence", "op": "gte", "value": 0.5}
    for _ in range(depth - 1):
        node = {"not": node}
    return node


@pytest.mark.parametrize(("conditions", "message"), BAD_CONDITIONS)
async def test_bad_conditions_are_422_naming_the_problem(app_client, admin, conditions, message):
    """Each refused tree answers 422 with a message that says what is wrong."""
    body = {**HIGH_CONFIDENCE, "conditions": conditions}
    response = await app_client.post("/api/v1/automation/rules", json=body, headers=admin)
    assert response.status_code == 422, response.text
    assert message in response.text


async def test_depth_and_width_limits(app_client, admin):
    """Depth 8 is accepted, depth 9 and 20 are not; 100 leaves pass, 101 do not."""
    for depth, expected in ((8, 201), (9, 422), (20, 422)):
        body = {**HIGH_CONFIDENCE, "name": f"d{depth}", "conditions": nested(depth)}
        response = await app_client.post("/api/v1/automation/rules", json=body, headers=admin)
        assert response.status_code == expected, (depth, response.text)
    leaf = {"field": "confidence", "op": "gte", "value": 0.5}
    for count, expected in ((100, 201), (101, 422)):
        body = {**HIGH_CONFIDENCE, "name": f"w{count}", "conditions": {"any": [leaf] * count}}
        response = await app_client.post("/api/v1/automation/rules", json=body, headers=admin)
        assert response.status_code == expected, (count, response.text)


async def test_nan_is_refused(app_client, admin):
    """NaN and infinities in a value answer 422 (JSON parsers accept the NaN token)."""
    raw = (
        b'{"name": "n", "priority": 1, "action": "approve",'
        b' "conditions": {"field": "confidence", "op": "gte", "value": NaN}}'
    )
    response = await app_client.post(
        "/api/v1/automation/rules",
        content=raw,
        headers={**admin, "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert "NaN" in response.text


async def test_rule_changes_need_the_admin_role(app_client, auth_headers):
    """An operator may read rules but not change them."""
    operator = await auth_headers(Role.OPERATOR)
    response = await app_client.post(
        "/api/v1/automation/rules", json=HIGH_CONFIDENCE, headers=operator
    )
    assert response.status_code == 403
    assert (await app_client.get("/api/v1/automation/rules", headers=operator)).status_code == 200


async def test_an_edit_is_previewed_in_the_stored_rules_place(app_client, admin, pool):
    """`{rule_id, edited}` previews the edit before it is saved: the stored version of the
    rule takes no part (it neither shadows the edit nor is listed); 404/409 for no such rule
    or a deleted one, 422 for an edit the language refuses."""
    preview = "/api/v1/automation/rules/preview"
    items = [
        {"entity_type": "topic", "entity_id": f"p-{i}", "confidence": c, "source": "t"}
        for i, c in enumerate((0.3, 0.6, 0.95))
    ]
    assert (
        await app_client.post("/api/v1/versions", json={"items": items}, headers=admin)
    ).is_success
    body = {
        **HIGH_CONFIDENCE,
        "enabled": True,
        "conditions": {"field": "confidence", "op": "gte", "value": 0.9},
    }
    rule = (await app_client.post("/api/v1/automation/rules", json=body, headers=admin)).json()
    edited = {
        **body,
        "priority": 5,
        "conditions": {"field": "confidence", "op": "gte", "value": 0.5},
    }
    as_new = (await app_client.post(preview, json=edited, headers=admin)).json()
    assert [s["rule_id"] for s in as_new["shadowed_by"]] == [rule["id"]]  # its stored self
    answer = await app_client.post(
        preview, json={"rule_id": rule["id"], "edited": edited}, headers=admin
    )
    assert answer.status_code == 200, answer.text
    assert (answer.json()["matched"], answer.json()["would_decide"]) == (2, 2)
    assert answer.json()["shadowed_by"] == []
    wrong = {**edited, "conditions": {"field": "confidence", "op": "gte", "value": 80}}
    refused = await app_client.post(
        preview, json={"rule_id": rule["id"], "edited": wrong}, headers=admin
    )
    assert refused.status_code == 422
    assert "did you mean 0.8?" in refused.text
    missing = await app_client.post(
        preview, json={"rule_id": 999_999, "edited": edited}, headers=admin
    )
    assert missing.status_code == 404
    await app_client.delete(f"/api/v1/automation/rules/{rule['id']}", headers=admin)
    gone = await app_client.post(
        preview, json={"rule_id": rule["id"], "edited": edited}, headers=admin
    )
    assert gone.status_code == 409
