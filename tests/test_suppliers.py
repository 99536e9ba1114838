"""Suppliers, and which products they supply (links with cost, lead time, preference)."""

import json
import threading

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import LedgerEntry, Product, Supplier, SupplierProduct
from app.suppliers import service
from tests.helpers import assert_problem


@pytest.fixture
def make_supplier(client):
    """Create a supplier for a company through the API."""

    def make(tenant, **overrides) -> dict:
        body = {"name": "Supplier", **overrides}
        response = client.post("/api/suppliers", json=body, headers=tenant.headers)
        assert response.status_code == 201, response.json
        return response.json

    return make


@pytest.fixture
def link(client):
    """Link a supplier to a product through the API."""

    def make(tenant, product, supplier, **fields) -> dict:
        response = client.post(
            f"/api/products/{product['id']}/suppliers",
            json={"supplier_id": supplier["id"], **fields},
            headers=tenant.headers,
        )
        assert response.status_code == 201, response.json
        return response.json

    return make


def links_of(client, tenant, product) -> list[dict]:
    """GET a product's supplier list."""
    response = client.get(f"/api/products/{product['id']}/suppliers", headers=tenant.headers)
    assert response.status_code == 200, response.json
    return response.json


# suppliers


def test_create_supplier_returns_201_with_location_and_trimmed_fields(client, company):
    response = client.post(
        "/api/suppliers",
        json={
            "name": "  Acme Parts ",
            "contact_email": " orders@acme.example ",
            "phone": "+49 30 1234",
            "notes": "Ships Mondays.\nCall first.",
        },
        headers=company.headers,
    )
    assert response.status_code == 201, response.json
    body = response.json
    assert body["name"] == "Acme Parts"
    assert body["contact_email"] == "orders@acme.example"
    assert body["phone"] == "+49 30 1234"
    assert body["notes"] == "Ships Mondays.\nCall first."
    assert response.headers["Location"] == f"/api/suppliers/{body['id']}"
    assert client.get(response.headers["Location"], headers=company.headers).json == body


def test_supplier_needs_only_a_name(client, company):
    response = client.post("/api/suppliers", json={"name": "Bare"}, headers=company.headers)
    assert response.status_code == 201, response.json
    body = response.json
    assert (body["contact_email"], body["phone"], body["notes"]) == (None, None, None)


def test_suppliers_are_listed_by_id_and_paginated(client, company, make_supplier):
    ids = [make_supplier(company, name=f"S{i}")["id"] for i in range(3)]
    listed = client.get("/api/suppliers", headers=company.headers)
    assert [s["id"] for s in listed.json] == ids
    page = client.get("/api/suppliers?page=2&page_size=2", headers=company.headers)
    assert [s["name"] for s in page.json] == ["S2"]
    assert json.loads(page.headers["X-Pagination"])["total"] == 3


def test_name_filter_is_a_case_insensitive_substring(client, company, make_supplier):
    make_supplier(company, name="Nordic Steel")
    make_supplier(company, name="Steelworks Ltd")
    make_supplier(company, name="Paper Co")
    listed = client.get("/api/suppliers?name=STEEL", headers=company.headers)
    assert [s["name"] for s in listed.json] == ["Nordic Steel", "Steelworks Ltd"]
    assert json.loads(listed.headers["X-Pagination"])["total"] == 2


def test_name_filter_treats_wildcards_literally(client, company, make_supplier):
    make_supplier(company, name="100% Cotton")
    make_supplier(company, name="1000 Cottons")
    make_supplier(company, name="A_B")
    make_supplier(company, name="AxB")
    by_percent = client.get("/api/suppliers", query_string={"name": "0%"}, headers=company.headers)
    assert [s["name"] for s in by_percent.json] == ["100% Cotton"]
    by_underscore = client.get("/api/suppliers?name=a_b", headers=company.headers)
    assert [s["name"] for s in by_underscore.json] == ["A_B"]


def test_patch_changes_only_the_given_fields(client, company, make_supplier):
    supplier = make_supplier(company, name="Old", contact_email="a@example.com", phone="1")
    response = client.patch(
        f"/api/suppliers/{supplier['id']}", json={"name": " New "}, headers=company.headers
    )
    assert response.status_code == 200, response.json
    assert response.json == {**supplier, "name": "New"}
    fetched = client.get(f"/api/suppliers/{supplier['id']}", headers=company.headers)
    assert fetched.json == response.json


