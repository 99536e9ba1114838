"""POST /api/products and GET /api/products/<id>."""

import threading
from decimal import Decimal

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Inventory, LedgerEntry, Product
from tests.helpers import assert_problem


def test_create_product_returns_201_with_string_price_stock_and_location(
    client, company, make_warehouse
):
    warehouse = make_warehouse(company)
    response = client.post(
        "/api/products",
        json={
            "name": "  Widget A ",
            "sku": " WID-001 ",
            "price": 19.99,
            "warehouse_id": warehouse["id"],
            "initial_quantity": 5,
        },
        headers=company.headers,
    )
    assert response.status_code == 201, response.json
    body = response.json
    assert body["name"] == "Widget A"
    assert body["sku"] == "WID-001"
    assert body["price"] == "19.99"
    assert body["product_type"] == "regular"
    assert body["is_bundle"] is False
    assert body["low_stock_threshold"] is None
    assert body["stock"] == [{"warehouse_id": warehouse["id"], "quantity": 5}]
    assert response.headers["Location"] == f"/api/products/{body['id']}"

    fetched = client.get(response.headers["Location"], headers=company.headers)
    assert fetched.status_code == 200
    assert fetched.json == body


def test_initial_stock_in_several_warehouses_writes_inventory_and_one_initial_ledger_row_each(
    app, client, company, make_warehouse
):
    first, second = make_warehouse(company), make_warehouse(company)
    response = client.post(
        "/api/products",
        json={
            "name": "Gadget",
            "sku": "GAD-1",
            "price": "5",
            "initial_stock": [
                {"warehouse_id": first["id"], "quantity": 7},
                {"warehouse_id": second["id"], "quantity": 0},
            ],
        },
        headers=company.headers,
    )
    assert response.status_code == 201, response.json
    assert response.json["price"] == "5.00"
    assert response.json["stock"] == [
        {"warehouse_id": first["id"], "quantity": 7},
        {"warehouse_id": second["id"], "quantity": 0},
    ]
    with app.app_context():
        ledger = db.session.execute(
            sa.select(
                LedgerEntry.warehouse_id,
                LedgerEntry.reason,
                LedgerEntry.quantity_change,
                LedgerEntry.quantity_after,
            ).order_by(LedgerEntry.warehouse_id)
        ).all()
        operations = set(db.session.scalars(sa.select(LedgerEntry.operation_id)))
    assert [tuple(row) for row in ledger] == [
        (first["id"], "initial", 7, 7),
        (second["id"], "initial", 0, 0),
    ]
    assert len(operations) == 1


def test_price_is_stored_exactly(app, client, company):
    response = client.post(
        "/api/products",
        json={"name": "Pricey", "sku": "P-1", "price": 9999999999.99},
        headers=company.headers,
    )
    assert response.status_code == 201, response.json
    assert response.json["price"] == "9999999999.99"
    with app.app_context():
        assert db.session.scalar(sa.select(Product.price)) == Decimal("9999999999.99")


@pytest.mark.parametrize("price", ["0", 0, "0.1", 12, "12.50", 12.5, 1e2])
def test_valid_prices_are_accepted(client, company, price):
    response = client.post(
        "/api/products", json={"name": "P", "sku": "P", "price": price}, headers=company.headers
    )
    assert response.status_code == 201, response.json
    assert Decimal(response.json["price"]) == Decimal(str(price))


