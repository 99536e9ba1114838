"""The single sale in one statement: the common case of ``POST /api/stock/sales``.

The general path (``service.sell``) spends seven round trips and much ORM work on a
sale: the product's and the warehouse's key-share locks, the conditional UPDATE,
the ledger row's flush, the change counter's upsert. Here, for a product that is
not a bundle, they are one statement on PostgreSQL::

    WITH product   AS (SELECT ... FOR KEY SHARE),     -- active, not a bundle
         warehouse AS (SELECT ... FOR KEY SHARE),     -- active
         moved     AS (UPDATE inventory ... WHERE quantity >= n AND both exist
                       RETURNING the level, its threshold, window_sales, clock_timestamp()),
         entry     AS (INSERT INTO inventory_ledger ... SELECT ... FROM moved RETURNING ...),
         counted   AS (INSERT INTO change_counters ... SELECT ... FROM moved ON CONFLICT ...)
    SELECT ... FROM moved, entry

and two (UPDATE ... RETURNING, INSERT) on SQLite. The locks are taken in the general
path's order: product, warehouse (the UPDATE's one-time filter runs both before the
scan), the inventory row, then the change counters (an unreferenced data-modifying
CTE runs last, ``counted`` in slot order), so the two paths cannot deadlock each
other. Every statement filters on one company: on Citus the tables are colocated by
``company_id`` and the statement routes to the company's shard.

A miss (no row: unknown or archived product or warehouse, a bundle, not enough
stock, no inventory row) changed nothing, and the caller runs the general path,
which finds out why and answers exactly as it always did (400, 409 ...): only the
miss pays for the extra statement.

Both the ledger row's ``occurred_at`` (unless backdated) and ``recorded_at`` are the
database's clock after the inventory row's lock was granted (``clock_timestamp()``
in the UPDATE's RETURNING: ``statement_timestamp()`` would be the statement's start,
before a wait on the lock), as ``models.write_time`` is for the general path.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

import sqlalchemy as sa

from app import auth, changes, prepared
from app.distribution import on_citus
from app.events import outbox
from app.extensions import db
from app.metrics import committed_ledger_rows, pending_ledger_rows
from app.models import (
    ALERTING,
    Inventory,
    LedgerEntry,
    NextId,
    Product,
    Warehouse,
    write_time,
)
from app.oneshot import NOT_ALONE, execute_alone
from app.stock import service

# PostgreSQL: everything in one statement (psycopg2's pyformat parameters)
SALE_POSTGRESQL = f"""
WITH product AS (
    SELECT id FROM products
    WHERE company_id = %(company)s AND id = %(product)s
      AND archived_at IS NULL AND NOT is_bundle
    FOR KEY SHARE
), warehouse AS (
    SELECT id FROM warehouses
    WHERE company_id = %(company)s AND id = %(warehouse)s AND archived_at IS NULL
    FOR KEY SHARE
), moved AS (
    UPDATE inventory
    SET quantity = quantity - %(quantity)s,
        updated_at = now(),
        window_sales = window_sales + CASE
            WHEN window_since IS NOT NULL
             AND (%(occurred_at)s::timestamptz IS NULL OR window_since <= %(occurred_at)s)
            THEN CAST(%(quantity)s AS BIGINT) ELSE CAST(0 AS BIGINT) END
    WHERE company_id = %(company)s AND product_id = %(product)s
      AND warehouse_id = %(warehouse)s AND quantity >= %(quantity)s
      AND EXISTS (SELECT FROM product) AND EXISTS (SELECT FROM warehouse)
      -- the request's API key, when the view confirms it here (app.auth.confirms_key)
      AND (%(key)s IS NULL OR EXISTS (
          SELECT FROM api_keys
          WHERE id = %(key)s AND company_id = %(company)s AND revoked_at IS NULL))
    RETURNING quantity, alert_threshold, window_sales, clock_timestamp() AS written
), entry AS (
    INSERT INTO inventory_ledger (
        company_id, product_id, warehouse_id, reason, quantity_change, quantity_after,
        operation_id, reference, note, occurred_at, recorded_at)
    SELECT %(company)s, %(product)s, %(warehouse)s, 'sale', -%(quantity)s, quantity,
        %(operation_id)s, %(reference)s, %(note)s,
        COALESCE(%(occurred_at)s, written), written
    FROM moved
    RETURNING id, occurred_at, recorded_at
), counted AS (
    INSERT INTO change_counters (company_id, slot, changes)
    SELECT %(company)s, slot, 1 FROM (
        SELECT %(stock_slot)s AS slot FROM moved
        UNION ALL
        SELECT %(alert_slot)s FROM moved WHERE {ALERTING}
    ) AS slots
    ORDER BY slot
    ON CONFLICT (company_id, slot) DO UPDATE SET changes = change_counters.changes + 1
)
SELECT entry.id, entry.occurred_at, entry.recorded_at,
       moved.quantity, moved.alert_threshold, moved.window_sales
