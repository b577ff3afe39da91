"""The console through the ASGI client: sign-in, sessions, CSRF, CSP and each page per role."""

from __future__ import annotations

import re

import httpx
import pytest

from app.console.review import EXPLAIN_INLINE_RULES
from app.db import Pool
from app.models import EntityType, JobIn, Role, Rule, VersionIn, VersionStatus
from app.repositories.versions import get_version
from app.rules.models import RuleBody
from app.services.jobs import create_job
from app.services.rules import create_rule
from app.services.tokens import create_token, revoke_token
from app.services.versions import PersonAction, decide_version, submit_version, submit_versions
from tests.support.console import csrf_of, sign_in_as
from tests.support.factories import DOUBTFUL_LLM, create_many_rules, run_to_the_end

PAGES = ["/ui", "/ui/runs", "/ui/schedules", "/ui/audit", "/ui/review", "/ui/rules"]


async def test_root_redirects_to_the_console(app_client: httpx.AsyncClient) -> None:
    answer = await app_client.get("/")
    assert answer.status_code == 307
    assert answer.headers["location"] == "/ui"


async def test_pages_need_a_session(app_client: httpx.AsyncClient) -> None:
    """Each page sends a visitor without a session to sign in, and back to it afterwards."""
    for page in PAGES:
        answer = await app_client.get(page)
        assert answer.status_code == 303, page
        back = "" if page == "/ui" else "?next=" + page.replace("/", "%2F")
        assert answer.headers["location"] == f"/ui/sign-in{back}"


async def test_sign_in_sets_a_strict_httponly_cookie_without_the_secret(
    app_client: httpx.AsyncClient, pool: Pool
) -> None:
    form = await app_client.get("/ui/sign-in")
    assert 'for="token">Token<' in form.text
    secret = (await create_token(pool, "console-user", Role.VIEWER, "test")).secret
    answer = await app_client.post(
        "/ui/sign-in", data={"token": secret, "csrf_token": csrf_of(form.text)}
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
        "/ui/sign-in", data={"token": "tt_nope", "csrf_token": csrf_of(form.text)}
    )
    assert answer.status_code == 401
    assert "not valid" in answer.text


async def test_sign_in_without_the_csrf_token_is_refused(app_client: httpx.AsyncClient) -> None:
    await app_client.get("/ui/sign-in")
    answer = await app_client.post("/ui/sign-in", data={"token": "tt_x", "csrf_token": "forged"})
    assert answer.status_code == 403


async def test_sign_out_ends_the_session(app_client: httpx.AsyncClient, pool: Pool) -> None:
    await sign_in_as(app_client, pool, Role.VIEWER)
    page = await app_client.get("/ui")
    answer = await app_client.post("/ui/sign-out", data={"csrf_token": csrf_of(page.text)})
    assert answer.status_code == 303
    assert (await app_client.get("/ui")).status_code == 303


async def test_a_revoked_token_ends_its_session(app_client: httpx.AsyncClient, pool: Pool) -> None:
    name, _ = await sign_in_as(app_client, pool, Role.VIEWER)
    assert (await app_client.get("/ui")).status_code == 200
    await revoke_token(pool, name, "test")
    assert (await app_client.get("/ui")).status_code == 303


async def test_a_state_change_without_the_csrf_token_is_refused(
    app_client: httpx.AsyncClient, pool: Pool
) -> None:
    await sign_in_as(app_client, pool, Role.ADMIN)
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
    name, _ = await sign_in_as(app_client, pool, Role.ADMIN)
    page = await app_client.get("/ui")
    csrf = csrf_of(page.text)
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
    assert audit.text.count(f"<td>user:{name}</td>") == 2
    assert f"<td>user:{name}</td><td>automation.pause</td>" in audit.text
    assert f"<td>user:{name}</td><td>automation.resume</td>" in audit.text


