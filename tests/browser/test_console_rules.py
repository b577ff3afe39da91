"""The Rules and Schedules pages in Debian's Chromium, no network beyond localhost: a rule made
from a template whose preview follows a threshold as it is typed, saved and listed; a schedule
created with its cron checked while typing, paused and resumed; axe-core on every new page and
state. With UPDATE_SCREENSHOTS=1 the journeys retake the docs' screenshots, with data."""

from __future__ import annotations

import asyncio
import concurrent.futures
import re
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
from playwright.sync_api import Browser, Page, expect

from app.config import Settings
from app.db import create_pool
from app.models import EntityType, JobIn, Role, VersionIn
from app.rules.models import RuleBody
from app.rules.templates import TEMPLATES
from app.services.jobs import create_job
from app.services.rules import create_rule
from app.services.tokens import create_token
from app.services.versions import submit_versions
from tests.browser.conftest import STEP_TIMEOUT_MS, OfflineContext
from tests.support.browser import SCREENSHOTS, UPDATE_SCREENSHOTS, axe, sign_in

T = TypeVar("T")
# Confidence and similarity alike; `High Confidence` (>= 0.9 and >= 0.85) matches the last 4.
SCORES = [0.2, 0.4, 0.55, 0.65, 0.75, 0.85, 0.92, 0.95, 0.97, 0.99]


def _in_thread(work: Coroutine[Any, Any, T]) -> T:
    """Run setup against the database from a sync (Playwright) test, in its own event loop."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, work).result(timeout=60)


async def _prepare(settings: Settings) -> dict[Role, str]:
    """Pending versions of spread scores, an enabled rule, a job; answers an admin's and a
    viewer's token."""
    pool = await create_pool(settings.database, "tests")
    try:
        await submit_versions(
            pool,
            [
                VersionIn(
                    entity_type=EntityType.TOPIC if i % 2 else EntityType.ATOM,
                    entity_id=f"e-{i}",
                    confidence=score,
                    similarity=score,
                    source="crawler",
                    data={"name": "urgent: outage" if i % 4 == 0 else "weekly digest"},
                )
                for i, score in enumerate(SCORES)
            ],
        )
        await create_rule(
            pool,
            RuleBody.model_validate(
                {
                    "name": "Urgent Topic Escalate",
                    "description": "Send anything named urgent to a person.",
                    "priority": 100,
                    "action": "escalate",
                    "conditions": {"field": "data.name", "op": "contains", "value": "urgent"},
                }
            ),
            "test",
        )
        # A disabled rule (templates come disabled): listed, never shadowing a preview.
        await create_rule(pool, TEMPLATES[1], "test")
        await create_job(
            pool, JobIn(id="nightly", name="Nightly run", cron="0 3 * * *"), "test", "UTC"
        )
        await create_job(
            pool,
            JobIn(
                id="weekly-digest", name="Weekly digest", cron="30 6 * * 1", timezone="Europe/Kyiv"
            ),
            "test",
            "UTC",
        )
        return {
            role: (await create_token(pool, f"rule-{role.value}", role, "test")).secret
            for role in (Role.ADMIN, Role.VIEWER)
        }
    finally:
        await pool.close()


@pytest.fixture
def tokens(settings: Settings) -> dict[Role, str]:
    return _in_thread(_prepare(settings))


@pytest.fixture
def admin(tokens: dict[Role, str]) -> str:
    return tokens[Role.ADMIN]


def _shot(page: Page, tmp_path: Path, name: str) -> None:
    page.screenshot(path=(SCREENSHOTS if UPDATE_SCREENSHOTS else tmp_path) / name, full_page=True)


def _number(page: Page, index: int) -> Any:
    return page.get_by_role("region", name="Preview").locator("dd").nth(index)