FROM moved, entry
"""


# as its own transaction: only a sale that leaves the row neither low nor empty
SALE_ALONE_POSTGRESQL = SALE_POSTGRESQL.replace(
    "AND quantity >= %(quantity)s",
    "AND quantity >= %(quantity)s AND quantity - %(quantity)s >= alert_threshold"
    " AND quantity > %(quantity)s",
)
assert SALE_ALONE_POSTGRESQL != SALE_POSTGRESQL


SALE_TYPES = {
    "company": "integer",
    "product": "integer",
    "warehouse": "integer",
    "quantity": "integer",
    "occurred_at": "timestamptz",
    "operation_id": "text",
    "reference": "text",
    "note": "text",
    "stock_slot": "integer",
    "alert_slot": "integer",
    "key": "integer",
}
SALE = prepared.Statement("stockflow_sale", SALE_POSTGRESQL, SALE_TYPES)
SALE_ALONE = prepared.Statement("stockflow_sale_alone", SALE_ALONE_POSTGRESQL, SALE_TYPES)


@dataclasses.dataclass
class Entry:
    """A ledger row as the API shows it (the fields of ``LedgerEntrySchema``)."""

    id: int
    operation_id: str
    product_id: int
    warehouse_id: int
    reason: str
    quantity_change: int
    quantity_after: int
    reference: str | None
    note: str | None
    occurred_at: dt.datetime
    recorded_at: dt.datetime
    bundle_product_id: None = None
    supplier_id: None = None
    unit_cost: None = None
    purchase_order_id: None = None


def sell(company_id: int, data: dict) -> list:
    """A sale: in one statement when it applies, else by the general path.

    On PostgreSQL the statement also confirms the request's API key when the view
    left that to it (``auth.confirms_key``: a round trip less): a revoked key makes
    it miss, and the key is looked up (a 401) before anything else is written. On a
    Citus coordinator the general path answers (``distribution.on_citus``)."""
    engine = db.engine
    if engine.dialect.name != "postgresql":
        auth.ensure_key_confirmed()
        entries = _sell_sqlite(company_id, data)
    elif not on_citus(engine):
        entries = _sell_postgresql(company_id, data)
        if entries is not None:
            auth.key_confirmed(True)
    else:
        entries = None  # Citus refuses the one statement (distribution.on_citus)
    if entries is None:
        auth.ensure_key_confirmed()
        return service.sell(company_id, data)
    return entries


def _sell_postgresql(company_id: int, data: dict) -> list[Entry] | None:
    """One statement; None when it did not apply (it then changed nothing).

    When the request has no transaction open (no ``Idempotency-Key`` was claimed),
    the statement is its own transaction (``app.oneshot``): the inventory row is
    locked only while it runs. That variant applies only to a sale that leaves the
    row at or above its threshold and above zero: it crosses no threshold, so the
    outbox (app/events/outbox.py) has no event to write for it after the statement. A
    sale that makes a row low or empty, whose ``stock.low``/``stock.out`` event must
    commit with it, runs inside the request's transaction instead."""
    product_id, warehouse_id, quantity = data["product_id"], data["warehouse_id"], data["quantity"]
    occurred_at = data.get("occurred_at")
    operation_id = str(uuid.uuid4())
    params = {
        "company": company_id,
        "product": product_id,
        "warehouse": warehouse_id,
        "quantity": quantity,
        "occurred_at": occurred_at,
        "operation_id": operation_id,
        "reference": data.get("reference"),
        "note": data.get("note"),
        "stock_slot": product_id % changes.STOCK_SLOTS,
        "alert_slot": changes.alert_slot(product_id, warehouse_id),
        "key": auth.unconfirmed_key_id(),
    }
    # its own transaction when the request has none open (app.oneshot): its ledger row
    # is committed as the statement ends
    row = execute_alone(db, SALE_ALONE, params)
    if row is not None and row is not NOT_ALONE:
        committed_ledger_rows(["sale"])
    else:
        row = prepared.execute(db.session.connection(), SALE, params).first()
        if row is None:
            return None
        pending_ledger_rows(db.session, ["sale"])
    entry_id, occurred, recorded, after, threshold, sold = row
    # a sale that ran as its own transaction crossed no threshold: the outbox note is empty
    return _sold(data, operation_id, entry_id, occurred, recorded, after, threshold, sold)


