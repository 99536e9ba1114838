"""The catalog through the API: listing, changing and deleting products and warehouses."""

import datetime as dt
import json
from decimal import Decimal

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Inventory, LedgerEntry, Product, Warehouse
from tests.helpers import assert_problem

# the same test as conftest's ON_POSTGRES: which backend this run uses


def total(response) -> int:
    """The total a paginated list reports in its ``X-Pagination`` header."""
    return json.loads(response.headers["X-Pagination"])["total"]


def listed(client, tenant, query: str = "") -> list[dict]:
    """The products ``GET /api/products?<query>`` returns (asserting a 200)."""
    response = client.get(f"/api/products?{query}", headers=tenant.headers)
    assert response.status_code == 200, response.json
    return response.json


def skus(client, tenant, query: str = "") -> list[str]:
    """The SKUs of the products a list query returns, in order."""
    return [product["sku"] for product in listed(client, tenant, query)]


def stock_op(client, tenant, path: str, body: dict):
    """POST one stock operation (``receipts``, ``sales``, ...) as ``tenant``."""
    return client.post(f"/api/stock/{path}", json=body, headers=tenant.headers)


def product_row(app, product_id: int) -> dict:
    """The product's stored catalog fields, read straight from the database."""
    with app.app_context():
        # by id alone: a test may read across companies (on Citus, all shards)
        product = db.session.scalars(sa.select(Product).filter_by(id=product_id)).one()
        return {
            "name": product.name,
            "sku": product.sku,
            "price": product.price,
            "product_type": product.product_type,
            "low_stock_threshold": product.low_stock_threshold,
            "archived_at": product.archived_at,
        }


def warehouse_row(app, warehouse_id: int) -> dict:
    """The warehouse's stored fields, read straight from the database."""
    with app.app_context():
        warehouse = db.session.scalars(sa.select(Warehouse).filter_by(id=warehouse_id)).one()
        return {
            "name": warehouse.name,
            "location": warehouse.location,
            "archived_at": warehouse.archived_at,
        }


# -- GET /api/products --------------------------------------------------------------------


def test_product_list_is_paginated_with_the_total_in_x_pagination(client, company, make_product):
    for i in range(5):
        make_product(company, sku=f"P-{i}")
    first = client.get("/api/products?page_size=2", headers=company.headers)
    assert first.status_code == 200
    assert [p["sku"] for p in first.json] == ["P-0", "P-1"]
    assert total(first) == 5
    second = client.get("/api/products?page=2&page_size=2", headers=company.headers)
    assert [p["sku"] for p in second.json] == ["P-2", "P-3"]
    assert total(second) == 5
    last = client.get("/api/products?page=3&page_size=2", headers=company.headers)
    assert [p["sku"] for p in last.json] == ["P-4"]


def test_product_list_filters_by_exact_case_sensitive_sku(client, company, make_product):
    make_product(company, sku="ABC-1")
    make_product(company, sku="abc-1")
    make_product(company, sku="ABC-10")
    assert skus(client, company, "sku=ABC-1") == ["ABC-1"]
    assert skus(client, company, "sku=abc-1") == ["abc-1"]
    assert skus(client, company, "sku=ABC") == []


def test_product_list_q_is_a_case_insensitive_name_substring(client, company, make_product):
    make_product(company, sku="A", name="Blue Widget")
    make_product(company, sku="B", name="RED WIDGET")
    make_product(company, sku="C", name="Gadget")
    assert skus(client, company, "q=widget") == ["A", "B"]
    assert skus(client, company, "q=WiDg") == ["A", "B"]
    assert skus(client, company, "q=red%20w") == ["B"]
    assert skus(client, company, "q=nothing") == []


def test_product_list_q_ignores_case_beyond_ascii(client, company, make_product):
    make_product(company, sku="U", name="ÄPFEL Öl")
    make_product(company, sku="G", name="Große Kiste")
    assert skus(client, company, "q=äpf") == ["U"]
    assert skus(client, company, "q=GROSSE") == ["G"] and skus(client, company, "q=GROßE") == ["G"]


