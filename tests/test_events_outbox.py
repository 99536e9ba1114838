"""The transactional outbox (issue 14): which changes write which events, in the
transaction of the change, and which write none."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Event
from tests.helpers import assert_problem


def events(app, company) -> list[tuple[str, dict]]:
    """The company's outbox, oldest first: (type, payload)."""
    with app.app_context():
        rows = db.session.execute(
            sa.select(Event.type, Event.payload)
            .where(Event.company_id == company.id)
            .order_by(Event.id)
        ).all()
    return [(type_, json.loads(payload)) for type_, payload in rows]


def op(client, company, kind, body, status=201):
    response = client.post(f"/api/stock/{kind}", json=body, headers=company.headers)
    assert response.status_code == status, response.get_json()
    return response


@pytest.fixture
def row(client, company, make_warehouse, make_product):
    """A product with 10 units in a warehouse, threshold 5."""
    warehouse = make_warehouse(company)
    product = make_product(
        company,
        low_stock_threshold=5,
        initial_stock=[{"warehouse_id": warehouse["id"], "quantity": 10}],
    )
    return {"product_id": product["id"], "warehouse_id": warehouse["id"], "product": product}


def sell(client, company, row, quantity, status=201):
    body = {"product_id": row["product_id"], "warehouse_id": row["warehouse_id"]}
    return op(client, company, "sales", {**body, "quantity": quantity}, status)


def test_opening_stock_and_moves_that_cross_nothing_write_no_event(app, client, company, row):
    sell(client, company, row, 5)  # 10 -> 5: still at the threshold
    assert events(app, company) == []


def test_a_sale_below_the_threshold_writes_stock_low_with_the_row(app, client, company, row):
    sell(client, company, row, 6)
    [(kind, payload)] = events(app, company)
    assert kind == "stock.low" == payload["type"]
    assert payload["company_id"] == company.id
    assert payload["id"] and payload["occurred_at"].endswith("Z")
    data = payload["data"]
    assert data["product"] == {
        "id": row["product_id"],
        "sku": row["product"]["sku"],
        "name": row["product"]["name"],
    }
    assert data["warehouse"]["id"] == row["warehouse_id"]
    assert (data["previous_quantity"], data["quantity"], data["threshold"]) == (10, 4, 5)
    # 6 sold in the 30-day window: 4 units last 4 * 30 // 6 = 20 days
    assert data["days_until_stockout"] == 20


def test_selling_out_from_above_the_threshold_writes_low_then_out(app, client, company, row):
    sell(client, company, row, 10)
    assert [kind for kind, _ in events(app, company)] == ["stock.low", "stock.out"]


def test_a_receipt_back_to_the_threshold_writes_stock_recovered(app, client, company, row):
    sell(client, company, row, 8)
    body = {"product_id": row["product_id"], "warehouse_id": row["warehouse_id"], "quantity": 3}
    op(client, company, "receipts", body)
    kinds = [kind for kind, _ in events(app, company)]
    assert kinds == ["stock.low", "stock.recovered"]
    assert events(app, company)[-1][1]["data"]["quantity"] == 5


def test_a_refused_request_writes_no_event(app, client, company, row):
    sell(client, company, row, 11, status=409)
    response = client.post(
        "/api/stock/batch",
        json={
            "operations": [
                {"type": "sale", **_keys(row), "quantity": 9},  # would cross
                {"type": "sale", **_keys(row), "quantity": 9},  # refused: 1 left
            ]
        },
        headers=company.headers,
    )
    assert_problem(response, 409)
    assert events(app, company) == []


def batch(client, company, operations, status=201):
    response = client.post(
        "/api/stock/batch", json={"operations": operations}, headers=company.headers
    )
    assert response.status_code == status, response.json
    return response


def _keys(row):
    return {"product_id": row["product_id"], "warehouse_id": row["warehouse_id"]}


