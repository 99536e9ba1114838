"""The one-statement writes (a product create, a sale: app.oneshot) answer with JSON
written by ``schemas.plain_json``, not by their response schema's dump: the answer must
be exactly what reading the same rows back through the schemas gives. On SQLite (and
for any body the one statement does not take) the schema dumps, so both databases hold
the two ways to each other."""

from __future__ import annotations

import datetime as dt
import decimal

import pytest


@pytest.mark.parametrize(
    "body",
    [
        {"name": "Widget", "sku": "P-1", "price": "9.99"},
        {"name": " Padded ", "sku": "P-2", "price": "10", "low_stock_threshold": 0},
        {"name": "Kit", "sku": "P-3", "price": 12345.5, "is_bundle": True},
        {"name": "Ünïcode ✓", "sku": "P-4", "price": "0.10", "product_type": "kit-2.b"},
        {"name": "Big", "sku": "P-5", "price": "9999999999.99", "low_stock_threshold": 7},
    ],
    ids=["usual", "threshold-zero", "number-price-bundle", "unicode-type", "largest-price"],
)
def test_a_created_product_is_answered_as_reading_it_back_answers(client, company, body):
    # twice with the same key: the second create runs as one statement on PostgreSQL
    client.post(
        "/api/products", json={**body, "sku": "warm-" + body["sku"]}, headers=company.headers
    )
    created = client.post("/api/products", json=body, headers=company.headers)
    assert created.status_code == 201, created.json
    assert created.content_type == "application/json"
    read = client.get(created.headers["Location"], headers=company.headers)
    assert read.status_code == 200
    assert created.json == read.json
    assert isinstance(created.json["price"], str)
    assert decimal.Decimal(created.json["price"]) == decimal.Decimal(str(body["price"]))


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"reference": " ORDER-7 ", "note": "gift wrap"},
        {"occurred_at": "2026-01-02T03:04:05.123456+02:00", "reference": None},
    ],
    ids=["usual", "reference-and-note", "backdated"],
)
def test_a_sale_is_answered_as_reading_its_ledger_row_and_level_back_answers(
    client, company, make_warehouse, make_product, extra
):
    warehouse = make_warehouse(company)["id"]
    product = make_product(company, warehouse_id=warehouse, initial_quantity=500)["id"]
    sale = {"product_id": product, "warehouse_id": warehouse, "quantity": 3, **extra}
    # the first sale looks the key up; the second runs as one statement on PostgreSQL
    assert client.post("/api/stock/sales", json=sale, headers=company.headers).status_code == 201
    sold = client.post("/api/stock/sales", json=sale, headers=company.headers)
    assert sold.status_code == 201, sold.json
    assert sold.content_type == "application/json"
    ledger = client.get(
        f"/api/stock/ledger?product_id={product}&warehouse_id={warehouse}&reason=sale",
        headers=company.headers,
    )
    assert ledger.status_code == 200
    newest = ledger.json["entries"][0]
    assert sold.json["entries"] == [newest]
    assert sold.json["stock"] == [
        {"product_id": product, "warehouse_id": warehouse, "quantity": 494}
    ]
    assert sold.json["operation_id"] == newest["operation_id"]
    if "occurred_at" in extra:
        assert dt.datetime.fromisoformat(newest["occurred_at"]) == dt.datetime.fromisoformat(
            extra["occurred_at"]
        )
