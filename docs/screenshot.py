"""Take docs/dashboard.png from a running server (``./dev.sh serve``) with Debian's chromium.

.venv/bin/python docs/screenshot.py http://127.0.0.1:8000 sf_...demo-key

It acknowledges the fourth alert, shows acknowledged alerts, ticks the first two and
drafts purchase orders from them (so the picture shows every action and its outcome):
run it against a demo server.
"""

import sys

from playwright.sync_api import sync_playwright

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]  # fmt: skip


def main(base_url: str, key: str, out: str = "docs/dashboard.png") -> None:
    """Sign in with ``key``, acknowledge one alert, draft from two, save the whole page."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto(f"{base_url}/dashboard")
        page.fill("#api-key", key)
        page.press("#api-key", "Enter")
        page.wait_for_selector("#updated[data-render-count='1']")
        # acknowledge the fourth alert (snoozed a week, with a note) and show it marked
        page.locator("#rows button[data-action='acknowledge']").nth(3).click()
        page.select_option("#ack-until", "week")
        page.fill("#ack-note", "supplier called: truck on Monday")
        page.click("#ack-submit")
        page.wait_for_selector("#ack-dialog", state="hidden")
        page.check("#f-acknowledged")
        page.wait_for_selector("#rows tr.acknowledged")
        boxes = page.locator("#rows input.select-row")
        boxes.nth(0).check()
        boxes.nth(1).check()
        page.click("#bulk-actions button[data-action='draft-po']")
        page.wait_for_selector("#action-status li.draft")
        boxes.nth(2).check()  # a selection in progress
        page.wait_for_timeout(1200)  # "updated 1 s ago"
        page.mouse.move(0, 0)
        page.screenshot(path=out, full_page=True)
        browser.close()


if __name__ == "__main__":
    main(*sys.argv[1:])
