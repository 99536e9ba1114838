"""Stock operations: one function per operation. Functions flush, never commit.

Every change goes through ``_move``: one atomic statement on the inventory row
whose result decides success, then one ledger row with the level it left. A
decrement is ``UPDATE ... SET quantity = quantity - n WHERE ... AND quantity >= n``:
the database, not Python, decides whether the stock suffices, and a concurrent
sale waits on the row lock and then re-checks. Rows are changed in a fixed order
(warehouse id, then product id) so concurrent operations cannot deadlock.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import sqlalchemy as sa

from app.bundles import queries as bundles
from app.changes import alerts_changed, stock_changed
from app.errors import Problem, conflict, field_error, problem_type_uri
from app.events import outbox
from app.extensions import db
from app.locks import THRESHOLDS, company_lock
from app.models import (
    Inventory,
    LedgerEntry,
    Product,
    Supplier,
    UTCDateTime,
    Warehouse,
    dialect_insert,
    window_start,
    write_time,
)
from app.schemas import MAX_INT as MAX_QUANTITY
from app.tenancy import require_owned
from app.thresholds.queries import threshold_of


@dataclass(frozen=True)
class Change:
    """One signed quantity change of one product in one warehouse."""

    product_id: int
    warehouse_id: int
    delta: int
    reason: str


@dataclass
class Context:
    """What every ledger row of one operation shares."""

    company_id: int
    occurred_at: dt.datetime | None = None
    reference: str | None = None
    note: str | None = None
    bundle_product_id: int | None = None
    supplier_id: int | None = None
    unit_cost: object = None
    purchase_order_id: int | None = None
    operation_id: str = ""

    def __post_init__(self):
        self.operation_id = self.operation_id or str(uuid.uuid4())


def insufficient_stock(product_id: int, warehouse_id: int, available: int, wanted: int):
    """The 409 for an operation that would take stock below zero."""
    return conflict(
        "insufficient-stock",
        f"Only {available} unit(s) of product {product_id} in warehouse {warehouse_id}; "
        f"{wanted} requested.",
        product_id=product_id,
        warehouse_id=warehouse_id,
        available=available,
        requested=wanted,
    )


def _upsert_increment(
    company_id: int, product_id: int, warehouse_id: int, delta: int, *, opening: bool = False
) -> int:
    """Add ``delta`` (>= 0), creating the inventory row if needed; return the new level.

    A level may not pass the integer column's limit: the guard is part of the
    statement, so the database refuses instead of overflowing.

    The statement is one Citus can route to the company's shard: no subquery in
    its VALUES (the threshold is read first) and no ``now()`` in its SET (the
    update takes the time the insert would have written).

    A new row has sold nothing: its window of alert sales starts today's.

    Every level it moves is noted for the outbox, except a new product's ``opening``
    stock (nothing crossed: the row starts there).
    """
    threshold = db.session.scalar(sa.select(threshold_of(company_id, product_id, warehouse_id)))
    insert = dialect_insert(Inventory).values(
        company_id=company_id,
        product_id=product_id,
        warehouse_id=warehouse_id,
        quantity=delta,
        alert_threshold=threshold,
        window_sales=0,
        window_since=window_start(dt.datetime.now(dt.UTC).date()),
        updated_at=sa.func.now(),
    )
    statement = insert.on_conflict_do_update(
        index_elements=["company_id", "product_id", "warehouse_id"],
        set_={"quantity": Inventory.quantity + delta, "updated_at": insert.excluded.updated_at},
        where=Inventory.quantity <= MAX_QUANTITY - delta,
    ).returning(Inventory.quantity, Inventory.alert_threshold, Inventory.window_sales)
    row = db.session.execute(statement).first()
    if row is None:
        current = current_level(company_id, product_id, warehouse_id)
        raise conflict(
            "stock-limit",
            f"Adding {delta} unit(s) of product {product_id} in warehouse {warehouse_id} to "
            f"{current} would pass the largest storable level ({MAX_QUANTITY}).",
            available=current,
            requested=delta,
        )
    quantity, threshold, sold = row
    if alerting(quantity - delta, threshold, sold):
        alerts_changed([(product_id, warehouse_id)])
    if not opening:
        outbox.level_changed(product_id, warehouse_id, quantity - delta, quantity, threshold, sold)
    return quantity


def alerting(quantity: int, threshold: int, window_sales: int) -> bool:
    """Whether a row at this level is in the default window's alert set (or may be,
    for a product or warehouse the alerts leave out)."""
    return quantity < threshold and window_sales > 0


def window_sale(units: int, occurred_at: dt.datetime | None) -> sa.ColumnElement[int]:
    """What a sale of ``units`` adds to the row's ``window_sales``: all of them, unless
    it was backdated to before the row's window (or the row's window is not computed
    yet, which the refresh does from the ledger).

    The row's own ``window_since`` decides, read by the UPDATE itself: a sale that
    waited on the row lock of ``flask refresh-alert-state`` compares with the window
    the refresh just moved the row to.
    """
    if occurred_at is None:  # written now: inside any window that has started
        inside = Inventory.window_since.is_not(None)
    else:
        inside = Inventory.window_since <= sa.literal(occurred_at, UTCDateTime())
    # a searched CASE (Citus evaluates it as PostgreSQL does)
    return sa.case((inside, sa.cast(units, sa.BigInteger)), else_=sa.cast(0, sa.BigInteger))


def _conditional_decrement(
    company_id: int, change: Change, n: int, occurred_at: dt.datetime | None
) -> int:
    """Remove ``n`` units only if that many are there; return the new level or raise 409.

    A sale also counts into the row's window sales, in the same statement; the
    alert version moves when the row is low and sold in the window (it was in the
    alert set before, or is now)."""
    product_id, warehouse_id = change.product_id, change.warehouse_id
    values = {"quantity": Inventory.quantity - n, "updated_at": sa.func.now()}
    if change.reason == "sale":
        values["window_sales"] = Inventory.window_sales + window_sale(n, occurred_at)
    row = db.session.execute(
        sa.update(Inventory)
        .where(
            Inventory.company_id == company_id,
            Inventory.product_id == product_id,
            Inventory.warehouse_id == warehouse_id,
            Inventory.quantity >= n,
        )
        .values(**values)
        .returning(Inventory.quantity, Inventory.alert_threshold, Inventory.window_sales)
    ).first()
    if row is None:
        available = current_level(company_id, product_id, warehouse_id)
        raise insufficient_stock(product_id, warehouse_id, available, n)
    quantity, threshold, sold = row
    # a lower level with at least the sales it had: it alerts now if it did before
    if alerting(quantity, threshold, sold):
        alerts_changed([(product_id, warehouse_id)])
    outbox.level_changed(product_id, warehouse_id, quantity + n, quantity, threshold, sold)
    return quantity


def current_level(company_id: int, product_id: int, warehouse_id: int) -> int:
    """The stock level now (0 when the product was never stocked there)."""
    return (
        db.session.scalar(
            sa.select(Inventory.quantity).where(
                Inventory.company_id == company_id,
                Inventory.product_id == product_id,
                Inventory.warehouse_id == warehouse_id,
            )
        )
        or 0
    )


def _record(ctx: Context, change: Change, quantity_after: int) -> LedgerEntry:
    """One ledger row. Unless the client backdated it, its time is the database's
    clock when the row is written: after this transaction's lock on the inventory
    row was granted, so a sale that waited on another's lock is dated after it (the
    app's clock, read before the wait, would date it before)."""
    written = write_time()
    entry = LedgerEntry(
        company_id=ctx.company_id,
        product_id=change.product_id,
        warehouse_id=change.warehouse_id,
        reason=change.reason,
        quantity_change=change.delta,
        quantity_after=quantity_after,
        operation_id=ctx.operation_id,
        reference=ctx.reference,
        note=ctx.note,
        bundle_product_id=ctx.bundle_product_id,
        supplier_id=ctx.supplier_id,
        unit_cost=ctx.unit_cost,
        purchase_order_id=ctx.purchase_order_id,
        occurred_at=written if ctx.occurred_at is None else ctx.occurred_at,
        recorded_at=written,
    )
    db.session.add(entry)
    return entry


