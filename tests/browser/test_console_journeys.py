"""The console's journeys in Debian's Chromium, no network beyond localhost, controls found by
role and accessible name: a run watched to COMPLETED without a reload (a real worker), two
reviewers deciding the same version, the brake refusing a trigger, Ukrainian by the switch,
and a selection approved by keyboard."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from app.config import Settings
from app.console.review import EXPLAIN_INLINE_RULES
from app.models import Role
from tests.browser.conftest import STEP_TIMEOUT_MS, OfflineContext
from tests.support import seed
from tests.support.browser import sign_in
from tests.support.processes import WorkerProcess


@pytest.fixture
def admin_secret(settings: Settings) -> str:
    return seed.token(settings, "console-admin", Role.ADMIN)


def _no_reload_marker(page: Page) -> None:
    """Leave a value on `window`: it survives partial updates, not a navigation."""
    page.evaluate("() => { window.__stillThisPage = true; }")


def _still_the_same_page(page: Page) -> bool:
    return bool(page.evaluate("() => window.__stillThisPage === true"))


@pytest.mark.timeout(240)
def test_a_triggered_run_reaches_completed_without_a_reload(
    api_url: str,
    offline: OfflineContext,
    admin_secret: str,
    settings: Settings,
    start_worker: Callable[..., WorkerProcess],
) -> None:
    """Trigger from the Runs page; the run page shows it waiting (no worker yet); a worker
    starts; the state, timeline and numbers change by themselves, and the polling stops."""
    seed.rules(settings)
    seed.versions(settings, [{"entity_id": f"o-{i}", "confidence": 0.95} for i in range(5)])
    page = offline.context.new_page()
    sign_in(page, api_url, admin_secret)
    page.get_by_role("navigation", name="Pages").get_by_role("link", name="Runs").click()
    page.get_by_role("button", name="Trigger a run").click()
    expect(page.get_by_role("heading", name=re.compile("^Run "), level=1)).to_be_visible()
    status = page.get_by_role("status")
    expect(status).to_contain_text(re.compile("PENDING|SCHEDULED"))
    _no_reload_marker(page)
    start_worker().wait_for_line(r"Listening started")
    expect(status).to_contain_text("COMPLETED", timeout=60_000)
    facts = page.locator("dl.facts")
    expect(facts.locator('[data-field="state"]')).to_have_text("COMPLETED")
    expect(facts.locator('[data-field="evaluated"]')).to_have_text("5")
    expect(page.locator('[data-action="approve"]')).to_have_text("5")
    expect(page.get_by_role("listitem").filter(has_text="Finished")).to_have_count(1)
    expect(page.get_by_role("button", name="Cancel")).to_have_count(0)
    expect(page.locator("[hx-trigger]")).to_have_count(0)  # final: the polling has stopped
    assert _still_the_same_page(page), "the page was reloaded"
    assert offline.aborted == []
    assert offline.page_errors == []


@pytest.mark.timeout(180)
def test_two_reviewers_decide_the_same_version_and_the_second_sees_who(
    api_url: str, browser: Browser, settings: Settings
) -> None:
    (version_id,) = seed.versions(settings, [{"entity_id": "shared-1"}])
    first = seed.token(settings, "reviewer-ann", Role.OPERATOR)
    second = seed.token(settings, "reviewer-bob", Role.OPERATOR)
    contexts = [browser.new_context(viewport={"width": 1280, "height": 900}) for _ in range(2)]
    try:
        pages = []
        for context, secret in zip(contexts, (first, second), strict=True):
            context.set_default_timeout(STEP_TIMEOUT_MS)
            page = context.new_page()
            sign_in(page, api_url, secret)
            page.goto(f"{api_url}/ui/review")
            expect(
                page.get_by_role("heading", name=re.compile("^topic shared-1 v1"))
            ).to_be_visible()
            pages.append(page)
        ann, bob = pages
        ann.get_by_role("button", name="Approve topic shared-1 v1").click()
        expect(ann.get_by_text("Nothing to review.")).to_be_visible()
        bob.get_by_role("textbox", name="Reason — topic shared-1 v1").fill("looks wrong")
        bob.get_by_role("button", name="Reject topic shared-1 v1").click()
        expect(bob.get_by_role("heading", name="Refused", level=1)).to_be_visible()
        expect(bob.get_by_role("alert")).to_contain_text("decided by user:reviewer-ann")
        stored = httpx.get(
            f"{api_url}/api/v1/versions/{version_id}",
            headers={"Authorization": f"Bearer {second}"},
        ).json()
        assert (stored["status"], stored["decided_by"]) == ("approved", "user:reviewer-ann")
    finally:
        for context in contexts:
            context.close()


@pytest.mark.timeout(180)
def test_the_brake_refuses_a_trigger_until_it_is_released(
    api_url: str, offline: OfflineContext, admin_secret: str
) -> None:
    page = offline.context.new_page()
    sign_in(page, api_url, admin_secret)
    page.get_by_label("Reason").fill("migration window")
    page.get_by_role("button", name="Pause automation").click()
    expect(page.get_by_role("status")).to_contain_text("migration window")
    page.get_by_role("navigation", name="Pages").get_by_role("link", name="Runs").click()
    page.get_by_role("button", name="Trigger a run").click()
    expect(page.get_by_role("heading", name="Refused", level=1)).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("automation is paused")
    api = httpx.post(
        f"{api_url}/api/v1/automation/trigger", headers={"Authorization": f"Bearer {admin_secret}"}
    )
    assert api.status_code == 409, api.text
    page.get_by_role("navigation", name="Pages").get_by_role("link", name="Overview").click()
    page.get_by_role("button", name="Resume automation").click()
    expect(page.get_by_role("button", name="Pause automation")).to_be_visible()
    page.get_by_role("navigation", name="Pages").get_by_role("link", name="Runs").click()
    page.get_by_role("button", name="Trigger a run").click()
    expect(page.get_by_role("heading", name=re.compile("^Run "), level=1)).to_be_visible()
    assert offline.page_errors == []


@pytest.mark.timeout(180)
def test_switch_to_ukrainian_and_the_pages_speak_it(
    api_url: str, offline: OfflineContext, admin_secret: str, settings: Settings
) -> None:
    seed.versions(settings, [{"entity_id": "uk-1"}])
    page = offline.context.new_page()
    sign_in(page, api_url, admin_secret)
    page.get_by_label("Language").select_option("uk")
    page.get_by_role("button", name="Switch").click()
    expect(page.get_by_role("heading", name="Огляд", level=1)).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "uk")
    expect(page.get_by_role("button", name="Призупинити автоматизацію")).to_be_visible()
    navigation = page.get_by_role("navigation", name="Сторінки")
    navigation.get_by_role("link", name="Запуски").click()
    expect(page.get_by_role("heading", name="Запуски", level=1)).to_be_visible()
    expect(page.get_by_role("button", name="Запустити")).to_be_visible()
    navigation = page.get_by_role("navigation", name="Сторінки")
    navigation.get_by_role("link", name="Черга перегляду").click()
    expect(page.get_by_role("heading", name="Черга перегляду", level=1)).to_be_visible()
    expect(page.get_by_role("button", name="Схвалити вибрані")).to_be_visible()
    expect(page.get_by_role("button", name="Відхилити вибрані")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("^Схвалити topic uk-1"))).to_be_visible()
    expect(page.get_by_text("Схваленої версії ще немає.")).to_be_visible()
    page.get_by_label("Мова").select_option("en")
    page.get_by_role("button", name="Змінити").click()
    expect(page.get_by_role("heading", name="Review queue", level=1)).to_be_visible()
    assert offline.page_errors == []


@pytest.mark.timeout(180)
def test_approve_selected_by_keyboard(
    api_url: str, offline: OfflineContext, admin_secret: str, settings: Settings
) -> None:
    """j/x pick the first and third versions, the button approves both; the second stays."""
    ids = seed.versions(settings, [{"entity_id": f"kb-{i}"} for i in range(3)])
    page = offline.context.new_page()
    sign_in(page, api_url, admin_secret)
    page.goto(f"{api_url}/ui/review")
    page.wait_for_load_state("load")  # the keys' script listens from DOMContentLoaded on
    counter = page.locator("#selected-count")
    expect(counter).to_have_text("0 selected")
    for key in ("j", "x", "j", "j", "x"):
        page.keyboard.press(key)
    expect(counter).to_have_text("2 selected")
    expect(page.get_by_role("checkbox", name="Select topic kb-0 v1")).to_be_checked()
    expect(page.get_by_role("checkbox", name="Select topic kb-1 v1")).not_to_be_checked()
    expect(page.get_by_role("checkbox", name="Select topic kb-2 v1")).to_be_checked()
    button = page.get_by_role("button", name="Approve selected")
    button.focus()
    page.keyboard.press("Enter")
    report = page.get_by_role("region", name="Approved selected")
    expect(report).to_contain_text("topic kb-0 v1")
    expect(report).to_contain_text("topic kb-2 v1")
    expect(report).not_to_contain_text("kb-1")
    expect(page.get_by_role("heading", name=re.compile("^topic kb-1 v1"))).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile("^topic kb-0 v1"))).to_have_count(0)
    audit = httpx.get(
        f"{api_url}/api/v1/audit",
        params={"actor": "user:console-admin", "action": "approve"},
        headers={"Authorization": f"Bearer {admin_secret}"},
    ).json()
    assert sorted(entry["version_id"] for entry in audit["items"]) == [ids[0], ids[2]]
    assert offline.page_errors == []


@pytest.mark.timeout(180)
def test_with_many_rules_opening_why_loads_the_explain_in_place(
    api_url: str, offline: OfflineContext, admin_secret: str, settings: Settings
) -> None:
    seed.many_rules(settings, EXPLAIN_INLINE_RULES + 1)
    seed.versions(settings, [{"entity_id": "many-1"}])
    page = offline.context.new_page()
    sign_in(page, api_url, admin_secret)
    page.goto(f"{api_url}/ui/review")
    page.wait_for_load_state("load")
    _no_reload_marker(page)
    page.get_by_text("Why: no enabled rule decides it now").click()
    tables = page.get_by_role("table").filter(has=page.get_by_text(re.compile("^rule 0 ")))
    expect(tables).to_have_count(1)
    expect(page.locator("table[data-rule]")).to_have_count(EXPLAIN_INLINE_RULES + 1)
    assert _still_the_same_page(page)
    assert offline.page_errors == []
