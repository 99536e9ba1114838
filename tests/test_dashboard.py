"""The dashboard's server side: the page and its headers, GET /api/me, and the daily
sales behind the sparklines (right numbers, one company, bounded, one statement)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa

from app.dashboard.routes import CONTENT_SECURITY_POLICY
from app.extensions import db
from tests.helpers import assert_problem


def test_the_dashboard_page_has_a_strict_csp_and_nothing_inline(client):
    response = client.get("/dashboard")
    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    directives = dict(d.strip().split(" ", 1) for d in CONTENT_SECURITY_POLICY.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert response.headers["X-Frame-Options"] == "DENY"
    html = response.get_data(as_text=True)
    # every script is a file of this origin; no inline script, style or handler
    assert re.findall(r"<script\b[^>]*>", html) == [
        '<script src="/dashboard/static/dashboard.js" defer>'
    ]
    assert "<style" not in html and " style=" not in html
    assert not re.search(r"\son[a-z]+=", html)
    # the key input has no name, so no form submission can put it in a URL
    key_input = re.search(r'<input id="api-key"[^>]*>', html).group(0)
    assert " name=" not in key_input
    for asset in ("dashboard.js", "dashboard.css", "favicon.svg"):
        with client.get(f"/dashboard/static/{asset}") as file:
            assert file.status_code == 200
            assert file.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY


def test_the_poll_interval_comes_from_the_configuration(database_url):
    from tests.conftest import build_app

    app = build_app(database_url, STOCKFLOW_DASHBOARD_POLL_S=2.5)
    html = app.test_client().get("/dashboard").get_data(as_text=True)
    assert 'data-poll-ms="2500"' in html
    with app.app_context():
        db.engine.dispose()


def test_me_names_the_company_of_the_key(client, company, other_company):
    for tenant in (company, other_company):
        response = client.get("/api/me", headers=tenant.headers)
        assert response.status_code == 200
        assert response.json["id"] == tenant.id and response.json["name"] == tenant.name
    assert_problem(client.get("/api/me"), 401, slug="unauthorized")


@pytest.fixture
def sales_history(app, client, company, make_warehouse, make_product):
    """Two products in two warehouses, with sales backdated over the last days."""
    north, south = make_warehouse(company, name="North"), make_warehouse(company, name="South")
    stock = [{"warehouse_id": north["id"], "quantity": 500}]
    stock.append({"warehouse_id": south["id"], "quantity": 500})
    a = make_product(company, initial_stock=stock)
    b = make_product(company, initial_stock=stock)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)

    def sell(product, warehouse, quantity, days_ago):
        occurred = now - dt.timedelta(days=days_ago)
        body = {
            "product_id": product["id"],
            "warehouse_id": warehouse["id"],
            "quantity": quantity,
            "occurred_at": occurred.isoformat(),
        }
        response = client.post("/api/stock/sales", json=body, headers=company.headers)
        assert response.status_code == 201, response.json

    sell(a, north, 3, 0)
    sell(a, north, 2, 0)
    sell(a, north, 4, 2)
    sell(a, south, 1, 29)
    sell(a, south, 7, 30)  # outside a 30-day window (today and the 29 days before)
    sell(b, north, 6, 1)
    # not sales: a return and a transfer
    client.post(
        "/api/stock/returns",
        json={"product_id": a["id"], "warehouse_id": north["id"], "quantity": 1},
        headers=company.headers,
    )
    client.post(
        "/api/stock/transfers",
        json={
            "product_id": a["id"],
            "from_warehouse_id": north["id"],
            "to_warehouse_id": south["id"],
            "quantity": 5,
        },
        headers=company.headers,
    )
    return a, b, north, south


def daily(client, tenant, query):
    response = client.get(f"/api/dashboard/sales-daily?{query}", headers=tenant.headers)
    assert response.status_code == 200, response.json
    return response.json


def test_daily_sales_sum_each_days_sales_per_product_and_warehouse(client, company, sales_history):
    a, b, north, south = sales_history
    body = daily(client, company, f"days=30&product_id={a['id']}&product_id={b['id']}")
    today = dt.datetime.now(dt.UTC).date()
    assert body["days"] == 30
    assert body["last_day"] == today.isoformat()
    assert body["first_day"] == (today - dt.timedelta(days=29)).isoformat()
    series = {(s["product_id"], s["warehouse_id"]): s["units"] for s in body["series"]}
    assert set(series) == {(a["id"], north["id"]), (a["id"], south["id"]), (b["id"], north["id"])}
    assert all(len(units) == 30 for units in series.values())
    a_north = series[(a["id"], north["id"])]
    assert a_north[-1] == 5 and a_north[-3] == 4 and sum(a_north) == 9
    a_south = series[(a["id"], south["id"])]
    assert a_south[0] == 1 and sum(a_south) == 1  # 30 days ago is outside the window
    assert series[(b["id"], north["id"])][-2] == 6
    # one warehouse only; and a 31-day window reaches the older sale
    only_north = daily(client, company, f"product_id={a['id']}&warehouse_id={north['id']}")
    assert [s["warehouse_id"] for s in only_north["series"]] == [north["id"]]
    longer = daily(client, company, f"days=31&product_id={a['id']}")
    by_warehouse = {s["warehouse_id"]: s["units"] for s in longer["series"]}
    assert by_warehouse[south["id"]][:2] == [7, 1]


def test_daily_sales_show_nothing_of_another_company(client, other_company, sales_history):
    a, b, _, _ = sales_history
    body = daily(client, other_company, f"product_id={a['id']}&product_id={b['id']}")
    assert body["series"] == []
    assert daily(client, other_company, "")["series"] == []


@pytest.mark.parametrize(
    "query, field",
    [
        ("days=0&product_id=1", "days"),
        ("days=91&product_id=1", "days"),
        ("product_id=0", "product_id"),
        ("product_id=abc", "product_id"),
        ("&".join(f"product_id={n}" for n in range(1, 202)), "product_id"),
        ("product_id=1&warehouse_id=-1", "warehouse_id"),
    ],
)
def test_daily_sales_refuse_unbounded_or_bad_queries(client, company, query, field):
    response = client.get(f"/api/dashboard/sales-daily?{query}", headers=company.headers)
    body = assert_problem(response, 400, slug="validation-error")
    assert field in str(body["errors"])


def test_daily_sales_are_one_statement_for_two_hundred_products(
    app, client, company, sales_history
):
    a, b, _, _ = sales_history
    ids = [a["id"], b["id"], *range(10_000, 10_198)]
    statements = []

    def record(_conn, _cursor, statement, *_args):
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        body = daily(client, company, "&".join(f"product_id={n}" for n in ids))
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    assert len(body["series"]) == 3
    ledger = [s for s in statements if "inventory_ledger" in s]
    assert len(ledger) == 1, statements
    # the API key lookup, and the one grouped read of the ledger
    assert len(statements) <= 2, statements
