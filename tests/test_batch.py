"""POST /api/stock/batch: many stock operations in one transaction, all or nothing."""

from __future__ import annotations

import logging
import threading

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.extensions import db
from app.models import Inventory, LedgerEntry
from tests.helpers import assert_problem


class World:
    """Two warehouses (a, b), two stocked products (p: 10 in a; q: 5 in b), a supplier."""


@pytest.fixture
def w(client, company, make_warehouse, make_product):
    world = World()
    world.a, world.b = (make_warehouse(company, name=n)["id"] for n in ("A", "B"))
    world.p = make_product(company, warehouse_id=world.a, initial_quantity=10)["id"]
    world.q = make_product(company, warehouse_id=world.b, initial_quantity=5)["id"]
    response = client.post("/api/suppliers", json={"name": "S"}, headers=company.headers)
    world.supplier = response.json["id"]
    return world


def batch(client, tenant, operations, **headers):
    return client.post(
        "/api/stock/batch", json={"operations": operations}, headers={**tenant.headers, **headers}
    )


def sale(product, warehouse, quantity, **extra):
    return {
        "type": "sale",
        "product_id": product,
        "warehouse_id": warehouse,
        "quantity": quantity,
        **extra,
    }


def levels(app) -> dict[tuple[int, int], int]:
    """Every inventory row: (product id, warehouse id) -> quantity."""
    with app.app_context():
        rows = db.session.execute(
            sa.select(Inventory.product_id, Inventory.warehouse_id, Inventory.quantity)
        )
        return {(p, w): q for p, w, q in rows}


def ledger(app) -> list[tuple]:
    with app.app_context():
        return list(
            db.session.execute(
                sa.select(
                    LedgerEntry.product_id,
                    LedgerEntry.warehouse_id,
                    LedgerEntry.reason,
                    LedgerEntry.quantity_change,
                    LedgerEntry.quantity_after,
                ).order_by(LedgerEntry.id)
            )
        )


def ledger_matches_levels(app) -> None:
    """Every level equals the sum of its ledger rows and is never negative."""
    with app.app_context():
        sums = {
            (p, w): total
            for p, w, total in db.session.execute(
                sa.select(
                    LedgerEntry.product_id,
                    LedgerEntry.warehouse_id,
                    sa.func.sum(LedgerEntry.quantity_change),
                ).group_by(LedgerEntry.product_id, LedgerEntry.warehouse_id)
            )
        }
    for key, quantity in levels(app).items():
        assert quantity >= 0
        assert sums.get(key, 0) == quantity, key


# -- happy paths ------------------------------------------------------------------------


def test_a_batch_of_every_kind_applies_in_order_with_one_operation_id(app, client, company, w):
    response = batch(
        client,
        company,
        [
            sale(w.p, w.a, 3, reference="SO-1", note="first"),
            {
                "type": "transfer",
                "product_id": w.p,
                "from_warehouse_id": w.a,
                "to_warehouse_id": w.b,
                "quantity": 2,
            },
            {
                "type": "receipt",
                "product_id": w.q,
                "warehouse_id": w.a,
                "quantity": 4,
                "supplier_id": w.supplier,
                "unit_cost": "1.5",
            },
            {"type": "return", "product_id": w.p, "warehouse_id": w.a, "quantity": 1},
            {
                "type": "adjustment",
                "product_id": w.q,
                "warehouse_id": w.b,
                "quantity": 1,
                "expected_quantity": 5,
                "reason": "count",
            },
            {
                "type": "adjustment",
                "product_id": w.q,
                "warehouse_id": w.a,
                "delta": -1,
                "reason": "damaged",
                "occurred_at": "2024-05-01T12:00:00Z",
            },
        ],
    )
    assert response.status_code == 201, response.json
    body = response.json
    assert [(e["reason"], e["quantity_change"], e["quantity_after"]) for e in body["entries"]] == [
        ("sale", -3, 7),
        ("transfer_out", -2, 5),
        ("transfer_in", 2, 2),
        ("receipt", 4, 4),
        ("return", 1, 6),
        ("adjustment", -4, 1),
        ("adjustment", -1, 3),
    ]
    assert {e["operation_id"] for e in body["entries"]} == {body["operation_id"]}
    receipt = body["entries"][3]
    assert receipt["supplier_id"] == w.supplier and receipt["unit_cost"] == "1.50"
    assert body["entries"][0]["reference"] == "SO-1" and body["entries"][0]["note"] == "first"
    assert body["entries"][5]["note"] == "count"
    assert body["entries"][6]["occurred_at"].startswith("2024-05-01T12:00:00")
    assert body["stock"] == [
        {"product_id": w.p, "warehouse_id": w.a, "quantity": 6},
        {"product_id": w.p, "warehouse_id": w.b, "quantity": 2},
        {"product_id": w.q, "warehouse_id": w.a, "quantity": 3},
        {"product_id": w.q, "warehouse_id": w.b, "quantity": 1},
    ]
    assert levels(app) == {(w.p, w.a): 6, (w.p, w.b): 2, (w.q, w.a): 3, (w.q, w.b): 1}
    ledger_matches_levels(app)
    # the ledger read shows the same rows
    read = client.get("/api/stock/ledger?limit=500", headers=company.headers).json["entries"]
    assert {e["id"] for e in body["entries"]} <= {e["id"] for e in read}


