"""Stock levels as CSV or JSON, streamed: read with a server-side cursor, written piece by
piece, so a large company's levels never sit in memory."""

from __future__ import annotations

import csv
import io
import json

import sqlalchemy as sa

from app.extensions import db
from app.models import Inventory, Product, Warehouse

EXPORT_BATCH = 1000  # rows fetched at a time (a server-side cursor on PostgreSQL)


def _levels(company_id: int, filters: dict):
    query = (
        sa.select(Inventory.product_id, Product.sku, Inventory.warehouse_id, Inventory.quantity)
        .join(
            Product,
            sa.and_(Product.company_id == Inventory.company_id, Product.id == Inventory.product_id),
        )
        .join(
            Warehouse,
            sa.and_(
                Warehouse.company_id == Inventory.company_id,
                Warehouse.id == Inventory.warehouse_id,
            ),
        )
        .where(
            Inventory.company_id == company_id,
            Product.archived_at.is_(None),
            Warehouse.archived_at.is_(None),
        )
        .order_by(Inventory.product_id, Inventory.warehouse_id)
        .execution_options(yield_per=EXPORT_BATCH)
    )
    for name in ("product_id", "warehouse_id"):
        if filters.get(name) is not None:
            query = query.where(getattr(Inventory, name) == filters[name])
    return db.session.execute(query)


LEVEL_COLUMNS = ("product_id", "sku", "warehouse_id", "quantity")


def levels_csv(company_id: int, filters: dict):
    """Every stock level (product, warehouse) as CSV, piece by piece."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(LEVEL_COLUMNS)
    for count, row in enumerate(_levels(company_id, filters), 1):
        writer.writerow(row)
        if count % 500 == 0:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()


def levels_json(company_id: int, filters: dict):
    """Every stock level as a JSON array, piece by piece."""
    yield "["
    for count, row in enumerate(_levels(company_id, filters)):
        yield ("," if count else "") + json.dumps(dict(zip(LEVEL_COLUMNS, row, strict=True)))
    yield "]"