def test_patch_null_clears_an_optional_field(client, company, make_supplier):
    supplier = make_supplier(company, contact_email="a@example.com", phone="1", notes="n")
    response = client.patch(
        f"/api/suppliers/{supplier['id']}",
        json={"contact_email": None, "phone": None, "notes": None},
        headers=company.headers,
    )
    assert response.status_code == 200, response.json
    body = response.json
    assert (body["contact_email"], body["phone"], body["notes"]) == (None, None, None)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "_body"),
        ({"name": None}, "name"),
        ({"name": ""}, "name"),
        ({"contact_email": "not-an-email"}, "contact_email"),
        ({"id": 7}, "id"),
    ],
)
def test_invalid_patch_is_a_400_and_changes_nothing(client, company, make_supplier, body, field):
    supplier = make_supplier(company, name="Kept", contact_email="a@example.com")
    response = client.patch(f"/api/suppliers/{supplier['id']}", json=body, headers=company.headers)
    assert_problem(response, 400, field)
    assert client.get(f"/api/suppliers/{supplier['id']}", headers=company.headers).json == supplier


def test_delete_archives_the_supplier_which_is_then_a_404_and_unlisted(
    client, company, make_supplier, count_rows
):
    supplier = make_supplier(company)
    kept = make_supplier(company, name="Kept")
    response = client.delete(f"/api/suppliers/{supplier['id']}", headers=company.headers)
    assert response.status_code == 204
    assert response.get_data() == b""
    assert_problem(client.get(f"/api/suppliers/{supplier['id']}", headers=company.headers), 404)
    assert client.get("/api/suppliers", headers=company.headers).json == [kept]
    assert count_rows(Supplier) == 2
    assert count_rows(Supplier, Supplier.archived_at.is_not(None)) == 1


def test_an_archived_supplier_cannot_be_changed_or_deleted_again(client, company, make_supplier):
    supplier = make_supplier(company)
    path = f"/api/suppliers/{supplier['id']}"
    assert client.delete(path, headers=company.headers).status_code == 204
    assert_problem(client.patch(path, json={"name": "x"}, headers=company.headers), 404)
    assert_problem(client.delete(path, headers=company.headers), 404)


SUPPLIER = {"name": "Supplier", "contact_email": "s@example.com"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": None}, "name"),
        ({"name": "x" * 256}, "name"),
        ({"name": "line\nbreak"}, "name"),
        ({"contact_email": "not-an-email"}, "contact_email"),
        ({"contact_email": "a@"}, "contact_email"),
        ({"contact_email": "a" * 310 + "@example.com"}, "contact_email"),
        ({"contact_email": 5}, "contact_email"),
        ({"phone": "1" * 51}, "phone"),
        ({"notes": "n" * 5001}, "notes"),
        ({"notes": "bell\x07"}, "notes"),
        ({"website": "https://example.com"}, "website"),
        ({"id": 5}, "id"),
    ],
)
def test_invalid_supplier_is_a_400_naming_the_field_and_writes_nothing(
    client, company, count_rows, change, field
):
    response = client.post("/api/suppliers", json={**SUPPLIER, **change}, headers=company.headers)
    problem = assert_problem(response, 400, field)
    assert problem["type"].endswith("validation-error")
    assert count_rows(Supplier) == 0


def test_missing_name_is_a_400(client, company, count_rows):
    response = client.post(
        "/api/suppliers", json={"contact_email": "s@example.com"}, headers=company.headers
    )
    assert_problem(response, 400, "name")
    assert count_rows(Supplier) == 0


# tenant isolation


def test_another_companys_supplier_is_a_404_to_read_change_or_delete(
    client, company, other_company, make_supplier, count_rows
):
    supplier = make_supplier(company, name="Secret Supplier")
    path = f"/api/suppliers/{supplier['id']}"
    for response in (
        client.get(path, headers=other_company.headers),
        client.patch(path, json={"name": "Stolen"}, headers=other_company.headers),
        client.delete(path, headers=other_company.headers),
    ):
        assert_problem(response, 404)
        assert "Secret" not in response.get_data(as_text=True)
    assert client.get("/api/suppliers", headers=other_company.headers).json == []
    assert client.get(path, headers=company.headers).json == supplier
    assert count_rows(Supplier, Supplier.archived_at.is_not(None)) == 0