def _sold(data, operation_id, entry_id, occurred, recorded, after, threshold, sold) -> list[Entry]:
    """The sale's ledger row as the API shows it, its level noted for the outbox as the
    general path notes it (app/stock/service.py, ``_conditional_decrement``)."""
    product_id, warehouse_id, quantity = data["product_id"], data["warehouse_id"], data["quantity"]
    occurred_at = data.get("occurred_at")
    entry = Entry(
        id=entry_id,
        operation_id=operation_id,
        product_id=product_id,
        warehouse_id=warehouse_id,
        reason="sale",
        quantity_change=-quantity,
        quantity_after=after,
        reference=data.get("reference"),
        note=data.get("note"),
        # a backdated time as the client sent it, as the general path answers it
        occurred_at=occurred if occurred_at is None else occurred_at,
        recorded_at=recorded,
    )
    outbox.level_changed(product_id, warehouse_id, after + quantity, after, threshold, sold)
    return [entry]


def _active(model, company_id: int, row_id: int) -> sa.Exists:
    return sa.exists().where(
        model.company_id == company_id, model.id == row_id, model.archived_at.is_(None)
    )


def _sell_sqlite(company_id: int, data: dict) -> list[Entry] | None:
    """Two statements: SQLite takes its one write lock at the UPDATE and holds it to the
    commit, so nothing can archive the product or the warehouse in between."""
    product_id, warehouse_id, quantity = data["product_id"], data["warehouse_id"], data["quantity"]
    occurred_at = data.get("occurred_at")
    row = db.session.execute(
        sa.update(Inventory)
        .where(
            Inventory.company_id == company_id,
            Inventory.product_id == product_id,
            Inventory.warehouse_id == warehouse_id,
            Inventory.quantity >= quantity,
            _active(Product, company_id, product_id).where(Product.is_bundle.is_(False)),
            _active(Warehouse, company_id, warehouse_id),
        )
        .values(
            quantity=Inventory.quantity - quantity,
            updated_at=sa.func.now(),
            window_sales=Inventory.window_sales + service.window_sale(quantity, occurred_at),
        )
        .returning(Inventory.quantity, Inventory.alert_threshold, Inventory.window_sales)
    ).first()
    if row is None:
        return None
    after, threshold, sold = row
    operation_id = str(uuid.uuid4())
    written = write_time()
    values = {
        "company_id": company_id,
        "product_id": product_id,
        "warehouse_id": warehouse_id,
        "reason": "sale",
        "quantity_change": -quantity,
        "quantity_after": after,
        "operation_id": operation_id,
        "reference": data.get("reference"),
        "note": data.get("note"),
    }
    entry_id, occurred, recorded = db.session.execute(
        sa.insert(LedgerEntry)
        .values(
            id=NextId("inventory_ledger"),
            occurred_at=written if occurred_at is None else occurred_at,
            recorded_at=written,
            **values,
        )
        .returning(LedgerEntry.id, LedgerEntry.occurred_at, LedgerEntry.recorded_at)
    ).one()
    pending_ledger_rows(db.session, ["sale"])
    changes.stock_changed([product_id])
    if service.alerting(after, threshold, sold):
        changes.alerts_changed([(product_id, warehouse_id)])
    return _sold(data, operation_id, entry_id, occurred, recorded, after, threshold, sold)
