"""The daily refresh of the alert state racing sales (PostgreSQL: row locks).

The refresh recomputes each row's window sales from the ledger; a sale changes
the same row at the same time. Whatever the interleaving, no sale may be lost or
counted twice: the row's figure must equal the ledger's afterwards.
"""

import datetime as dt
import threading

import pytest
import sqlalchemy as sa

from app.alerts import state
from app.extensions import db
from app.models import Inventory, LedgerEntry, window_start

pytestmark = pytest.mark.postgres

ROUNDS = 25
PRODUCTS = 60


def ledger_mismatches(app, company_id: int, today: dt.date) -> list:
    """Rows whose window_sales differ from their sales in the ledger since the window."""
    since = window_start(today)
    with app.app_context():
        sold = (
            sa.select(sa.func.coalesce(-sa.func.sum(LedgerEntry.quantity_change), 0))
            .where(
                LedgerEntry.company_id == company_id,
                LedgerEntry.product_id == Inventory.product_id,
                LedgerEntry.warehouse_id == Inventory.warehouse_id,
                LedgerEntry.reason == "sale",
                LedgerEntry.occurred_at >= since,
            )
            .scalar_subquery()
        )
        return db.session.execute(
            sa.select(Inventory.product_id, Inventory.window_sales, sold).where(
                Inventory.company_id == company_id, Inventory.window_sales != sold
            )
        ).all()


def test_a_refresh_racing_sales_loses_no_sale_and_counts_none_twice(
    app, client, company, make_warehouse, make_product
):
    warehouse = make_warehouse(company)["id"]
    # many rows, so the refresh's statement is still working when the sales commit
    products = [
        make_product(company, warehouse_id=warehouse, initial_quantity=10_000)["id"]
        for _ in range(PRODUCTS)
    ]
    today = dt.datetime.now(dt.UTC).date()

    def refresh(barrier, errors):
        try:
            with app.app_context():
                barrier.wait()
                state.refresh(company.id, today, rebuild=True)
        except Exception as error:  # reported below
            errors.append(error)

    def sell(barrier, errors, product_id):
        seller = app.test_client()
        barrier.wait()
        response = seller.post(
            "/api/stock/sales",
            json={"product_id": product_id, "warehouse_id": warehouse, "quantity": 1},
            headers=company.headers,
        )
        if response.status_code != 201:
            errors.append(response.json)

    for round_ in range(ROUNDS):
        barrier, errors = threading.Barrier(3), []
        # one sale of the first row the refresh locks, one of the last
        threads = [
            threading.Thread(target=refresh, args=(barrier, errors)),
            threading.Thread(target=sell, args=(barrier, errors, products[0])),
            threading.Thread(target=sell, args=(barrier, errors, products[-1])),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors, (round_, errors)
        assert ledger_mismatches(app, company.id, today) == [], round_