def test_another_companys_supplier_cannot_be_linked(
    client, company, other_company, make_supplier, make_product, count_rows
):
    foreign = make_supplier(other_company)
    product = make_product(company)
    response = client.post(
        f"/api/products/{product['id']}/suppliers",
        json={"supplier_id": foreign["id"]},
        headers=company.headers,
    )
    assert_problem(response, 400, "supplier_id")
    assert count_rows(SupplierProduct) == 0


def test_another_companys_product_is_a_404_for_its_supplier_list_and_links(
    client, company, other_company, make_supplier, make_product, link, count_rows
):
    product = make_product(company)
    supplier = make_supplier(company)
    link(company, product, supplier)
    own = make_supplier(other_company)
    base = f"/api/products/{product['id']}/suppliers"
    for response in (
        client.get(base, headers=other_company.headers),
        client.post(base, json={"supplier_id": own["id"]}, headers=other_company.headers),
        client.patch(
            f"{base}/{supplier['id']}", json={"pack_size": 2}, headers=other_company.headers
        ),
        client.delete(f"{base}/{supplier['id']}", headers=other_company.headers),
    ):
        assert_problem(response, 404)
    assert count_rows(SupplierProduct) == 1


# links


def test_link_returns_201_with_defaults_and_the_suppliers_name_and_email(
    client, company, make_supplier, make_product
):
    supplier = make_supplier(company, name="Nordic Steel", contact_email="s@nordic.example")
    product = make_product(company)
    response = client.post(
        f"/api/products/{product['id']}/suppliers",
        json={"supplier_id": supplier["id"]},
        headers=company.headers,
    )
    assert response.status_code == 201, response.json
    body = response.json
    assert body["product_id"] == product["id"]
    assert body["supplier_id"] == supplier["id"]
    assert body["supplier_name"] == "Nordic Steel"
    assert body["contact_email"] == "s@nordic.example"
    assert body["min_order_quantity"] == 1
    assert body["pack_size"] == 1
    assert body["is_preferred"] is False
    assert body["supplier_sku"] is None
    assert body["cost_price"] is None
    assert body["lead_time_days"] is None
    assert body["created_at"]
    assert links_of(client, company, product) == [body]


def test_cost_price_is_serialized_as_a_two_place_decimal_string(
    app, client, company, make_supplier, make_product, link
):
    product = make_product(company)
    body = link(company, product, make_supplier(company), cost_price=12.5)
    assert body["cost_price"] == "12.50"
    assert links_of(client, company, product)[0]["cost_price"] == "12.50"


def test_link_stores_every_field(client, company, make_supplier, make_product, link):
    product = make_product(company)
    body = link(
        company,
        product,
        make_supplier(company),
        supplier_sku=" NS-77 ",
        cost_price="0.99",
        lead_time_days=3650,
        min_order_quantity=10,
        pack_size=6,
        is_preferred=True,
    )
    assert body["supplier_sku"] == "NS-77"
    assert body["cost_price"] == "0.99"
    assert (body["lead_time_days"], body["min_order_quantity"], body["pack_size"]) == (3650, 10, 6)
    assert body["is_preferred"] is True
    assert links_of(client, company, product) == [body]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"supplier_id": None}, "supplier_id"),
        ({"supplier_id": "1"}, "supplier_id"),
        ({"supplier_id": 0}, "supplier_id"),
        ({"lead_time_days": -1}, "lead_time_days"),
        ({"lead_time_days": 3651}, "lead_time_days"),
        ({"lead_time_days": 1.5}, "lead_time_days"),
        ({"pack_size": 0}, "pack_size"),
        ({"pack_size": None}, "pack_size"),
        ({"min_order_quantity": 0}, "min_order_quantity"),
        ({"cost_price": "12.505"}, "cost_price"),
        ({"cost_price": -1}, "cost_price"),
        ({"cost_price": True}, "cost_price"),
        ({"is_preferred": "yes"}, "is_preferred"),
        ({"is_preferred": 1}, "is_preferred"),
        ({"is_preferred": None}, "is_preferred"),
        ({"supplier_sku": "s" * 101}, "supplier_sku"),
        ({"discount": 5}, "discount"),
    ],
)
def test_invalid_link_is_a_400_naming_the_field_and_writes_nothing(
    client, company, make_supplier, make_product, count_rows, change, field
):
    product = make_product(company)
    body = {"supplier_id": make_supplier(company)["id"], **change}
    response = client.post(
        f"/api/products/{product['id']}/suppliers", json=body, headers=company.headers
    )
    assert_problem(response, 400, field)
    assert count_rows(SupplierProduct) == 0


