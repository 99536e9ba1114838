"""Bulk catalog import (POST /api/products/import), export (GET /api/products/export),
GET /api/stock/levels and ``flask import-products``."""

from __future__ import annotations

import csv
import io
import json
import threading

import pytest
import sqlalchemy as sa

from app import changes
from app.extensions import db
from app.models import IdempotencyKey, Inventory, LedgerEntry, Product
from app.products.schemas import lean_import_item
from tests.conftest import build_app
from tests.helpers import assert_problem


def post_csv(client, tenant, text: str, query: str = "", **headers):
    return client.post(
        f"/api/products/import{query}",
        data=text.encode(),
        content_type="text/csv",
        headers={**tenant.headers, **headers},
    )


def post_json(client, tenant, products, query: str = "", **headers):
    return client.post(
        f"/api/products/import{query}",
        json={"products": products},
        headers={**tenant.headers, **headers},
    )


def snapshot(app) -> dict:
    """The catalog, stock and ledger: a refused import leaves them as they were."""
    with app.app_context():
        return {
            "products": sorted(
                db.session.execute(
                    sa.select(
                        Product.company_id,
                        Product.sku,
                        Product.name,
                        Product.price,
                        Product.product_type,
                        Product.low_stock_threshold,
                        Product.is_bundle,
                    )
                ).all()
            ),
            "inventory": sorted(
                db.session.execute(
                    sa.select(
                        Inventory.product_id,
                        Inventory.warehouse_id,
                        Inventory.quantity,
                        Inventory.alert_threshold,
                    )
                ).all()
            ),
            "ledger": db.session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry)),
        }


def product_by_sku(client, tenant, sku) -> dict:
    found = client.get(f"/api/products?sku={sku}", headers=tenant.headers).json
    assert len(found) == 1, found
    return found[0]


@pytest.fixture
def warehouses(company, make_warehouse):
    return make_warehouse(company, name="A")["id"], make_warehouse(company, name="B")["id"]


# -- import: happy paths --------------------------------------------------------------------


def test_a_csv_with_a_warehouse_and_quantity_pair_creates_products_with_stock(
    app, client, company, warehouses
):
    a, _ = warehouses
    response = post_csv(
        client,
        company,
        "sku,name,price,product_type,low_stock_threshold,warehouse_id,quantity\n"
        f"A-1,Alpha,1.50,fast_moving,,{a},5\n"
        f"B-1,Beta,2,regular,3,{a},0\n"
        "C-1,Gamma,0.99,,,,\n",
    )
    assert response.status_code == 200, response.json
    body = response.json
    assert (body["created"], body["updated"], body["stock_ignored"]) == (3, 0, 0)
    assert [row["action"] for row in body["products"]] == ["created"] * 3
    alpha = product_by_sku(client, company, "A-1")
    assert alpha["price"] == "1.50" and alpha["product_type"] == "fast_moving"
    assert alpha["stock"] == [{"warehouse_id": a, "quantity": 5}]
    gamma = product_by_sku(client, company, "C-1")
    assert gamma["product_type"] == "regular" and gamma["stock"] == []
    assert product_by_sku(client, company, "B-1")["low_stock_threshold"] == 3
    ledger = client.get("/api/stock/ledger?reason=initial", headers=company.headers).json
    assert sorted((e["product_id"], e["quantity_change"]) for e in ledger["entries"]) == sorted(
        [(alpha["id"], 5), (product_by_sku(client, company, "B-1")["id"], 0)]
    )
    with app.app_context():
        thresholds = dict(
            db.session.execute(sa.select(Inventory.product_id, Inventory.alert_threshold)).all()
        )
    # the threshold rule: the product's own, else its type's
    assert thresholds == {alpha["id"]: 20, product_by_sku(client, company, "B-1")["id"]: 3}


