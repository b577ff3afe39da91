"""Console sessions in Debian's Chromium: a bookmarked page comes back after signing in, and a
session cookie kept from before `Sign out` opens nothing when put back."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from app.config import Settings
from app.models import Role
from tests.browser.conftest import OfflineContext
from tests.support import seed


@pytest.fixture
def viewer_secret(settings: Settings) -> str:
    return seed.token(settings, "console-viewer", Role.VIEWER)


@pytest.mark.timeout(120)
def test_a_bookmarked_page_comes_back_after_signing_in(
    api_url: str, viewer_secret: str, offline: OfflineContext
) -> None:
    """Opening /ui/runs?state=FAILED without a session signs in and lands on that page."""
    page: Page = offline.context.new_page()
    page.goto(f"{api_url}/ui/runs?state=FAILED")
    expect(page.get_by_role("heading", name="Sign in", level=1)).to_be_visible()
    page.get_by_label("Token").fill(viewer_secret)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Runs", level=1)).to_be_visible()
    assert page.url == f"{api_url}/ui/runs?state=FAILED"
    assert offline.aborted == []


@pytest.mark.timeout(120)
def test_a_session_cookie_put_back_after_sign_out_opens_nothing(
    api_url: str, viewer_secret: str, offline: OfflineContext
) -> None:
    """Sign out ends the session on the server: its cookie, restored, leads to sign-in."""
    page: Page = offline.context.new_page()
    page.goto(f"{api_url}/ui")
    page.get_by_label("Token").fill(viewer_secret)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Overview", level=1)).to_be_visible()
    kept = [c for c in offline.context.cookies() if c["name"] == "tt_console"]
    assert len(kept) == 1

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in", level=1)).to_be_visible()
    offline.context.add_cookies(kept)  # type: ignore[arg-type]  # Cookie is a SetCookieParam
    page.goto(f"{api_url}/ui")
    expect(page.get_by_role("heading", name="Sign in", level=1)).to_be_visible()
    assert re.search(r"/ui/sign-in$", page.url)