def test_link_without_supplier_id_is_a_400(client, company, make_product, count_rows):
    product = make_product(company)
    response = client.post(
        f"/api/products/{product['id']}/suppliers", json={"pack_size": 2}, headers=company.headers
    )
    assert_problem(response, 400, "supplier_id")
    assert count_rows(SupplierProduct) == 0


def test_unknown_or_archived_supplier_is_a_400_naming_supplier_id(
    client, company, make_supplier, make_product, count_rows
):
    product = make_product(company)
    archived = make_supplier(company)
    client.delete(f"/api/suppliers/{archived['id']}", headers=company.headers)
    for supplier_id in (archived["id"], archived["id"] + 1000):
        response = client.post(
            f"/api/products/{product['id']}/suppliers",
            json={"supplier_id": supplier_id},
            headers=company.headers,
        )
        assert_problem(response, 400, "supplier_id")
    assert count_rows(SupplierProduct) == 0


def test_unknown_or_archived_product_is_a_404(
    app, client, company, make_supplier, make_product, count_rows
):
    supplier = make_supplier(company)
    product = make_product(company)
    with app.app_context():
        db.session.execute(sa.update(Product).values(archived_at=sa.func.now()))
        db.session.commit()
    for product_id in (product["id"], product["id"] + 1000):
        path = f"/api/products/{product_id}/suppliers"
        assert_problem(client.get(path, headers=company.headers), 404)
        response = client.post(path, json={"supplier_id": supplier["id"]}, headers=company.headers)
        assert_problem(response, 404)
    assert count_rows(SupplierProduct) == 0


def test_a_bundle_cannot_have_suppliers(client, company, make_supplier, make_product, count_rows):
    bundle = make_product(company, is_bundle=True)
    response = client.post(
        f"/api/products/{bundle['id']}/suppliers",
        json={"supplier_id": make_supplier(company)["id"]},
        headers=company.headers,
    )
    problem = assert_problem(response, 409)
    assert problem["type"] == "urn:stockflow:problem:bundle-has-no-suppliers"
    assert count_rows(SupplierProduct) == 0


def test_linking_the_same_supplier_twice_is_a_409(
    client, company, make_supplier, make_product, link, count_rows
):
    product, supplier = make_product(company), make_supplier(company)
    first = link(company, product, supplier, cost_price="1.00")
    response = client.post(
        f"/api/products/{product['id']}/suppliers",
        json={"supplier_id": supplier["id"], "cost_price": "2.00"},
        headers=company.headers,
    )
    problem = assert_problem(response, 409)
    assert problem["type"] == "urn:stockflow:problem:duplicate-supplier-link"
    assert problem["supplier_id"] == supplier["id"]
    assert links_of(client, company, product) == [first]


def test_a_duplicate_preferred_link_leaves_the_existing_preference_alone(
    client, company, make_supplier, make_product, link
):
    product = make_product(company)
    preferred = link(company, product, make_supplier(company), is_preferred=True)
    other = link(company, product, make_supplier(company))
    response = client.post(
        f"/api/products/{product['id']}/suppliers",
        json={"supplier_id": other["supplier_id"], "is_preferred": True},
        headers=company.headers,
    )
    assert_problem(response, 409)
    assert links_of(client, company, product) == [preferred, other]


def test_one_supplier_may_supply_many_products(client, company, make_supplier, make_product, link):
    supplier = make_supplier(company)
    first, second = make_product(company), make_product(company)
    link(company, first, supplier, is_preferred=True)
    link(company, second, supplier, is_preferred=True)
    assert links_of(client, company, first)[0]["is_preferred"] is True
    assert links_of(client, company, second)[0]["is_preferred"] is True


def test_product_suppliers_are_preferred_first_then_cheapest_then_by_supplier_id(
    client, company, make_supplier, make_product, link
):
    product = make_product(company)
    no_cost, dear, cheap_a, cheap_b, preferred = (make_supplier(company) for _ in range(5))
    link(company, product, no_cost)
    link(company, product, dear, cost_price="10.00")
    link(company, product, cheap_b, cost_price="2.00")
    link(company, product, cheap_a, cost_price="2.00")
    link(company, product, preferred, cost_price="99.00", is_preferred=True)
    order = [row["supplier_id"] for row in links_of(client, company, product)]
    assert order == [preferred["id"], cheap_a["id"], cheap_b["id"], dear["id"], no_cost["id"]]