def test_product_list_q_treats_percent_and_underscore_literally(client, company, make_product):
    make_product(company, sku="PCT", name="50% off")
    make_product(company, sku="NUM", name="500 off")
    make_product(company, sku="UND", name="a_b")
    make_product(company, sku="AXB", name="axb")
    make_product(company, sku="SLASH", name="1/2 inch")
    assert skus(client, company, "q=50%25") == ["PCT"]
    assert skus(client, company, "q=%25") == ["PCT"]
    assert skus(client, company, "q=a_b") == ["UND"]
    assert skus(client, company, "q=_") == ["UND"]
    assert skus(client, company, "q=1/2") == ["SLASH"]


def test_product_list_filters_by_product_type(client, company, make_product):
    make_product(company, sku="F", product_type="food")
    make_product(company, sku="T", product_type="tool")
    make_product(company, sku="R")
    assert skus(client, company, "product_type=food") == ["F"]
    assert skus(client, company, "product_type=regular") == ["R"]


def test_product_list_filters_by_is_bundle(client, company, make_product):
    make_product(company, sku="PLAIN")
    make_product(company, sku="KIT", is_bundle=True)
    assert skus(client, company, "is_bundle=true") == ["KIT"]
    assert skus(client, company, "is_bundle=false") == ["PLAIN"]
    assert skus(client, company) == ["PLAIN", "KIT"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("page_size=1000", "page_size"),
        ("page_size=0", "page_size"),
        ("page=0", "page"),
        ("page=x", "page"),
        ("is_bundle=maybe", "is_bundle"),
        ("q=", "q"),
        ("sku=" + "s" * 101, "sku"),
    ],
)
def test_bad_product_list_query_is_a_400_problem_naming_it(client, company, query, field):
    response = client.get(f"/api/products?{query}", headers=company.headers)
    assert_problem(response, 400, field)


def test_archived_products_are_not_listed(client, company, make_product):
    kept = make_product(company, sku="KEPT")
    gone = make_product(company, sku="GONE")
    assert client.delete(f"/api/products/{gone['id']}", headers=company.headers).status_code == 204
    response = client.get("/api/products", headers=company.headers)
    assert [p["id"] for p in response.json] == [kept["id"]]
    assert total(response) == 1
    assert skus(client, company, "sku=GONE") == []


def test_another_companys_products_are_never_listed(client, company, other_company, make_product):
    make_product(company, sku="MINE", name="Shared name")
    make_product(other_company, sku="THEIRS", name="Shared name")
    response = client.get("/api/products", headers=company.headers)
    assert [p["sku"] for p in response.json] == ["MINE"]
    assert total(response) == 1
    assert skus(client, company, "sku=THEIRS") == []
    assert skus(client, company, "q=shared") == ["MINE"]


def test_each_listed_product_carries_its_stock_per_warehouse(
    client, company, make_warehouse, make_product
):
    first, second = make_warehouse(company), make_warehouse(company)
    stocked = make_product(
        company,
        sku="STOCKED",
        initial_stock=[
            {"warehouse_id": first["id"], "quantity": 4},
            {"warehouse_id": second["id"], "quantity": 6},
        ],
    )
    make_product(company, sku="EMPTY")
    by_sku = {p["sku"]: p for p in listed(client, company)}
    assert by_sku["STOCKED"]["stock"] == [
        {"warehouse_id": first["id"], "quantity": 4},
        {"warehouse_id": second["id"], "quantity": 6},
    ]
    assert by_sku["EMPTY"]["stock"] == []
    assert by_sku["STOCKED"]["price"] == stocked["price"] == "9.99"


# -- PATCH /api/products/<id> -------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"name": "  New name "}, {"name": "New name"}),
        ({"sku": " NEW-SKU "}, {"sku": "NEW-SKU"}),
        ({"price": "12.5"}, {"price": "12.50"}),
        ({"price": 0.1}, {"price": "0.10"}),
        ({"product_type": "food"}, {"product_type": "food"}),
        ({"low_stock_threshold": 7}, {"low_stock_threshold": 7}),
        (
            {"name": "Both", "price": 3},
            {"name": "Both", "price": "3.00"},
        ),
    ],
)
def test_patch_changes_the_given_fields_only(client, company, make_product, change, expected):
    product = make_product(company, sku="ORIG", name="Orig", low_stock_threshold=2)
    response = client.patch(f"/api/products/{product['id']}", json=change, headers=company.headers)
    assert response.status_code == 200, response.json
    assert response.json == {**product, **expected, "updated_at": response.json["updated_at"]}
    fetched = client.get(f"/api/products/{product['id']}", headers=company.headers)
    assert fetched.json == response.json


