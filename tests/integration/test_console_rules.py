"""The console's Rules and Schedules pages through the ASGI client: each role sees what it may
use, the editor's form round-trips a rule, saves are audited as the user, refusals use the
API's words, the preview is the API's, and the cron is checked as the API checks it."""

from __future__ import annotations

import uuid
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest
from markupsafe import escape

from app.db import Pool
from app.models import EntityType, JobIn, Role, VersionIn
from app.repositories import rules as rule_repo
from app.rules.models import RuleBody, dump_conditions
from app.rules.templates import TEMPLATES
from app.services.jobs import create_job, set_job_enabled
from app.services.rules import create_rule
from app.services.versions import submit_versions
from tests.support.console import csrf_of, sign_in_as

HIGH = next(t for t in TEMPLATES if t.name == "High Confidence")


class _Form(HTMLParser):
    """The fields a browser would send for the form with id `form_id`, as rendered."""

    def __init__(self, form_id: str) -> None:
        super().__init__()
        self.form_id = form_id
        self.inside = False
        self.fields: dict[str, str] = {}
        self.select: str | None = None
        self.first_option: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {key: value or "" for key, value in attrs}
        if tag == "form":
            self.inside = a.get("id") == self.form_id
        if not self.inside:
            return
        if tag == "input" and "name" in a:
            if a.get("type") != "checkbox" or "checked" in a:
                self.fields[a["name"]] = a.get("value", "")
        elif tag == "select":
            self.select, self.first_option = a["name"], None
        elif tag == "option" and self.select:
            if self.first_option is None:
                self.first_option = a.get("value", "")
                self.fields.setdefault(self.select, self.first_option)
            if "selected" in a:
                self.fields[self.select] = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self.select = None


def form_fields(page: str, form_id: str = "rule-form") -> dict[str, str]:
    parser = _Form(form_id)
    parser.feed(page)
    assert parser.fields, f"no form {form_id!r} on the page"
    return parser.fields


async def _seed(pool: Pool) -> None:
    """Pending versions whose confidences spread over 0..1, so thresholds change counts."""
    scores = [0.2, 0.4, 0.55, 0.65, 0.75, 0.85, 0.92, 0.95, 0.97, 0.99]
    await submit_versions(
        pool,
        [
            VersionIn(
                entity_type=EntityType.TOPIC,
                entity_id=f"t-{i}",
                confidence=score,
                similarity=score,
                source="seed",
                data={"name": "urgent fix" if i % 3 == 0 else "routine"},
            )
            for i, score in enumerate(scores)
        ],
    )


# --- rules: pages and roles ---------------------------------------------------------------------


@pytest.mark.parametrize("role", list(Role))
async def test_rules_pages_show_edit_controls_to_admins_only(
    app_client: httpx.AsyncClient, pool: Pool, role: Role
) -> None:
    rule = await create_rule(pool, HIGH, "test")
    await sign_in_as(app_client, pool, role)
    listing = await app_client.get("/ui/rules")
    assert listing.status_code == 200
    assert f'href="/ui/rules/{rule.id}"' in listing.text
    admin = role is Role.ADMIN
    assert ("New rule" in listing.text) is admin
    page = await app_client.get(f"/ui/rules/{rule.id}")
    assert page.status_code == 200
    assert f"<h1>Rule: {rule.name}</h1>" in page.text
    assert ("Save rule" in page.text) is admin
    assert ("Delete rule" in page.text) is admin
    assert '<h2 id="revisions-h">Revisions</h2>' in page.text
    assert "<td>create</td>" in page.text
    new = await app_client.get("/ui/rules/new")
    assert new.status_code == (200 if admin else 403)
    if not admin:
        assert "&#34;op&#34;: &#34;gte&#34;" in page.text  # the tree as the API shows it
        assert 'data-stat="matched">0<' in page.text  # its preview, as `{rule_id}` answers
        assert "admin role" in new.text