def test_linking_a_second_preferred_supplier_demotes_the_first(
    client, company, make_supplier, make_product, link, count_rows
):
    product = make_product(company)
    first = make_supplier(company)
    second = make_supplier(company)
    link(company, product, first, is_preferred=True)
    link(company, product, second, is_preferred=True)
    rows = links_of(client, company, product)
    assert [(r["supplier_id"], r["is_preferred"]) for r in rows] == [
        (second["id"], True),
        (first["id"], False),
    ]
    assert count_rows(SupplierProduct, SupplierProduct.is_preferred.is_(True)) == 1


def test_patching_a_link_to_preferred_demotes_the_previous_one(
    client, company, make_supplier, make_product, link, count_rows
):
    product = make_product(company)
    first, second = make_supplier(company), make_supplier(company)
    link(company, product, first, is_preferred=True)
    link(company, product, second)
    response = client.patch(
        f"/api/products/{product['id']}/suppliers/{second['id']}",
        json={"is_preferred": True},
        headers=company.headers,
    )
    assert response.status_code == 200, response.json
    assert response.json["is_preferred"] is True
    rows = links_of(client, company, product)
    assert [(r["supplier_id"], r["is_preferred"]) for r in rows] == [
        (second["id"], True),
        (first["id"], False),
    ]
    assert count_rows(SupplierProduct, SupplierProduct.is_preferred.is_(True)) == 1


def test_patching_the_preferred_link_to_preferred_again_keeps_it(
    client, company, make_supplier, make_product, link
):
    product, supplier = make_product(company), make_supplier(company)
    created = link(company, product, supplier, is_preferred=True)
    response = client.patch(
        f"/api/products/{product['id']}/suppliers/{supplier['id']}",
        json={"is_preferred": True},
        headers=company.headers,
    )
    assert response.json == created


def test_preferred_index_violation_is_a_409(
    client, company, make_supplier, make_product, link, count_rows, monkeypatch
):
    # what a concurrent request that made another supplier preferred looks like:
    # the demotion saw nothing to demote, the one-preferred index refuses the second
    product = make_product(company)
    link(company, product, make_supplier(company), is_preferred=True)
    monkeypatch.setattr(service, "_demote_preferred", lambda company_id, product_id: None)
    response = client.post(
        f"/api/products/{product['id']}/suppliers",
        json={"supplier_id": make_supplier(company)["id"], "is_preferred": True},
        headers=company.headers,
    )
    problem = assert_problem(response, 409)
    assert problem["type"] == "urn:stockflow:problem:preferred-supplier-changed"
    assert count_rows(SupplierProduct) == 1


@pytest.mark.postgres
def test_concurrent_preferred_changes_leave_exactly_one_preferred(
    app, company, make_supplier, make_product, link, count_rows
):
    product = make_product(company)
    suppliers = [make_supplier(company) for _ in range(4)]
    for supplier in suppliers:
        link(company, product, supplier)
    barrier = threading.Barrier(len(suppliers))
    statuses = []

    def prefer(supplier):
        client = app.test_client()
        barrier.wait()
        response = client.patch(
            f"/api/products/{product['id']}/suppliers/{supplier['id']}",
            json={"is_preferred": True},
            headers=company.headers,
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=prefer, args=(s,)) for s in suppliers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert 200 in statuses and set(statuses) <= {200, 409}, statuses
    assert count_rows(SupplierProduct, SupplierProduct.is_preferred.is_(True)) == 1


def test_patch_link_changes_only_the_given_fields(
    client, company, make_supplier, make_product, link
):
    product, supplier = make_product(company), make_supplier(company)
    created = link(company, product, supplier, cost_price="5.00", lead_time_days=7, pack_size=12)
    response = client.patch(
        f"/api/products/{product['id']}/suppliers/{supplier['id']}",
        json={"cost_price": "4.5", "lead_time_days": None},
        headers=company.headers,
    )
    assert response.status_code == 200, response.json
    assert response.json == {**created, "cost_price": "4.50", "lead_time_days": None}
    assert links_of(client, company, product) == [response.json]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "_body"),
        ({"supplier_id": 5}, "supplier_id"),
        ({"pack_size": 0}, "pack_size"),
        ({"min_order_quantity": None}, "min_order_quantity"),
        ({"is_preferred": "yes"}, "is_preferred"),
        ({"cost_price": "1.001"}, "cost_price"),
    ],
)
def test_invalid_link_patch_is_a_400_and_changes_nothing(
    client, company, make_supplier, make_product, link, body, field
):
    product, supplier = make_product(company), make_supplier(company)
    created = link(company, product, supplier, cost_price="5.00")
    response = client.patch(
        f"/api/products/{product['id']}/suppliers/{supplier['id']}",
        json=body,
        headers=company.headers,
    )
    assert_problem(response, 400, field)
    assert links_of(client, company, product) == [created]


