"""Low-stock alerts net of stock on order, with learned lead times (issue 13): what
open purchase orders bring, whether they cover the alert, and the ``?covered=`` filter."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from app.alerts import queries
from app.extensions import db
from app.models import AlertState, PurchaseOrder

# stock 10 of threshold 20, 20 sold in the 30-day window: out in 15 days; with the
# configured 9-day lead time the formula asks for ceil(20 * 39 / 30) - 10 = 16 units
STOCKOUT_DAYS = 15
NEEDED = 16


def post(client, tenant, path, body=None, status=201):
    response = client.post(path, json=body, headers=tenant.headers)
    assert response.status_code == status, response.get_json()
    return response.json


@pytest.fixture
def shop(client, company, make_warehouse, make_product):
    """A warehouse, a supplier (9-day lead time) and a product of it that alerts."""
    warehouse = make_warehouse(company)["id"]
    supplier = post(client, company, "/api/suppliers", {"name": "Bolts Ltd"})["id"]

    def alerting_product(name: str) -> int:
        product = make_product(company, name=name, low_stock_threshold=20)["id"]
        post(
            client,
            company,
            f"/api/products/{product}/suppliers",
            {"supplier_id": supplier, "cost_price": "0.10", "lead_time_days": 9},
        )
        body = {"product_id": product, "warehouse_id": warehouse}
        post(client, company, "/api/stock/receipts", body | {"quantity": 30})
        post(client, company, "/api/stock/sales", body | {"quantity": 20})
        return product

    return {
        "warehouse": warehouse,
        "supplier": supplier,
        "bolt": alerting_product("Bolt"),
        "product": alerting_product,
    }


def order(client, company, shop, product, quantity, expected_in_days=None, submit=True):
    body = {
        "supplier_id": shop["supplier"],
        "warehouse_id": shop["warehouse"],
        "lines": [{"product_id": product, "quantity": quantity}],
    }
    if expected_in_days is not None:
        expected = dt.datetime.now(dt.UTC) + dt.timedelta(days=expected_in_days)
        body["expected_at"] = expected.replace(microsecond=0).isoformat()
    created = post(client, company, "/api/purchase-orders", body)
    if not submit:
        return created
    return post(client, company, f"/api/purchase-orders/{created['id']}/submit", None, 200)


def alerts(client, company, query=""):
    response = client.get(
        f"/api/companies/{company.id}/alerts/low-stock{query}", headers=company.headers
    )
    assert response.status_code == 200, response.json
    return response.json


def alert_of(client, company, product, query=""):
    (alert,) = [a for a in alerts(client, company, query)["alerts"] if a["product_id"] == product]
    return alert


def test_an_alert_without_orders_has_nothing_on_order_and_the_configured_lead_time(
    client, company, shop
):
    alert = alert_of(client, company, shop["bolt"])
    assert alert["days_until_stockout"] == STOCKOUT_DAYS
    assert {
        key: alert[key]
        for key in (
            "on_order",
            "projected_quantity",
            "next_delivery_at",
            "covered",
            "lead_time_days",
            "lead_time_source",
            "suggested_reorder_quantity",
        )
    } == {
        "on_order": 0,
        "projected_quantity": 10,
        "next_delivery_at": None,
        "covered": False,
        "lead_time_days": 9,
        "lead_time_source": "configured",
        "suggested_reorder_quantity": NEEDED,
    }


def test_an_alert_without_a_supplier_has_no_lead_time_source(client, company, make_product):
    warehouse = post(client, company, "/api/warehouses", {"name": "W"})["id"]
    product = make_product(company, low_stock_threshold=20)["id"]
    body = {"product_id": product, "warehouse_id": warehouse}
    post(client, company, "/api/stock/receipts", body | {"quantity": 30})
    post(client, company, "/api/stock/sales", body | {"quantity": 20})
    alert = alert_of(client, company, product)
    assert (alert["supplier"], alert["lead_time_source"], alert["covered"]) == (None, None, False)


def test_an_order_arriving_before_the_stockout_that_reaches_the_threshold_covers_the_alert(
    client, company, shop
):
    order(client, company, shop, shop["bolt"], 15, expected_in_days=5)
    alert = alert_of(client, company, shop["bolt"])
    assert alert["on_order"] == 15
    assert alert["projected_quantity"] == 25
    assert alert["next_delivery_at"] is not None
    assert alert["covered"] is True
    assert alert["suggested_reorder_quantity"] == NEEDED - 15


def test_enough_on_order_suggests_nothing_more(client, company, shop):
    order(client, company, shop, shop["bolt"], NEEDED + 5, expected_in_days=5)
    alert = alert_of(client, company, shop["bolt"])
    assert (alert["covered"], alert["suggested_reorder_quantity"]) == (True, 0)
    # and a draft from the alerts leaves it out
    drafted = post(client, company, "/api/purchase-orders/from-alerts", {})
    assert drafted["purchase_orders"] == []
    assert drafted["skipped"][0]["reason"] == "on_order"


@pytest.mark.parametrize(
    "quantity, expected_in_days",
    [
        (5, 5),  # too small: 10 + 5 stays under the threshold of 20
        (15, STOCKOUT_DAYS + 10),  # enough, but due after the stockout
        (15, None),  # enough, but no expected date: nobody knows it arrives in time
    ],
)
def test_an_order_too_small_too_late_or_undated_does_not_cover(
    client, company, shop, quantity, expected_in_days
):
    order(client, company, shop, shop["bolt"], quantity, expected_in_days=expected_in_days)
    alert = alert_of(client, company, shop["bolt"])
    assert alert["on_order"] == quantity
    assert alert["projected_quantity"] == 10 + quantity
    assert alert["covered"] is False
    assert alert["suggested_reorder_quantity"] == NEEDED - quantity


def test_drafts_and_cancelled_orders_are_not_on_order(client, company, shop):
    order(client, company, shop, shop["bolt"], 15, expected_in_days=5, submit=False)
    cancelled = order(client, company, shop, shop["bolt"], 15, expected_in_days=5)
    post(client, company, f"/api/purchase-orders/{cancelled['id']}/cancel", None, 200)
    alert = alert_of(client, company, shop["bolt"])
    assert (alert["on_order"], alert["covered"]) == (0, False)


def test_a_received_order_no_longer_counts_as_on_order(client, company, shop):
    placed = order(client, company, shop, shop["bolt"], 3, expected_in_days=5)
    assert alert_of(client, company, shop["bolt"])["on_order"] == 3
    post(
        client,
        company,
        f"/api/purchase-orders/{placed['id']}/receipts",
        {"lines": [{"product_id": shop["bolt"], "quantity": 2}]},
    )
    partly = alert_of(client, company, shop["bolt"])
    partly_figures = (partly["current_stock"], partly["on_order"], partly["projected_quantity"])
    assert partly_figures == (12, 1, 13)
    post(
        client,
        company,
        f"/api/purchase-orders/{placed['id']}/receipts",
        {"lines": [{"product_id": shop["bolt"], "quantity": 1}]},
    )
    received = alert_of(client, company, shop["bolt"])
    assert (received["current_stock"], received["on_order"]) == (13, 0)
    assert received["next_delivery_at"] is None


@pytest.mark.parametrize("days", [30, 7])  # the maintained path, and the ledger's
def test_covered_filter_hides_or_keeps_covered_alerts_and_counts_them(client, company, shop, days):
    nut = shop["product"]("Nut")
    washer = shop["product"]("Washer")
    order(client, company, shop, shop["bolt"], 15, expected_in_days=1)
    order(client, company, shop, washer, 15, expected_in_days=1)

    def ids(query):
        body = alerts(client, company, f"?days={days}{query}")
        assert body["total_alerts"] == len(body["alerts"])
        return {a["product_id"] for a in body["alerts"]}

    assert ids("") == {shop["bolt"], nut, washer}  # the default: every alert
    assert ids("&covered=false") == {nut}
    assert ids("&covered=true") == {shop["bolt"], washer}
    # pages cut the filtered set, and total_alerts counts all of it
    page = alerts(client, company, f"?days={days}&covered=true&page_size=1&page=2")
    assert page["total_alerts"] == 2 and len(page["alerts"]) == 1
    assert page["alerts"][0]["product_id"] in {shop["bolt"], washer}


def test_csv_carries_the_on_order_columns_and_the_filter(client, company, shop):
    order(client, company, shop, shop["bolt"], 15, expected_in_days=5)
    shop["product"]("Nut")
    response = client.get(
        f"/api/companies/{company.id}/alerts/low-stock?format=csv&covered=false",
        headers=company.headers,
    )
    assert response.status_code == 200
    header, *lines = response.get_data(as_text=True).splitlines()
    columns = header.split(",")
    for column in ("on_order", "projected_quantity", "next_delivery_at", "covered"):
        assert column in columns
    assert len(lines) == 1
    row = dict(zip(columns, lines[0].split(","), strict=True))
    assert (row["on_order"], row["covered"], row["lead_time_source"]) == (
        "0",
        "false",
        "configured",
    )


@pytest.mark.parametrize(
    "step", ["create", "submit", "receive", "cancel"], ids=lambda step: f"after_{step}"
)
def test_purchase_order_writes_move_the_alerts_etag(client, company, shop, step):
    url = f"/api/companies/{company.id}/alerts/low-stock"
    draft = None
    if step != "create":
        draft = order(client, company, shop, shop["bolt"], 5, expected_in_days=5, submit=False)
    if step in ("receive", "cancel"):
        post(client, company, f"/api/purchase-orders/{draft['id']}/submit", None, 200)
    first = client.get(url, headers=company.headers)
    etag = first.headers["ETag"]
    assert client.get(url, headers={**company.headers, "If-None-Match": etag}).status_code == 304
    if step == "create":
        order(client, company, shop, shop["bolt"], 5, expected_in_days=5, submit=False)
    elif step == "submit":
        post(client, company, f"/api/purchase-orders/{draft['id']}/submit", None, 200)
    elif step == "receive":
        post(
            client,
            company,
            f"/api/purchase-orders/{draft['id']}/receipts",
            {"lines": [{"product_id": shop["bolt"], "quantity": 1}]},
        )
    else:
        post(client, company, f"/api/purchase-orders/{draft['id']}/cancel", None, 200)
    again = client.get(url, headers={**company.headers, "If-None-Match": etag})
    assert again.status_code == 200
    if step == "submit":
        assert alert_of(client, company, shop["bolt"])["on_order"] == 5


def test_alerts_use_the_observed_lead_time_after_three_deliveries(app, client, company, shop):
    # a threshold far above the stock: the receipts leave the alert in place
    bolt = shop["bolt"]
    client.patch(
        f"/api/products/{bolt}", json={"low_stock_threshold": 1000}, headers=company.headers
    )
    for count, days in enumerate((4, 6, 20), start=1):
        placed = order(client, company, shop, bolt, 1)
        with app.app_context():
            db.session.execute(
                sa.update(PurchaseOrder)
                .where(PurchaseOrder.id == placed["id"])
                .values(ordered_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=days, hours=1))
            )
            db.session.commit()
        post(
            client,
            company,
            f"/api/purchase-orders/{placed['id']}/receipts",
            {"lines": [{"product_id": bolt, "quantity": 1}]},
        )
        alert = alert_of(client, company, bolt)
        if count < 3:
            assert (alert["lead_time_days"], alert["lead_time_source"]) == (9, "configured")
    assert (alert["lead_time_days"], alert["lead_time_source"]) == (6, "observed")
    # and urgency's dates follow the lead time used
    stockout = dt.date.fromisoformat(alert["stockout_date"])
    assert dt.date.fromisoformat(alert["reorder_by"]) == stockout - dt.timedelta(days=6)
    # the ledger path agrees
    ledger = alert_of(client, company, bolt, "?days=29")
    assert (ledger["lead_time_days"], ledger["lead_time_source"]) == (6, "observed")


def test_kept_state_and_ledger_paths_agree_on_the_on_order_fields(app, client, company, shop):
    nut = shop["product"]("Nut")
    order(client, company, shop, shop["bolt"], 15, expected_in_days=5)
    order(client, company, shop, nut, 4, expected_in_days=2)
    order(client, company, shop, nut, 3)
    args = {"days": 30, "page": 1, "page_size": 100}
    today = dt.datetime.now(dt.UTC).date()
    with app.app_context():
        kept, kept_total = queries.low_stock_alerts(company.id, args, today, maintained=True)
        computed, computed_total = queries.low_stock_alerts(company.id, args, today)
        covered, covered_total = queries.low_stock_alerts(
            company.id, args | {"covered": True}, today, maintained=True
        )
    assert kept == computed and kept_total == computed_total == 2
    by_product = {alert["product_id"]: alert for alert in kept}
    assert (by_product[nut]["on_order"], by_product[nut]["covered"]) == (7, False)
    assert by_product[shop["bolt"]]["covered"] is True
    assert [a["product_id"] for a in covered] == [shop["bolt"]] and covered_total == 1


@pytest.mark.parametrize("maintained", [True, False])
def test_covered_and_acknowledged_filters_combine_on_both_paths(
    app, client, company, shop, maintained
):
    bolt, nut, washer = shop["bolt"], shop["product"]("Nut"), shop["product"]("Washer")
    order(client, company, shop, bolt, 20, expected_in_days=3)  # covers the bolt
    order(client, company, shop, nut, 20, expected_in_days=3)  # covers the nut
    body = {"product_id": nut, "warehouse_id": shop["warehouse"]}
    post(client, company, f"/api/companies/{company.id}/alerts/low-stock/acknowledgements", body)
    if not maintained:  # the state not current today: the ledger answers
        with app.app_context():
            row = db.session.get(AlertState, company.id)
            row.as_of -= dt.timedelta(days=1)
            db.session.commit()

    def shown(query):
        body = alerts(client, company, query)
        assert body["total_alerts"] == len(body["alerts"])
        return sorted(a["product_id"] for a in body["alerts"])

    assert shown("") == sorted([bolt, washer])
    assert shown("?covered=true") == [bolt]
    assert shown("?covered=false") == [washer]
    assert shown("?covered=true&include_acknowledged=true") == sorted([bolt, nut])
    assert shown("?covered=false&include_acknowledged=true") == [washer]