async def test_a_template_renders_as_an_editor_whose_form_saves_that_rule(
    app_client: httpx.AsyncClient, pool: Pool
) -> None:
    """The page made from a template, submitted as rendered, creates the template's rule,
    audited as the signed-in user."""
    name, _ = await sign_in_as(app_client, pool, Role.ADMIN)
    for template in TEMPLATES:
        page = await app_client.get("/ui/rules/new", params={"template": template.name})
        assert page.status_code == 200
        assert 'for="c.0.value"' in page.text
        fields = form_fields(page.text)
        fields["name"] = f"{template.name} copy"
        answer = await app_client.post("/ui/rules/new", data=fields)
        assert answer.status_code == 303, answer.text
        assert answer.headers["location"] == "/ui/rules"
        async with pool.acquire() as conn:
            saved = await rule_repo.get_live_rule_by_name(conn, f"{template.name} copy")
        assert saved is not None
        assert dump_conditions(saved.conditions) == dump_conditions(template.conditions)
        assert (saved.priority, saved.action, saved.enabled) == (
            template.priority,
            template.action,
            template.enabled,
        )
    listing = await app_client.get("/ui/rules")
    assert "High Confidence copy" in listing.text
    audit = await app_client.get("/ui/audit", params={"actor": f"user:{name}"})
    assert audit.text.count("rule.create") == len(TEMPLATES)


async def test_editing_a_rule_raises_its_revision_and_lists_what_changed(
    app_client: httpx.AsyncClient, pool: Pool
) -> None:
    rule = await create_rule(pool, HIGH, "test")
    name, _ = await sign_in_as(app_client, pool, Role.ADMIN)
    page = await app_client.get(f"/ui/rules/{rule.id}")
    fields = form_fields(page.text)
    assert fields["c.0.value"] == "0.9"
    fields.update({"priority": "95", "c.0.value": "0.93"})
    answer = await app_client.post(f"/ui/rules/{rule.id}/edit", data=fields)
    assert answer.status_code == 303, answer.text
    async with pool.acquire() as conn:
        saved = await rule_repo.get_rule(conn, rule.id)
    assert saved.revision == rule.revision + 1
    assert saved.priority == 95
    assert dump_conditions(saved.conditions)["all"][0]["value"] == 0.93
    page = await app_client.get(f"/ui/rules/{rule.id}")
    assert "priority: 90 → 95" in page.text
    assert f"<td>user:{name}</td>" in page.text
    assert "<td>update</td>" in page.text


async def test_deleting_a_rule_is_soft_and_audited(
    app_client: httpx.AsyncClient, pool: Pool
) -> None:
    rule = await create_rule(pool, HIGH, "test")
    name, _ = await sign_in_as(app_client, pool, Role.ADMIN)
    page = await app_client.get(f"/ui/rules/{rule.id}")
    answer = await app_client.post(
        f"/ui/rules/{rule.id}/delete", data={"csrf_token": csrf_of(page.text)}
    )
    assert answer.status_code == 303
    assert f'href="/ui/rules/{rule.id}"' not in (await app_client.get("/ui/rules")).text
    gone = await app_client.get(f"/ui/rules/{rule.id}")
    assert gone.status_code == 200
    assert "deleted" in gone.text
    assert "Save rule" not in gone.text
    audit = await app_client.get("/ui/audit", params={"actor": f"user:{name}"})
    assert "rule.delete" in audit.text


def _leaf_form(csrf: str, field: str, op: str, value: str, **more: str) -> dict[str, str]:
    data_key = ""
    if field.startswith("data."):
        field, data_key = "data", field.removeprefix("data.")
    return {
        "csrf_token": csrf,
        "name": "Typed",
        "description": "",
        "priority": "50",
        "action": "approve",
        "enabled": "true",
        "c.kind": "all",
        "c.0.kind": "leaf",
        "c.0.field": field,
        "c.0.key": data_key,
        "c.0.op": op,
        "c.0.value": value,
        **more,
    }