def test_patch_can_clear_the_threshold_with_null(app, client, company, make_product):
    product = make_product(company, low_stock_threshold=5)
    response = client.patch(
        f"/api/products/{product['id']}",
        json={"low_stock_threshold": None},
        headers=company.headers,
    )
    assert response.status_code == 200, response.json
    assert response.json["low_stock_threshold"] is None
    assert product_row(app, product["id"])["low_stock_threshold"] is None


def test_patch_returns_the_price_as_an_exact_string(app, client, company, make_product):
    product = make_product(company)
    response = client.patch(
        f"/api/products/{product['id']}", json={"price": 9999999999.99}, headers=company.headers
    )
    assert response.status_code == 200, response.json
    assert response.json["price"] == "9999999999.99"
    assert product_row(app, product["id"])["price"] == Decimal("9999999999.99")


def test_patch_response_carries_updated_at_and_stock(client, company, make_warehouse, make_product):
    warehouse = make_warehouse(company)
    product = make_product(company, warehouse_id=warehouse["id"], initial_quantity=3)
    response = client.patch(
        f"/api/products/{product['id']}", json={"name": "Renamed"}, headers=company.headers
    )
    assert response.status_code == 200, response.json
    updated_at = dt.datetime.fromisoformat(response.json["updated_at"])
    created_at = dt.datetime.fromisoformat(response.json["created_at"])
    assert updated_at >= created_at
    assert response.json["stock"] == [{"warehouse_id": warehouse["id"], "quantity": 3}]


def test_patch_to_a_duplicate_sku_is_a_409_and_changes_nothing(app, client, company, make_product):
    make_product(company, sku="TAKEN")
    product = make_product(company, sku="MINE", name="Mine")
    before = product_row(app, product["id"])
    response = client.patch(
        f"/api/products/{product['id']}",
        json={"sku": "TAKEN", "name": "Changed"},
        headers=company.headers,
    )
    body = assert_problem(response, 409)
    assert body["type"].endswith("duplicate-sku")
    assert "TAKEN" in body["detail"]
    assert product_row(app, product["id"]) == before


def test_patch_to_a_sku_used_in_another_company_is_allowed(
    client, company, other_company, make_product
):
    make_product(other_company, sku="THEIRS")
    product = make_product(company, sku="MINE")
    response = client.patch(
        f"/api/products/{product['id']}", json={"sku": "THEIRS"}, headers=company.headers
    )
    assert response.status_code == 200, response.json
    assert response.json["sku"] == "THEIRS"


def test_patch_keeping_the_own_sku_is_not_a_duplicate(client, company, make_product):
    product = make_product(company, sku="SAME")
    response = client.patch(
        f"/api/products/{product['id']}",
        json={"sku": "SAME", "name": "New"},
        headers=company.headers,
    )
    assert response.status_code == 200, response.json
    assert response.json["sku"] == "SAME" and response.json["name"] == "New"


def test_empty_patch_is_a_400(app, client, company, make_product):
    product = make_product(company)
    before = product_row(app, product["id"])
    response = client.patch(f"/api/products/{product['id']}", json={}, headers=company.headers)
    assert_problem(response, 400, "_body")
    assert product_row(app, product["id"]) == before