def test_several_items_on_one_row_chain_their_levels(app, client, company, w):
    response = batch(client, company, [sale(w.p, w.a, 1) for _ in range(10)])
    assert response.status_code == 201, response.json
    assert [e["quantity_after"] for e in response.json["entries"]] == list(range(9, -1, -1))
    assert levels(app)[(w.p, w.a)] == 0


def test_a_new_inventory_row_gets_its_threshold(app, client, company, w):
    client.put(
        f"/api/products/{w.p}/reorder-rules/{w.b}", json={"threshold": 7}, headers=company.headers
    )
    response = batch(
        client,
        company,
        [{"type": "receipt", "product_id": w.q, "warehouse_id": w.a, "quantity": 1}]
        + [{"type": "receipt", "product_id": w.p, "warehouse_id": w.b, "quantity": 1}],
    )
    assert response.status_code == 201
    with app.app_context():
        thresholds = {
            (p, wh): t
            for p, wh, t in db.session.execute(
                sa.select(Inventory.product_id, Inventory.warehouse_id, Inventory.alert_threshold)
            )
        }
    assert thresholds[(w.q, w.a)] == 10 and thresholds[(w.p, w.b)] == 7


def test_a_bundle_in_a_batch_moves_its_leaf_components(app, client, company, w, make_product):
    bundle = make_product(company, is_bundle=True)["id"]
    client.put(
        f"/api/products/{bundle}/components",
        json=[{"product_id": w.p, "quantity": 2}, {"product_id": w.q, "quantity": 1}],
        headers=company.headers,
    )
    client.post(
        "/api/stock/receipts",
        json={"product_id": w.q, "warehouse_id": w.a, "quantity": 3},
        headers=company.headers,
    )
    response = batch(client, company, [sale(bundle, w.a, 2)])
    assert response.status_code == 201, response.json
    entries = response.json["entries"]
    assert {(e["product_id"], e["quantity_change"], e["bundle_product_id"]) for e in entries} == {
        (w.p, -4, bundle),
        (w.q, -2, bundle),
    }
    refused = batch(client, company, [sale(bundle, w.a, 2)])
    body = assert_problem(refused, 409, "operations.0.quantity", slug="batch-refused")
    assert body["items"][0]["available"] == 1


def test_an_idempotent_batch_replays_and_applies_once(app, client, company, w):
    operations = [sale(w.p, w.a, 2), sale(w.q, w.b, 1)]
    first = batch(client, company, operations, **{"Idempotency-Key": "batch-1"})
    again = batch(client, company, operations, **{"Idempotency-Key": "batch-1"})
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json == first.json and again.data == first.data
    assert first.headers["Content-Length"] == str(len(first.data))
    assert levels(app)[(w.p, w.a)] == 8 and levels(app)[(w.q, w.b)] == 4
    other = batch(client, company, [sale(w.p, w.a, 1)], **{"Idempotency-Key": "batch-1"})
    assert_problem(other, 422, slug="idempotency-key-reused")


# -- all or nothing -----------------------------------------------------------------------


