"""The console in Debian's Chromium, no network beyond localhost: sign in, every page renders
with nothing missing, the overview's numbers are the API's, the brake by its buttons."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import re
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from app.config import Settings
from app.db import create_pool
from app.models import EntityType, Role, VersionIn
from app.services.tokens import create_token
from app.services.versions import submit_versions
from tests.browser.conftest import OfflineContext

ROOT = Path(__file__).parents[2]
AXE = Path(__file__).with_name("vendor") / "axe-4.14.1.min.js"  # axe-core, vendored (MPL-2.0)
SCREENSHOTS = ROOT / "docs" / "screenshots"
UPDATE_SCREENSHOTS = os.environ.get("UPDATE_SCREENSHOTS") == "1"
PAGES = [
    ("Overview", "overview"),
    ("Runs", "runs"),
    ("Schedules", "schedules"),
    ("Audit", "audit"),
    ("Review queue", "review"),
    ("Rules", "rules"),
]


async def _make_token(settings: Settings, name: str, role: Role) -> str:
    pool = await create_pool(settings.database, "tests")
    try:
        return (await create_token(pool, name, role, "test")).secret
    finally:
        await pool.close()


@pytest.fixture
def admin_token(settings: Settings) -> str:
    """An admin token for a sync (Playwright) test: made in a thread with its own event loop."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, _make_token(settings, "console-admin", Role.ADMIN)).result(
            timeout=30
        )


def sign_in(page: Page, api_url: str, secret: str) -> None:
    page.goto(f"{api_url}/")
    expect(page.get_by_role("heading", name="Sign in", level=1)).to_be_visible()
    page.get_by_label("Token").fill(secret)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Overview", level=1)).to_be_visible()


@pytest.mark.timeout(180)
def test_every_page_renders_offline_after_sign_in(
    api_url: str, offline: OfflineContext, admin_token: str, tmp_path: Path
) -> None:
    page = offline.context.new_page()
    sign_in(page, api_url, admin_token)
    navigation = page.get_by_role("navigation", name="Pages")
    for name, slug in PAGES:
        navigation.get_by_role("link", name=name, exact=True).click()
        expect(page.get_by_role("heading", name=name, level=1)).to_be_visible()
        page.screenshot(
            path=(SCREENSHOTS if UPDATE_SCREENSHOTS else tmp_path) / f"console-{slug}.png",
            full_page=True,
        )
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


@pytest.mark.timeout(240)
def test_axe_finds_no_serious_or_critical_violation_on_any_page(
    api_url: str, browser: Browser, admin_token: str
) -> None:
    """axe-core on the sign-in page and each of the six pages, at 1280 px and at 400 px."""
    # The CSP (rightly) forbids the injected axe script; this context alone bypasses it.
    for width in (1280, 400):
        context = browser.new_context(viewport={"width": width, "height": 900}, bypass_csp=True)
        try:
            page = context.new_page()
            page.goto(f"{api_url}/ui/sign-in")
            problems = _axe(page)
            sign_in(page, api_url, admin_token)
            for name, slug in PAGES:
                page.goto(f"{api_url}/ui" + ("" if slug == "overview" else f"/{slug}"))
                expect(page.get_by_role("heading", name=name, level=1)).to_be_visible()
                problems += _axe(page)
        finally:
            context.close()
        assert problems == [], f"at {width} px"


def _axe(page: Page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => (await axe.run(document)).violations")
    return [
        f"{page.url}: {v['id']} ({v['impact']}): {v['help']}"
        for v in result
        if v["impact"] in ("serious", "critical")
    ]


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