@pytest.mark.timeout(180)
def test_a_rule_from_a_template_with_its_preview_following_the_threshold(
    api_url: str, offline: OfflineContext, admin: str, tmp_path: Path
) -> None:
    page = offline.context.new_page()
    sign_in(page, api_url, admin)
    page.get_by_role("navigation", name="Pages").get_by_role("link", name="Rules").click()
    expect(page.get_by_role("heading", name="Rules", level=1)).to_be_visible()
    page.get_by_label("Start from a template").select_option("High Confidence")
    page.get_by_role("button", name="New rule").click()
    expect(page.get_by_role("heading", name="New rule", level=1)).to_be_visible()
    page.wait_for_load_state("load")
    page.evaluate("window.sameDocument = true")  # gone if anything below reloads the page

    # conf >= 0.9 and sim >= 0.85: 0.92, 0.95, 0.97, 0.99, of which the "urgent" one (0.97)
    # goes to the higher-priority escalation rule.
    expect(_number(page, 0)).to_have_text("4")
    expect(_number(page, 1)).to_have_text("3")
    preview = page.get_by_role("region", name="Preview")
    expect(preview.get_by_role("link", name="Urgent Topic Escalate")).to_be_visible()
    threshold = page.get_by_role("group", name="Condition 1").get_by_label("Value", exact=True)
    threshold.fill("0.5")  # conf >= 0.5 (and sim >= 0.85): still 4
    page.get_by_role("group", name="Condition 2").get_by_label("Value", exact=True).fill("0.6")
    expect(_number(page, 0)).to_have_text("7")  # 0.65 .. 0.99
    expect(_number(page, 1)).to_have_text("5")  # 0.75 and 0.97 are urgent
    threshold.fill("80")  # the API's own words, while typing
    expect(preview).to_contain_text("did you mean 0.8?")
    threshold.fill("0.96")
    expect(_number(page, 0)).to_have_text("2")
    expect(_number(page, 1)).to_have_text("1")

    # A condition added and removed by round trips that swap the tree only.
    page.get_by_role("button", name="Add condition (Conditions)").click()
    added = page.get_by_role("group", name="Condition 3")
    expect(added.get_by_label("Field", exact=True)).to_be_focused()
    expect(page.get_by_role("status").filter(has_text="Added to the conditions.")).to_be_visible()
    added.get_by_label("Field", exact=True).select_option("source")
    added.get_by_label("Operator", exact=True).select_option("eq")
    added.get_by_label("Value", exact=True).fill("nowhere")
    expect(_number(page, 0)).to_have_text("0")
    page.get_by_role("button", name="Remove Condition 3").click()
    expect(page.get_by_role("group", name="Condition 3")).to_have_count(0)
    expect(_number(page, 0)).to_have_text("2")
    assert page.evaluate("window.sameDocument") is True

    page.get_by_label("Name", exact=True).fill("Very High Confidence")
    page.get_by_label("Enabled", exact=True).check()
    _shot(page, tmp_path, "console-rule-editor.png")
    page.get_by_label("Name", exact=True).press("Enter")  # saves: Enter is no tree edit
    expect(page.get_by_role("heading", name="Rules", level=1)).to_be_visible()
    row = page.get_by_role("row").filter(has_text="Very High Confidence")
    expect(row).to_contain_text("approve")
    switch = row.get_by_role("button", name="on (Enabled: Very High Confidence)", exact=True)
    expect(switch).to_have_attribute("aria-pressed", "true")
    _shot(page, tmp_path, "console-rules.png")

    row.get_by_role("link", name="Very High Confidence").click()
    revisions = page.get_by_role("region", name="Revisions")
    expect(revisions.get_by_role("row").filter(has_text="user:rule-admin")).to_have_count(1)
    assert offline.aborted == []
    assert offline.page_errors == []


@pytest.mark.timeout(180)
def test_a_schedule_created_with_its_cron_checked_then_paused_and_resumed(
    api_url: str, offline: OfflineContext, admin: str, tmp_path: Path
) -> None:
    page = offline.context.new_page()
    sign_in(page, api_url, admin)
    page.get_by_role("navigation", name="Pages").get_by_role("link", name="Schedules").click()
    page.get_by_role("link", name="New schedule").click()
    expect(page.get_by_role("heading", name="New schedule", level=1)).to_be_visible()
    check = page.get_by_role("status", name="Cron check")
    page.get_by_label("Id", exact=True).fill("every-ten")
    page.get_by_label("Name", exact=True).fill("Every ten minutes")
    page.get_by_label("Cron", exact=True).fill("61 * * * *")
    expect(check).to_contain_text("is not valid or never fires")
    page.get_by_label("Cron", exact=True).fill("*/10 * * * *")
    expect(check.get_by_role("listitem")).to_have_count(5)
    page.get_by_label("Time zone", exact=True).fill("Mars/Base")
    expect(check).to_contain_text("unknown time zone 'Mars/Base'")
    page.get_by_label("Time zone", exact=True).fill("Europe/Kyiv")
    expect(check.get_by_role("listitem")).to_have_count(5)
    _shot(page, tmp_path, "console-schedule-editor.png")
    page.get_by_role("button", name="Save schedule").click()

    expect(page.get_by_role("heading", name="Schedules", level=1)).to_be_visible()
    row = page.get_by_role("row").filter(has_text="Every ten minutes")
    expect(row).to_contain_text("*/10 * * * *")
    expect(row).to_contain_text("Europe/Kyiv")
    _shot(page, tmp_path, "console-schedules.png")
    page.get_by_role("button", name="Pause Every ten minutes").click()
    expect(page.get_by_role("button", name="Resume Every ten minutes")).to_be_visible()
    page.get_by_role("button", name="Resume Every ten minutes").click()
    expect(page.get_by_role("button", name="Pause Every ten minutes")).to_be_visible()
    page.goto(f"{api_url}/ui/audit?actor=user:rule-admin")
    rows = page.get_by_role("row")
    for action in ("job.create", "job.pause", "job.resume"):
        expect(rows.filter(has_text=action)).to_have_count(1)
    assert offline.aborted == []
    assert offline.page_errors == []