@pytest.mark.parametrize("field", ["is_bundle", "id", "stock", "created_at", "company_id"])
def test_patch_with_an_unknown_or_fixed_field_is_a_400_naming_it(
    app, client, company, make_product, field
):
    product = make_product(company)
    before = product_row(app, product["id"])
    response = client.patch(
        f"/api/products/{product['id']}",
        json={"name": "Changed", field: True if field == "is_bundle" else 1},
        headers=company.headers,
    )
    assert_problem(response, 400, field)
    assert product_row(app, product["id"]) == before


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": None}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 256}, "name"),
        ({"name": "line\nbreak"}, "name"),
        ({"sku": None}, "sku"),
        ({"sku": ""}, "sku"),
        ({"sku": "s" * 101}, "sku"),
        ({"price": None}, "price"),
        ({"price": -1}, "price"),
        ({"price": "1.999"}, "price"),
        ({"price": "NaN"}, "price"),
        ({"price": True}, "price"),
        ({"price": "10000000000"}, "price"),
        ({"product_type": None}, "product_type"),
        ({"product_type": "has space"}, "product_type"),
        ({"product_type": "x" * 51}, "product_type"),
        ({"low_stock_threshold": -1}, "low_stock_threshold"),
        ({"low_stock_threshold": 1.5}, "low_stock_threshold"),
        ({"low_stock_threshold": "5"}, "low_stock_threshold"),
        ({"low_stock_threshold": 2**31}, "low_stock_threshold"),
    ],
)
def test_invalid_patch_value_is_a_400_naming_it_and_changes_nothing(
    app, client, company, make_product, change, field
):
    product = make_product(company, low_stock_threshold=3)
    before = product_row(app, product["id"])
    # a valid change alongside proves the request is all or nothing
    body = {"name": "Changed", **change} if field != "name" else {"sku": "CHANGED", **change}
    response = client.patch(f"/api/products/{product['id']}", json=body, headers=company.headers)
    problem = assert_problem(response, 400, field)
    assert problem["type"].endswith("validation-error")
    assert product_row(app, product["id"]) == before


def test_patch_body_that_is_not_an_object_is_a_400(client, company, make_product):
    product = make_product(company)
    for body in (["name"], "text", 42):
        response = client.patch(
            f"/api/products/{product['id']}", json=body, headers=company.headers
        )
        assert_problem(response, 400)


def test_patch_of_another_companys_product_is_a_404_and_changes_nothing(
    app, client, company, other_company, make_product
):
    product = make_product(company, name="Acme's")
    before = product_row(app, product["id"])
    foreign = client.patch(
        f"/api/products/{product['id']}", json={"name": "Hijacked"}, headers=other_company.headers
    )
    missing = client.patch(
        "/api/products/999999", json={"name": "Hijacked"}, headers=other_company.headers
    )
    assert_problem(foreign, 404)
    assert foreign.json == missing.json
    assert product_row(app, product["id"]) == before


def test_patch_of_an_archived_product_is_a_404(client, company, make_product):
    product = make_product(company)
    deleted = client.delete(f"/api/products/{product['id']}", headers=company.headers)
    assert deleted.status_code == 204, deleted.json
    response = client.patch(
        f"/api/products/{product['id']}", json={"name": "Back"}, headers=company.headers
    )
    assert_problem(response, 404)


# -- DELETE /api/products/<id> ------------------------------------------------------------


@pytest.fixture
def sold_out(client, company, make_warehouse, make_product):
    """A product that had 5 units in a warehouse, all sold: stock zero, three ledger rows."""
    warehouse = make_warehouse(company)
    product = make_product(company, sku="SOLD", warehouse_id=warehouse["id"], initial_quantity=3)
    body = {"product_id": product["id"], "warehouse_id": warehouse["id"], "quantity": 2}
    assert stock_op(client, company, "receipts", body).status_code == 201
    body["quantity"] = 5
    assert stock_op(client, company, "sales", body).status_code == 201
    return {"product": product, "warehouse": warehouse}


def test_delete_of_a_product_without_stock_is_a_204_and_then_a_404(client, company, sold_out):
    path = f"/api/products/{sold_out['product']['id']}"
    response = client.delete(path, headers=company.headers)
    assert response.status_code == 204
    assert response.get_data() == b""
    assert_problem(client.get(path, headers=company.headers), 404)
    assert_problem(client.get(f"{path}/stock", headers=company.headers), 404)
    assert_problem(client.delete(path, headers=company.headers), 404)