def test_a_refused_item_refuses_the_batch_naming_every_bad_item_and_writes_nothing(
    app, client, company, w, count_rows
):
    before, entries = levels(app), count_rows(LedgerEntry)
    response = batch(
        client,
        company,
        [
            sale(w.p, w.a, 4),
            sale(w.p, w.a, 7),  # only 6 left after the first
            sale(w.p, w.a, 6),  # fits: the refused one changes nothing
            sale(w.q, w.b, 6),
            {
                "type": "adjustment",
                "product_id": w.q,
                "warehouse_id": w.b,
                "quantity": 3,
                "expected_quantity": 4,
                "reason": "count",
            },
            {
                "type": "receipt",
                "product_id": w.p,
                "warehouse_id": w.b,
                "quantity": 2**31 - 1,
            },
            {
                "type": "receipt",
                "product_id": w.p,
                "warehouse_id": w.b,
                "quantity": 1,
            },
            {
                "type": "adjustment",
                "product_id": w.q,
                "warehouse_id": w.a,
                "delta": -1,
                "reason": "x",
            },
        ],
    )
    body = assert_problem(
        response,
        409,
        "operations.1.quantity",
        "operations.3.quantity",
        "operations.4.expected_quantity",
        "operations.6.quantity",
        "operations.7.delta",
        slug="batch-refused",
    )
    facts = {item["index"]: item for item in body["items"]}
    assert facts[1]["problem"] == "insufficient-stock" and facts[1]["available"] == 6
    assert facts[3]["available"] == 5 and facts[3]["requested"] == 6
    assert facts[4]["problem"] == "stock-changed" and facts[4]["current_quantity"] == 5
    assert facts[6]["problem"] == "stock-limit"
    assert facts[7]["available"] == 0
    assert levels(app) == before and count_rows(LedgerEntry) == entries


def test_unknown_and_foreign_ids_are_400s_per_item(
    app, client, company, other_company, w, make_warehouse, make_product, count_rows
):
    theirs_w = make_warehouse(other_company)["id"]
    theirs_p = make_product(other_company, warehouse_id=theirs_w, initial_quantity=5)["id"]
    their_supplier = client.post(
        "/api/suppliers", json={"name": "T"}, headers=other_company.headers
    ).json["id"]
    before, entries = levels(app), count_rows(LedgerEntry)
    response = batch(
        client,
        company,
        [
            sale(w.p, w.a, 1),
            sale(theirs_p, w.a, 1),
            sale(w.p, theirs_w, 1),
            {
                "type": "transfer",
                "product_id": w.p,
                "from_warehouse_id": w.a,
                "to_warehouse_id": theirs_w,
                "quantity": 1,
            },
            {
                "type": "receipt",
                "product_id": w.p,
                "warehouse_id": w.a,
                "quantity": 1,
                "supplier_id": their_supplier,
            },
            sale(999_999, w.a, 1),
            {
                "type": "transfer",
                "product_id": w.p,
                "from_warehouse_id": w.a,
                "to_warehouse_id": w.a,
                "quantity": 1,
            },
        ],
    )
    body = assert_problem(
        response,
        400,
        "operations.1.product_id",
        "operations.2.warehouse_id",
        "operations.3.to_warehouse_id",
        "operations.4.supplier_id",
        "operations.5.product_id",
        "operations.6.to_warehouse_id",
        slug="validation-error",
    )
    assert body["errors"]["operations.1.product_id"] == ["Unknown product."]
    assert levels(app) == before and count_rows(LedgerEntry) == entries


def test_archived_rows_and_bundles_are_refused_per_item(app, client, company, w, make_product):
    spare = make_product(company)["id"]
    assert client.delete(f"/api/products/{spare}", headers=company.headers).status_code == 204
    bundle = make_product(company, is_bundle=True)["id"]
    response = batch(
        client,
        company,
        [
            sale(spare, w.a, 1),
            {
                "type": "adjustment",
                "product_id": bundle,
                "warehouse_id": w.a,
                "delta": 1,
                "reason": "x",
            },
            sale(bundle, w.a, 1),
        ],
    )
    body = assert_problem(
        response,
        400,
        "operations.0.product_id",
        "operations.1.product_id",
        "operations.2.product_id",
    )
    assert body["errors"]["operations.1.product_id"] == ["Bundles cannot be adjusted."]
    assert "has no components" in body["errors"]["operations.2.product_id"][0]


