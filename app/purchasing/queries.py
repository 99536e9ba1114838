"""Purchase orders as read: lists, views with computed totals, what is on order,
and the lead times learned from their receipts.

``on_order`` and ``lead_times`` are what the low-stock alerts need to net stock
on order and to plan with observed lead times: one statement each.
"""

from __future__ import annotations

import datetime as dt
import decimal

import sqlalchemy as sa

from app.extensions import db
from app.models import TWO_PLACES, Product, PurchaseOrder, PurchaseOrderLine
from app.suppliers.queries import lead_times  # noqa: F401 - re-exported for the alerts

# the statuses whose remaining quantities are on their way
OPEN_STATUSES = ("ordered", "partially_received")


def order_list(company_id: int, filters: dict) -> sa.Select:
    """The company's purchase orders matching the filters, newest first."""
    query = sa.select(PurchaseOrder).where(PurchaseOrder.company_id == company_id)
    for field in ("status", "supplier_id", "warehouse_id"):
        if field in filters:
            query = query.where(getattr(PurchaseOrder, field) == filters[field])
    if "product_id" in filters:
        query = query.where(
            sa.exists().where(
                PurchaseOrderLine.company_id == company_id,
                PurchaseOrderLine.purchase_order_id == PurchaseOrder.id,
                PurchaseOrderLine.product_id == filters["product_id"],
            )
        )
    return query.order_by(PurchaseOrder.id.desc())


def order_views(company_id: int, orders: list[PurchaseOrder]) -> list[dict]:
    """The orders as the API shows them: lines (with SKU and name) and totals
    computed from the lines (never stored). One statement for all the lines."""
    if not orders:
        return []
    rows = db.session.execute(
        sa.select(PurchaseOrderLine, Product.sku, Product.name)
        .join(
            Product,
            sa.and_(
                Product.company_id == PurchaseOrderLine.company_id,
                Product.id == PurchaseOrderLine.product_id,
            ),
        )
        .where(
            PurchaseOrderLine.company_id == company_id,
            PurchaseOrderLine.purchase_order_id.in_([order.id for order in orders]),
        )
        .order_by(PurchaseOrderLine.purchase_order_id, PurchaseOrderLine.product_id)
    )
    lines: dict[int, list[dict]] = {}
    for line, sku, name in rows:
        total = None
        if line.unit_cost is not None:
            total = (line.unit_cost * line.quantity_ordered).quantize(TWO_PLACES)
        lines.setdefault(line.purchase_order_id, []).append(
            {
                "product_id": line.product_id,
                "sku": sku,
                "product_name": name,
                "quantity": line.quantity_ordered,
                "received_quantity": line.quantity_received,
                "unit_cost": line.unit_cost,
                "line_total": total,
            }
        )
    return [_view(order, lines.get(order.id, [])) for order in orders]


def order_view(company_id: int, order: PurchaseOrder) -> dict:
    """One order as the API shows it."""
    return order_views(company_id, [order])[0]


def _view(order: PurchaseOrder, lines: list[dict]) -> dict:
    return {
        "id": order.id,
        "status": order.status,
        "supplier_id": order.supplier_id,
        "warehouse_id": order.warehouse_id,
        "reference": order.reference,
        "notes": order.notes,
        "expected_at": order.expected_at,
        "lines": lines,
        "total_quantity": sum(line["quantity"] for line in lines),
        "total_received_quantity": sum(line["received_quantity"] for line in lines),
        "total_cost": sum(
            (line["line_total"] for line in lines if line["line_total"] is not None),
            decimal.Decimal("0.00"),
        ),
        "created_at": order.created_at,
        "updated_at": order.updated_at,
        "ordered_at": order.ordered_at,
        "received_at": order.received_at,
        "cancelled_at": order.cancelled_at,
    }


def on_order(company_id: int, pairs) -> dict[tuple[int, int], dict]:
    """For each ``(product_id, warehouse_id)`` with stock on order: ``on_order`` (the
    units ordered and not yet received on open orders: ``ordered`` or
    ``partially_received``) and ``next_delivery_at`` (the earliest ``expected_at``
    of those orders, None when none says). Pairs with nothing on order are left
    out. One statement."""
    pairs = sorted(set(pairs))
    if not pairs:
        return {}
    remaining = PurchaseOrderLine.quantity_ordered - PurchaseOrderLine.quantity_received
    rows = db.session.execute(
        sa.select(
            PurchaseOrderLine.product_id,
            PurchaseOrder.warehouse_id,
            sa.func.sum(remaining),
            sa.func.min(PurchaseOrder.expected_at),
        )
        .join(
            PurchaseOrder,
            sa.and_(
                PurchaseOrder.company_id == PurchaseOrderLine.company_id,
                PurchaseOrder.id == PurchaseOrderLine.purchase_order_id,
            ),
        )
        .where(
            PurchaseOrderLine.company_id == company_id,
            PurchaseOrder.status.in_(OPEN_STATUSES),
            remaining > 0,
            sa.tuple_(PurchaseOrderLine.product_id, PurchaseOrder.warehouse_id).in_(pairs),
        )
        .group_by(PurchaseOrderLine.product_id, PurchaseOrder.warehouse_id)
    )
    return {
        (product_id, warehouse_id): {
            "on_order": int(quantity),
            "next_delivery_at": _utc(next_delivery),
        }
        for product_id, warehouse_id, quantity, next_delivery in rows
    }


def _utc(value) -> dt.datetime | None:
    """An aggregate's timestamp as a UTC-aware datetime (SQLite hands back text)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)