VALID = {"name": "Widget", "sku": "W-1", "price": "1.00"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": None}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 256}, "name"),
        ({"name": 42}, "name"),
        ({"name": "bad\x00name"}, "name"),
        ({"name": "line\nbreak"}, "name"),
        ({"sku": ""}, "sku"),
        ({"sku": "s" * 101}, "sku"),
        ({"sku": ["list"]}, "sku"),
        ({"sku": "tab\there"}, "sku"),
        ({"price": None}, "price"),
        ({"price": -1}, "price"),
        ({"price": "-0.01"}, "price"),
        ({"price": "1e2"}, "price"),  # a string amount is plain digits
        ({"price": "1.999"}, "price"),
        ({"price": 0.001}, "price"),
        ({"price": "10000000000"}, "price"),
        ({"price": "12345678901.00"}, "price"),
        ({"price": "NaN"}, "price"),
        ({"price": "Infinity"}, "price"),
        ({"price": "-Infinity"}, "price"),
        ({"price": True}, "price"),
        ({"price": False}, "price"),
        ({"price": "abc"}, "price"),
        ({"price": "1e999999999"}, "price"),
        ({"price": {"amount": 1}}, "price"),
        ({"product_type": ""}, "product_type"),
        ({"product_type": "has space"}, "product_type"),
        ({"product_type": "x" * 51}, "product_type"),
        ({"product_type": None}, "product_type"),
        ({"low_stock_threshold": -1}, "low_stock_threshold"),
        ({"low_stock_threshold": 1.5}, "low_stock_threshold"),
        ({"low_stock_threshold": "5"}, "low_stock_threshold"),
        ({"low_stock_threshold": True}, "low_stock_threshold"),
        ({"low_stock_threshold": 2**31}, "low_stock_threshold"),
        ({"is_bundle": 1}, "is_bundle"),
        ({"is_bundle": "true"}, "is_bundle"),
        ({"is_bundle": None}, "is_bundle"),
        ({"unknown_field": 1}, "unknown_field"),
        ({"id": 5}, "id"),
        ({"initial_quantity": 3}, "warehouse_id"),
        ({"warehouse_id": 0}, "warehouse_id"),
        ({"warehouse_id": "1"}, "warehouse_id"),
        ({"warehouse_id": 2**31}, "warehouse_id"),
        ({"initial_stock": "many"}, "initial_stock"),
        ({"initial_stock": [{"warehouse_id": 1}]}, "initial_stock.0.quantity"),
        ({"initial_stock": [{"quantity": 1}]}, "initial_stock.0.warehouse_id"),
        ({"initial_stock": [{"warehouse_id": 1, "quantity": -1}]}, "initial_stock.0.quantity"),
        ({"initial_stock": [{"warehouse_id": 1, "quantity": 1.5}]}, "initial_stock.0.quantity"),
        ({"initial_stock": [{"warehouse_id": 1, "quantity": 2**31}]}, "initial_stock.0.quantity"),
        ({"initial_stock": [{"warehouse_id": 1, "quantity": 1, "x": 1}]}, "initial_stock.0.x"),
    ],
)
def test_invalid_field_is_a_400_naming_it_and_writes_nothing(
    client, company, count_rows, change, field
):
    body = {**VALID, **change}
    response = client.post("/api/products", json=body, headers=company.headers)
    problem = assert_problem(response, 400, field)
    assert problem["type"].endswith("validation-error")
    assert count_rows(Product) == 0
    assert count_rows(Inventory) == 0
    assert count_rows(LedgerEntry) == 0


@pytest.mark.parametrize("missing", ["name", "sku", "price"])
def test_missing_required_field_is_a_400(client, company, count_rows, missing):
    body = {k: v for k, v in VALID.items() if k != missing}
    response = client.post("/api/products", json=body, headers=company.headers)
    assert_problem(response, 400, missing)
    assert count_rows(Product) == 0


def test_both_shapes_of_initial_stock_at_once_is_a_400(client, company, make_warehouse):
    warehouse = make_warehouse(company)
    response = client.post(
        "/api/products",
        json={
            **VALID,
            "warehouse_id": warehouse["id"],
            "initial_quantity": 1,
            "initial_stock": [{"warehouse_id": warehouse["id"], "quantity": 1}],
        },
        headers=company.headers,
    )
    assert_problem(response, 400, "initial_stock")


def test_a_warehouse_listed_twice_is_a_400(client, company, make_warehouse, count_rows):
    warehouse = make_warehouse(company)
    rows = [{"warehouse_id": warehouse["id"], "quantity": 1}] * 2
    response = client.post(
        "/api/products", json={**VALID, "initial_stock": rows}, headers=company.headers
    )
    assert_problem(response, 400, "initial_stock")
    assert count_rows(Product) == 0