def test_a_csv_with_one_stock_column_per_warehouse(client, company, warehouses):
    a, b = warehouses
    response = post_csv(
        client, company, f"sku,name,price,stock:{a},stock:{b}\nS-1,One,1,4,\nS-2,Two,1,1,2\n"
    )
    assert response.status_code == 200, response.json
    assert product_by_sku(client, company, "S-1")["stock"] == [{"warehouse_id": a, "quantity": 4}]
    assert product_by_sku(client, company, "S-2")["stock"] == [
        {"warehouse_id": a, "quantity": 1},
        {"warehouse_id": b, "quantity": 2},
    ]


def test_json_rows_are_product_bodies_and_an_existing_sku_gets_only_the_listed_fields(
    app, client, company, warehouses, make_product
):
    a, b = warehouses
    old = make_product(
        company,
        sku="OLD",
        name="Old",
        price="5.00",
        product_type="slow_moving",
        low_stock_threshold=2,
        warehouse_id=a,
        initial_quantity=7,
    )
    response = post_json(
        client,
        company,
        [
            {
                "sku": "OLD",
                "name": "Renamed",
                "price": "6",
                "initial_stock": [{"warehouse_id": b, "quantity": 9}],
            },
            {"sku": "NEW", "name": "New", "price": 1, "is_bundle": True},
            {"sku": "NEW2", "name": "New 2", "price": 1, "warehouse_id": b, "initial_quantity": 3},
        ],
    )
    assert response.status_code == 200, response.json
    body = response.json
    assert (body["created"], body["updated"], body["stock_ignored"]) == (2, 1, 1)
    assert body["products"][0] == {
        "row": 0,
        "sku": "OLD",
        "id": old["id"],
        "action": "updated",
        "stock_ignored": True,
    }
    updated = product_by_sku(client, company, "OLD")
    # listed fields changed, the others kept; opening stock of an existing SKU ignored
    assert (updated["name"], updated["price"]) == ("Renamed", "6.00")
    assert (updated["product_type"], updated["low_stock_threshold"]) == ("slow_moving", 2)
    assert updated["stock"] == [{"warehouse_id": a, "quantity": 7}]
    assert product_by_sku(client, company, "NEW")["is_bundle"] is True
    assert product_by_sku(client, company, "NEW2")["stock"] == [{"warehouse_id": b, "quantity": 3}]


def test_changing_a_type_or_threshold_by_import_recomputes_the_alert_thresholds(
    app, client, company, warehouses, make_product
):
    a, _ = warehouses
    product = make_product(company, sku="T", warehouse_id=a, initial_quantity=1)
    post_csv(client, company, "sku,name,price,low_stock_threshold\nT,T,1,42\n")
    with app.app_context():
        threshold = db.session.scalar(
            sa.select(Inventory.alert_threshold).where(Inventory.product_id == product["id"])
        )
    assert threshold == 42


def test_a_dry_run_checks_everything_and_writes_nothing(app, client, company, warehouses):
    a, _ = warehouses
    before = snapshot(app)
    with app.app_context():
        version = changes.version(company.id)
    ok = post_csv(client, company, f"sku,name,price,stock:{a}\nD-1,D,1,5\n", "?dry_run=true")
    assert ok.status_code == 200, ok.json
    assert ok.json["dry_run"] is True and ok.json["created"] == 1
    assert ok.json["products"][0]["id"] is None
    bad = post_csv(client, company, "sku,name,price,stock:999\nD-1,D,1,5\n", "?dry_run=true")
    assert_problem(bad, 400, "products.0.initial_stock.0.warehouse_id")
    assert snapshot(app) == before
    with app.app_context():
        assert changes.version(company.id) == version  # pollers see no change


def test_an_import_replays_with_its_idempotency_key(app, client, company, warehouses):
    a, _ = warehouses
    text = f"sku,name,price,warehouse_id,quantity\nI-1,I,1,{a},5\n"
    first = post_csv(client, company, text, **{"Idempotency-Key": "import-1"})
    again = post_csv(client, company, text, **{"Idempotency-Key": "import-1"})
    assert first.status_code == again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true" and again.json == first.json
    assert product_by_sku(client, company, "I-1")["stock"] == [{"warehouse_id": a, "quantity": 5}]
    # without the key, the same file again updates: no second opening stock
    third = post_csv(client, company, text)
    assert third.json["updated"] == 1 and third.json["stock_ignored"] == 1
    assert product_by_sku(client, company, "I-1")["stock"] == [{"warehouse_id": a, "quantity": 5}]


