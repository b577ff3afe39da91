"""Browser fixtures: Debian's Chromium driven by Playwright, and the api as a real process.

The browser is always Debian's `chromium` (`make browser` installs it): Playwright's own
browser downloads cannot be fetched here, so `playwright install` is never run.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Request, Route, sync_playwright

from app.config import Settings
from tests.support.processes import TASKTRACKER, ServiceProcess
from tests.support.tcp_proxy import free_port

CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium reaches for the internet at every start.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost"})
STEP_TIMEOUT_MS = 20_000  # one navigation or wait; the 2-core machine is shared


@pytest.fixture
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, closed afterwards."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make browser` installs Debian's chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class OfflineContext:
    """A browser context whose requests beyond localhost are aborted and recorded."""

    context: BrowserContext
    aborted: list[str] = field(default_factory=list)  # requests that tried to leave localhost
    failed: list[str] = field(default_factory=list)  # requests that failed for any reason
    page_errors: list[str] = field(default_factory=list)  # uncaught exceptions in pages

    def __post_init__(self) -> None:
        self.context.route("**/*", self._only_localhost)
        self.context.on("requestfailed", self._record_failure)
        self.context.on("page", lambda page: page.on("pageerror", self._record_page_error))

    def _only_localhost(self, route: Route) -> None:
        if urlsplit(route.request.url).hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            self.aborted.append(route.request.url)
            route.abort("internetdisconnected")

    def _record_failure(self, request: Request) -> None:
        self.failed.append(f"{request.method} {request.url}: {request.failure}")

    def _record_page_error(self, error: Exception) -> None:
        self.page_errors.append(str(error))


@pytest.fixture
def offline(browser: Browser) -> Iterator[OfflineContext]:
    """A fresh context of the browser with no network beyond localhost."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(STEP_TIMEOUT_MS)
    try:
        yield OfflineContext(context)
    finally:
        context.close()


@pytest.fixture
def api_url(settings: Settings) -> Iterator[str]:
    """`tasktracker api` on a free port of 127.0.0.1 for this test's database; its base URL."""
    port = free_port()
    api = ServiceProcess(settings, [TASKTRACKER, "api", "--host", "127.0.0.1", "--port", str(port)])
    try:
        api.wait_for_line(r"Uvicorn running on")  # logged once the socket listens
        yield f"http://127.0.0.1:{port}"
    finally:
        api.stop()