def test_a_bundle_with_initial_stock_is_a_400(client, company, make_warehouse, count_rows):
    warehouse = make_warehouse(company)
    response = client.post(
        "/api/products",
        json={**VALID, "is_bundle": True, "warehouse_id": warehouse["id"], "initial_quantity": 2},
        headers=company.headers,
    )
    assert_problem(response, 400, "warehouse_id")
    assert count_rows(Product) == 0


def test_body_that_is_not_an_object_is_a_400(client, company):
    for body in ([VALID], "text", 42, None):
        response = client.post("/api/products", json=body, headers=company.headers)
        assert_problem(response, 400)


def test_warehouse_of_another_company_is_a_400_naming_the_field_and_writes_nothing(
    client, company, other_company, make_warehouse, count_rows
):
    foreign = make_warehouse(other_company)
    response = client.post(
        "/api/products",
        json={**VALID, "warehouse_id": foreign["id"], "initial_quantity": 3},
        headers=company.headers,
    )
    assert_problem(response, 400, "warehouse_id")
    response = client.post(
        "/api/products",
        json={**VALID, "initial_stock": [{"warehouse_id": foreign["id"], "quantity": 3}]},
        headers=company.headers,
    )
    assert_problem(response, 400, "initial_stock.0.warehouse_id")
    assert count_rows(Product) == 0
    assert count_rows(Inventory) == 0
    assert count_rows(LedgerEntry) == 0


def test_unknown_warehouse_in_second_row_rejects_the_whole_product(
    client, company, make_warehouse, count_rows
):
    warehouse = make_warehouse(company)
    response = client.post(
        "/api/products",
        json={
            **VALID,
            "initial_stock": [
                {"warehouse_id": warehouse["id"], "quantity": 3},
                {"warehouse_id": 999999, "quantity": 3},
            ],
        },
        headers=company.headers,
    )
    assert_problem(response, 400, "initial_stock.1.warehouse_id")
    assert count_rows(Product) == 0
    assert count_rows(Inventory) == 0


def test_opening_stock_in_a_deleted_warehouse_is_a_400_naming_the_field_and_writes_nothing(
    client, company, make_warehouse, count_rows
):
    warehouse = make_warehouse(company)["id"]
    assert client.delete(f"/api/warehouses/{warehouse}", headers=company.headers).status_code == 204
    response = client.post(
        "/api/products",
        json={**VALID, "warehouse_id": warehouse, "initial_quantity": 7},
        headers=company.headers,
    )
    assert_problem(response, 400, "warehouse_id")
    assert count_rows(Product) == 0
    assert count_rows(Inventory) == 0


def test_duplicate_sku_in_the_same_company_is_a_409_and_writes_nothing(
    client, company, make_product, count_rows
):
    make_product(company, sku="DUP-1")
    response = client.post("/api/products", json={**VALID, "sku": "DUP-1"}, headers=company.headers)
    body = assert_problem(response, 409)
    assert body["type"].endswith("duplicate-sku")
    assert "DUP-1" in body["detail"]
    assert count_rows(Product) == 1


def test_sku_is_case_sensitive_and_trimmed(client, company, make_product):
    make_product(company, sku="abc")
    assert (
        client.post(
            "/api/products", json={**VALID, "sku": "ABC"}, headers=company.headers
        ).status_code
        == 201
    )
    response = client.post("/api/products", json={**VALID, "sku": " abc "}, headers=company.headers)
    assert response.status_code == 409


def test_same_sku_in_another_company_is_allowed(client, company, other_company, make_product):
    make_product(company, sku="SHARED-1", name="Acme's")
    response = client.post(
        "/api/products", json={**VALID, "sku": "SHARED-1"}, headers=other_company.headers
    )
    assert response.status_code == 201
    # and the 409 in one company never mentions the other one's product
    again = client.post(
        "/api/products", json={**VALID, "sku": "SHARED-1"}, headers=other_company.headers
    )
    assert again.status_code == 409
    assert "Acme" not in again.get_data(as_text=True)


