"""Real-browser fixtures: Debian's Chromium driven by Playwright against pytest-django's live server.

Only the Chromium that Debian packages is used (``apt-get install chromium``), never a browser
downloaded by ``playwright install``. Without it the browser tests skip, and the run says so in
one plain line at the end; with ``CLEARINGHOUSE_REQUIRE_BROWSER=1`` (CI) they fail instead.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, expect, sync_playwright
from pytest_django.live_server_helper import LiveServer

from clearinghouse.accounts.models import User
from tests.conftest import OUTPUT_DIR, PASSWORD

# Playwright's sync API keeps an event loop running in this thread, so Django's ORM would refuse
# every query the tests make ("You cannot call this from an async context").
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = shutil.which("chromium")
REQUIRE_BROWSER = os.environ.get("CLEARINGHOUSE_REQUIRE_BROWSER") == "1"
SKIP_REASON = "Debian chromium not installed: browser tests skipped (apt-get install chromium)"

# The machine has no network: without the background-networking flags Chromium keeps trying to
# reach Google's services and floods the log with refused connections.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

SCREENSHOT_DIR = OUTPUT_DIR / "browser"
# Generous for shared, slow machines; these bound waiting, they do not assert on speed.
TIMEOUT_MS = 15_000


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip (or, when CI requires the browser, fail) before the live server and database start."""
    if CHROMIUM is not None:
        return
    if REQUIRE_BROWSER:
        pytest.fail(
            f"CLEARINGHOUSE_REQUIRE_BROWSER=1 but Debian chromium is not installed "
            f"(apt-get install chromium): {item.nodeid}",
            pytrace=False,
        )
    pytest.skip(SKIP_REASON)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    skipped = [
        report
        for report in terminalreporter.stats.get("skipped", [])
        if SKIP_REASON in str(getattr(report, "longrepr", ""))
    ]
    if skipped:
        count = f"{len(skipped)} test{'s' if len(skipped) != 1 else ''}"
        terminalreporter.write_line(f"{SKIP_REASON} [{count}]")


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def chromium(playwright_driver: Playwright) -> Iterator[Browser]:
    assert CHROMIUM is not None  # pytest_runtest_setup skipped or failed the test otherwise
    browser = playwright_driver.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
    )
    expect.set_options(timeout=TIMEOUT_MS)
    yield browser
    browser.close()


@dataclass
class PageProblems:
    """What the browser complained about: script errors and console errors (CSP violations)."""

    errors: list[str] = field(default_factory=list)

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text}")

    def on_page_error(self, error: Exception) -> None:
        self.errors.append(f"page error: {error}")


@pytest.fixture
def page_problems() -> PageProblems:
    return PageProblems()


@pytest.fixture
def page(
    chromium: Browser, live_server: LiveServer, transactional_db: None, page_problems: PageProblems
) -> Iterator[Page]:
    """A fresh browser context (no cookies) on the live server, one per test."""
    context = chromium.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 900}
    )
    context.set_default_timeout(TIMEOUT_MS)
    browser_page = context.new_page()
    browser_page.on("console", page_problems.on_console)
    browser_page.on("pageerror", page_problems.on_page_error)
    yield browser_page
    context.close()


Screenshot = Callable[[Page, str], None]


@pytest.fixture
def screenshot(request: pytest.FixtureRequest) -> Screenshot:
    """``screenshot(page, "step")`` saves ``<output>/browser/<test-name>-<step>.png``, full page."""
    test_name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)

    def take(browser_page: Page, step: str) -> None:
        SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        browser_page.screenshot(path=SCREENSHOT_DIR / f"{test_name}-{step}.png", full_page=True)

    return take


def log_in(page: Page, user: User) -> None:
    """Sign in through the login form and wait until the header shows who is signed in."""
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("header .whoami")).to_contain_text(user.username)


def log_out(page: Page) -> None:
    """Sign out with the header's POST form; Django sends the browser back to the login page."""
    page.locator("header .whoami").get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    expect(page.locator("header .whoami")).to_have_count(0)