@pytest.mark.timeout(180)
def test_the_rule_editor_works_without_javascript(
    api_url: str, browser: Browser, admin: str
) -> None:
    """Plain HTML forms: each tree edit and `Preview` is a full round trip; Save saves."""
    context = browser.new_context(java_script_enabled=False)
    context.set_default_timeout(STEP_TIMEOUT_MS)
    offline = OfflineContext(context)
    try:
        page = context.new_page()
        sign_in(page, api_url, admin)
        page.goto(f"{api_url}/ui/rules/new?template=Low+Confidence+Reject")
        # conf < 0.5 or sim < 0.3: 0.2 and 0.4; the urgent 0.2 is escalated first.
        expect(_number(page, 0)).to_have_text("2")
        expect(_number(page, 1)).to_have_text("1")
        page.get_by_role("button", name="Add condition (Conditions)").click()
        added = page.get_by_role("group", name="Condition 3")
        expect(added.get_by_label("Field", exact=True)).to_be_focused()  # autofocus
        added.get_by_label("Operator", exact=True).select_option("lt")
        added.get_by_label("Value", exact=True).fill("0.6")
        page.get_by_role("button", name="Preview", exact=True).click()
        expect(_number(page, 0)).to_have_text("3")  # conf < 0.6 too: 0.55
        page.get_by_role("button", name="Remove Condition 1").click()
        expect(page.get_by_role("group", name="Condition 3")).to_have_count(0)
        page.get_by_label("Name", exact=True).fill("Reject below 0.6")
        page.get_by_role("button", name="Save rule").click()
        expect(page.get_by_role("heading", name="Rules", level=1)).to_be_visible()
        expect(page.get_by_role("link", name="Reject below 0.6")).to_be_visible()
        assert offline.aborted == []
    finally:
        context.close()


@pytest.mark.timeout(240)
def test_axe_finds_no_serious_or_critical_violation_on_the_editors(
    api_url: str, browser: Browser, tokens: dict[Role, str]
) -> None:
    """axe-core on the rule editor (from a template, blank, refused), a rule's page, the
    schedule editor (with fires, with a refused cron) and a job's page, at 1280 and 400 px;
    and a viewer's read-only rule and job pages."""
    admin = tokens[Role.ADMIN]
    for width in (1280, 400):
        context = browser.new_context(viewport={"width": width, "height": 900}, bypass_csp=True)
        try:
            page = context.new_page()
            sign_in(page, api_url, admin)
            problems: list[str] = []
            page.goto(f"{api_url}/ui/rules/new?template=High+Confidence")
            expect(page.get_by_role("region", name="Preview").locator("dd").first).to_be_visible()
            problems += axe(page)
            page.goto(f"{api_url}/ui/rules/new")
            first = page.get_by_role("group", name="Condition 1")
            first.get_by_label("Value", exact=True).fill("80")
            page.get_by_role("button", name="Save rule").click()
            expect(page.get_by_role("alert")).to_contain_text("did you mean 0.8?")
            problems += axe(page)
            page.goto(f"{api_url}/ui/rules")
            page.get_by_role("link", name="Urgent Topic Escalate").click()
            expect(page.get_by_role("heading", name=re.compile("^Rule: "), level=1)).to_be_visible()
            problems += axe(page)
            page.goto(f"{api_url}/ui/schedules/new")
            page.get_by_label("Cron", exact=True).fill("@daily")
            status = page.get_by_role("status", name="Cron check")
            expect(status.get_by_role("listitem")).to_have_count(5)
            problems += axe(page)
            page.get_by_label("Id", exact=True).fill("Not A Slug")
            page.get_by_role("button", name="Save schedule").click()
            expect(page.get_by_role("alert")).to_be_visible()
            problems += axe(page)
            page.goto(f"{api_url}/ui/schedules/nightly/edit")
            expect(page.get_by_role("heading", name="Schedule: Nightly run")).to_be_visible()
            problems += axe(page)
            page.get_by_role("button", name="Sign out").click()
            sign_in(page, api_url, tokens[Role.VIEWER])
            page.goto(f"{api_url}/ui/schedules/nightly/edit")
            expect(page.get_by_role("heading", name="Next fires")).to_be_visible()
            problems += axe(page)
            page.goto(f"{api_url}/ui/rules")
            page.get_by_role("link", name="Urgent Topic Escalate").click()
            preview = page.get_by_role("region", name="Preview")
            expect(preview.locator("dd").first).to_have_text("3")  # i = 0, 4, 8 are urgent
            expect(page.get_by_role("button", name="Save rule")).to_have_count(0)
            problems += axe(page)
        finally:
            context.close()
        assert problems == [], f"at {width} px"