@pytest.mark.postgres
def test_two_concurrent_creates_of_one_sku_give_one_201_and_one_409(app, company, count_rows):
    barrier = threading.Barrier(2)
    statuses = []

    def create():
        client = app.test_client()
        barrier.wait()
        response = client.post(
            "/api/products", json={**VALID, "sku": "RACE-1"}, headers=company.headers
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=create) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201, 409]
    assert count_rows(Product) == 1


@pytest.fixture
def ledger_inserts_fail(app):
    """A database trigger that makes every ledger insert fail (a fault after the product insert)."""
    with app.app_context():
        with db.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(
                    sa.text(
                        "CREATE FUNCTION fail_ledger() RETURNS trigger AS $$ BEGIN "
                        "RAISE EXCEPTION 'injected failure'; END $$ LANGUAGE plpgsql"
                    )
                )
                connection.execute(
                    sa.text(
                        "CREATE TRIGGER fail_ledger BEFORE INSERT ON inventory_ledger "
                        "FOR EACH ROW EXECUTE FUNCTION fail_ledger()"
                    )
                )
            else:
                connection.execute(
                    sa.text(
                        "CREATE TRIGGER fail_ledger BEFORE INSERT ON inventory_ledger "
                        "BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
                    )
                )
    yield
    with app.app_context():
        with db.engine.begin() as connection:
            connection.execute(
                sa.text("DROP TRIGGER fail_ledger ON inventory_ledger")
                if connection.dialect.name == "postgresql"
                else sa.text("DROP TRIGGER fail_ledger")
            )
            if connection.dialect.name == "postgresql":
                connection.execute(sa.text("DROP FUNCTION fail_ledger()"))


@pytest.mark.plain_postgres(
    "injects the failure with a trigger; Citus refuses triggers on distributed tables"
)
def test_failure_after_the_product_insert_leaves_no_product_inventory_or_ledger_row(
    client, company, make_warehouse, count_rows, ledger_inserts_fail
):
    warehouse = make_warehouse(company)
    response = client.post(
        "/api/products",
        json={**VALID, "warehouse_id": warehouse["id"], "initial_quantity": 4},
        headers=company.headers,
    )
    assert_problem(response, 500)
    assert "injected" not in response.get_data(as_text=True)  # no internals leak
    assert count_rows(Product) == 0
    assert count_rows(Inventory) == 0
    assert count_rows(LedgerEntry) == 0


