"""Browser test harness: Debian's Chromium, driven by Playwright's sync API, against the live server.

Fixtures: ``browser`` (one Chromium per session), ``page`` (a fresh context per test, ``base_url`` set to the
live server), ``open_page`` (more pages, each in its own context, for several people in one test), ``login``
(returns :func:`sign_in`), ``js_errors`` (console errors and uncaught exceptions seen by ``page``). A failing
test leaves a screenshot and the HTML of each of its pages in ``var/test-artifacts/``.
The browser is never downloaded: ``playwright install`` is not used; Chromium comes from apt.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

# Playwright's sync API runs an asyncio loop in this thread; Django would then refuse ORM calls made by the
# test itself (creating users, checking rows) with SynchronousOnlyOperation. The calls are synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from playwright.sync_api import Browser, Page, expect, sync_playwright

CHROMIUM = os.environ.get("STUDIO_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS_DIR = Path(__file__).resolve().parents[2] / "var" / "test-artifacts"
LOGIN_PATH = "/accounts/login/"
TIMEOUT_MS = 15_000


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the item so fixtures can tell, at teardown, whether the test failed."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def browser() -> Browser:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} not found: install it with `apt-get install -y chromium` (or set STUDIO_CHROMIUM)"
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def _new_page(browser: Browser, live_server) -> Page:
    """A page in a fresh context (its own cookies: one signed-in person), recording its console errors."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.studio_js_errors = []
    page.on("console", lambda msg: msg.type == "error" and page.studio_js_errors.append(msg.text))
    page.on("pageerror", lambda exc: page.studio_js_errors.append(str(exc)))
    return page


def _close(pages: list[Page], request) -> None:
    report = getattr(request.node, "rep_call", None)
    for number, page in enumerate(pages):
        if report is not None and report.failed:
            _save_artifacts(page, request.node.nodeid + (f"-{number}" if number else ""))
        page.context.close()


@pytest.fixture
def page(browser: Browser, live_server, request) -> Page:
    page = _new_page(browser, live_server)
    yield page
    _close([page], request)


@pytest.fixture
def open_page(browser: Browser, live_server, request):
    """``open_page()``: one more page in its own context, for a second person signed in beside ``page``."""
    pages: list[Page] = []

    def open_one() -> Page:
        pages.append(_new_page(browser, live_server))
        return pages[-1]

    yield open_one
    _close(pages, request)


@pytest.fixture
def js_errors(page: Page) -> list[str]:
    """Console errors and uncaught exceptions of ``page`` so far (a live list)."""
    return page.studio_js_errors


def _save_artifacts(page: Page, nodeid: str) -> None:
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid).strip("_")
    try:
        page.screenshot(path=str(ARTIFACTS_DIR / f"{stem}.png"), full_page=True)
        (ARTIFACTS_DIR / f"{stem}.html").write_text(page.content(), encoding="utf-8")
    except Exception as exc:  # a crashed page must not hide the test's own failure
        print(f"could not save browser artifacts for {nodeid}: {exc}")


def sign_in(page: Page, live_server, username: str, password: str) -> None:
    """Sign in through the login page and wait until the studio has redirected away from it."""
    page.goto(f"{live_server.url}{LOGIN_PATH}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).not_to_have_url(re.compile(re.escape(LOGIN_PATH)))


@pytest.fixture
def login():
    """``login(page, live_server, username, password)``: sign in through the browser."""
    return sign_in