# -- import: all or nothing, per-row errors, bad input ----------------------------------------


def test_a_bad_row_refuses_the_import_naming_every_bad_row_and_field(
    app, client, company, other_company, warehouses, make_warehouse, make_product
):
    a, _ = warehouses
    theirs = make_warehouse(other_company)["id"]
    make_product(company, sku="BUNDLE", is_bundle=True)
    before = snapshot(app)
    response = post_json(
        client,
        company,
        [
            {"sku": "OK", "name": "fine", "price": 1, "warehouse_id": a, "initial_quantity": 1},
            {"sku": "X1", "name": "x", "price": "-1"},
            {"sku": "X2", "name": "x", "price": 1, "warehouse_id": theirs, "initial_quantity": 1},
            {"sku": "OK", "name": "again", "price": 1},
            {"sku": "BUNDLE", "name": "b", "price": 1, "is_bundle": False},
        ],
    )
    # schema errors are reported first (they need no database)
    assert_problem(response, 400, "products.1.price")
    response = post_json(
        client,
        company,
        [
            {"sku": "OK", "name": "fine", "price": 1, "warehouse_id": a, "initial_quantity": 1},
            {"sku": "X2", "name": "x", "price": 1, "warehouse_id": theirs, "initial_quantity": 1},
            {"sku": "OK", "name": "again", "price": 1},
            {"sku": "BUNDLE", "name": "b", "price": 1, "is_bundle": False},
        ],
    )
    body = assert_problem(
        response, 400, "products.1.warehouse_id", "products.2.sku", "products.3.is_bundle"
    )
    assert body["errors"]["products.1.warehouse_id"] == ["Unknown warehouse."]
    assert snapshot(app) == before


def test_the_sku_of_a_deleted_product_is_a_409(app, client, company, make_product):
    gone = make_product(company, sku="GONE")
    client.delete(f"/api/products/{gone['id']}", headers=company.headers)
    before = snapshot(app)
    response = post_csv(client, company, "sku,name,price\nGONE,g,1\n")
    assert_problem(response, 409, "products.0.sku", slug="duplicate-sku")
    assert snapshot(app) == before


BAD_CSV = [
    ("", "_body"),
    ("sku,name,price,colour\nA,a,1,red\n", "_header"),
    ("sku,name,price,sku\nA,a,1,B\n", "_header"),
    ("sku,name,price,warehouse_id\nA,a,1,1\n", "_header"),
    ("sku,name,price\nA,a\n", "products.0"),
    ('sku,name,price\nA,"a\n', "_body"),
    ("sku,name,price\nA,a,1.001\n", "products.0.price"),
    ("sku,name,price\nA,a,abc\n", "products.0.price"),
    ("sku,name\nA,a\n", "products.0.price"),
    ("sku,name,price,low_stock_threshold\nA,a,1,-1\n", "products.0.low_stock_threshold"),
    ("sku,name,price,low_stock_threshold\nA,a,1,x\n", "products.0.low_stock_threshold"),
    ("sku,name,price,is_bundle\nA,a,1,maybe\n", "products.0.is_bundle"),
    ("sku,name,price,stock:1\nA,a,1,-5\n", "products.0.initial_stock.0.quantity"),
    ("sku,name,price,stock:1\nA,a,1,99999999999\n", "products.0.initial_stock.0.quantity"),
    ("sku,name,price,product_type\nA,a,1,no spaces\n", "products.0.product_type"),
    ("sku,name,price\nA,a\x01b,1\n", "products.0.name"),
    ("sku,name,price\n" + "x" * 101 + ",a,1\n", "products.0.sku"),
    ("sku,name,price,is_bundle,stock:1\nA,a,1,true,3\n", "products.0.initial_stock"),
]


