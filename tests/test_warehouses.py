"""Warehouses of a company, and tenant isolation around them."""

import json

from app.models import Inventory, Warehouse


def test_create_list_and_get_a_warehouse(client, company):
    created = client.post(
        "/api/warehouses", json={"name": " Main ", "location": "Berlin"}, headers=company.headers
    )
    assert created.status_code == 201
    assert created.json["name"] == "Main" and created.json["location"] == "Berlin"
    location = created.headers["Location"]
    assert client.get(location, headers=company.headers).json == created.json
    listed = client.get("/api/warehouses", headers=company.headers)
    assert listed.json == [created.json]
    assert json.loads(listed.headers["X-Pagination"])["total"] == 1


def test_warehouse_list_is_paginated(client, company, make_warehouse):
    for i in range(3):
        make_warehouse(company, name=f"W{i}")
    page = client.get("/api/warehouses?page=2&page_size=2", headers=company.headers)
    assert [w["name"] for w in page.json] == ["W2"]
    assert json.loads(page.headers["X-Pagination"])["total"] == 3
    too_big = client.get("/api/warehouses?page_size=100000", headers=company.headers)
    assert too_big.status_code == 400
    assert "page_size" in too_big.json["errors"]


def test_invalid_warehouse_is_a_400_and_writes_nothing(client, company, count_rows):
    for body in ({}, {"name": ""}, {"name": "ok", "location": 5}, {"name": "ok", "x": 1}):
        response = client.post("/api/warehouses", json=body, headers=company.headers)
        assert response.status_code == 400, body
    assert count_rows(Warehouse) == 0


def test_company_b_cannot_read_or_list_company_as_warehouse(
    client, company, other_company, make_warehouse
):
    warehouse = make_warehouse(company)
    response = client.get(f"/api/warehouses/{warehouse['id']}", headers=other_company.headers)
    assert response.status_code == 404
    assert warehouse["name"] not in response.get_data(as_text=True)
    assert client.get("/api/warehouses", headers=other_company.headers).json == []


def test_company_b_cannot_stock_company_as_warehouse(
    client, company, other_company, make_warehouse, count_rows
):
    warehouse = make_warehouse(company)
    response = client.post(
        "/api/products",
        json={"name": "x", "sku": "x", "price": "1", "warehouse_id": warehouse["id"]},
        headers=other_company.headers,
    )
    assert response.status_code == 400
    assert count_rows(Inventory) == 0


def test_out_of_range_ids_in_the_path_are_404s(client, company):
    for path in ("/api/warehouses/0", "/api/warehouses/99999999999999999999", "/api/warehouses/x"):
        response = client.get(path, headers=company.headers)
        assert response.status_code == 404
        assert response.content_type == "application/problem+json"