BAD_ITEMS = [
    ([], "operations"),
    ("x", "operations"),
    (["sale"], "operations.0"),
    ([{"product_id": 1, "warehouse_id": 1, "quantity": 1}], "operations.0.type"),
    ([{"type": "steal", "product_id": 1}], "operations.0.type"),
    ([{"type": 5}], "operations.0.type"),
    ([{"type": ["sale"]}], "operations.0.type"),  # unhashable: was a 500 (fuzzer)
    ([{"type": {}}], "operations.0.type"),
    ([{"type": "sale", "product_id": 1, "warehouse_id": 1}], "operations.0.quantity"),
    (
        [{"type": "sale", "product_id": 1, "warehouse_id": 1, "quantity": 0}],
        "operations.0.quantity",
    ),
    (
        [{"type": "sale", "product_id": 1, "warehouse_id": 1, "quantity": "1"}],
        "operations.0.quantity",
    ),
    (
        [{"type": "sale", "product_id": True, "warehouse_id": 1, "quantity": 1}],
        "operations.0.product_id",
    ),
    (
        [{"type": "sale", "product_id": 1, "warehouse_id": 2**31, "quantity": 1}],
        "operations.0.warehouse_id",
    ),
    (
        [{"type": "sale", "product_id": 1, "warehouse_id": 1, "quantity": 1.5}],
        "operations.0.quantity",
    ),
    (
        [{"type": "sale", "product_id": 1, "warehouse_id": 1, "quantity": 1, "x": 1}],
        "operations.0.x",
    ),
    (
        [{"type": "sale", "product_id": 1, "warehouse_id": 1, "quantity": 1, "delta": 1}],
        "operations.0.delta",
    ),
    (
        [{"type": "transfer", "product_id": 1, "warehouse_id": 1, "quantity": 1}],
        "operations.0.from_warehouse_id",
    ),
    (
        [{"type": "receipt", "product_id": 1, "warehouse_id": 1, "quantity": 1, "unit_cost": "-1"}],
        "operations.0.unit_cost",
    ),
    (
        [{"type": "sale", "product_id": 1, "warehouse_id": 1, "quantity": 1, "note": "a\x00b"}],
        "operations.0.note",
    ),
    (
        [
            {
                "type": "sale",
                "product_id": 1,
                "warehouse_id": 1,
                "quantity": 1,
                "occurred_at": "2999-01-01T00:00:00Z",
            }
        ],
        "operations.0.occurred_at",
    ),
    (
        [{"type": "adjustment", "product_id": 1, "warehouse_id": 1, "reason": "x"}],
        "operations.0.quantity",
    ),
    (
        [{"type": "adjustment", "product_id": 1, "warehouse_id": 1, "delta": 0, "reason": "x"}],
        "operations.0.delta",
    ),
    (
        [{"type": "adjustment", "product_id": 1, "warehouse_id": 1, "quantity": 1}],
        "operations.0.reason",
    ),
]


@pytest.mark.parametrize(("operations", "path"), BAD_ITEMS)
def test_bad_input_is_a_400_naming_the_item_and_field(
    app, client, company, w, count_rows, operations, path
):
    before, entries = levels(app), count_rows(LedgerEntry)
    response = client.post(
        "/api/stock/batch", json={"operations": operations}, headers=company.headers
    )
    body = assert_problem(response, 400, slug="validation-error")
    assert path in body["errors"], body["errors"]
    assert levels(app) == before and count_rows(LedgerEntry) == entries


def test_a_batch_has_at_most_1000_operations(client, company, w):
    too_many = batch(client, company, [sale(w.p, w.a, 1)] * 1001)
    assert_problem(too_many, 400, "operations")
    missing = client.post("/api/stock/batch", json={}, headers=company.headers)
    assert_problem(missing, 400, "operations")


def test_a_batch_of_1000_sales_over_many_products_succeeds(app, client, company, make_warehouse):
    warehouse = make_warehouse(company)["id"]
    products = client.post(
        "/api/products/import",
        json={
            "products": [
                {
                    "sku": f"B{i}",
                    "name": "b",
                    "price": 1,
                    "warehouse_id": warehouse,
                    "initial_quantity": 10,
                }
                for i in range(200)
            ]
        },
        headers=company.headers,
    ).json["products"]
    ids = [p["id"] for p in products]
    response = batch(client, company, [sale(ids[i % 200], warehouse, 1) for i in range(1000)])
    assert response.status_code == 201, response.json
    # the body is written after the commit (batch.JsonBody), still with its length
    assert response.headers["Content-Length"] == str(len(response.data))
    assert len(response.json["entries"]) == 1000
    assert set(levels(app).values()) == {5}
    ledger_matches_levels(app)