@pytest.mark.parametrize(("text", "path"), BAD_CSV)
def test_bad_csv_is_a_400_naming_the_row_and_column(app, client, company, text, path):
    before = snapshot(app)
    body = assert_problem(post_csv(client, company, text), 400, slug="validation-error")
    assert path in body["errors"], body["errors"]
    assert snapshot(app) == before


def test_bad_json_bodies_are_400s(app, client, company):
    before = snapshot(app)
    for products, path in [
        ([], "products"),
        ("x", "products"),
        ([{"sku": "A", "name": "a", "price": 1, "colour": "red"}], "products.0.colour"),
        (
            [{"sku": "A", "name": "a", "price": 1, "initial_stock": [{"warehouse_id": 1}]}],
            "products.0.initial_stock.0.quantity",
        ),
    ]:
        body = assert_problem(post_json(client, company, products), 400)
        assert path in body["errors"], body["errors"]
    not_utf8 = client.post(
        "/api/products/import",
        data=b"sku,name,price\n\xff,a,1\n",
        content_type="text/csv",
        headers=company.headers,
    )
    assert_problem(not_utf8, 400)
    other_type = client.post(
        "/api/products/import",
        data=b"sku,name,price\n",
        content_type="text/plain",
        headers=company.headers,
    )
    assert_problem(other_type, 415)
    assert snapshot(app) == before


def test_an_import_takes_up_to_10000_rows_and_a_body_to_fit(app, client, company, warehouses):
    a, _ = warehouses
    rows = [
        {
            "sku": f"BIG-{i:05d}",
            "name": f"Product number {i}",
            "price": "12.34",
            "product_type": "regular",
            "low_stock_threshold": 5,
            "initial_stock": [{"warehouse_id": a, "quantity": 100}],
        }
        for i in range(10_000)
    ]
    body = json.dumps({"products": rows}).encode()
    assert len(body) > app.config["MAX_CONTENT_LENGTH"]  # larger than other routes take
    response = client.post(
        "/api/products/import",
        data=body,
        content_type="application/json",
        headers=company.headers,
    )
    assert response.status_code == 200, response.json
    assert response.json["created"] == 10_000
    too_many = post_json(client, company, rows + [{"sku": "ONE-MORE", "name": "x", "price": 1}])
    assert_problem(too_many, 400, "products")


def test_the_import_body_limit_comes_from_the_environment(database_url, company, monkeypatch):
    monkeypatch.setenv("STOCKFLOW_MAX_IMPORT_BYTES", "2000")
    limited = build_app(database_url)
    client = limited.test_client()
    text = "sku,name,price\n" + "".join(f"L{i},l,1\n" for i in range(300))
    assert len(text) > 2000
    assert_problem(post_csv(client, company, text), 413)
    ok = post_csv(client, company, "sku,name,price\nL1,l,1\n")
    assert ok.status_code == 200, ok.json
    with limited.app_context():
        db.engine.dispose()


# -- export ---------------------------------------------------------------------------------