def test_deleted_product_disappears_from_lists(client, company, sold_out):
    product_id = sold_out["product"]["id"]
    assert client.delete(f"/api/products/{product_id}", headers=company.headers).status_code == 204
    assert listed(client, company) == []
    assert total(client.get("/api/products", headers=company.headers)) == 0
    warehouse_stock = client.get(
        f"/api/warehouses/{sold_out['warehouse']['id']}/stock", headers=company.headers
    )
    assert warehouse_stock.status_code == 200
    assert [item["product_id"] for item in warehouse_stock.json] == []


def test_deleted_product_keeps_its_ledger_rows(client, company, sold_out, count_rows):
    product_id = sold_out["product"]["id"]
    before = client.get(f"/api/stock/ledger?product_id={product_id}", headers=company.headers)
    assert [e["reason"] for e in before.json["entries"]] == ["sale", "receipt", "initial"]
    assert client.delete(f"/api/products/{product_id}", headers=company.headers).status_code == 204
    after = client.get(f"/api/stock/ledger?product_id={product_id}", headers=company.headers)
    assert after.status_code == 200
    assert after.json["entries"] == before.json["entries"]
    assert count_rows(LedgerEntry, LedgerEntry.product_id == product_id) == 3
    assert count_rows(Product, Product.id == product_id) == 1  # archived, not removed


def test_delete_of_a_never_stocked_product_is_a_204(client, company, make_product):
    product = make_product(company)
    response = client.delete(f"/api/products/{product['id']}", headers=company.headers)
    assert response.status_code == 204


def test_delete_while_stock_is_on_hand_is_a_409_with_the_quantity_and_changes_nothing(
    app, client, company, make_warehouse, make_product, count_rows
):
    first, second = make_warehouse(company), make_warehouse(company)
    product = make_product(
        company,
        initial_stock=[
            {"warehouse_id": first["id"], "quantity": 4},
            {"warehouse_id": second["id"], "quantity": 3},
        ],
    )
    response = client.delete(f"/api/products/{product['id']}", headers=company.headers)
    body = assert_problem(response, 409)
    assert body["type"].endswith("product-has-stock")
    assert body["quantity_on_hand"] == 7
    assert product_row(app, product["id"])["archived_at"] is None
    assert client.get(f"/api/products/{product['id']}", headers=company.headers).json == product
    assert count_rows(Inventory, Inventory.quantity > 0) == 2
    assert count_rows(LedgerEntry) == 2


def test_delete_of_a_component_of_an_active_bundle_is_a_409(app, client, company, make_product):
    component = make_product(company, sku="PART")
    bundle = make_product(company, sku="KIT", is_bundle=True)
    put = client.put(
        f"/api/products/{bundle['id']}/components",
        json=[{"product_id": component["id"], "quantity": 2}],
        headers=company.headers,
    )
    assert put.status_code == 200, put.json
    response = client.delete(f"/api/products/{component['id']}", headers=company.headers)
    body = assert_problem(response, 409)
    assert body["type"].endswith("product-in-bundle")
    assert body["bundle_product_ids"] == [bundle["id"]]
    assert product_row(app, component["id"])["archived_at"] is None


def test_delete_of_a_bundle_nested_in_an_active_bundle_is_a_409(client, company, make_product):
    inner = make_product(company, sku="INNER", is_bundle=True)
    outer = make_product(company, sku="OUTER", is_bundle=True)
    put = client.put(
        f"/api/products/{outer['id']}/components",
        json=[{"product_id": inner["id"], "quantity": 1}],
        headers=company.headers,
    )
    assert put.status_code == 200, put.json
    response = client.delete(f"/api/products/{inner['id']}", headers=company.headers)
    body = assert_problem(response, 409)
    assert body["type"].endswith("product-in-bundle")
    assert body["bundle_product_ids"] == [outer["id"]]
    assert client.get(f"/api/products/{inner['id']}", headers=company.headers).status_code == 200


def test_a_component_of_a_deleted_bundle_can_be_deleted(client, company, make_product):
    component = make_product(company, sku="PART")
    bundle = make_product(company, sku="KIT", is_bundle=True)
    client.put(
        f"/api/products/{bundle['id']}/components",
        json=[{"product_id": component["id"], "quantity": 1}],
        headers=company.headers,
    )
    assert (
        client.delete(f"/api/products/{bundle['id']}", headers=company.headers).status_code == 204
    )
    response = client.delete(f"/api/products/{component['id']}", headers=company.headers)
    assert response.status_code == 204