def test_retry_with_the_same_idempotency_key_replays_without_creating_again(
    client, company, make_warehouse, count_rows
):
    warehouse = make_warehouse(company)
    body = {**VALID, "warehouse_id": warehouse["id"], "initial_quantity": 2}
    headers = {**company.headers, "Idempotency-Key": "order-123"}
    first = client.post("/api/products", json=body, headers=headers)
    second = client.post("/api/products", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.json == first.json
    assert second.headers["Location"] == first.headers["Location"]
    assert second.headers["Idempotent-Replayed"] == "true"
    assert count_rows(Product) == 1
    assert count_rows(LedgerEntry) == 1


def test_same_idempotency_key_with_a_different_body_is_a_422(client, company, count_rows):
    headers = {**company.headers, "Idempotency-Key": "k-1"}
    assert client.post("/api/products", json=VALID, headers=headers).status_code == 201
    response = client.post("/api/products", json={**VALID, "sku": "OTHER"}, headers=headers)
    assert_problem(response, 422)
    assert count_rows(Product) == 1


def test_a_retry_with_the_same_json_in_another_layout_replays(client, company, count_rows):
    """The key fingerprints the parsed body: key order, white space and how a number
    is written do not make another request."""
    headers = {**company.headers, "Idempotency-Key": "layout", "Content-Type": "application/json"}
    first = client.post(
        "/api/products",
        data='{"name": "Widget", "sku": "W-1", "price": 19.9, "low_stock_threshold": 3}',
        headers=headers,
    )
    assert first.status_code == 201, first.json
    for layout in (
        '{"sku":"W-1","price":19.9,"low_stock_threshold":3,"name":"Widget"}',
        '{\n  "low_stock_threshold": 3,\n  "price": 19.90,\n  "sku": "W-1",\n  "name": "Widget"\n}',
        '{"name": "Widget", "sku": "W-1", "price": 1.99e1, "low_stock_threshold": 3}',
        '{"name": "\\u0057idget", "sku": "W-1", "price": 19.9, "low_stock_threshold": 3}',
    ):
        replay = client.post("/api/products", data=layout, headers=headers)
        assert replay.status_code == 201, (layout, replay.json)
        assert replay.headers["Idempotent-Replayed"] == "true"
        assert replay.json == first.json
    assert count_rows(Product) == 1


def test_a_retry_whose_json_differs_in_value_is_a_422_even_when_floats_would_agree(
    client, company, count_rows
):
    headers = {**company.headers, "Idempotency-Key": "exact", "Content-Type": "application/json"}
    body = '{"name": "Widget", "sku": "W-1", "price": %s}'
    assert client.post("/api/products", data=body % "1.1", headers=headers).status_code == 201
    # the same float, another decimal: a different request
    for other in ("1.1000000000000001", '"1.1"', "1.2"):
        response = client.post("/api/products", data=body % other, headers=headers)
        assert_problem(response, 422, slug="idempotency-key-reused")
    assert count_rows(Product) == 1


def test_idempotency_keys_are_per_company(client, company, other_company, count_rows):
    for tenant in (company, other_company):
        headers = {**tenant.headers, "Idempotency-Key": "same-key"}
        assert client.post("/api/products", json=VALID, headers=headers).status_code == 201
    assert count_rows(Product) == 2


def test_a_failed_request_does_not_burn_its_idempotency_key(client, company, count_rows):
    headers = {**company.headers, "Idempotency-Key": "k-2"}
    bad = client.post("/api/products", json={**VALID, "price": -1}, headers=headers)
    assert bad.status_code == 400
    good = client.post("/api/products", json=VALID, headers=headers)
    assert good.status_code == 201
    assert count_rows(Product) == 1


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "tab\tkey", "ünïcode"])
def test_malformed_idempotency_key_is_a_400(client, company, count_rows, key):
    headers = {**company.headers, "Idempotency-Key": key}
    response = client.post("/api/products", json=VALID, headers=headers)
    assert_problem(response, 400, "Idempotency-Key")
    assert count_rows(Product) == 0


@pytest.mark.postgres
def test_concurrent_retries_with_one_idempotency_key_create_once(app, company, count_rows):
    barrier = threading.Barrier(4)
    responses = []

    def create():
        client = app.test_client()
        barrier.wait()
        headers = {**company.headers, "Idempotency-Key": "burst"}
        responses.append(client.post("/api/products", json=VALID, headers=headers))

    threads = [threading.Thread(target=create) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.status_code for r in responses] == [201] * 4
    assert len({r.json["id"] for r in responses}) == 1
    assert count_rows(Product) == 1


def test_get_product_of_another_company_is_a_404_like_a_missing_one(
    client, company, other_company, make_product
):
    product = make_product(company)
    foreign = client.get(f"/api/products/{product['id']}", headers=other_company.headers)
    missing = client.get("/api/products/999999", headers=other_company.headers)
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json == missing.json


def test_the_sku_of_a_deleted_product_stays_reserved_and_the_409_says_so(
    client, company, make_product
):
    product = make_product(company, sku="OLD-1")
    assert (
        client.delete(f"/api/products/{product['id']}", headers=company.headers).status_code == 204
    )
    response = client.post("/api/products", json={**VALID, "sku": "OLD-1"}, headers=company.headers)
    problem = assert_problem(response, 409, slug="duplicate-sku")
    assert "deleted products stay reserved" in problem["detail"]