def test_the_export_round_trips_through_the_import(
    app, client, company, make_company, warehouses, make_product
):
    a, b = warehouses
    post_json(
        client,
        company,
        [
            {
                "sku": "R-1",
                "name": 'Comma, "quoted" ünïcode',
                "price": "1.10",
                "product_type": "fast_moving",
                "low_stock_threshold": 4,
                "initial_stock": [
                    {"warehouse_id": a, "quantity": 3},
                    {"warehouse_id": b, "quantity": 0},
                ],
            },
            {"sku": "R-2", "name": "Plain", "price": 2},
            {"sku": "R-3", "name": "Bundle", "price": 3, "is_bundle": True},
        ],
    )
    exported_csv = client.get(
        buffered=True, path="/api/products/export?format=csv", headers=company.headers
    )
    assert exported_csv.status_code == 200 and exported_csv.mimetype == "text/csv"
    exported_json = client.get(buffered=True, path="/api/products/export", headers=company.headers)
    assert exported_json.mimetype == "application/json"
    by_accept = client.get(
        buffered=True,
        path="/api/products/export",
        headers={**company.headers, "Accept": "text/csv"},
    )
    assert by_accept.data == exported_csv.data
    rows = list(csv.DictReader(io.StringIO(exported_csv.data.decode())))
    assert [r["sku"] for r in rows] == ["R-1", "R-2", "R-3"]
    assert rows[0][f"stock:{a}"] == "3" and rows[0][f"stock:{b}"] == "0"

    # into the same company: nothing changes
    before = snapshot(app)
    again = post_csv(client, company, exported_csv.data.decode())
    assert again.status_code == 200 and again.json["updated"] == 3
    assert post_json(client, company, exported_json.json["products"]).status_code == 200
    assert snapshot(app)["products"] == before["products"]
    assert snapshot(app)["inventory"] == before["inventory"]

    # into a fresh company (its warehouses in the columns): the same catalog and stock
    other = make_company()
    w1 = client.post("/api/warehouses", json={"name": "A"}, headers=other.headers).json["id"]
    w2 = client.post("/api/warehouses", json={"name": "B"}, headers=other.headers).json["id"]
    text = exported_csv.data.decode().replace(f"stock:{a}", f"stock:{w1}")
    text = text.replace(f"stock:{b}", f"stock:{w2}")
    assert post_csv(client, other, text).status_code == 200
    exported_again = client.get(
        buffered=True, path="/api/products/export?format=json", headers=other.headers
    ).json
    mapping = {w1: a, w2: b}
    for product in exported_again["products"]:
        for level in product.get("initial_stock", []):
            level["warehouse_id"] = mapping[level["warehouse_id"]]
    assert exported_again == exported_json.json


# the usual rows, which the import checks in plain code (products.schemas.lean_import_item)
LEAN_ROWS = [
    {"sku": "L-1", "name": "  Padded name  ", "price": "1.5", "product_type": " fast_moving "},
    {"sku": " L-2 ", "name": "Zero", "price": "0", "low_stock_threshold": None},
    {"sku": "L-3", "name": "Lead zeros", "price": "0000000001.25", "low_stock_threshold": 0},
    {"sku": "L-4", "name": "Joiner\u200cü😀", "price": "9999999999.99", "is_bundle": False},
    {"sku": "L-5", "name": "No quantity", "price": "2.00", "warehouse_id": "WAREHOUSE"},
    {
        "sku": "L-6",
        "name": "Stocked",
        "price": "3.10",
        "warehouse_id": "WAREHOUSE",
        "initial_quantity": 2147483647,
        "low_stock_threshold": 2147483647,
    },
    {"sku": "L-7", "name": "Bundle", "price": "4", "is_bundle": True, "product_type": "a.b-c_d"},
]


def test_rows_checked_in_plain_code_load_as_the_schema_loads_them(
    client, company, make_company, make_warehouse
):
    """The same rows, alone (the plain-code check takes them all) and beside one row only
    the schema takes (a JSON number as the price: the whole list goes through it), give
    the same answer and the same catalog."""
    exports, answers = [], []
    for extra in ([], [{"sku": "Z-1", "name": "Number price", "price": 7}]):
        tenant = make_company()
        warehouse = make_warehouse(tenant, name="W")["id"]
        rows = [
            {k: warehouse if v == "WAREHOUSE" else v for k, v in row.items()} for row in LEAN_ROWS
        ]
        # else this test compares the schema with itself
        assert all(lean_import_item(row) is not None for row in rows)
        assert lean_import_item(rows[0] | {"price": 7}) is None
        response = post_json(client, tenant, rows + extra)
        assert response.status_code == 200, response.json
        answers.append([(r["row"], r["sku"], r["action"]) for r in response.json["products"]])
        exported = client.get(
            buffered=True, path="/api/products/export?format=json", headers=tenant.headers
        ).json["products"]
        for product in exported:
            for level in product.get("initial_stock", []):
                assert level.pop("warehouse_id") == warehouse
        exports.append([p for p in exported if p["sku"] != "Z-1"])
    assert answers[0] == answers[1][: len(LEAN_ROWS)]
    assert exports[0] == exports[1]
    assert exports[0][0]["name"] == "Padded name" and exports[0][0]["price"] == "1.50"
    assert exports[0][0]["product_type"] == "fast_moving" and exports[0][1]["sku"] == "L-2"
    assert [p["initial_stock"] for p in exports[0][4:6]] == [
        [{"quantity": 0}],
        [{"quantity": 2147483647}],
    ]