def _move(ctx: Context, changes: list[Change]) -> list[LedgerEntry]:
    """Apply the changes in lock order and write one ledger row each; all or nothing."""
    entries = []
    stock_changed(c.product_id for c in changes)
    for change in sorted(changes, key=lambda c: (c.warehouse_id, c.product_id)):
        if change.delta < 0:
            after = _conditional_decrement(ctx.company_id, change, -change.delta, ctx.occurred_at)
        else:
            after = _upsert_increment(
                ctx.company_id,
                change.product_id,
                change.warehouse_id,
                change.delta,
                opening=change.reason == "initial",
            )
        entries.append(_record(ctx, change, after))
    db.session.flush()
    return sorted(entries, key=lambda e: e.id)


def _stocked_products(ctx: Context, product: Product, quantity: int) -> dict[int, int]:
    """The products that really move: the product itself, or a bundle's leaf components."""
    if not product.is_bundle:
        return {product.id: quantity}
    components = bundles.component_map(ctx.company_id)
    leaves = bundles.explode(product.id, components)
    if not leaves:
        raise conflict("bundle-without-components", f"Bundle {product.id} has no components.")
    empty = set(leaves) & bundles.bundle_ids(ctx.company_id)
    if empty:
        raise conflict(
            "bundle-without-components",
            f"Bundle {product.id} contains bundle(s) without components: {sorted(empty)}.",
        )
    ctx.bundle_product_id = product.id
    moved = {component_id: per_bundle * quantity for component_id, per_bundle in leaves.items()}
    if max(moved.values()) > MAX_QUANTITY:
        raise field_error(
            "quantity", f"Too many bundles: a component would move more than {MAX_QUANTITY} units."
        )
    return moved


