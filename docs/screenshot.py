"""Take docs/dashboard.png from a running server (``./dev.sh serve``) with Debian's chromium.

.venv/bin/python docs/screenshot.py http://127.0.0.1:8000 sf_...demo-key
"""

import sys

from playwright.sync_api import sync_playwright

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]  # fmt: skip


def main(base_url: str, key: str, out: str = "docs/dashboard.png") -> None:
    """Sign in with ``key``, wait for the first render, save a 1200x760 PNG."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 760})
        page.goto(f"{base_url}/dashboard")
        page.fill("#api-key", key)
        page.press("#api-key", "Enter")
        page.wait_for_selector("#updated[data-render-count='1']")
        page.wait_for_timeout(1200)  # "updated 1 s ago"
        page.screenshot(path=out)
        browser.close()


if __name__ == "__main__":
    main(*sys.argv[1:])