def test_the_export_and_levels_show_only_the_callers_active_rows(
    client, company, other_company, warehouses, make_warehouse, make_product
):
    a, b = warehouses
    mine = make_product(company, sku="MINE", warehouse_id=a, initial_quantity=2)
    empty = make_warehouse(company)["id"]
    make_product(company, sku="ZERO", warehouse_id=empty, initial_quantity=0)
    client.delete(f"/api/warehouses/{empty}", headers=company.headers)
    theirs = make_warehouse(other_company)["id"]
    make_product(other_company, sku="THEIRS", warehouse_id=theirs, initial_quantity=1)
    exported = client.get(buffered=True, path="/api/products/export", headers=company.headers).json[
        "products"
    ]
    assert [p["sku"] for p in exported] == ["MINE", "ZERO"]
    assert exported[1]["initial_stock"] == []
    levels = client.get(buffered=True, path="/api/stock/levels", headers=company.headers)
    assert levels.json == [
        {"product_id": mine["id"], "sku": "MINE", "warehouse_id": a, "quantity": 2}
    ]
    as_csv = client.get(buffered=True, path="/api/stock/levels?format=csv", headers=company.headers)
    assert as_csv.mimetype == "text/csv"
    assert (
        as_csv.data.decode() == f"product_id,sku,warehouse_id,quantity\n{mine['id']},MINE,{a},2\n"
    )
    filtered = client.get(
        buffered=True, path=f"/api/stock/levels?warehouse_id={b}", headers=company.headers
    )
    assert filtered.json == []
    assert_problem(
        client.get(buffered=True, path="/api/stock/levels?format=xml", headers=company.headers), 400
    )


def test_a_large_export_streams(app, client, company, warehouses):
    a, _ = warehouses
    post_json(
        client,
        company,
        [
            {"sku": f"E{i:04d}", "name": "e", "price": 1, "warehouse_id": a, "initial_quantity": i}
            for i in range(2500)
        ],
    )
    response = client.get(
        "/api/products/export?format=csv", headers=company.headers, buffered=False
    )
    assert response.is_streamed
    chunks = list(response.response)
    assert len(chunks) > 10  # written piece by piece, not built whole
    lines = b"".join(chunks).decode().splitlines()
    assert len(lines) == 2501 and lines[-1] == "E2499,e,1.00,regular,,false,2499,"
    response.close()
    levels = client.get("/api/stock/levels?format=csv", headers=company.headers, buffered=False)
    assert len(list(levels.response)) > 2
    levels.close()


# -- concurrency (PostgreSQL) -----------------------------------------------------------------


@pytest.mark.postgres
def test_concurrent_imports_of_the_same_skus_create_each_once_with_one_opening_stock(
    app, client, company, warehouses
):
    a, _ = warehouses
    for round_ in range(20):
        skus = [f"C{round_}-{i}" for i in range(30)]
        text = "sku,name,price,warehouse_id,quantity\n" + "".join(
            f"{sku},c,1,{a},4\n" for sku in skus
        )
        reversed_text = "sku,name,price,warehouse_id,quantity\n" + "".join(
            f"{sku},c,1,{a},4\n" for sku in reversed(skus)
        )
        barrier = threading.Barrier(3)
        results = []

        def send(body, barrier=barrier, results=results):
            local = app.test_client()
            barrier.wait()
            results.append(post_csv(local, company, body))

        threads = [
            threading.Thread(target=send, args=(body,)) for body in (text, reversed_text, text)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert [r.status_code for r in results] == [200, 200, 200], [r.json for r in results]
        assert sum(r.json["created"] for r in results) == 30
        assert sum(r.json["stock_ignored"] for r in results) == 60
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Product)) == 600
        assert set(db.session.scalars(sa.select(Inventory.quantity))) == {4}
        assert db.session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry)) == 600