def _may_add_rows(company_id: int) -> None:
    """An increment may insert an inventory row and compute its threshold copy: hold
    the company's threshold settings still (shared) until the transaction ends.

    Taken first, before any row lock; operations that only decrement skip it.
    """
    company_lock(THRESHOLDS, company_id, shared=True)


def _load(company_id: int, data: dict, *warehouse_fields: str) -> tuple[Product, list[Warehouse]]:
    # shared locks: the product and warehouses cannot be archived under this operation
    product = require_owned(Product, company_id, data["product_id"], "product_id", share=True)
    warehouses = [
        require_owned(Warehouse, company_id, data[f], f, share=True) for f in warehouse_fields
    ]
    return product, warehouses


def _context(company_id: int, data: dict, **extra) -> Context:
    return Context(
        company_id=company_id,
        occurred_at=data.get("occurred_at"),
        reference=data.get("reference"),
        note=data.get("note"),
        **extra,
    )


def _single_warehouse_operation(company_id: int, data: dict, reason: str, sign: int, **extra):
    product, (warehouse,) = _load(company_id, data, "warehouse_id")
    ctx = _context(company_id, data, **extra)
    moved = _stocked_products(ctx, product, data["quantity"])
    return _move(ctx, [Change(p, warehouse.id, sign * q, reason) for p, q in moved.items()])


def receive(company_id: int, data: dict) -> list[LedgerEntry]:
    """Goods arrive: add stock, optionally naming the supplier and unit cost."""
    _may_add_rows(company_id)
    supplier_id = data.get("supplier_id")
    if supplier_id is not None:
        require_owned(Supplier, company_id, supplier_id, "supplier_id", share=True)
    return _single_warehouse_operation(
        company_id,
        data,
        "receipt",
        +1,
        supplier_id=supplier_id,
        unit_cost=data.get("unit_cost"),
    )


def receive_purchase_order(
    company_id: int,
    warehouse_id: int,
    lines: list[tuple[int, int, object]],
    *,
    supplier_id: int,
    purchase_order_id: int,
    occurred_at: dt.datetime | None = None,
    reference: str | None = None,
) -> list[LedgerEntry]:
    """Goods of a purchase order arrive: one ``receipt`` row per ``(product_id,
    quantity, unit_cost)`` line, all under one operation id, naming the order.

    The caller (app.purchasing.service.receive) holds the locks that come before
    the inventory rows: the shared ``THRESHOLDS`` lock, the order row, and key-share
    locks on the supplier, the products and the warehouse.
    """
    operation_id = str(uuid.uuid4())
    entries = []
    # one product per line, one warehouse: product id order is the inventory lock order
    for product_id, quantity, unit_cost in sorted(lines, key=lambda line: line[0]):
        ctx = Context(
            company_id=company_id,
            occurred_at=occurred_at,
            reference=reference,
            supplier_id=supplier_id,
            unit_cost=unit_cost,
            purchase_order_id=purchase_order_id,
            operation_id=operation_id,
        )
        entries += _move(ctx, [Change(product_id, warehouse_id, quantity, "receipt")])
    return entries


def sell(company_id: int, data: dict) -> list[LedgerEntry]:
    """Goods ship to a customer: remove stock (409 if not enough), reason ``sale``."""
    return _single_warehouse_operation(company_id, data, "sale", -1)