def test_patch_or_delete_of_a_link_that_does_not_exist_is_a_404(
    client, company, make_supplier, make_product
):
    product, supplier = make_product(company), make_supplier(company)
    path = f"/api/products/{product['id']}/suppliers/{supplier['id']}"
    assert_problem(client.patch(path, json={"pack_size": 2}, headers=company.headers), 404)
    assert_problem(client.delete(path, headers=company.headers), 404)


def test_delete_link_removes_the_row_and_keeps_the_supplier(
    client, company, make_supplier, make_product, link, count_rows
):
    product, supplier = make_product(company), make_supplier(company)
    link(company, product, supplier)
    path = f"/api/products/{product['id']}/suppliers/{supplier['id']}"
    response = client.delete(path, headers=company.headers)
    assert response.status_code == 204
    assert count_rows(SupplierProduct) == 0
    assert links_of(client, company, product) == []
    assert client.get(f"/api/suppliers/{supplier['id']}", headers=company.headers).json == supplier
    assert_problem(client.delete(path, headers=company.headers), 404)


def test_relinking_after_unlinking_is_allowed(client, company, make_supplier, make_product, link):
    product, supplier = make_product(company), make_supplier(company)
    link(company, product, supplier)
    path = f"/api/products/{product['id']}/suppliers/{supplier['id']}"
    assert client.delete(path, headers=company.headers).status_code == 204
    assert link(company, product, supplier, pack_size=4)["pack_size"] == 4


def test_archived_supplier_leaves_the_product_list_but_its_receipts_stay_in_the_ledger(
    client, company, make_supplier, make_product, make_warehouse, link
):
    product, warehouse = make_product(company), make_warehouse(company)
    gone, kept = make_supplier(company), make_supplier(company)
    link(company, product, gone, is_preferred=True)
    kept_link = link(company, product, kept)
    receipt = client.post(
        "/api/stock/receipts",
        json={
            "product_id": product["id"],
            "warehouse_id": warehouse["id"],
            "quantity": 5,
            "supplier_id": gone["id"],
            "unit_cost": "3.25",
        },
        headers=company.headers,
    )
    assert receipt.status_code == 201, receipt.json

    assert client.delete(f"/api/suppliers/{gone['id']}", headers=company.headers).status_code == 204

    assert links_of(client, company, product) == [kept_link]
    path = f"/api/products/{product['id']}/suppliers/{gone['id']}"
    assert_problem(client.patch(path, json={"pack_size": 2}, headers=company.headers), 404)
    ledger = client.get(f"/api/stock/ledger?product_id={product['id']}", headers=company.headers)
    assert ledger.status_code == 200, ledger.json
    receipts = [e for e in ledger.json["entries"] if e["reason"] == "receipt"]
    assert [(e["supplier_id"], e["unit_cost"], e["quantity_change"]) for e in receipts] == [
        (gone["id"], "3.25", 5)
    ]


def test_an_archived_suppliers_preferred_link_is_demoted_by_a_new_preferred_one(
    client, company, make_supplier, make_product, link, count_rows
):
    product = make_product(company)
    gone, new = make_supplier(company), make_supplier(company)
    link(company, product, gone, is_preferred=True)
    client.delete(f"/api/suppliers/{gone['id']}", headers=company.headers)
    assert link(company, product, new, is_preferred=True)["is_preferred"] is True
    assert count_rows(SupplierProduct, SupplierProduct.is_preferred.is_(True)) == 1


def test_receipts_naming_an_archived_supplier_are_refused(
    client, company, make_supplier, make_product, make_warehouse, count_rows
):
    product, warehouse = make_product(company), make_warehouse(company)
    supplier = make_supplier(company)
    client.delete(f"/api/suppliers/{supplier['id']}", headers=company.headers)
    response = client.post(
        "/api/stock/receipts",
        json={
            "product_id": product["id"],
            "warehouse_id": warehouse["id"],
            "quantity": 1,
            "supplier_id": supplier["id"],
        },
        headers=company.headers,
    )
    assert_problem(response, 400, "supplier_id")
    assert count_rows(LedgerEntry, LedgerEntry.reason == "receipt") == 0