def test_delete_of_another_companys_product_is_a_404_and_changes_nothing(
    app, client, company, other_company, make_product
):
    product = make_product(company)
    foreign = client.delete(f"/api/products/{product['id']}", headers=other_company.headers)
    missing = client.delete("/api/products/999999", headers=other_company.headers)
    assert_problem(foreign, 404)
    assert foreign.json == missing.json
    assert product_row(app, product["id"])["archived_at"] is None


@pytest.mark.parametrize(
    ("path", "extra"),
    [
        ("receipts", {}),
        ("sales", {}),
        ("returns", {}),
        ("adjustments", {"delta": 1, "reason": "found"}),
    ],
)
def test_stock_operation_on_a_deleted_product_is_a_400_naming_product_id(
    client, company, sold_out, count_rows, path, extra
):
    product_id = sold_out["product"]["id"]
    assert client.delete(f"/api/products/{product_id}", headers=company.headers).status_code == 204
    ledger_rows = count_rows(LedgerEntry)
    body = {"product_id": product_id, "warehouse_id": sold_out["warehouse"]["id"], "quantity": 1}
    if extra:
        body = {**body, **extra}
        del body["quantity"]
    response = stock_op(client, company, path, body)
    assert_problem(response, 400, "product_id")
    assert count_rows(LedgerEntry) == ledger_rows


def test_transfer_of_a_deleted_product_is_a_400_naming_product_id(
    client, company, sold_out, make_warehouse
):
    product_id = sold_out["product"]["id"]
    other = make_warehouse(company)
    assert client.delete(f"/api/products/{product_id}", headers=company.headers).status_code == 204
    response = stock_op(
        client,
        company,
        "transfers",
        {
            "product_id": product_id,
            "from_warehouse_id": sold_out["warehouse"]["id"],
            "to_warehouse_id": other["id"],
            "quantity": 1,
        },
    )
    assert_problem(response, 400, "product_id")


# -- warehouses ----------------------------------------------------------------------------


def warehouse_names(client, tenant, query: str = "") -> list[str]:
    """The names ``GET /api/warehouses?<query>`` returns, in order."""
    response = client.get(f"/api/warehouses?{query}", headers=tenant.headers)
    assert response.status_code == 200, response.json
    return [w["name"] for w in response.json]


def test_warehouse_list_filters_by_case_insensitive_name_substring(
    client, company, other_company, make_warehouse
):
    make_warehouse(company, name="Berlin North")
    make_warehouse(company, name="berlin south")
    make_warehouse(company, name="Hamburg")
    make_warehouse(other_company, name="Berlin Foreign")
    assert warehouse_names(client, company, "name=BERLIN") == ["Berlin North", "berlin south"]
    assert warehouse_names(client, company, "name=th") == ["Berlin North", "berlin south"]
    assert warehouse_names(client, company, "name=burg") == ["Hamburg"]
    assert warehouse_names(client, company, "name=paris") == []
    response = client.get("/api/warehouses?name=berlin", headers=company.headers)
    assert total(response) == 2


def test_warehouse_name_filter_treats_percent_and_underscore_literally(
    client, company, make_warehouse
):
    make_warehouse(company, name="Hall_1")
    make_warehouse(company, name="Hallx1")
    make_warehouse(company, name="100% dry")
    assert warehouse_names(client, company, "name=l_1") == ["Hall_1"]
    assert warehouse_names(client, company, "name=%25") == ["100% dry"]


def test_warehouse_name_filter_ignores_case_beyond_ascii(client, company, make_warehouse):
    make_warehouse(company, name="MÜNCHEN Ost")
    assert warehouse_names(client, company, "name=münchen") == ["MÜNCHEN Ost"]


