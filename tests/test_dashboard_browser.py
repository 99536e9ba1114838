"""The dashboard in a real browser (Playwright + Debian's chromium), on both databases:
sign in, the demo alerts, filters and sorting, polling with If-None-Match (a 304 leaves
the page alone, a sale shows on the next poll), the error state on a 503, sign-out, a
375 px phone, keyboard use, and no console errors. Also: the API docs render offline.
"""

from __future__ import annotations

import time
import urllib.parse

import pytest

from app.extensions import db
from tests.browser import browser, live_server, open_page  # noqa: F401  (fixtures)

TIMEOUT_MS = 10_000
API_503 = "Failed to load resource: the server responded with a status of 503"


@pytest.fixture
def demo(live_server):  # noqa: F811  (fixture arguments)
    """The demo company loaded into the test database: (company_id, api_key)."""
    from app.demo import seed

    with live_server.app.app_context():
        company_id, key, _ = seed()
        db.session.commit()
    return company_id, key


@pytest.fixture
def tab(browser, live_server):  # noqa: F811  (fixture arguments)
    """A fresh tab on the live server; the test fails on any console error it leaves."""
    opened = open_page(browser, live_server.url)
    opened.allowed_errors = []
    yield opened
    errors = [e for e in opened.errors if not any(a in e for a in opened.allowed_errors)]
    opened.context.close()
    assert errors == [], errors


def sign_in(page, key: str) -> None:
    """Sign in through the form and wait for the first render."""
    page.goto("/dashboard")
    page.fill("#api-key", key)
    page.click("#sign-in-form button[type=submit]")
    page.wait_for_selector("#updated[data-render-count='1']", timeout=TIMEOUT_MS)


def attr(page, selector: str, name: str) -> str:
    return page.get_attribute(selector, name)


