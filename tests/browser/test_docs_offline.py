"""/docs works offline (SPEC 8): Swagger UI comes from the service's own files, so Debian's
Chromium with no network beyond localhost renders every operation."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from app.web.app import DOCS_STATIC_URL
from tests.browser.conftest import OfflineContext
from tests.support.browser import SCREENSHOTS, UPDATE_SCREENSHOTS

# The committed screenshot is refreshed on request only (UPDATE_SCREENSHOTS): two runs never
# give identical bytes, and a test run should not leave the work tree changed.
HTTP_METHODS = ("get", "put", "post", "delete", "patch")


def operations(schema: dict[str, Any]) -> list[str]:
    """The accessible name Swagger UI gives each operation's row: method, path, summary."""
    names = []
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                names.append(
                    " ".join(filter(None, [method.upper(), path, operation.get("summary")]))
                )
    return names


@pytest.mark.timeout(120)
def test_docs_render_every_operation_with_nothing_beyond_localhost(
    api_url: str, offline: OfflineContext, tmp_path: Path
) -> None:
    """/docs in Chromium, every request beyond localhost aborted, lists each operation of the
    schema (the trigger among them, which opens); no request left localhost or failed."""
    schema = httpx.get(f"{api_url}/openapi.json").json()
    names = operations(schema)
    trigger = "POST /api/v1/automation/trigger Start a run now (or join the active one)"
    assert trigger in names

    page = offline.context.new_page()
    page.goto(f"{api_url}/docs")  # returns after the load event: the page's files are in
    assert offline.aborted == [], "the page reached beyond localhost"
    expect(page).to_have_title("Task Tracker automation - Swagger UI")
    for name in names:
        expect(page.get_by_role("button", name=name, exact=True)).to_be_visible()

    page.get_by_role("button", name=trigger, exact=True).click()
    expect(page.get_by_role("button", name="Try it out")).to_be_visible()
    page.screenshot(path=(SCREENSHOTS if UPDATE_SCREENSHOTS else tmp_path) / "docs-offline.png")

    assert offline.aborted == []
    assert offline.failed == []
    assert offline.page_errors == []


@pytest.mark.timeout(60)
def test_the_network_guard_catches_a_cdn_reference(offline: OfflineContext) -> None:
    """A page referring to a CDN has that request aborted and recorded, so the test above
    would fail on one (the host is reserved and never resolves: nothing leaves the machine)."""
    cdn = "https://cdn.example.invalid/swagger-ui.css"
    page = offline.context.new_page()
    page.set_content(f'<link rel="stylesheet" href="{cdn}"><p>hello</p>')
    assert offline.aborted == [cdn]
    assert len(offline.failed) == 1
    assert offline.failed[0].startswith(f"GET {cdn}: ")


async def test_docs_assets_are_served_from_the_package_without_a_token(
    app_client: httpx.AsyncClient,
) -> None:
    """/docs and every file it names answer 200 without a token, from the service's own
    paths; /redoc (whose page fetches Redocly's CDN logo) is not served."""
    page = await app_client.get("/docs")
    assert page.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sorted(assets) == sorted(
        f"{DOCS_STATIC_URL}/{name}"
        for name in ("swagger-ui.css", "favicon.png", "swagger-ui-bundle.js")
    )
    types = {}
    for asset in assets:
        answer = await app_client.get(asset)
        assert answer.status_code == 200, asset
        types[asset.rsplit(".", 1)[1]] = answer.headers["content-type"].split(";")[0]
    assert types == {"css": "text/css", "png": "image/png", "js": "text/javascript"}
    assert (await app_client.get("/redoc")).status_code == 404
