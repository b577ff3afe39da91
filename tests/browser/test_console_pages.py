"""The console in Debian's Chromium, no network beyond localhost: sign in, every page renders
with nothing missing, the overview's numbers are the API's, the brake by its buttons."""

from __future__ import annotations

import asyncio
import concurrent.futures
import re
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from app.config import Settings
from app.db import create_pool
from app.models import EntityType, Role, VersionIn
from app.services.versions import submit_versions
from tests.browser.conftest import OfflineContext
from tests.support import seed
from tests.support.browser import SCREENSHOTS, UPDATE_SCREENSHOTS, axe, sign_in

PAGES = [
    ("Overview", "overview"),
    ("Runs", "runs"),
    ("Schedules", "schedules"),
    ("Audit", "audit"),
    ("Review queue", "review"),
    ("Rules", "rules"),
]


@pytest.fixture
def admin_token(settings: Settings) -> str:
    """An admin token for a sync (Playwright) test: made in a thread with its own event loop."""
    return seed.token(settings, "console-admin", Role.ADMIN)


# The screenshots in docs/console.md that these tests retake (the Rules and Schedules pages'
# own screenshots are taken where those pages are tested).
MY_SCREENSHOTS = {"overview", "runs", "run", "review", "audit"}


def _screenshot(page: Page, slug: str, tmp_path: Path) -> None:
    folder = SCREENSHOTS if UPDATE_SCREENSHOTS and slug in MY_SCREENSHOTS else tmp_path
    page.wait_for_load_state("load")  # the deferred scripts (the chart) have run
    page.evaluate("() => window.scrollTo(0, 0)")  # sticky parts where a reader first sees them
    page.screenshot(path=folder / f"console-{slug}.png", full_page=True)


@pytest.mark.timeout(180)
def test_every_page_renders_offline_after_sign_in(
    api_url: str, offline: OfflineContext, admin_token: str, tmp_path: Path, settings: Settings
) -> None:
    """Each page empty, then with data (a completed run, escalated and pending versions, an
    approved version to compare with), and a run's page: nothing fetched beyond localhost."""
    page = offline.context.new_page()
    sign_in(page, api_url, admin_token)
    navigation = page.get_by_role("navigation", name="Pages")
    for name, _ in PAGES:
        navigation.get_by_role("link", name=name, exact=True).click()
        expect(page.get_by_role("heading", name=name, level=1)).to_be_visible()
        page.wait_for_load_state("load")
    seeded = seed.queue_with_history(settings)
    for name, slug in PAGES:
        navigation.get_by_role("link", name=name, exact=True).click()
        expect(page.get_by_role("heading", name=name, level=1)).to_be_visible()
        if slug == "review":
            expect(page.get_by_role("heading", name=re.compile("^atom claim-0 v1"))).to_be_visible()
            page.get_by_text(re.compile("^Why: the rule that decides")).first.click()
            page.get_by_role("checkbox", name="Select atom claim-1 v1").check()
        _screenshot(page, slug, tmp_path)
    page.goto(f"{api_url}/ui/runs/{seeded.run_id}")
    expect(page.locator('[data-field="state"]')).to_have_text("COMPLETED")
    _screenshot(page, "run", tmp_path)
    assert offline.aborted == [], "a page reached beyond localhost"
    assert offline.failed == []
    assert offline.page_errors == []


@pytest.mark.timeout(120)
def test_overview_numbers_match_the_stats_api(
    api_url: str, offline: OfflineContext, admin_token: str
) -> None:
    stats = httpx.get(
        f"{api_url}/api/v1/automation/stats",
        headers={"Authorization": f"Bearer {admin_token}"},
    ).json()
    page = offline.context.new_page()
    sign_in(page, api_url, admin_token)
    pending = page.get_by_role("region", name="Pending")
    expect(pending.locator("dd").nth(0)).to_have_text(str(stats["pending"]["total"]))
    expect(pending.locator("dd").nth(1)).to_have_text(str(stats["pending"]["topic"]))
    expect(pending.locator("dd").nth(2)).to_have_text(str(stats["pending"]["atom"]))
    today = page.get_by_role("region", name="Decisions today")
    for index, key in enumerate(("approve", "reject", "escalate")):
        expect(today.locator("dd").nth(index)).to_have_text(str(stats["decisions"][key]))
    rules = page.get_by_role("region", name="Rules")
    expect(rules.locator("dd").nth(1)).to_have_text(str(stats["active_rules"]))
    expect(page.get_by_role("img", name=re.compile("Chart of decisions per day"))).to_be_visible()
    assert offline.page_errors == []


