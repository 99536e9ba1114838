"""Deleting a company (an operator's ``DELETE FROM companies``) deletes everything it
owns, its whole ledger included, and nothing of any other company.

The ledger has no foreign key of its own to ``companies`` (migration 0011: its product
key already holds the company); its rows go with the company's products, which go
with the company. Every kind of ledger row is here: opening stock, a receipt from a
supplier at a cost, a sale of a bundle (``bundle_product_id``), a purchase order's
receipt (``purchase_order_id``), a batch and a transfer.
"""

from __future__ import annotations

import sqlalchemy as sa

from app.extensions import db
from app.models import LedgerEntry
from tests.helpers import post_ok


def stock_a_company(client, tenant) -> None:
    main = post_ok(client, tenant, "/api/warehouses", {"name": "Main"})["id"]
    spare = post_ok(client, tenant, "/api/warehouses", {"name": "Spare"})["id"]
    part = post_ok(
        client,
        tenant,
        "/api/products",
        {
            "name": "Part",
            "sku": "PART",
            "price": "1.00",
            "warehouse_id": main,
            "initial_quantity": 50,
        },
    )["id"]
    kit = post_ok(
        client,
        tenant,
        "/api/products",
        {"name": "Kit", "sku": "KIT", "price": "5.00", "is_bundle": True},
    )["id"]
    response = client.put(
        f"/api/products/{kit}/components",
        json=[{"product_id": part, "quantity": 2}],
        headers=tenant.headers,
    )
    assert response.status_code == 200, response.json
    supplier = post_ok(client, tenant, "/api/suppliers", {"name": "Supplier"})["id"]
    post_ok(
        client,
        tenant,
        f"/api/products/{part}/suppliers",
        {"supplier_id": supplier, "cost_price": "0.40"},
    )
    post_ok(
        client,
        tenant,
        "/api/stock/receipts",
        {
            "product_id": part,
            "warehouse_id": main,
            "quantity": 5,
            "supplier_id": supplier,
            "unit_cost": "0.40",
        },
    )
    post_ok(
        client, tenant, "/api/stock/sales", {"product_id": kit, "warehouse_id": main, "quantity": 1}
    )
    order = post_ok(
        client,
        tenant,
        "/api/purchase-orders",
        {
            "supplier_id": supplier,
            "warehouse_id": main,
            "lines": [{"product_id": part, "quantity": 4}],
        },
    )["id"]
    post_ok(client, tenant, f"/api/purchase-orders/{order}/submit", None, status=200)
    post_ok(
        client,
        tenant,
        f"/api/purchase-orders/{order}/receipts",
        {"lines": [{"product_id": part, "quantity": 4}]},
    )
    post_ok(
        client,
        tenant,
        "/api/stock/batch",
        {
            "operations": [
                {"type": "sale", "product_id": part, "warehouse_id": main, "quantity": 1},
                {
                    "type": "transfer",
                    "product_id": part,
                    "from_warehouse_id": main,
                    "to_warehouse_id": spare,
                    "quantity": 3,
                },
            ]
        },
    )


def rows_per_company(app) -> dict[str, dict[int, int]]:
    """Per tenant table, how many rows each company has."""
    with app.app_context():
        counts = {}
        for name, table in db.metadata.tables.items():
            if "company_id" in table.c:
                counts[name] = dict(
                    db.session.execute(
                        sa.select(table.c.company_id, sa.func.count()).group_by(table.c.company_id)
                    ).all()
                )
        return counts


def test_deleting_a_company_deletes_its_ledger_and_everything_else_it_owns_and_nothing_else(
    app, client, company, other_company
):
    stock_a_company(client, company)
    stock_a_company(client, other_company)
    before = rows_per_company(app)
    with app.app_context():
        reasons = set(
            db.session.scalars(
                sa.select(LedgerEntry.reason).where(LedgerEntry.company_id == company.id)
            )
        )
        assert {"initial", "receipt", "sale", "transfer_out", "transfer_in"} <= reasons
        for column in ("bundle_product_id", "supplier_id", "purchase_order_id"):
            assert db.session.scalar(
                sa.select(sa.func.count())
                .select_from(LedgerEntry)
                .where(
                    LedgerEntry.company_id == company.id, getattr(LedgerEntry, column).is_not(None)
                )
            ), column

    with app.app_context():
        db.session.execute(sa.text("DELETE FROM companies WHERE id = :id"), {"id": company.id})
        db.session.commit()

    after = rows_per_company(app)
    for name, counts in after.items():
        assert company.id not in counts, name
        assert counts.get(other_company.id) == before[name].get(other_company.id), name
    assert after["inventory_ledger"][other_company.id] >= 7
    response = client.get("/api/stock/ledger", headers=other_company.headers)
    assert response.status_code == 200
