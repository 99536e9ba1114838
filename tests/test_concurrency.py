"""Concurrent stock operations on PostgreSQL: no lost update, no unit created or lost,
no deadlock reaching a client. Only PostgreSQL can prove these (row locks)."""

import threading

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Inventory, LedgerEntry

pytestmark = pytest.mark.postgres


def run_concurrently(app, requests):
    """Send each (path, body, headers) from its own thread, all released at once."""
    barrier = threading.Barrier(len(requests))
    results = [None] * len(requests)

    def send(i, path, body, headers):
        client = app.test_client()
        barrier.wait()
        results[i] = client.post(path, json=body, headers=headers)

    threads = [
        threading.Thread(target=send, args=(i, *request)) for i, request in enumerate(requests)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def levels(app, product_id):
    with app.app_context():
        return dict(
            db.session.execute(
                sa.select(Inventory.warehouse_id, Inventory.quantity).where(
                    Inventory.product_id == product_id
                )
            ).all()
        )


def test_fifty_concurrent_sales_of_twenty_units_sell_exactly_twenty(
    app, company, make_warehouse, make_product, count_rows
):
    warehouse = make_warehouse(company)["id"]
    product = make_product(company, warehouse_id=warehouse, initial_quantity=20)["id"]
    body = {"product_id": product, "warehouse_id": warehouse, "quantity": 1}
    responses = run_concurrently(app, [("/api/stock/sales", body, company.headers)] * 50)

    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(201) == 20
    assert statuses.count(409) == 30
    assert levels(app, product) == {warehouse: 0}
    assert count_rows(LedgerEntry, LedgerEntry.reason == "sale") == 20
    # every successful sale saw a distinct level: no two read the same stock
    afters = sorted(
        r.json["entries"][0]["quantity_after"] for r in responses if r.status_code == 201
    )
    assert afters == list(range(20))


def test_concurrent_transfers_in_opposite_directions_conserve_every_unit(
    app, company, make_warehouse, make_product
):
    a, b = make_warehouse(company)["id"], make_warehouse(company)["id"]
    product = make_product(
        company,
        initial_stock=[{"warehouse_id": a, "quantity": 30}, {"warehouse_id": b, "quantity": 30}],
    )["id"]
    requests = []
    for i in range(40):
        source, target = (a, b) if i % 2 else (b, a)
        body = {
            "product_id": product,
            "from_warehouse_id": source,
            "to_warehouse_id": target,
            "quantity": 1 + i % 3,
        }
        requests.append(("/api/stock/transfers", body, company.headers))
    responses = run_concurrently(app, requests)

    assert {r.status_code for r in responses} <= {201, 409}, [r.json for r in responses]
    assert sum(levels(app, product).values()) == 60
    with app.app_context():
        sums = dict(
            db.session.execute(
                sa.select(LedgerEntry.warehouse_id, sa.func.sum(LedgerEntry.quantity_change))
                .where(LedgerEntry.product_id == product)
                .group_by(LedgerEntry.warehouse_id)
            ).all()
        )
    assert sums == levels(app, product)


def test_concurrent_bundle_sales_and_component_sales_never_oversell(
    app, client, company, make_warehouse, make_product
):
    warehouse = make_warehouse(company)["id"]
    part = make_product(company, warehouse_id=warehouse, initial_quantity=25)["id"]
    kit = make_product(company, is_bundle=True)["id"]
    client.put(
        f"/api/products/{kit}/components",
        json=[{"product_id": part, "quantity": 2}],
        headers=company.headers,
    )
    requests = [
        (
            "/api/stock/sales",
            {"product_id": kit if i % 2 else part, "warehouse_id": warehouse, "quantity": 1},
            company.headers,
        )
        for i in range(30)
    ]
    responses = run_concurrently(app, requests)
    sold = sum(
        (2 if r.json["entries"][0]["bundle_product_id"] else 1)
        for r in responses
        if r.status_code == 201
    )
    assert {r.status_code for r in responses} <= {201, 409}
    assert levels(app, part)[warehouse] == 25 - sold >= 0


def test_concurrent_stale_counts_do_not_both_win(app, company, make_warehouse, make_product):
    warehouse = make_warehouse(company)["id"]
    product = make_product(company, warehouse_id=warehouse, initial_quantity=10)["id"]
    requests = [
        (
            "/api/stock/adjustments",
            {
                "product_id": product,
                "warehouse_id": warehouse,
                "quantity": q,
                "expected_quantity": 10,
                "reason": "count",
            },
            company.headers,
        )
        for q in (7, 8, 9)
    ]
    statuses = sorted(r.status_code for r in run_concurrently(app, requests))
    assert statuses == [201, 409, 409]