# -- a batch equals the same operations one by one -----------------------------------------

KINDS = st.sampled_from(["receipt", "sale", "return", "transfer", "adjust_delta", "count"])


def _operation(kind, product, warehouse, other, quantity, delta):
    if kind == "transfer":
        return "transfers", {
            "type": "transfer",
            "product_id": product,
            "from_warehouse_id": warehouse,
            "to_warehouse_id": other,
            "quantity": quantity,
        }
    if kind == "adjust_delta":
        return "adjustments", {
            "type": "adjustment",
            "product_id": product,
            "warehouse_id": warehouse,
            "delta": delta,
            "reason": "r",
        }
    if kind == "count":
        return "adjustments", {
            "type": "adjustment",
            "product_id": product,
            "warehouse_id": warehouse,
            "quantity": quantity,
            "reason": "r",
        }
    path = {"receipt": "receipts", "sale": "sales", "return": "returns"}[kind]
    return path, {
        "type": kind,
        "product_id": product,
        "warehouse_id": warehouse,
        "quantity": quantity,
    }


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    steps=st.lists(
        st.tuples(
            KINDS,
            st.integers(0, 2),  # product: 0, 1 plain, 2 a bundle of both
            st.integers(0, 1),  # warehouse
            st.integers(1, 6),
            st.integers(-6, 6).filter(bool),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_a_batch_does_what_the_same_operations_do_one_by_one(app, client, make_company, steps):
    def setup():
        tenant = make_company()
        warehouses = [
            client.post("/api/warehouses", json={"name": n}, headers=tenant.headers).json["id"]
            for n in ("A", "B")
        ]
        products = []
        for i in range(2):
            products.append(
                client.post(
                    "/api/products",
                    json={
                        "name": "p",
                        "sku": f"P{i}",
                        "price": 1,
                        "initial_stock": [{"warehouse_id": warehouses[0], "quantity": 5}],
                    },
                    headers=tenant.headers,
                ).json["id"]
            )
        bundle = client.post(
            "/api/products",
            json={"name": "b", "sku": "B", "price": 1, "is_bundle": True},
            headers=tenant.headers,
        ).json["id"]
        client.put(
            f"/api/products/{bundle}/components",
            json=[
                {"product_id": products[0], "quantity": 1},
                {"product_id": products[1], "quantity": 2},
            ],
            headers=tenant.headers,
        )
        return tenant, warehouses, [*products, bundle]

    one, w1, p1 = setup()
    many, w2, p2 = setup()

    def build(warehouses, products):
        ops = []
        for kind, product, warehouse, quantity, delta in steps:
            if product == 2 and kind in ("adjust_delta", "count"):
                product = 0
            ops.append(
                _operation(
                    kind,
                    products[product],
                    warehouses[warehouse],
                    warehouses[1 - warehouse],
                    quantity,
                    delta,
                )
            )
        return ops

    refused = set()
    single_entries = []
    for index, (path, body) in enumerate(build(w1, p1)):
        body = {k: v for k, v in body.items() if k != "type"}
        response = client.post(f"/api/stock/{path}", json=body, headers=one.headers)
        assert response.status_code in (201, 409), response.json
        if response.status_code == 409:
            refused.add(index)
        else:
            single_entries += response.json["entries"]

    response = batch(client, many, [body for _, body in build(w2, p2)])
    if refused:
        body = assert_problem(response, 409, slug="batch-refused")
        assert {item["index"] for item in body["items"]} == refused
        return
    assert response.status_code == 201, response.json
    # products and warehouses by their position in each company's setup
    ids = [({p: i for i, p in enumerate(p1)}, {x: i for i, x in enumerate(w1)})]
    ids.append(({p: i for i, p in enumerate(p2)}, {x: i for i, x in enumerate(w2)}))

    def shape(entries, index):
        products, warehouses = index
        return [
            (
                products[e["product_id"]],
                warehouses[e["warehouse_id"]],
                e["reason"],
                e["quantity_change"],
                e["quantity_after"],
                e["bundle_product_id"] and products[e["bundle_product_id"]],
            )
            for e in entries
        ]

    assert shape(response.json["entries"], ids[1]) == shape(single_entries, ids[0])


# -- concurrency (PostgreSQL) -------------------------------------------------------------


def run_concurrently(app, calls):
    """Send the requests from threads released together by a barrier; their responses."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def send(i, method, path, body, headers):
        client = app.test_client()
        barrier.wait()
        response = client.open(path, method=method, json=body, headers=headers)
        results[i] = (response.status_code, response.get_json(silent=True))

    threads = [threading.Thread(target=send, args=(i, *call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def _transfer(product, source, target):
    return {
        "type": "transfer",
        "product_id": product,
        "from_warehouse_id": source,
        "to_warehouse_id": target,
        "quantity": 1,
    }


@pytest.mark.postgres
def test_concurrent_batches_in_opposite_orders_never_deadlock_and_conserve_units(
    app, client, company, make_warehouse, make_product, caplog
):
    # a deadlock would be retried by @transactional and hidden from the client: its log says
    caplog.set_level(logging.INFO, logger="app.api")
    warehouses = [make_warehouse(company)["id"] for _ in range(3)]
    stock = [{"warehouse_id": wh, "quantity": 1000} for wh in warehouses]
    products = [make_product(company, initial_stock=stock)["id"] for _ in range(4)]
    rows = [(p, i) for p in products for i in range(3)]
    forward = [_transfer(p, warehouses[i], warehouses[(i + 1) % 3]) for p, i in rows]
    backward = [_transfer(p, warehouses[i], warehouses[(i - 1) % 3]) for p, i in reversed(rows)]
    # single operations lock in the same global order, so they join the race too
    singles = [
        (
            "POST",
            "/api/stock/transfers",
            {k: v for k, v in op.items() if k != "type"},
            company.headers,
        )
        for op in (forward[0], backward[0], forward[-1])
    ]
    for _ in range(20):
        results = run_concurrently(
            app,
            [
                ("POST", "/api/stock/batch", {"operations": forward}, company.headers),
                ("POST", "/api/stock/batch", {"operations": backward}, company.headers),
                ("POST", "/api/stock/batch", {"operations": forward[::-1]}, company.headers),
                *singles,
            ],
        )
        assert [status for status, _ in results] == [201] * len(results), results
    assert sum(q for (p, _), q in levels(app).items() if p in products) == 4 * 3 * 1000
    assert not [r for r in caplog.records if "40P01" in r.getMessage()], "deadlocked"
    ledger_matches_levels(app)


@pytest.mark.postgres
def test_a_batch_racing_an_archive_never_strands_stock(
    app, client, company, make_warehouse, make_product
):
    keep = make_warehouse(company)["id"]
    for _ in range(20):
        warehouse = make_warehouse(company)["id"]
        product = make_product(company)["id"]
        receipts = [
            {"type": "receipt", "product_id": product, "warehouse_id": keep, "quantity": 3},
            {"type": "receipt", "product_id": product, "warehouse_id": warehouse, "quantity": 2},
        ]
        results = run_concurrently(
            app,
            [
                ("POST", "/api/stock/batch", {"operations": receipts}, company.headers),
                ("DELETE", f"/api/products/{product}", None, company.headers),
                ("DELETE", f"/api/warehouses/{warehouse}", None, company.headers),
            ],
        )
        statuses = [status for status, _ in results]
        if statuses[0] == 201:
            # the receipts committed: neither archive may have slipped under them
            assert statuses[1] == 409 and statuses[2] == 409, results
        else:
            assert statuses[0] == 400, results
            assert 204 in statuses[1:], results
    with app.app_context():
        stranded = db.session.execute(
            sa.text(
                "SELECT count(*) FROM inventory i "
                "JOIN products p ON p.company_id = i.company_id AND p.id = i.product_id "
                "JOIN warehouses w ON w.company_id = i.company_id AND w.id = i.warehouse_id "
                "WHERE i.company_id = :company AND i.quantity > 0 "
                "AND (p.archived_at IS NOT NULL OR w.archived_at IS NOT NULL)"
            ),
            {"company": company.id},
        ).scalar_one()
    assert stranded == 0
    ledger_matches_levels(app)


@pytest.mark.parametrize("kind", [[None, None], {}, 7])
def test_an_operation_type_that_is_not_a_string_is_a_400_naming_it(client, company, kind):
    response = batch(client, company, [{"type": kind, "product_id": 1, "quantity": 1}])
    assert response.status_code == 400, response.json
    assert "operations.0.type" in str(response.json["errors"])