def test_empty_warehouse_name_filter_is_a_400(client, company):
    assert_problem(client.get("/api/warehouses?name=", headers=company.headers), 400, "name")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"name": " Renamed "}, {"name": "Renamed"}),
        ({"location": "Hamburg"}, {"location": "Hamburg"}),
        ({"location": None}, {"location": None}),
        ({"name": "Both", "location": "Paris"}, {"name": "Both", "location": "Paris"}),
    ],
)
def test_warehouse_patch_changes_name_and_location(
    client, company, make_warehouse, change, expected
):
    warehouse = make_warehouse(company, name="Main", location="Berlin")
    path = f"/api/warehouses/{warehouse['id']}"
    response = client.patch(path, json=change, headers=company.headers)
    assert response.status_code == 200, response.json
    assert response.json == {**warehouse, **expected}
    assert client.get(path, headers=company.headers).json == response.json


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "_body"),
        ({"name": None}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 256}, "name"),
        ({"location": 5}, "location"),
        ({"id": 7}, "id"),
        ({"archived_at": None}, "archived_at"),
    ],
)
def test_invalid_warehouse_patch_is_a_400_and_changes_nothing(
    app, client, company, make_warehouse, body, field
):
    warehouse = make_warehouse(company, name="Main", location="Berlin")
    before = warehouse_row(app, warehouse["id"])
    response = client.patch(
        f"/api/warehouses/{warehouse['id']}", json=body, headers=company.headers
    )
    assert_problem(response, 400, field)
    assert warehouse_row(app, warehouse["id"]) == before


def test_warehouse_patch_of_another_companys_warehouse_is_a_404(
    app, client, company, other_company, make_warehouse
):
    warehouse = make_warehouse(company, name="Main")
    before = warehouse_row(app, warehouse["id"])
    response = client.patch(
        f"/api/warehouses/{warehouse['id']}", json={"name": "Mine"}, headers=other_company.headers
    )
    assert_problem(response, 404)
    assert warehouse_row(app, warehouse["id"]) == before


def test_delete_of_an_empty_warehouse_is_a_204_and_then_a_404(client, company, make_warehouse):
    kept = make_warehouse(company, name="Kept")
    gone = make_warehouse(company, name="Gone")
    path = f"/api/warehouses/{gone['id']}"
    response = client.delete(path, headers=company.headers)
    assert response.status_code == 204
    assert_problem(client.get(path, headers=company.headers), 404)
    assert_problem(client.get(f"{path}/stock", headers=company.headers), 404)
    assert_problem(client.patch(path, json={"name": "x"}, headers=company.headers), 404)
    assert_problem(client.delete(path, headers=company.headers), 404)
    listing = client.get("/api/warehouses", headers=company.headers)
    assert [w["id"] for w in listing.json] == [kept["id"]]
    assert total(listing) == 1


def test_a_warehouse_whose_stock_was_sold_can_be_deleted_and_keeps_its_ledger(
    client, company, sold_out, count_rows
):
    warehouse_id = sold_out["warehouse"]["id"]
    response = client.delete(f"/api/warehouses/{warehouse_id}", headers=company.headers)
    assert response.status_code == 204
    assert count_rows(LedgerEntry, LedgerEntry.warehouse_id == warehouse_id) == 3
    ledger = client.get(f"/api/stock/ledger?warehouse_id={warehouse_id}", headers=company.headers)
    assert len(ledger.json["entries"]) == 3


@pytest.fixture
def archived_warehouse(client, company, make_warehouse, make_product):
    """A deleted (archived) warehouse, and a product stocked elsewhere."""
    warehouse = make_warehouse(company, name="Closed")
    open_ = make_warehouse(company, name="Open")
    product = make_product(company, warehouse_id=open_["id"], initial_quantity=5)
    deleted = client.delete(f"/api/warehouses/{warehouse['id']}", headers=company.headers)
    assert deleted.status_code == 204, deleted.json
    return {"warehouse": warehouse["id"], "open": open_["id"], "product": product["id"]}


@pytest.mark.parametrize(
    ("path", "extra"),
    [
        ("receipts", {"quantity": 1}),
        ("sales", {"quantity": 1}),
        ("returns", {"quantity": 1}),
        ("adjustments", {"delta": 1, "reason": "found"}),
        ("adjustments", {"quantity": 3, "reason": "count"}),
    ],
)
def test_stock_operation_naming_a_deleted_warehouse_is_a_400_naming_warehouse_id(
    client, company, archived_warehouse, count_rows, path, extra
):
    ledger_rows = count_rows(LedgerEntry)
    body = {
        "product_id": archived_warehouse["product"],
        "warehouse_id": archived_warehouse["warehouse"],
        **extra,
    }
    response = stock_op(client, company, path, body)
    assert_problem(response, 400, "warehouse_id")
    assert count_rows(LedgerEntry) == ledger_rows
    assert count_rows(Inventory, Inventory.warehouse_id == archived_warehouse["warehouse"]) == 0