@pytest.mark.timeout(120)
def test_the_brake_by_its_buttons(api_url: str, offline: OfflineContext, admin_token: str) -> None:
    page = offline.context.new_page()
    sign_in(page, api_url, admin_token)
    page.get_by_label("Reason").fill("console test")
    page.get_by_role("button", name="Pause automation").click()
    expect(page.get_by_role("status")).to_contain_text("console test")
    refused = httpx.post(
        f"{api_url}/api/v1/automation/trigger",
        headers={"Authorization": f"Bearer {admin_token}"},
    )
    assert refused.status_code == 409, refused.text
    page.get_by_role("button", name="Resume automation").click()
    expect(page.get_by_role("button", name="Pause automation")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in", level=1)).to_be_visible()
    assert offline.page_errors == []


@pytest.mark.timeout(300)
def test_axe_finds_no_serious_or_critical_violation_on_any_page(
    api_url: str, browser: Browser, admin_token: str, settings: Settings
) -> None:
    """axe-core on the sign-in page and each of the six pages, at 1280 px and at 400 px:
    empty, then with data; and a run's page, the review queue with its explain open and
    a selection's report."""
    # The CSP (rightly) forbids the injected axe script; this context alone bypasses it.
    seeded: seed.Seeded | None = None
    for width in (1280, 400):
        context = browser.new_context(viewport={"width": width, "height": 900}, bypass_csp=True)
        try:
            page = context.new_page()
            page.goto(f"{api_url}/ui/sign-in")
            problems = axe(page)
            sign_in(page, api_url, admin_token)
            if seeded is None:
                problems += _axe_each_page(page, api_url, PAGES)  # the empty states
                seeded = seed.queue_with_history(settings)
            problems += _axe_each_page(page, api_url, FILLED)
            page.goto(f"{api_url}/ui/runs/{seeded.run_id}")
            expect(page.locator('[data-field="state"]')).to_have_text("COMPLETED")
            problems += axe(page)
            page.goto(f"{api_url}/ui/review")
            for why in page.locator("details.why").all():
                why.evaluate("element => { element.open = true; }")
            problems += axe(page)
            page.get_by_role("checkbox").first.check()
            page.get_by_role("button", name="Reject selected").click()
            expect(page.get_by_role("region", name="Rejected selected")).to_be_visible()
            problems += axe(page)
        finally:
            context.close()
        assert problems == [], f"at {width} px"


# With data: every page (the rule and schedule editors' own states are in test_console_rules).
FILLED = PAGES


def _axe_each_page(page: Page, api_url: str, pages: list[tuple[str, str]]) -> list[str]:
    problems = []
    for name, slug in pages:
        page.goto(f"{api_url}/ui" + ("" if slug == "overview" else f"/{slug}"))
        expect(page.get_by_role("heading", name=name, level=1)).to_be_visible()
        problems += axe(page)
    return problems


async def _submit(settings: Settings, count: int) -> list[int]:
    pool = await create_pool(settings.database, "tests")
    try:
        items = [
            VersionIn(entity_type=EntityType.TOPIC, entity_id=f"k-{i}", confidence=0.5, source="t")
            for i in range(count)
        ]
        return await submit_versions(pool, items)
    finally:
        await pool.close()


@pytest.mark.timeout(180)
def test_review_by_keyboard_alone(
    api_url: str, offline: OfflineContext, admin_token: str, settings: Settings
) -> None:
    """Approve one, reject one with a reason, skip one, with keys only; the audit lists both
    decisions under the reviewer's name."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        first, second, third = pool.submit(asyncio.run, _submit(settings, 3)).result(timeout=30)
    page = offline.context.new_page()
    sign_in(page, api_url, admin_token)
    page.goto(f"{api_url}/ui/review")
    expect(page.get_by_role("heading", name="Review queue", level=1)).to_be_visible()
    page.keyboard.press("j")
    page.keyboard.press("a")
    expect(page.get_by_role("heading", name=re.compile("^topic k-0 "))).to_have_count(0)
    page.wait_for_load_state("load")  # the keys' script listens from DOMContentLoaded on
    page.keyboard.press("j")
    page.keyboard.press("r")
    page.keyboard.type("duplicate")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name=re.compile("^topic k-1 "))).to_have_count(0)
    page.wait_for_load_state("load")
    page.keyboard.press("j")  # the third: looked at, left alone
    expect(page.get_by_role("heading", name=re.compile("^topic k-2 "))).to_be_visible()
    page.goto(f"{api_url}/ui/audit?actor=user:console-admin")
    rows = page.get_by_role("row")
    expect(rows.filter(has_text="approve").filter(has_text=f"version {first}")).to_have_count(1)
    expect(rows.filter(has_text="reject").filter(has_text="duplicate")).to_have_count(1)
    expect(rows.filter(has_text=f"version {third}")).to_have_count(0)
    assert second != third
    assert offline.page_errors == []