async def test_every_page_has_a_strict_csp(app_client: httpx.AsyncClient, pool: Pool) -> None:
    await sign_in_as(app_client, pool, Role.VIEWER)
    for page in [*PAGES, "/ui/sign-in"]:
        answer = await app_client.get(page)
        assert answer.status_code == 200, page
        csp = answer.headers["content-security-policy"]
        assert "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert "unsafe-eval" not in csp


async def test_console_pages_and_fragments_are_never_stored(
    app_client: httpx.AsyncClient, pool: Pool
) -> None:
    """Every page and fragment under /ui says no-store; a static file under /ui/static not."""
    form = await app_client.get("/ui/sign-in")
    assert form.headers["cache-control"] == "no-store"
    await sign_in_as(app_client, pool, Role.VIEWER)
    for url in ["/ui", "/ui/runs", "/ui/audit", "/ui/review", "/ui/rules", "/ui/schedules"]:
        answer = await app_client.get(url)
        assert answer.status_code == 200, url
        assert answer.headers["cache-control"] == "no-store", url
    fragment = await app_client.get("/ui/runs", headers={"HX-Request": "true"})
    assert fragment.headers["cache-control"] == "no-store"
    static = await app_client.get("/ui/static/console.js")
    assert static.status_code == 200
    assert "no-store" not in static.headers.get("cache-control", "")