# -- the command --------------------------------------------------------------------------------


def test_the_import_command_imports_a_file_in_chunks_with_a_summary(
    app, client, company, warehouses, tmp_path, count_rows
):
    a, _ = warehouses
    path = tmp_path / "catalog.csv"
    path.write_text(
        "sku,name,price,warehouse_id,quantity\n"
        + "".join(f"CLI-{i},c,1,{a},2\n" for i in range(25))
    )
    runner = app.test_cli_runner()
    dry = runner.invoke(
        args=["import-products", str(path), "--company", str(company.id), "--dry-run"]
    )
    assert dry.exit_code == 0, dry.output
    assert "Would create 25" in dry.output and count_rows(Product) == 0
    result = runner.invoke(
        args=["import-products", str(path), "--company", str(company.id), "--chunk", "10"]
    )
    assert result.exit_code == 0, result.output
    assert "Created 25, updated 0 product(s) from 25 row(s)" in result.output
    assert count_rows(Product) == 25 and count_rows(LedgerEntry) == 25
    assert count_rows(IdempotencyKey) == 0
    again = runner.invoke(args=["import-products", str(path), "--company", str(company.id)])
    assert "Created 0, updated 25" in again.output and "ignored for 25" in again.output

    bad = tmp_path / "bad.csv"
    bad.write_text("sku,name,price\n" + "".join(f"OK-{i},c,1\n" for i in range(12)) + "X,x,-1\n")
    failed = runner.invoke(
        args=["import-products", str(bad), "--company", str(company.id), "--chunk", "10"]
    )
    assert failed.exit_code != 0
    assert "products.12.price" in failed.output and "Rows before 10 were imported" in failed.output
    missing = runner.invoke(args=["import-products", str(path), "--company", "999"])
    assert missing.exit_code != 0 and "No company 999" in missing.output


@pytest.mark.parametrize("value", ["maybe", "\x00", "1\n", "' OR '1'='1"])
def test_a_bad_dry_run_flag_is_a_400_naming_it(app, client, company, value):
    before = snapshot(app)
    response = client.post(
        "/api/products/import",
        query_string={"dry_run": value},
        json={"products": [{"sku": "A", "name": "a", "price": 1}]},
        headers=company.headers,
    )
    assert_problem(response, 400, "dry_run")
    assert snapshot(app) == before


def test_new_rows_get_the_threshold_that_threshold_of_computes(app, client, company, warehouses):
    a, b = warehouses
    client.put(
        "/api/product-types/special", json={"low_stock_threshold": 33}, headers=company.headers
    )
    client.put(
        "/api/product-types/fast_moving", json={"low_stock_threshold": 21}, headers=company.headers
    )
    rows = [
        {
            "sku": f"TH-{i}",
            "name": "t",
            "price": 1,
            "product_type": kind,
            "low_stock_threshold": own,
            "initial_stock": [
                {"warehouse_id": a, "quantity": 1},
                {"warehouse_id": b, "quantity": 0},
            ],
        }
        for i, (kind, own) in enumerate(
            (k, o)
            for k in ("regular", "fast_moving", "slow_moving", "special", "odd")
            for o in (None, 0, 7)
        )
    ]
    assert post_json(client, company, rows).status_code == 200
    before = snapshot(app)["inventory"]
    with app.app_context():
        from app.thresholds.queries import refresh_alert_thresholds

        refresh_alert_thresholds(company.id)  # threshold_of, the rule's SQL
        db.session.flush()
        after = sorted(
            db.session.execute(
                sa.select(
                    Inventory.product_id,
                    Inventory.warehouse_id,
                    Inventory.quantity,
                    Inventory.alert_threshold,
                )
            ).all()
        )
        db.session.rollback()
    assert after == before
    assert {row[3] for row in before} == {0, 7, 10, 21, 5, 33}
