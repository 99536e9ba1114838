"""Reading stock: levels per product and per warehouse (bundles included), and the ledger."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections import defaultdict

import sqlalchemy as sa

from app.bundles import queries as bundles
from app.errors import field_error
from app.extensions import db
from app.models import Inventory, LedgerEntry, Product, Warehouse

MAX_BIGINT = 2**63 - 1  # ledger ids are 64-bit


def _inventory(company_id: int, *where) -> dict[int, dict[int, int]]:
    """product id -> warehouse id -> quantity, for active warehouses."""
    rows = db.session.execute(
        sa.select(Inventory.product_id, Inventory.warehouse_id, Inventory.quantity)
        .join(
            Warehouse,
            sa.and_(
                Warehouse.company_id == Inventory.company_id,
                Warehouse.id == Inventory.warehouse_id,
            ),
        )
        .where(Inventory.company_id == company_id, Warehouse.archived_at.is_(None), *where)
    )
    levels: dict[int, dict[int, int]] = defaultdict(dict)
    for product_id, warehouse_id, quantity in rows:
        levels[product_id][warehouse_id] = quantity
    return levels


def stock_by_product(
    company_id: int, products: list[Product], warehouse_id: int | None = None
) -> dict[int, list[dict]]:
    """``[{warehouse_id, quantity}]`` per product (in one warehouse, if given); a
    bundle's quantity is what its components can make (min over leaf components of
    floor(stock / per bundle)).

    One :class:`~app.bundles.queries.Explosion` serves every bundle of the list, so
    each bundle of the company's graph is worked out at most once, and the work of
    the whole request counts against one budget.
    """
    if not products:
        return {}
    components = bundles.component_map(company_id) if any(p.is_bundle for p in products) else {}
    explosion = bundles.Explosion(components)
    leaves = {p.id: explosion.leaves(p.id) for p in products if p.is_bundle}
    wanted = {p.id for p in products if not p.is_bundle}
    for leaf in leaves.values():
        wanted |= set(leaf)
    where = [Inventory.product_id.in_(wanted)]
    if warehouse_id is not None:
        where.append(Inventory.warehouse_id == warehouse_id)
    levels = _inventory(company_id, *where) if wanted else {}

    result = {}
    for product in products:
        if not product.is_bundle:
            per_warehouse = levels.get(product.id, {})
        else:
            leaf = leaves[product.id]
            warehouses = {w for product_id in leaf for w in levels.get(product_id, {})}
            explosion.spend(len(leaf) * (len(warehouses) + 1))
            per_warehouse = {
                w: bundles.availability(leaf, {p: levels.get(p, {}).get(w, 0) for p in leaf})
                for w in warehouses
            }
        result[product.id] = [
            {"warehouse_id": w, "quantity": q} for w, q in sorted(per_warehouse.items())
        ]
    return result


def attach_stock(company_id: int, products: list[Product]) -> list[Product]:
    """Set ``product.stock`` on each product (one batch of queries for all of them)."""
    stock = stock_by_product(company_id, products)
    for product in products:
        product.stock = stock[product.id]
    return products


def product_stock(company_id: int, product: Product) -> dict:
    """A product's stock per warehouse with warehouse names and the total."""
    levels = stock_by_product(company_id, [product])[product.id]
    names = dict(
        db.session.execute(
            sa.select(Warehouse.id, Warehouse.name).where(
                Warehouse.company_id == company_id,
                Warehouse.id.in_([level["warehouse_id"] for level in levels]),
            )
        ).all()
    )
    return {
        "product_id": product.id,
        "sku": product.sku,
        "is_bundle": product.is_bundle,
        "total_quantity": sum(level["quantity"] for level in levels),
        "warehouses": [
            {**level, "warehouse_name": names[level["warehouse_id"]]} for level in levels
        ],
    }


def products_in_warehouse(company_id: int, warehouse_id: int) -> sa.Select:
    """The active products of a warehouse's stock list: those with an inventory row
    there, and every bundle (with what its components can make there, maybe 0)."""
    stocked = sa.select(Inventory.product_id).where(
        Inventory.company_id == company_id, Inventory.warehouse_id == warehouse_id
    )
    return (
        sa.select(Product)
        .where(
            Product.company_id == company_id,
            Product.archived_at.is_(None),
            sa.or_(Product.id.in_(stocked), Product.is_bundle),
        )
        .order_by(Product.id)
    )


def warehouse_stock(company_id: int, warehouse_id: int, products: list[Product]) -> list[dict]:
    """The quantity of each product in one warehouse (bundles: what can be made there)."""
    stock = stock_by_product(company_id, products, warehouse_id)
    items = []
    for product in products:
        quantity = next(
            (s["quantity"] for s in stock[product.id] if s["warehouse_id"] == warehouse_id), None
        )
        items.append(
            {
                "product_id": product.id,
                "sku": product.sku,
                "name": product.name,
                "is_bundle": product.is_bundle,
                "quantity": quantity or 0,
            }
        )
    return items


# -- the ledger -------------------------------------------------------------------------


