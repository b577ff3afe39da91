"""The console in the browser (Playwright): signing in, axe's accessibility check, where the
screenshots go."""

from __future__ import annotations

import os
from pathlib import Path

from playwright.sync_api import Page, expect

ROOT = Path(__file__).parents[2]
AXE = ROOT / "tests" / "browser" / "vendor" / "axe-4.14.1.min.js"  # axe-core, vendored (MPL-2.0)
SCREENSHOTS = ROOT / "docs" / "screenshots"
UPDATE_SCREENSHOTS = os.environ.get("UPDATE_SCREENSHOTS") == "1"


def sign_in(page: Page, api_url: str, secret: str) -> None:
    page.goto(f"{api_url}/")
    expect(page.get_by_role("heading", name="Sign in", level=1)).to_be_visible()
    page.get_by_label("Token").fill(secret)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Overview", level=1)).to_be_visible()


def axe(page: Page) -> list[str]:
    """axe-core's serious and critical findings on the page."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => (await axe.run(document)).violations")
    return [
        f"{page.url}: {v['id']} ({v['impact']}): {v['help']}"
        for v in result
        if v["impact"] in ("serious", "critical")
    ]