def test_a_batch_writes_one_event_per_crossing_not_per_item(app, client, company, row):
    operations = [{"type": "sale", **_keys(row), "quantity": 1} for _ in range(8)]
    batch(client, company, operations)
    [(kind, payload)] = events(app, company)
    assert kind == "stock.low"
    assert (payload["data"]["previous_quantity"], payload["data"]["quantity"]) == (10, 2)


def test_a_batch_that_goes_down_and_back_up_writes_nothing(app, client, company, row):
    operations = [
        {"type": "sale", **_keys(row), "quantity": 9},
        {"type": "receipt", **_keys(row), "quantity": 9},
    ]
    batch(client, company, operations)
    assert events(app, company) == []


def test_a_batch_receipt_into_a_new_row_reads_its_threshold(
    app, client, company, row, make_warehouse
):
    other = make_warehouse(company)
    operations = [
        {
            "type": "receipt",
            "product_id": row["product_id"],
            "warehouse_id": other["id"],
            "quantity": 7,
        }
    ]
    batch(client, company, operations)
    [(kind, payload)] = events(app, company)
    assert kind == "stock.recovered"
    assert (payload["data"]["previous_quantity"], payload["data"]["threshold"]) == (0, 5)


def test_an_adjustment_to_zero_writes_low_and_out(app, client, company, row):
    body = {**_keys(row), "quantity": 0, "reason": "count"}
    op(client, company, "adjustments", body)
    assert [kind for kind, _ in events(app, company)] == ["stock.low", "stock.out"]


@pytest.mark.postgres
def test_concurrent_sales_across_the_threshold_write_exactly_one_stock_low(
    app, client, company, make_warehouse, make_product
):
    """Each statement returns the level it left under the row lock, so however the
    sales interleave, the crossing is seen by exactly one of them."""
    from tests.test_races import race, show

    warehouse = make_warehouse(company)["id"]
    for round_ in range(15):
        product = make_product(
            company,
            sku=f"RACE-{round_}",
            low_stock_threshold=5,
            initial_stock=[{"warehouse_id": warehouse, "quantity": 9}],
        )["id"]
        body = {"product_id": product, "warehouse_id": warehouse, "quantity": 2}
        batch = {"operations": [{"type": "sale", **body}]}
        responses = race(
            app,
            ("POST", "/api/stock/sales", body, company.headers),
            ("POST", "/api/stock/sales", body, company.headers),
            ("POST", "/api/stock/batch", batch, company.headers),
            ("POST", "/api/stock/sales", body, company.headers),
        )
        assert all(r.status_code == 201 for r in responses), show(*responses)
        mine = [(k, p) for k, p in events(app, company) if p["data"]["product"]["id"] == product]
        assert [kind for kind, _ in mine] == ["stock.low"], (round_, mine)
        data = mine[0][1]["data"]
        assert data["previous_quantity"] >= 5 > data["quantity"], data


@pytest.mark.postgres
def test_a_sale_and_a_receipt_racing_at_the_threshold_write_a_consistent_story(
    app, client, company, make_warehouse, make_product
):
    """Whichever commits first, the events replay to the final level: low then
    recovered (the sale went first), or nothing (the receipt did)."""
    from tests.test_races import race, show

    warehouse = make_warehouse(company)["id"]
    for round_ in range(15):
        product = make_product(
            company,
            sku=f"RACE-{round_}",
            low_stock_threshold=5,
            initial_stock=[{"warehouse_id": warehouse, "quantity": 6}],
        )["id"]
        keys = {"product_id": product, "warehouse_id": warehouse}
        sale, receipt = race(
            app,
            ("POST", "/api/stock/sales", {**keys, "quantity": 2}, company.headers),
            ("POST", "/api/stock/receipts", {**keys, "quantity": 3}, company.headers),
        )
        assert (sale.status_code, receipt.status_code) == (201, 201), show(sale, receipt)
        kinds = [k for k, p in events(app, company) if p["data"]["product"]["id"] == product]
        assert kinds in ([], ["stock.low", "stock.recovered"]), (round_, kinds)
