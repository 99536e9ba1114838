"""Bulk catalog import (POST /api/products/import) and export, and GET /api/stock/levels."""

import pytest

from tests.helpers import assert_problem


def test_smoke(client, company, make_warehouse):
    w = make_warehouse(company)["id"]
    csv_body = f"sku,name,price,product_type,warehouse_id,quantity\nA,Alpha,1.50,regular,{w},5\nB,Beta,2,fast_moving,{w},0\n"
    r = client.post(
        "/api/products/import", data=csv_body, content_type="text/csv", headers=company.headers
    )
    print(r.status_code, r.json)
    assert r.status_code == 200
    r = client.post(
        "/api/products/import",
        json={
            "products": [
                {
                    "sku": "A",
                    "name": "Alpha2",
                    "price": 3,
                    "initial_stock": [{"warehouse_id": w, "quantity": 3}],
                },
                {"sku": "C", "name": "C", "price": "1"},
            ]
        },
        headers=company.headers,
    )
    print(r.status_code, r.json)
    r = client.get("/api/products/export?format=csv", headers=company.headers)
    print(r.status_code, r.data)
    r = client.get("/api/products/export", headers=company.headers)
    print(r.status_code, r.data)
    r = client.get("/api/stock/levels", headers={**company.headers, "Accept": "text/csv"})
    print(r.status_code, r.data)
    r = client.post(
        "/api/products/import?dry_run=true",
        json={
            "products": [
                {
                    "sku": "A",
                    "name": "Alpha2",
                    "price": -3,
                    "initial_stock": [{"warehouse_id": 999, "quantity": 3}],
                }
            ]
        },
        headers=company.headers,
    )
    print(r.status_code, r.json)
    r = client.post(
        "/api/products/import?dry_run=true",
        json={
            "products": [
                {
                    "sku": "A",
                    "name": "Alpha2",
                    "price": 3,
                    "initial_stock": [{"warehouse_id": 999, "quantity": 3}],
                }
            ]
        },
        headers=company.headers,
    )
    print(r.status_code, r.json)