@pytest.mark.parametrize("role", list(Role))
async def test_each_page_per_role(app_client: httpx.AsyncClient, pool: Pool, role: Role) -> None:
    await sign_in_as(app_client, pool, role)
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
    await sign_in_as(app_client, pool, Role.VIEWER)
    page = await app_client.get("/ui")
    answer = await app_client.post(
        "/ui/brake/pause", data={"reason": "x", "csrf_token": csrf_of(page.text)}
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
    await sign_in_as(app_client, pool, Role.ADMIN)
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
    first, _ = await sign_in_as(app_client, pool, Role.OPERATOR)
    transport = httpx.ASGITransport(app=app_client.app)  # type: ignore[attr-defined]
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as other:
        await sign_in_as(other, pool, Role.OPERATOR)
        queue = await other.get("/ui/review")
        assert f"/ui/review/{version.id}/reject" in queue.text
        mine = await app_client.get("/ui/review")
        answer = await app_client.post(
            f"/ui/review/{version.id}/approve", data={"csrf_token": csrf_of(mine.text)}
        )
        assert answer.status_code == 303
        late = await other.post(
            f"/ui/review/{version.id}/reject",
            data={"csrf_token": csrf_of(queue.text), "reason": "too late"},
        )
    assert late.status_code == 409
    assert f"user:{first}" in late.text
    async with pool.acquire() as conn:
        stored = await get_version(conn, version.id)
    assert stored.status is VersionStatus.APPROVED  # nothing overwritten
    assert stored.decided_by == f"user:{first}"


async def test_pause_and_resume_a_schedule(app_client: httpx.AsyncClient, pool: Pool) -> None:
    await create_job(pool, JobIn(id="nightly", name="Nightly", cron="0 3 * * *"), "test", "UTC")
    name, _ = await sign_in_as(app_client, pool, Role.OPERATOR)
    page = await app_client.get("/ui/schedules")
    assert 'aria-label="Pause Nightly"' in page.text
    assert "Delete" not in page.text  # an operator may not delete jobs
    csrf = csrf_of(page.text)
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
    await sign_in_as(app_client, pool, Role.OPERATOR)
    runs = await app_client.get("/ui/runs")
    answer = await app_client.post("/ui/runs/trigger", data={"csrf_token": csrf_of(runs.text)})
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


# --- the review queue: scores, diff, explain, filters, selection; the run page -------------------


HTMX = {"HX-Request": "true"}


async def _escalating_rule(pool: Pool) -> Rule:
    """An enabled rule that escalates the versions from source `llm` under 0.5 confidence."""
    return await create_rule(pool, RuleBody.model_validate(DOUBTFUL_LLM), "test")


def _version(entity_id: str, source: str = "test", **fields: object) -> VersionIn:
    return VersionIn.model_validate(
        {"entity_type": "topic", "entity_id": entity_id, "confidence": 0.4, "source": source}
        | fields
    )


async def test_a_review_item_shows_its_scores_its_diff_and_why(
    app_client: httpx.AsyncClient, pool: Pool
) -> None:
    """Against the entity's latest approved version: added, removed and changed keys; and
    every enabled rule's explain, condition by condition, with the actual values."""
    rule = await _escalating_rule(pool)
    old = await submit_version(
        pool, _version("t-9", data={"title": "Old", "tags": ["a"], "meta": {"lang": "en"}})
    )
    await decide_version(pool, old.id, PersonAction.APPROVE, "user:someone", None)
    new = await submit_version(
        pool,
        _version(
            "t-9", source="llm", similarity=0.75, data={"title": "New", "meta": {"lang": "uk"}}
        ),
    )
    lonely = await submit_version(pool, _version("t-10", data={"title": "First"}))
    await sign_in_as(app_client, pool, Role.VIEWER)
    fragment = (await app_client.get(f"/ui/review/{new.id}/why", headers=HTMX)).text
    assert "<h1>" not in fragment
    page = (await app_client.get(f"/ui/review/{new.id}/why")).text  # without htmx: a page
    assert f"<h1>Version {new.id}</h1>" in page
    assert '<dd data-score="confidence">0.4</dd>' in fragment
    assert '<dd data-score="similarity">0.75</dd>' in fragment
    assert "Latest approved version</h3>" not in fragment  # it has one: its number is shown
    assert f"Latest approved version (v{old.version})" in fragment
    rows = re.findall(r'<tr class="change-(\w+)"><th scope="row"><code>([\w.]+)</code>', fragment)
    assert rows == [("changed", "meta.lang"), ("removed", "tags"), ("changed", "title")]
    assert "&#34;Old&#34;" in fragment or '"Old"' in fragment
    explained = fragment[fragment.index(f'data-rule="{rule.id}"') :]
    assert "doubtful llm" in fragment
    assert "the rule that decides it now is doubtful llm" in fragment
    leaves = re.findall(
        r"<td>(source|confidence)</td><td>(\w+)</td><td><code>(.*?)</code></td>"
        r"<td><code>(.*?)</code></td>\s*<td>(\w+)</td>",
        explained,
    )
    assert leaves == [
        ("source", "eq", '"llm"', '"llm"', "true"),
        ("confidence", "lt", "0.5", "0.4", "true"),
    ]
    alone = (await app_client.get(f"/ui/review/{lonely.id}/why", headers=HTMX)).text
    assert "No approved version yet." in alone
    assert "no enabled rule decides it now" in alone  # source `test`: the rule says false
    assert ">false</td>" in alone
    missing = await app_client.get("/ui/review/999999/why")
    assert missing.status_code == 404


async def test_the_queue_filters_by_source_and_deciding_rule_and_keeps_them(
    app_client: httpx.AsyncClient, pool: Pool
) -> None:
    rule = await _escalating_rule(pool)
    escalated = await submit_version(pool, _version("e-1", source="llm"))
    from_crm = await submit_version(pool, _version("p-1", source="crm", confidence=0.9))
    await run_to_the_end(pool)
    async with pool.acquire() as conn:
        assert (await get_version(conn, escalated.id)).rule_id == rule.id
    await sign_in_as(app_client, pool, Role.OPERATOR)
    everything = (await app_client.get("/ui/review")).text
    assert everything.index("topic e-1 v1") < everything.index("topic p-1 v1")  # escalated first
    by_rule = (await app_client.get("/ui/review", params={"rule": str(rule.id)})).text
    assert "topic e-1 v1" in by_rule
    assert "topic p-1 v1" not in by_rule
    assert f'<option value="{rule.id}" selected>doubtful llm</option>' in by_rule
    assert "Escalated by" in by_rule
    by_source = (await app_client.get("/ui/review", params={"source": "crm"})).text
    assert "topic p-1 v1" in by_source
    assert "topic e-1 v1" not in by_source
    assert 'id="r-source" name="source" value="crm"' in by_source
    # The filters ride along with a decision: back to the same filtered queue.
    assert 'name="back" value="/ui/review?status=&amp;entity_type=&amp;source=crm&amp;rule="' in (
        by_source
    )
    answer = await app_client.post(
        f"/ui/review/{from_crm.id}/approve",
        data={"csrf_token": csrf_of(by_source), "back": "/ui/review?source=crm"},
    )
    assert answer.headers["location"] == "/ui/review?source=crm"
    nothing = (await app_client.get("/ui/review", params={"source": "crm"})).text
    assert "Nothing to review." in nothing
    pending_only = (await app_client.get("/ui/review", params={"status": "pending"})).text
    assert "topic e-1 v1" not in pending_only


async def test_the_queue_pages_escalated_then_pending(
    app_client: httpx.AsyncClient, pool: Pool
) -> None:
    """Past a page (50), `Next page` continues where it stopped, escalated before pending."""
    await _escalating_rule(pool)
    await submit_versions(pool, [_version(f"e-{i}", source="llm") for i in range(30)])
    await run_to_the_end(pool)
    await submit_versions(pool, [_version(f"p-{i}", confidence=0.9) for i in range(30)])
    await sign_in_as(app_client, pool, Role.VIEWER)
    first = (await app_client.get("/ui/review")).text
    seen = re.findall(r'<h2 id="v-\d+-h">topic ([ep])-(\d+) v1', first)
    assert len(seen) == 50
    assert [kind for kind, _ in seen] == ["e"] * 30 + ["p"] * 20
    following = re.search(r'href="(/ui/review\?[^"]*after=pending-\d+)">Next page<', first)
    assert following, "no next page"
    second = (await app_client.get(following.group(1).replace("&amp;", "&"))).text
    rest = re.findall(r'<h2 id="v-\d+-h">topic ([ep])-(\d+) v1', second)
    assert rest == [("p", str(i)) for i in range(20, 30)]
    assert "Next page" not in second
    assert "First page" in second


async def test_approve_selected_reports_who_had_decided_the_others(
    app_client: httpx.AsyncClient, pool: Pool
) -> None:
    """A selection through the API's bulk decision: each decided version audited under the
    user; one someone else decided meanwhile is left as it was, and the page names them."""
    ids = await submit_versions(pool, [_version(f"b-{i}") for i in range(3)])
    await decide_version(pool, ids[1], PersonAction.REJECT, "user:quicker", "dup")
    name, _ = await sign_in_as(app_client, pool, Role.OPERATOR)
    queue = await app_client.get("/ui/review")
    assert '<button type="submit" name="verb" value="approve">Approve selected</button>' in (
        queue.text
    )
    answer = await app_client.post(
        "/ui/review/selected",
        data={"csrf_token": csrf_of(queue.text), "verb": "approve", "ids": [str(i) for i in ids]},
    )
    assert answer.status_code == 200
    assert f'data-decided="{ids[0]}"' in answer.text
    assert f'data-decided="{ids[2]}"' in answer.text
    assert f'data-decided="{ids[1]}"' not in answer.text
    taken = re.search(rf'<li data-taken="{ids[1]}">(.*?)</li>', answer.text)
    assert taken, answer.text
    assert "rejected by user:quicker" in taken.group(1)
    assert "Nothing to review." in answer.text  # the queue again, now empty
    async with pool.acquire() as conn:
        stored = {i: await get_version(conn, i) for i in ids}
    assert [stored[i].status for i in ids] == [
        VersionStatus.APPROVED,
        VersionStatus.REJECTED,  # nothing overwritten
        VersionStatus.APPROVED,
    ]
    assert stored[ids[1]].decided_by == "user:quicker"
    audit = (await app_client.get("/ui/audit", params={"actor": f"user:{name}"})).text
    assert audit.count(f"<td>user:{name}</td><td>approve</td>") == 2


async def test_a_selection_is_refused_empty_forged_or_by_a_viewer(
    app_client: httpx.AsyncClient, pool: Pool
) -> None:
    (version_id,) = await submit_versions(pool, [_version("s-1")])
    await sign_in_as(app_client, pool, Role.OPERATOR)
    csrf = csrf_of((await app_client.get("/ui/review")).text)
    empty = await app_client.post(
        "/ui/review/selected", data={"csrf_token": csrf, "verb": "approve"}
    )
    assert empty.status_code == 422
    assert "ids" in empty.text
    forged = await app_client.post(
        "/ui/review/selected", data={"verb": "approve", "ids": [str(version_id)]}
    )
    assert forged.status_code == 403
    transport = httpx.ASGITransport(app=app_client.app)  # type: ignore[attr-defined]
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as viewer:
        await sign_in_as(viewer, pool, Role.VIEWER)
        page = (await viewer.get("/ui/review")).text
        assert "Approve selected" not in page
        assert 'name="ids"' not in page
        denied = await viewer.post(
            "/ui/review/selected",
            data={"csrf_token": csrf_of(page), "verb": "approve", "ids": [str(version_id)]},
        )
    assert denied.status_code == 403
    async with pool.acquire() as conn:
        assert (await get_version(conn, version_id)).status is VersionStatus.PENDING


async def test_a_final_run_page_stops_polling_and_shows_its_timeline(
    app_client: httpx.AsyncClient, pool: Pool
) -> None:
    rule = await _escalating_rule(pool)
    await submit_versions(pool, [_version(f"r-{i}", source="llm") for i in range(3)])
    run_id = await run_to_the_end(pool)
    await sign_in_as(app_client, pool, Role.OPERATOR)
    page = (await app_client.get(f"/ui/runs/{run_id}")).text
    fragment = (await app_client.get(f"/ui/runs/{run_id}/numbers")).text
    for html in (page, fragment):
        assert "hx-get" not in html  # final: nothing polls any more
        assert "hx-trigger" not in html
        assert '<dd data-field="state">COMPLETED</dd>' in html
        assert ">Cancel<" not in html
    timeline = re.findall(r'<li data-step="(\w+)">', fragment)
    assert timeline == ["requested", "started", "heartbeat", "finished"]
    assert f"<td>{rule.name}</td><td>1</td><td>3</td>" in fragment
    assert '<td data-action="escalate">3</td>' in fragment


async def test_the_overview_shows_the_next_fires_even_without_a_scheduler(
    app_client: httpx.AsyncClient, pool: Pool
) -> None:
    """No scheduler has registered the jobs: their cron's next fire is shown, and said so."""
    await create_job(pool, JobIn(id="nightly", name="Nightly", cron="0 3 * * *"), "test", "UTC")
    await sign_in_as(app_client, pool, Role.VIEWER)
    page = (await app_client.get("/ui")).text
    fire = re.search(r'<dd data-next-fire="nightly"><time datetime="([^"]+)">', page)
    assert fire, page
    assert fire.group(1).endswith("T03:00:00+00:00")
    assert "not registered with a scheduler" in page
    assert 'data-next-fire="daily-automation"' in page  # the default job


async def test_the_audit_filters_by_time_like_the_api_and_pages(
    app_client: httpx.AsyncClient, pool: Pool
) -> None:
    ids = await submit_versions(pool, [_version(f"a-{i}") for i in range(52)])
    for version_id in ids:
        await decide_version(pool, version_id, PersonAction.APPROVE, "user:auditor", None)
    await sign_in_as(app_client, pool, Role.VIEWER)
    first = (await app_client.get("/ui/audit", params={"actor": "user:auditor"})).text
    assert first.count("<td>user:auditor</td>") == 50
    older = re.search(r'href="(/ui/audit\?[^"]*before=\d+)">Older entries<', first)
    assert older, "no older page"
    assert "actor=user%3Aauditor" in older.group(1)
    second = (await app_client.get(older.group(1).replace("&amp;", "&"))).text
    assert second.count("<td>user:auditor</td>") == 2
    assert "Newest entries" in second
    future = await app_client.get(
        "/ui/audit", params={"actor": "user:auditor", "since": "2999-01-01T00:00"}
    )
    assert future.status_code == 200
    assert "No entries." in future.text
    past = await app_client.get("/ui/audit", params={"until": "2000-01-01T00:00:00"})
    assert "No entries." in past.text
    garbled = await app_client.get("/ui/audit", params={"since": "yesterday"})
    assert garbled.status_code == 422
    assert "not applied: since" in garbled.text


async def test_with_many_rules_the_queue_loads_each_explain_when_opened(
    app_client: httpx.AsyncClient, pool: Pool
) -> None:
    """Past EXPLAIN_INLINE_RULES enabled rules the page names the deciding rule and loads
    the per-condition tables on opening (with a link to them for a browser without htmx)."""
    await create_many_rules(pool, EXPLAIN_INLINE_RULES + 1, "test")
    version = await submit_version(pool, _version("many-1"))
    await sign_in_as(app_client, pool, Role.VIEWER)
    queue = (await app_client.get("/ui/review")).text
    assert f'hx-get="/ui/review/{version.id}/explain"' in queue
    assert f'href="/ui/review/{version.id}/why"' in queue
    assert "data-rule=" not in queue
    assert "no enabled rule decides it now" in queue
    explained = (await app_client.get(f"/ui/review/{version.id}/explain", headers=HTMX)).text
    assert explained.count("data-rule=") == EXPLAIN_INLINE_RULES + 1
    assert "<td>confidence</td><td>gte</td><td><code>0.99</code></td>" in explained


async def test_cancel_while_active_then_the_page_is_final(
    app_client: httpx.AsyncClient, pool: Pool
) -> None:
    """A waiting run (no worker here) is cancelled from its page, audited as the user; its
    page is final afterwards (no Cancel, no polling), and a second cancel is refused 409."""
    name, _ = await sign_in_as(app_client, pool, Role.OPERATOR)
    runs = await app_client.get("/ui/runs")
    csrf = csrf_of(runs.text)
    location = (await app_client.post("/ui/runs/trigger", data={"csrf_token": csrf})).headers[
        "location"
    ]
    active = (await app_client.get(location)).text
    assert ">Cancel</button>" in active
    assert 'hx-trigger="every 1s"' in active
    answer = await app_client.post(f"{location}/cancel", data={"csrf_token": csrf})
    assert answer.status_code == 303
    assert answer.headers["location"] == location
    final = (await app_client.get(location)).text
    assert '<dd data-field="state">FAILED</dd>' in final
    assert '<dd class="error" data-field="error">cancelled</dd>' in final
    assert ">Cancel</button>" not in final
    assert "hx-trigger" not in final
    again = await app_client.post(f"{location}/cancel", data={"csrf_token": csrf})
    assert again.status_code == 409
    assert "already FAILED" in again.text
    audit = (await app_client.get("/ui/audit", params={"actor": f"user:{name}"})).text
    assert "<td>run.cancel</td>" in audit


async def test_the_language_switch_comes_back_to_the_filtered_page(
    app_client: httpx.AsyncClient, pool: Pool
) -> None:
    await sign_in_as(app_client, pool, Role.VIEWER)
    page = (await app_client.get("/ui/review", params={"source": "crm", "status": "pending"})).text
    switch = re.search(r'<form method="post" action="(/ui/language\?back=[^"]+)"', page)
    assert switch, page
    answer = await app_client.post(switch.group(1).replace("&amp;", "&"), data={"language": "uk"})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/review?source=crm&status=pending"
    translated = (await app_client.get(answer.headers["location"])).text
    assert "<h1>Черга перегляду</h1>" in translated
    assert 'id="r-source" name="source" value="crm"' in translated