def encode_cursor(entry: LedgerEntry) -> str:
    """An opaque cursor pointing just after ``entry`` in newest-first order."""
    raw = f"{entry.occurred_at.astimezone(dt.UTC).isoformat()}|{entry.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[dt.datetime, int]:
    """The (occurred_at, id) a cursor points after; a 400 on the field if it is not ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        when, _, entry_id = raw.partition("|")
        occurred_at = dt.datetime.fromisoformat(when)
        if occurred_at.tzinfo is None:
            raise ValueError("naive")
        occurred_at = occurred_at.astimezone(dt.UTC)
        entry_id = int(entry_id)
        if not 0 <= entry_id <= MAX_BIGINT:
            raise ValueError("id out of range")
        return occurred_at, entry_id
    except (ValueError, OverflowError, UnicodeDecodeError, binascii.Error) as error:
        raise field_error("cursor", "Not a valid cursor.") from error


def ledger_page(company_id: int, args: dict) -> dict:
    """Ledger rows matching the filters, newest first, ``limit`` at a time."""
    query = sa.select(LedgerEntry).where(LedgerEntry.company_id == company_id)
    for field in ("product_id", "warehouse_id", "reason"):
        if args.get(field) is not None:
            query = query.where(getattr(LedgerEntry, field) == args[field])
    if args.get("since") is not None:
        query = query.where(LedgerEntry.occurred_at >= args["since"])
    if args.get("until") is not None:
        query = query.where(LedgerEntry.occurred_at < args["until"])
    if args.get("cursor"):
        occurred_at, entry_id = decode_cursor(args["cursor"])
        query = query.where(
            sa.or_(
                LedgerEntry.occurred_at < occurred_at,
                sa.and_(LedgerEntry.occurred_at == occurred_at, LedgerEntry.id < entry_id),
            )
        )
    limit = args["limit"]
    rows = list(
        db.session.scalars(
            query.order_by(LedgerEntry.occurred_at.desc(), LedgerEntry.id.desc()).limit(limit + 1)
        )
    )
    has_more = len(rows) > limit
    rows = rows[:limit]
    return {"entries": rows, "next_cursor": encode_cursor(rows[-1]) if has_more else None}


# -- the sync cursor: every committed row, once, in the order transactions wrote them ----

SYNC_CURSOR_VERSION = "s1"
# every transaction below the snapshot's xmin has ended, committed or not
FINISHED_BELOW = "pg_snapshot_xmin(pg_current_snapshot())::text::bigint"


def encode_sync_cursor(txid: int, entry_id: int) -> str:
    """An opaque cursor pointing just after the row ``(txid, entry_id)``."""
    raw = f"{SYNC_CURSOR_VERSION}|{txid}|{entry_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_sync_cursor(cursor: str | None) -> tuple[int, int]:
    """The ``(txid, id)`` a sync cursor points after (the start when there is none);
    a 400 on ``after`` if it is not one we issued."""
    if cursor is None:
        return 0, 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        version, txid, entry_id = raw.split("|")
        txid, entry_id = int(txid), int(entry_id)
        if (
            version != SYNC_CURSOR_VERSION
            or not (0 <= txid <= MAX_BIGINT and 0 <= entry_id <= MAX_BIGINT)
            or encode_sync_cursor(txid, entry_id) != cursor  # exactly as issued
        ):
            raise ValueError("not a sync cursor")
        return txid, entry_id
    except (ValueError, UnicodeDecodeError, binascii.Error) as error:
        raise field_error("after", "Not a valid cursor.") from error


def ledger_changes(company_id: int, args: dict) -> dict:
    """The company's ledger rows after the sync cursor, oldest write first.

    PostgreSQL: rows are ordered by the id of the transaction that wrote them, then
    by id, and only rows of transactions below the snapshot's xmin are served. Every
    transaction below xmin has ended, and every transaction that has not ended yet
    (or not begun) has an id at or above it, so no row can later commit behind a
    cursor we handed out: a sale that waits on a lock holds the feed back until it
    ends, rather than being skipped. SQLite has one writer at a time, so ids are
    handed out in commit order and the id alone is the cursor.

    The horizon is read in a statement of its own, on the server that assigned the
    transaction ids: on Citus the coordinator fills ``txid`` (it evaluates column
    defaults) while a filter inside the routed query would run on a worker, whose
    transaction ids are its own. Reading it first is only more cautious: every
    transaction below it had ended before the feed's own snapshot was taken.
    """
    txid, entry_id = decode_sync_cursor(args.get("after"))
    limit = args["limit"]
    query = sa.select(LedgerEntry).where(LedgerEntry.company_id == company_id)
    if db.session.get_bind().dialect.name == "postgresql":
        finished_below = db.session.scalar(sa.select(sa.literal_column(FINISHED_BELOW)))
        query = query.where(
            sa.tuple_(LedgerEntry.txid, LedgerEntry.id) > sa.tuple_(txid, entry_id),
            LedgerEntry.txid < finished_below,
        ).order_by(LedgerEntry.txid, LedgerEntry.id)
    else:
        query = query.where(LedgerEntry.id > entry_id).order_by(LedgerEntry.id)
    rows = list(db.session.scalars(query.limit(limit + 1)))
    has_more = len(rows) > limit
    rows = rows[:limit]
    if rows:
        txid, entry_id = rows[-1].txid or 0, rows[-1].id
    return {
        "entries": rows,
        "next_cursor": encode_sync_cursor(txid, entry_id),
        "has_more": has_more,
    }
