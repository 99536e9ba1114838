"""A real browser for the tests: Playwright driving Debian's chromium, and the app served
on a free loopback port by werkzeug in a thread.

Never ``playwright install``: the browser is the distribution's ``/usr/bin/chromium``
(``.ci/run`` installs it when missing). Without it, browser tests are skipped on SQLite
(saying why) and fail on PostgreSQL, where CI allows no skip.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field

import pytest
from werkzeug.serving import make_server

from tests.conftest import ON_POSTGRES, build_app
from tests.helpers import free_port

CHROMIUM = os.environ.get("STOCKFLOW_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def require_browser():
    """Skip (SQLite) or fail (PostgreSQL, where CI allows no skip) without a browser."""
    problem = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problem = "playwright is not installed (pip install -r requirements-dev.txt)"
    if problem is None and not os.access(CHROMIUM, os.X_OK):
        problem = f"no chromium at {CHROMIUM} (apt-get install chromium)"
    if problem is None:
        return
    if ON_POSTGRES:
        pytest.fail(f"browser tests must run on PostgreSQL: {problem}")
    pytest.skip(problem)


@pytest.fixture(scope="module")
def browser():
    """One headless chromium for a test module."""
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@dataclass
class LiveServer:
    """The app on a loopback port."""

    url: str
    app: object
    thread: threading.Thread = field(repr=False)


@pytest.fixture
def live_server(database_url):
    """werkzeug serving a fresh app on the test database; shut down after the test."""
    app = build_app(database_url, STOCKFLOW_DASHBOARD_POLL_S=0.3)
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", app, thread)
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()
        from app.extensions import db

        with app.app_context():
            db.engine.dispose()


@dataclass
class Page:
    """A browser tab with its console errors and the requests it made."""

    page: object
    context: object
    errors: list[str]
    requests: list[str]


def open_page(browser, base_url: str, **context_options) -> Page:
    """A new tab in a fresh context (its own sessionStorage), recording console errors."""
    context = browser.new_context(base_url=base_url, **context_options)
    page = context.new_page()
    errors: list[str] = []
    requests: list[str] = []
    page.on(
        "console",
        lambda message: errors.append(message.text) if message.type == "error" else None,
    )
    page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
    page.on("request", lambda request: requests.append(request.url))
    return Page(page, context, errors, requests)