REFUSED = [
    # (the form's leaf, the JSON an API client sends for it, other form fields)
    (("confidence", "gte", "80"), {"field": "confidence", "op": "gte", "value": 80}, {}),
    (("confidence", "gte", "high"), {"field": "confidence", "op": "gte", "value": "high"}, {}),
    (("entity_type", "eq", "thing"), {"field": "entity_type", "op": "eq", "value": "thing"}, {}),
    (("data.Name", "eq", "x"), {"field": "data.Name", "op": "eq", "value": "x"}, {}),
    (("data.name", "gt", "abc"), {"field": "data.name", "op": "gt", "value": "abc"}, {}),
    (("source", "in", ""), {"field": "source", "op": "in", "value": []}, {}),
    (("version", "eq", "1.5"), {"field": "version", "op": "eq", "value": 1.5}, {}),
    # Numbers past every range, compared before any conversion (issue 20, point 2).
    (("confidence", "gte", "1" + "0" * 4000), {"field": "confidence", "op": "gte",
     "value": 10**4000}, {}),
    (("version", "gt", str(2**70)), {"field": "version", "op": "gt", "value": 2**70}, {}),
    (("data.score", "gt", "1" + "0" * 400), {"field": "data.score", "op": "gt",
     "value": 10**400}, {}),
    (("age_hours", "gt", "-" + "9" * 5000), {"field": "age_hours", "op": "gt",
     "value": -(10**4000)}, {}),
    (("confidence", "gte", "0.5"), {"field": "confidence", "op": "gte", "value": 0.5},
     {"priority": "5000"}),
    (("confidence", "gte", "0.5"), {"field": "confidence", "op": "gte", "value": 0.5},
     {"name": "  "}),
]  # fmt: skip


@pytest.mark.parametrize(("leaf", "json_leaf", "more"), REFUSED)
async def test_a_rule_the_api_refuses_the_console_refuses_with_the_same_words(
    *,
    app_client: httpx.AsyncClient,
    pool: Pool,
    auth_headers: Any,
    leaf: tuple[str, str, str],
    json_leaf: dict[str, Any],
    more: dict[str, str],
) -> None:
    body: dict[str, Any] = {
        "name": more.get("name", "Typed"),
        "priority": int(more.get("priority", "50")),
        "action": "approve",
        "conditions": {"all": [json_leaf]},
    }
    api = await app_client.post(
        "/api/v1/automation/rules", json=body, headers=await auth_headers(Role.ADMIN)
    )
    assert api.status_code == 422
    words = [problem["msg"] for problem in api.json()["detail"]]
    await sign_in_as(app_client, pool, Role.ADMIN)
    page = await app_client.get("/ui/rules/new")
    form = _leaf_form(csrf_of(page.text), *leaf, **more)
    answer = await app_client.post("/ui/rules/new", data=form)
    assert answer.status_code == 422
    assert 'role="alert"' in answer.text
    for msg in words:
        assert escape(msg) in answer.text, msg
    preview = await app_client.post("/ui/rules/preview", data=form)
    for msg in words:
        assert escape(msg) in preview.text, msg
    async with pool.acquire() as conn:
        assert await rule_repo.list_rules(conn, after=None, include_deleted=True, limit=5) == []


async def test_the_preview_fragment_is_the_apis_preview(
    app_client: httpx.AsyncClient, pool: Pool, auth_headers: Any
) -> None:
    await _seed(pool)
    await create_rule(
        pool,
        RuleBody.model_validate(
            {
                "name": "Urgent first",
                "priority": 100,
                "action": "escalate",
                "conditions": {"field": "data.name", "op": "contains", "value": "urgent"},
            }
        ),
        "test",
    )
    headers = await auth_headers(Role.VIEWER)
    await sign_in_as(app_client, pool, Role.ADMIN)
    csrf = csrf_of((await app_client.get("/ui/rules/new")).text)
    seen = set()
    for threshold in ("0.5", "0.9"):
        api = await app_client.post(
            "/api/v1/automation/rules/preview",
            json={
                "name": "Typed",
                "priority": 50,
                "action": "approve",
                "conditions": {
                    "all": [{"field": "confidence", "op": "gte", "value": float(threshold)}]
                },
            },
            headers=headers,
        )
        expected = api.json()
        fragment = await app_client.post(
            "/ui/rules/preview", data=_leaf_form(csrf, "confidence", "gte", threshold)
        )
        assert fragment.status_code == 200
        assert "<h1>" not in fragment.text
        assert f'data-stat="matched">{expected["matched"]}<' in fragment.text
        assert f'data-stat="would-decide">{expected["would_decide"]}<' in fragment.text
        for shadow in expected["shadowed_by"]:
            assert f"{shadow['name']}</a>: {shadow['count']}" in fragment.text
        for version in expected["sample"]:
            assert f"<td>{version['id']}</td>" in fragment.text
        seen.add((expected["matched"], expected["would_decide"]))
    assert len(seen) == 2, "the seed should make the thresholds differ"