@pytest.mark.parametrize(("side", "other"), [("to", "from"), ("from", "to")])
def test_transfer_naming_a_deleted_warehouse_is_a_400_naming_that_side(
    client, company, archived_warehouse, count_rows, side, other
):
    ledger_rows = count_rows(LedgerEntry)
    response = stock_op(
        client,
        company,
        "transfers",
        {
            "product_id": archived_warehouse["product"],
            f"{side}_warehouse_id": archived_warehouse["warehouse"],
            f"{other}_warehouse_id": archived_warehouse["open"],
            "quantity": 1,
        },
    )
    assert_problem(response, 400, f"{side}_warehouse_id")
    assert count_rows(LedgerEntry) == ledger_rows


def test_creating_a_product_in_a_deleted_warehouse_is_a_400(
    client, company, archived_warehouse, count_rows
):
    products = count_rows(Product)
    base = {"name": "New", "sku": "NEW-1", "price": "1"}
    response = client.post(
        "/api/products",
        json={**base, "warehouse_id": archived_warehouse["warehouse"], "initial_quantity": 2},
        headers=company.headers,
    )
    assert_problem(response, 400, "warehouse_id")
    response = client.post(
        "/api/products",
        json={
            **base,
            "initial_stock": [{"warehouse_id": archived_warehouse["warehouse"], "quantity": 2}],
        },
        headers=company.headers,
    )
    assert_problem(response, 400, "initial_stock.0.warehouse_id")
    assert count_rows(Product) == products


def test_delete_of_a_warehouse_holding_stock_is_a_409_and_changes_nothing(
    app, client, company, make_warehouse, make_product
):
    warehouse = make_warehouse(company)
    make_product(company, warehouse_id=warehouse["id"], initial_quantity=4)
    make_product(company, warehouse_id=warehouse["id"], initial_quantity=1)
    make_product(company, warehouse_id=warehouse["id"], initial_quantity=0)
    response = client.delete(f"/api/warehouses/{warehouse['id']}", headers=company.headers)
    body = assert_problem(response, 409)
    assert body["type"].endswith("warehouse-has-stock")
    assert body["quantity_on_hand"] == 5
    assert warehouse_row(app, warehouse["id"])["archived_at"] is None
    assert client.get(f"/api/warehouses/{warehouse['id']}", headers=company.headers).json == (
        warehouse
    )


def test_delete_of_another_companys_warehouse_is_a_404_and_changes_nothing(
    app, client, company, other_company, make_warehouse
):
    warehouse = make_warehouse(company)
    foreign = client.delete(f"/api/warehouses/{warehouse['id']}", headers=other_company.headers)
    missing = client.delete("/api/warehouses/999999", headers=other_company.headers)
    assert_problem(foreign, 404)
    assert foreign.json == missing.json
    assert warehouse_row(app, warehouse["id"])["archived_at"] is None


def test_stock_in_a_product_listing_leaves_out_deleted_warehouses(
    app, client, company, make_warehouse, make_product
):
    kept, closed = make_warehouse(company), make_warehouse(company)
    product = make_product(
        company,
        initial_stock=[
            {"warehouse_id": kept["id"], "quantity": 2},
            {"warehouse_id": closed["id"], "quantity": 0},
        ],
    )
    deleted = client.delete(f"/api/warehouses/{closed['id']}", headers=company.headers)
    assert deleted.status_code == 204, deleted.json
    fetched = client.get(f"/api/products/{product['id']}", headers=company.headers)
    assert fetched.json["stock"] == [{"warehouse_id": kept["id"], "quantity": 2}]
    with app.app_context():
        rows = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Inventory)
            .where(Inventory.product_id == product["id"])
        )
    assert rows == 2  # the closed warehouse's empty row stays; it is only hidden