def return_(company_id: int, data: dict) -> list[LedgerEntry]:
    """A customer sends goods back: add stock, reason ``return``."""
    _may_add_rows(company_id)
    return _single_warehouse_operation(company_id, data, "return", +1)


def transfer(company_id: int, data: dict) -> list[LedgerEntry]:
    """Move stock between two of the company's warehouses; both sides or neither."""
    if data["from_warehouse_id"] == data["to_warehouse_id"]:
        raise field_error("to_warehouse_id", "Must differ from from_warehouse_id.")
    _may_add_rows(company_id)
    product, (source, target) = _load(company_id, data, "from_warehouse_id", "to_warehouse_id")
    ctx = _context(company_id, data)
    moved = _stocked_products(ctx, product, data["quantity"])
    changes = []
    for product_id, quantity in moved.items():
        changes.append(Change(product_id, source.id, -quantity, "transfer_out"))
        changes.append(Change(product_id, target.id, quantity, "transfer_in"))
    return _move(ctx, changes)


def adjust(company_id: int, data: dict) -> list[LedgerEntry]:
    """Correct the stock: a counted ``quantity`` (compare-and-set against
    ``expected_quantity`` when given) or a signed ``delta``; the reason is kept
    as the ledger row's note."""
    _may_add_rows(company_id)
    product, (warehouse,) = _load(company_id, data, "warehouse_id")
    if product.is_bundle:
        raise Problem(
            400,
            "A bundle holds no stock of its own; adjust its components instead.",
            type_=problem_type_uri("validation-error"),
            title="Invalid request",
            errors={"product_id": ["Bundles cannot be adjusted."]},
        )
    ctx = Context(
        company_id=company_id,
        occurred_at=data.get("occurred_at"),
        reference=data.get("reference"),
        note=data["reason"],
    )
    if "delta" in data:
        return _move(ctx, [Change(product.id, warehouse.id, data["delta"], "adjustment")])
    return [_count(ctx, product.id, warehouse.id, data["quantity"], data.get("expected_quantity"))]


def _count(ctx: Context, product_id: int, warehouse_id: int, counted: int, expected: int | None):
    """Set the level to what was counted; the ledger records the difference."""
    # make sure the row exists (adding 0 creates it, and locks it on PostgreSQL),
    # so the level read below cannot change before it is overwritten
    before = _upsert_increment(ctx.company_id, product_id, warehouse_id, 0)
    if expected is not None and before != expected:
        raise conflict(
            "stock-changed",
            f"The stock is {before}, not the expected {expected}: it changed since the "
            "count was taken. Recount, or send the new expected_quantity.",
            current_quantity=before,
            expected_quantity=expected,
        )
    stock_changed([product_id])
    after, threshold, sold = db.session.execute(
        sa.update(Inventory)
        .where(
            Inventory.company_id == ctx.company_id,
            Inventory.product_id == product_id,
            Inventory.warehouse_id == warehouse_id,
        )
        .values(quantity=counted, updated_at=sa.func.now())
        .returning(Inventory.quantity, Inventory.alert_threshold, Inventory.window_sales)
    ).one()
    if alerting(min(before, after), threshold, sold):
        alerts_changed([(product_id, warehouse_id)])
    outbox.level_changed(product_id, warehouse_id, before, after, threshold, sold)
    entry = _record(ctx, Change(product_id, warehouse_id, counted - before, "adjustment"), after)
    db.session.flush()
    return entry


def initial_stock(company_id: int, product_id: int, rows: list[dict]) -> list[LedgerEntry]:
    """A new product's opening stock: one ``initial`` ledger row per warehouse.

    The caller holds the warehouses' key-share locks and the shared ``THRESHOLDS``
    lock (``products.service.create_product``)."""
    ctx = Context(company_id=company_id)
    return _move(
        ctx, [Change(product_id, row["warehouse_id"], row["quantity"], "initial") for row in rows]
    )


def resulting_levels(entries: list[LedgerEntry]) -> list[dict]:
    """The stock level each touched (product, warehouse) was left at by this operation."""
    levels = {}
    for entry in entries:
        levels[(entry.product_id, entry.warehouse_id)] = entry.quantity_after
    return [
        {"product_id": p, "warehouse_id": w, "quantity": q} for (p, w), q in sorted(levels.items())
    ]