async def test_previewing_an_edit_leaves_the_stored_rule_out(
    app_client: httpx.AsyncClient, pool: Pool
) -> None:
    """Editing an enabled rule, its stored version does not shadow the edit."""
    await _seed(pool)
    rule = await create_rule(pool, HIGH.model_copy(update={"enabled": True}), "test")
    await sign_in_as(app_client, pool, Role.ADMIN)
    page = await app_client.get(f"/ui/rules/{rule.id}")
    assert "No rule before it takes any of these versions." in page.text
    fields = form_fields(page.text)
    fields["priority"] = "10"  # below its stored self, were that still there
    fragment = await app_client.post("/ui/rules/preview", data=fields)
    assert "No rule before it takes any of these versions." in fragment.text
    assert 'data-stat="would-decide">0<' not in fragment.text


async def test_adding_and_removing_conditions_round_trips_the_editor(
    app_client: httpx.AsyncClient, pool: Pool
) -> None:
    await sign_in_as(app_client, pool, Role.ADMIN)
    page = await app_client.get("/ui/rules/new", params={"template": HIGH.name})
    fields = form_fields(page.text)
    added = await app_client.post("/ui/rules/form", data={**fields, "edit": "add-leaf:c"})
    assert added.status_code == 200
    assert 'id="c.2.field" name="c.2.field" class="field-select" autofocus' in added.text
    assert "Added to the conditions." in added.text
    grouped = form_fields(added.text)
    grouped = form_fields(
        (await app_client.post("/ui/rules/form", data={**grouped, "edit": "add-group:c"})).text
    )
    assert grouped["c.3.kind"] == "all"
    assert grouped["c.3.0.kind"] == "leaf"
    removed = await app_client.post("/ui/rules/form", data={**grouped, "edit": "remove:c.0"})
    left = form_fields(removed.text)
    assert left["c.0.field"] == "similarity"  # the second condition moved up
    assert "c.3.kind" not in left
    assert "Removed from the conditions." in removed.text
    assert 'value="add-leaf:c" formaction="/ui/rules/form" hx-post="/ui/rules/form"' in (
        removed.text
    )
    preview = await app_client.post("/ui/rules/form", data={**left, "edit": "preview"})
    assert 'data-stat="matched">' in preview.text  # the no-script path shows the preview


async def test_rule_forms_need_the_csrf_token_and_the_admin_role(
    app_client: httpx.AsyncClient, pool: Pool
) -> None:
    rule = await create_rule(pool, HIGH, "test")
    await sign_in_as(app_client, pool, Role.OPERATOR)
    csrf = csrf_of((await app_client.get("/ui/rules")).text)
    form = _leaf_form("", "confidence", "gte", "0.5")
    for path in ("/ui/rules/new", f"/ui/rules/{rule.id}/edit", "/ui/rules/preview",
                 "/ui/rules/form", f"/ui/rules/{rule.id}/delete"):  # fmt: skip
        assert (await app_client.post(path, data=form)).status_code == 403, path
    form["csrf_token"] = csrf
    for path in ("/ui/rules/new", f"/ui/rules/{rule.id}/edit", "/ui/rules/form",
                 f"/ui/rules/{rule.id}/delete", f"/ui/rules/{rule.id}/enable"):  # fmt: skip
        answer = await app_client.post(path, data=form)
        assert answer.status_code == 403, path
        assert "admin role" in answer.text
    async with pool.acquire() as conn:
        assert (await rule_repo.get_rule(conn, rule.id)).revision == rule.revision


