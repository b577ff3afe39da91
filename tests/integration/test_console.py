"""The console through the ASGI client: sign-in, sessions, CSRF, CSP and each page per role."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest

from app.db import Pool
from app.models import EntityType, JobIn, Role, VersionIn, VersionStatus
from app.repositories.versions import get_version
from app.services.jobs import create_job
from app.services.tokens import create_token, revoke_token
from app.services.versions import submit_version

PAGES = ["/ui", "/ui/runs", "/ui/schedules", "/ui/audit", "/ui/review", "/ui/rules"]


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page carries no CSRF field"
    return found.group(1)


async def _sign_in(client: httpx.AsyncClient, pool: Pool, role: Role) -> tuple[str, str]:
    """Sign in with a new token of `role`; answers (token name, secret)."""
    name = f"{role.value}-{uuid.uuid4().hex[:8]}"
    secret = (await create_token(pool, name, role, "test")).secret
    form = await client.get("/ui/sign-in")
    answer = await client.post(
        "/ui/sign-in", data={"token": secret, "csrf_token": _csrf(form.text)}
    )
    assert answer.status_code == 303, answer.text
    return name, secret


async def test_root_redirects_to_the_console(app_client: httpx.AsyncClient) -> None:
    answer = await app_client.get("/")
    assert answer.status_code == 307
    assert answer.headers["location"] == "/ui"


async def test_pages_need_a_session(app_client: httpx.AsyncClient) -> None:
    for page in PAGES:
        answer = await app_client.get(page)
        assert answer.status_code == 303, page
        assert answer.headers["location"] == "/ui/sign-in"


async def test_sign_in_sets_a_strict_httponly_cookie_without_the_secret(
    app_client: httpx.AsyncClient, pool: Pool
) -> None:
    form = await app_client.get("/ui/sign-in")
    assert 'for="token">Token<' in form.text
    secret = (await create_token(pool, "console-user", Role.VIEWER, "test")).secret
    answer = await app_client.post(
        "/ui/sign-in", data={"token": secret, "csrf_token": _csrf(form.text)}
    )
    assert answer.status_code == 303
    cookie = next(
        value
        for key, value in answer.headers.multi_items()
        if key == "set-cookie" and value.startswith("tt_console=")
    )
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie.replace("samesite", "SameSite")
    assert "Max-Age=43200" in cookie  # CONSOLE_SESSION_HOURS defaults to 12
    assert secret not in cookie
    page = await app_client.get("/ui")
    assert page.status_code == 200
    assert secret not in page.text
    assert "console-user" in page.text


async def test_a_wrong_token_is_refused_with_a_message(app_client: httpx.AsyncClient) -> None:
    form = await app_client.get("/ui/sign-in")
    answer = await app_client.post(
        "/ui/sign-in", data={"token": "tt_nope", "csrf_token": _csrf(form.text)}
    )
    assert answer.status_code == 401
    assert "not valid" in answer.text


async def test_sign_in_without_the_csrf_token_is_refused(app_client: httpx.AsyncClient) -> None:
    await app_client.get("/ui/sign-in")
    answer = await app_client.post("/ui/sign-in", data={"token": "tt_x", "csrf_token": "forged"})
    assert answer.status_code == 403


async def test_sign_out_ends_the_session(app_client: httpx.AsyncClient, pool: Pool) -> None:
    await _sign_in(app_client, pool, Role.VIEWER)
    page = await app_client.get("/ui")
    answer = await app_client.post("/ui/sign-out", data={"csrf_token": _csrf(page.text)})
    assert answer.status_code == 303
    assert (await app_client.get("/ui")).status_code == 303


async def test_a_revoked_token_ends_its_session(app_client: httpx.AsyncClient, pool: Pool) -> None:
    name, _ = await _sign_in(app_client, pool, Role.VIEWER)
    assert (await app_client.get("/ui")).status_code == 200
    await revoke_token(pool, name, "test")
    assert (await app_client.get("/ui")).status_code == 303


async def test_a_state_change_without_the_csrf_token_is_refused(
    app_client: httpx.AsyncClient, pool: Pool
) -> None:
    await _sign_in(app_client, pool, Role.ADMIN)
    answer = await app_client.post("/ui/brake/pause", data={"reason": "x"})
    assert answer.status_code == 403
    answer = await app_client.post(
        "/ui/brake/pause", data={"reason": "x"}, headers={"X-CSRF-Token": "forged"}
    )
    assert answer.status_code == 403
    state = await app_client.get("/ui")
    assert "Pause automation" in state.text  # still running: nothing changed


async def test_the_brake_through_the_console_is_audited_as_the_user(
    app_client: httpx.AsyncClient, pool: Pool
) -> None:
    name, _ = await _sign_in(app_client, pool, Role.ADMIN)
    page = await app_client.get("/ui")
    csrf = _csrf(page.text)
    answer = await app_client.post(
        "/ui/brake/pause", data={"reason": "maintenance", "csrf_token": csrf}
    )
    assert answer.status_code == 303
    paused = await app_client.get("/ui")
    assert "Resume automation" in paused.text
    assert "maintenance" in paused.text
    answer = await app_client.post("/ui/brake/resume", data={"csrf_token": csrf})
    assert answer.status_code == 303
    audit = await app_client.get("/ui/audit", params={"actor": f"user:{name}"})
    assert audit.text.count(f"user:{name}") >= 2


async def test_every_page_has_a_strict_csp(app_client: httpx.AsyncClient, pool: Pool) -> None:
    await _sign_in(app_client, pool, Role.VIEWER)
    for page in [*PAGES, "/ui/sign-in"]:
        answer = await app_client.get(page)
        assert answer.status_code == 200, page
        csp = answer.headers["content-security-policy"]
        assert "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert "unsafe-eval" not in csp


@pytest.mark.parametrize("role", list(Role))
async def test_each_page_per_role(app_client: httpx.AsyncClient, pool: Pool, role: Role) -> None:
    await _sign_in(app_client, pool, role)
    headings = ["Overview", "Runs", "Schedules", "Audit", "Review queue", "Rules"]
    for page, heading in zip(PAGES, headings, strict=True):
        answer = await app_client.get(page)
        assert answer.status_code == 200, page
        assert f"<h1>{heading}</h1>" in answer.text, page
    overview = (await app_client.get("/ui")).text
    runs = (await app_client.get("/ui/runs")).text
    # A viewer sees no control that would be refused; an operator triggers but has no brake.
    assert ("Pause automation" in overview) is (role is Role.ADMIN)
    assert ("Trigger a run" in runs) is role.allows(Role.OPERATOR)


async def test_a_viewer_cannot_act_even_with_a_csrf_token(
    app_client: httpx.AsyncClient, pool: Pool
) -> None:
    await _sign_in(app_client, pool, Role.VIEWER)
    page = await app_client.get("/ui")
    answer = await app_client.post(
        "/ui/brake/pause", data={"reason": "x", "csrf_token": _csrf(page.text)}
    )
    assert answer.status_code == 403
    assert "admin role" in answer.text


async def test_the_static_files_are_served(app_client: httpx.AsyncClient) -> None:
    for path in (
        "/ui/static/console.css",
        "/ui/static/console.js",
        "/ui/static/vendor/htmx-2.0.11.min.js",
        "/ui/static/vendor/chart-4.6.1.umd.min.js",
    ):
        assert (await app_client.get(path)).status_code == 200, path


async def test_ukrainian_by_accept_language_and_by_the_switch(
    app_client: httpx.AsyncClient, pool: Pool
) -> None:
    form = await app_client.get("/ui/sign-in", headers={"Accept-Language": "uk-UA,uk;q=0.9"})
    assert '<html lang="uk">' in form.text
    assert "<h1>Увійти</h1>" in form.text
    await _sign_in(app_client, pool, Role.ADMIN)
    answer = await app_client.post("/ui/language", data={"language": "uk"})
    assert answer.status_code == 303
    page = await app_client.get("/ui")
    assert "<h1>Огляд</h1>" in page.text
    assert "Призупинити автоматизацію" in page.text
    await app_client.post("/ui/language", data={"language": "en"})
    assert "<h1>Overview</h1>" in (await app_client.get("/ui")).text


async def test_the_second_reviewer_sees_who_decided_first(
    app_client: httpx.AsyncClient, pool: Pool
) -> None:
    version = await submit_version(
        pool,
        VersionIn(entity_type=EntityType.TOPIC, entity_id="t-1", confidence=0.5, source="test"),
    )
    first, _ = await _sign_in(app_client, pool, Role.OPERATOR)
    transport = httpx.ASGITransport(app=app_client.app)  # type: ignore[attr-defined]
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as other:
        await _sign_in(other, pool, Role.OPERATOR)
        queue = await other.get("/ui/review")
        assert f"/ui/review/{version.id}/reject" in queue.text
        mine = await app_client.get("/ui/review")
        answer = await app_client.post(
            f"/ui/review/{version.id}/approve", data={"csrf_token": _csrf(mine.text)}
        )
        assert answer.status_code == 303
        late = await other.post(
            f"/ui/review/{version.id}/reject",
            data={"csrf_token": _csrf(queue.text), "reason": "too late"},
        )
    assert late.status_code == 409
    assert f"user:{first}" in late.text
    async with pool.acquire() as conn:
        stored = await get_version(conn, version.id)
    assert stored.status is VersionStatus.APPROVED  # nothing overwritten
    assert stored.decided_by == f"user:{first}"


async def test_pause_and_resume_a_schedule(app_client: httpx.AsyncClient, pool: Pool) -> None:
    await create_job(pool, JobIn(id="nightly", name="Nightly", cron="0 3 * * *"), "test", "UTC")
    name, _ = await _sign_in(app_client, pool, Role.OPERATOR)
    page = await app_client.get("/ui/schedules")
    assert 'aria-label="Pause Nightly"' in page.text
    assert "Delete" not in page.text  # an operator may not delete jobs
    csrf = _csrf(page.text)
    assert (
        await app_client.post("/ui/schedules/nightly/pause", data={"csrf_token": csrf})
    ).status_code == 303
    paused = await app_client.get("/ui/schedules")
    assert 'aria-label="Resume Nightly"' in paused.text
    assert (
        await app_client.post("/ui/schedules/nightly/resume", data={"csrf_token": csrf})
    ).status_code == 303
    assert 'aria-label="Pause Nightly"' in (await app_client.get("/ui/schedules")).text
    audit = await app_client.get("/ui/audit", params={"actor": f"user:{name}"})
    assert audit.text.count(f"<td>user:{name}</td>") == 2


async def test_a_triggered_run_has_a_page_that_polls_while_active(
    app_client: httpx.AsyncClient, pool: Pool
) -> None:
    await _sign_in(app_client, pool, Role.OPERATOR)
    runs = await app_client.get("/ui/runs")
    answer = await app_client.post("/ui/runs/trigger", data={"csrf_token": _csrf(runs.text)})
    assert answer.status_code == 303
    location = answer.headers["location"]
    assert location.startswith("/ui/runs/")
    page = await app_client.get(location)
    assert page.status_code == 200
    assert 'aria-live="polite"' in page.text
    assert f'hx-get="{location}/numbers"' in page.text  # no worker here: it stays active
    fragment = await app_client.get(f"{location}/numbers")
    assert "<h1>" not in fragment.text
    assert 'data-field="state"' in fragment.text
    filtered = await app_client.get("/ui/runs", params={"state": "COMPLETED", "trigger": ""})
    assert location not in filtered.text