def wait_until(predicate, what: str, timeout: float = TIMEOUT_MS / 1000) -> None:
    """Poll from Python: the page's CSP forbids the eval behind wait_for_function."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def api_alerts(client, company_id: int, key: str) -> dict:
    response = client.get(
        f"/api/companies/{company_id}/alerts/low-stock?page_size=200",
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 200
    return response.json


def test_sign_in_shows_every_demo_alert_with_its_urgency_in_words_and_a_sparkline(
    tab, demo, client
):
    company_id, key = demo
    page = tab.page
    sign_in(page, key)
    expected = api_alerts(client, company_id, key)
    rows = page.locator("#rows tr")
    assert expected["total_alerts"] > 0
    assert rows.count() == expected["total_alerts"]
    assert attr(page, "#count", "data-count") == str(expected["total_alerts"])
    first, shown = expected["alerts"][0], rows.first
    assert shown.get_attribute("data-product-id") == str(first["product_id"])
    text = shown.inner_text()
    for fact in (
        first["product_name"],
        first["sku"],
        first["warehouse_name"],
        f"{first['current_stock']} / {first['threshold']}",
        first["stockout_date"],
        first["urgency"].capitalize(),  # the urgency in words, not only in colour
    ):
        assert fact in text, (fact, text)
    if first["supplier"]:
        assert first["supplier"]["name"] in text
    # one inline SVG sparkline of 30 days per row, labelled for screen readers
    assert page.locator("#rows svg.spark").count() == rows.count()
    label = page.locator("#rows svg.spark").first.get_attribute("aria-label")
    assert label.startswith("30-day sales: ")
    points = page.locator("#rows svg.spark polyline").first.get_attribute("points").split()
    assert len(points) == 30
    # the key went to the API in a header only: not in a URL, no cookie
    assert all(key not in url for url in tab.requests)
    assert key not in page.url
    assert tab.context.cookies() == []
    assert page.evaluate("sessionStorage.getItem('stockflow.apiKey')") == key


def test_filters_narrow_the_rows_and_sorting_reorders_them(tab, demo, client):
    company_id, key = demo
    page = tab.page
    sign_in(page, key)
    alerts = api_alerts(client, company_id, key)["alerts"]

    page.select_option("#f-urgency", "critical")
    critical = [a for a in alerts if a["urgency"] == "critical"]
    assert page.locator("#rows tr").count() == len(critical)
    assert set(page.locator("#rows tr").evaluate_all("rs => rs.map(r => r.dataset.urgency)")) <= {
        "critical"
    }
    page.select_option("#f-urgency", "")

    warehouse = alerts[0]["warehouse_id"]
    page.select_option("#f-warehouse", str(warehouse))
    ids = page.locator("#rows tr").evaluate_all("rs => rs.map(r => r.dataset.warehouseId)")
    assert ids and set(ids) == {str(warehouse)}
    assert len(ids) == sum(1 for a in alerts if a["warehouse_id"] == warehouse)
    page.select_option("#f-warehouse", "")

    product_type = alerts[-1]["product_type"]
    page.select_option("#f-type", product_type)
    assert page.locator("#rows tr").count() == sum(
        1 for a in alerts if a["product_type"] == product_type
    )
    page.select_option("#f-type", "")

    supplied = next(a for a in alerts if a["supplier"])
    page.select_option("#f-supplier", str(supplied["supplier"]["id"]))
    assert page.locator("#rows tr").count() == sum(
        1 for a in alerts if a["supplier"] and a["supplier"]["id"] == supplied["supplier"]["id"]
    )
    page.select_option("#f-supplier", "")

    page.select_option("#sort", "product")
    names = page.locator("#rows .product .name").all_inner_texts()
    assert names == sorted(names, key=str.casefold) or names == sorted(names)
    assert len(names) == len(alerts)


@pytest.fixture
def selling(client, make_company, make_warehouse, make_product):
    """A company with one product below its threshold that sold today: (company, ids)."""
    tenant = make_company("Poller")
    warehouse = make_warehouse(tenant, name="Main")
    product = make_product(
        tenant,
        name="Widget",
        sku="WID-1",
        low_stock_threshold=50,
        warehouse_id=warehouse["id"],
        initial_quantity=40,
    )
    response = client.post(
        "/api/stock/sales",
        json={"product_id": product["id"], "warehouse_id": warehouse["id"], "quantity": 2},
        headers=tenant.headers,
    )
    assert response.status_code == 201
    return tenant, product["id"], warehouse["id"]


def test_a_304_does_not_render_again_and_a_sale_shows_on_the_next_poll(tab, selling, client):
    tenant, product_id, warehouse_id = selling
    page = tab.page
    seen = []
    page.on(
        "response",
        lambda r: seen.append(r.status) if "/alerts/low-stock" in r.url else None,
    )
    sign_in(page, tenant.api_key)
    assert page.inner_text("#rows tr .stock .numbers") == "38 / 50"

    # several polls come back 304 (If-None-Match): the rows are not drawn again
    polls = int(attr(page, "#updated", "data-poll-count"))
    wait_until(lambda: int(attr(page, "#updated", "data-poll-count")) >= polls + 3, "3 polls")
    assert 304 in seen
    assert attr(page, "#updated", "data-render-count") == "1"
    assert page.inner_text("#updated").startswith("updated ")

    response = client.post(
        "/api/stock/sales",
        json={"product_id": product_id, "warehouse_id": warehouse_id, "quantity": 5},
        headers=tenant.headers,
    )
    assert response.status_code == 201
    wait_until(lambda: page.inner_text("#rows tr .stock .numbers") == "33 / 50", "the sale")
    assert attr(page, "#updated", "data-render-count") == "2"
    # today's point of the sparkline now counts 7 units
    label = page.locator("#rows svg.spark").first.get_attribute("aria-label")
    assert label.startswith("30-day sales: 7 units")


def test_a_503_shows_an_unobtrusive_error_and_keeps_the_last_data(tab, selling):
    tenant, _, _ = selling
    page = tab.page
    tab.allowed_errors.append(API_503)
    sign_in(page, tenant.api_key)
    assert page.locator("#rows tr").count() == 1

    def unavailable(route):
        route.fulfill(
            status=503,
            content_type="application/problem+json",
            headers={"Retry-After": "1"},
            body='{"type": "urn:stockflow:problem:database-unavailable", "status": 503}',
        )

    page.route("**/alerts/low-stock*", unavailable)
    page.wait_for_selector("#api-error:not([hidden])", timeout=TIMEOUT_MS)
    assert "503" in page.inner_text("#api-error")
    assert page.locator("#rows tr").count() == 1  # the last data stays
    assert page.is_visible("#rows tr")

    page.unroute("**/alerts/low-stock*")
    page.wait_for_selector("#api-error", state="hidden", timeout=TIMEOUT_MS)
    assert page.locator("#rows tr").count() == 1


def test_sign_out_clears_the_key_from_session_storage(tab, selling):
    tenant, _, _ = selling
    page = tab.page
    sign_in(page, tenant.api_key)
    page.click("#sign-out")
    assert page.evaluate("sessionStorage.length") == 0
    assert page.is_visible("#sign-in") and not page.is_visible("#board")
    assert page.locator("#rows tr").count() == 0
    page.reload()
    page.wait_for_selector("#sign-in:not([hidden])")
    assert not page.is_visible("#board")


def test_a_wrong_key_is_refused_with_a_message(tab, selling):
    page = tab.page
    tab.allowed_errors.append("status of 401")
    page.goto("/dashboard")
    page.fill("#api-key", "sf_000000000000_not-a-key")
    page.press("#api-key", "Enter")
    page.wait_for_selector("#sign-in-error:not([hidden])", timeout=TIMEOUT_MS)
    assert "not valid" in page.inner_text("#sign-in-error")
    assert page.evaluate("sessionStorage.length") == 0


def test_the_dashboard_works_at_375px_with_the_keyboard_alone(browser, live_server, demo):  # noqa: F811
    _, key = demo
    phone = open_page(browser, live_server.url, viewport={"width": 375, "height": 812})
    page = phone.page
    page.goto("/dashboard")
    # keyboard only: the key field has focus; type, Enter
    assert page.evaluate("document.activeElement.id") == "api-key"
    page.keyboard.type(key)
    page.keyboard.press("Enter")
    page.wait_for_selector("#updated[data-render-count='1']", timeout=TIMEOUT_MS)
    # no sideways scrolling at phone width
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    first_row = page.locator("#rows tr").first.bounding_box()
    assert first_row["width"] <= 375
    # the filters are reachable with Tab and work with the keyboard
    for _ in range(12):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "f-urgency":
            break
    assert page.evaluate("document.activeElement.id") == "f-urgency"
    page.keyboard.press("ArrowDown")  # "critical"
    wait_until(
        lambda: (
            set(page.locator("#rows tr").evaluate_all("rs => rs.map(r => r.dataset.urgency)"))
            == {"critical"}
        ),
        "the urgency filter",
    )
    # sign out is a button the keyboard reaches too
    page.focus("#sign-out")
    page.keyboard.press("Enter")
    assert page.evaluate("sessionStorage.length") == 0
    phone.context.close()
    assert phone.errors == []


def test_the_api_docs_render_every_operation_with_no_network(browser, live_server):  # noqa: F811
    docs = open_page(browser, live_server.url)
    page = docs.page
    outside = []

    def local_only(route):
        host = urllib.parse.urlsplit(route.request.url).hostname
        if host == "127.0.0.1":
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    docs.context.route("**/*", local_only)
    page.goto("/api/docs")
    page.wait_for_selector(".opblock", timeout=TIMEOUT_MS)
    spec = page.evaluate("fetch('/api/openapi.json').then(r => r.json())")
    operations = sum(
        1
        for methods in spec["paths"].values()
        for method in methods
        if method in {"get", "post", "put", "patch", "delete"}
    )
    assert page.locator(".opblock").count() == operations
    assert page.is_visible("button.authorize")  # the "Authorize" flow is there
    page.click("button.authorize")
    page.wait_for_selector(".modal-ux", timeout=TIMEOUT_MS)
    assert outside == []
    docs.context.close()
    assert docs.errors == []