# --- schedules ----------------------------------------------------------------------------------


async def test_the_cron_check_shows_five_fires_or_the_apis_words(
    app_client: httpx.AsyncClient, pool: Pool, auth_headers: Any
) -> None:
    await sign_in_as(app_client, pool, Role.VIEWER)
    good = await app_client.get(
        "/ui/schedules/cron-check", params={"cron": "*/15 * * * *", "timezone": "Europe/Kyiv"}
    )
    assert good.status_code == 200
    assert "<h1>" not in good.text
    assert good.text.count("<time datetime=") == 5
    assert "+02:00" in good.text or "+03:00" in good.text  # shown in the job's zone
    headers = await auth_headers(Role.ADMIN)
    for cron, zone in (("61 * * * *", "UTC"), ("0 0 30 2 *", "UTC"), ("0 3 * * *", "Mars/Olympus"),
                       ("0 3 * *", "UTC"), ("0 3 L * *", "UTC")):  # fmt: skip
        api = await app_client.post(
            "/api/v1/scheduler/jobs",
            json={"id": f"j-{uuid.uuid4().hex[:6]}", "name": "x", "cron": cron, "timezone": zone},
            headers=headers,
        )
        assert api.status_code == 422, cron
        words = api.json()["detail"][0]["msg"]
        bad = await app_client.get(
            "/ui/schedules/cron-check", params={"cron": cron, "timezone": zone}
        )
        assert bad.status_code == 200
        assert escape(words) in bad.text, cron
        assert "<time" not in bad.text


@pytest.mark.parametrize("role", list(Role))
async def test_schedule_pages_per_role(
    app_client: httpx.AsyncClient, pool: Pool, role: Role
) -> None:
    await create_job(pool, JobIn(id="nightly", name="Nightly", cron="0 3 * * *"), "test", "UTC")
    await sign_in_as(app_client, pool, role)
    listing = await app_client.get("/ui/schedules")
    admin = role is Role.ADMIN
    assert ("New schedule" in listing.text) is admin
    assert ('aria-label="Run now Nightly"' in listing.text) is role.allows(Role.OPERATOR)
    assert ('aria-label="Delete Nightly"' in listing.text) is admin
    # No scheduler runs here: the next fire shown is the cron's, and says so.
    assert "(by its cron)" in listing.text
    page = await app_client.get("/ui/schedules/nightly/edit")
    assert page.status_code == 200
    assert "<h1>Schedule: Nightly</h1>" in page.text
    assert page.text.count("<time datetime=") >= 5  # next fire + the next five
    assert ("Save schedule" in page.text) is admin
    new = await app_client.get("/ui/schedules/new")
    assert new.status_code == (200 if admin else 403)


async def test_create_and_edit_a_schedule_through_the_form(
    app_client: httpx.AsyncClient, pool: Pool
) -> None:
    name, _ = await sign_in_as(app_client, pool, Role.ADMIN)
    page = await app_client.get("/ui/schedules/new")
    assert 'hx-get="/ui/schedules/cron-check"' in page.text
    csrf = csrf_of(page.text)
    form = {"csrf_token": csrf, "id": "hourly-check", "name": "Hourly check", "cron": "@hourly",
            "timezone": "Europe/Kyiv", "task": "automation.run", "enabled": "true"}  # fmt: skip
    answer = await app_client.post("/ui/schedules/new", data=form)
    assert answer.status_code == 303, answer.text
    listing = await app_client.get("/ui/schedules")
    assert "Hourly check" in listing.text
    assert "<code>@hourly</code>" in listing.text
    taken = await app_client.post("/ui/schedules/new", data=form)
    assert taken.status_code == 409
    assert "is taken" in taken.text
    # A paused job stays paused when its cron changes (an update without `enabled`).
    await set_job_enabled(pool, "hourly-check", "test", enabled=False)
    edit = await app_client.get("/ui/schedules/hourly-check/edit")
    assert 'value="hourly-check"' not in edit.text  # the id is not editable
    changed = await app_client.post(
        "/ui/schedules/hourly-check/edit",
        data={
            "csrf_token": csrf,
            "name": "Hourly check",
            "cron": "30 * * * *",
            "timezone": "Europe/Kyiv",
            "task": "automation.run",
        },
    )
    assert changed.status_code == 303, changed.text
    listing = await app_client.get("/ui/schedules")
    assert "<code>30 * * * *</code>" in listing.text
    assert 'aria-label="Resume Hourly check"' in listing.text
    audit = await app_client.get("/ui/audit", params={"actor": f"user:{name}"})
    assert "job.create" in audit.text
    assert "job.update" in audit.text


async def test_a_schedule_the_api_refuses_the_console_refuses_with_the_same_words(
    app_client: httpx.AsyncClient, pool: Pool, auth_headers: Any
) -> None:
    headers = await auth_headers(Role.ADMIN)
    await sign_in_as(app_client, pool, Role.ADMIN)
    csrf = csrf_of((await app_client.get("/ui/schedules/new")).text)
    for body in (
        {"id": "Bad Id", "name": "x", "cron": "@daily"},
        {"id": "ok", "name": "", "cron": "@daily"},
        {"id": "ok", "name": "x", "cron": "every day"},
        {"id": "ok", "name": "x", "cron": "@daily", "timezone": "Nowhere/Land"},
    ):
        api = await app_client.post("/api/v1/scheduler/jobs", json=body, headers=headers)
        assert api.status_code == 422, body
        form = {"csrf_token": csrf, "task": "automation.run", "enabled": "true", **body}
        answer = await app_client.post("/ui/schedules/new", data=form)
        assert answer.status_code == 422, body
        assert 'role="alert"' in answer.text
        for problem in api.json()["detail"]:
            assert escape(problem["msg"]) in answer.text, body
    assert "/ui/schedules/ok/edit" not in (await app_client.get("/ui/schedules")).text


async def test_schedule_forms_need_the_csrf_token_and_the_admin_role(
    app_client: httpx.AsyncClient, pool: Pool
) -> None:
    await create_job(pool, JobIn(id="nightly", name="Nightly", cron="0 3 * * *"), "test", "UTC")
    await sign_in_as(app_client, pool, Role.OPERATOR)
    form = {"id": "x", "name": "x", "cron": "@daily", "task": "automation.run"}
    assert (await app_client.post("/ui/schedules/new", data=form)).status_code == 403
    form["csrf_token"] = csrf_of((await app_client.get("/ui/schedules")).text)
    for path in ("/ui/schedules/new", "/ui/schedules/nightly/edit", "/ui/schedules/nightly/delete"):
        answer = await app_client.post(path, data=form)
        assert answer.status_code == 403, path
        assert "admin role" in answer.text


async def test_the_editors_speak_ukrainian(app_client: httpx.AsyncClient, pool: Pool) -> None:
    await create_job(pool, JobIn(id="nightly", name="Nightly", cron="0 3 * * *"), "test", "UTC")
    await sign_in_as(app_client, pool, Role.ADMIN)
    await app_client.post("/ui/language", data={"language": "uk"})
    rule = await app_client.get("/ui/rules/new", params={"template": HIGH.name})
    assert "<h1>Нове правило</h1>" in rule.text
    for words in ("Додати умову", "Зберегти правило", "Попередній перегляд", "Ключ даних"):
        assert words in rule.text, words
    job = await app_client.get("/ui/schedules/new")
    assert "<h1>Новий розклад</h1>" in job.text
    assert "Зберегти розклад" in job.text


async def test_an_unknown_rule_or_job_is_a_404_page(
    app_client: httpx.AsyncClient, pool: Pool
) -> None:
    await sign_in_as(app_client, pool, Role.ADMIN)
    for path in ("/ui/rules/99999", "/ui/schedules/no-such-job/edit"):
        answer = await app_client.get(path)
        assert answer.status_code == 404, path
        assert 'role="alert"' in answer.text
