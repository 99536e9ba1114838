"""Purchase orders: create, change, submit, cancel, receive, and drafts from the
low-stock alerts. Functions flush, never commit.

Every write locks the order row first (``FOR UPDATE``) and decides from what it
reads under that lock, so two requests on one order take turns: two receipts
cannot both receive the last units, a submit and a cancel cannot both win. Then
come key-share locks on the supplier, the products (id order) and the warehouse,
so none can be archived under the write (app/locks.py has the whole order).

Lines are products of the company that the order's supplier supplies (a
``supplier_products`` link). Bundles are refused: a bundle holds no stock of its
own and has no supplier (links to bundles are refused too), so its components
are what is bought.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from app.alerts.queries import low_stock_alerts
from app.errors import Problem, conflict, not_found, problem_type_uri
from app.events import outbox
from app.extensions import db
from app.locks import THRESHOLDS, company_lock
from app.models import (
    LeadTimeObservation,
    Product,
    PurchaseOrder,
    PurchaseOrderLine,
    Supplier,
    SupplierProduct,
    Warehouse,
    write_time,
)
from app.purchasing.queries import order_view
from app.purchasing.schemas import MAX_ALERTS
from app.schemas import MAX_INT
from app.stock import service as stock
from app.tenancy import owned_ids, require_owned

SECONDS_PER_DAY = 86400


def _invalid(errors: dict[str, list[str]], detail: str) -> Problem:
    return Problem(
        400,
        detail,
        type_=problem_type_uri("validation-error"),
        title="Invalid request",
        errors=errors,
    )


def lock_order(company_id: int, order_id: int) -> PurchaseOrder:
    """The company's order, locked until the transaction ends; else a 404."""
    order = db.session.scalar(
        sa.select(PurchaseOrder)
        .where(PurchaseOrder.company_id == company_id, PurchaseOrder.id == order_id)
        .with_for_update()
    )
    if order is None:
        raise not_found("Purchase order")
    return order


def get_order(company_id: int, order_id: int) -> PurchaseOrder:
    """The company's order (another company's is a 404)."""
    order = db.session.scalar(
        sa.select(PurchaseOrder).where(
            PurchaseOrder.company_id == company_id, PurchaseOrder.id == order_id
        )
    )
    if order is None:
        raise not_found("Purchase order")
    return order


def _validated_lines(company_id: int, supplier_id: int, lines: list[dict]) -> list[dict]:
    """The lines, each a product of the company that ``supplier_id`` supplies (a 400
    naming every bad line otherwise); a missing ``unit_cost`` is the link's cost.

    Takes key-share locks on the products, in id order, so none is archived under
    the order.
    """
    errors: dict[str, list[str]] = {}
    seen: set[int] = set()
    for i, line in enumerate(lines):
        if line["product_id"] in seen:
            errors[f"lines.{i}.product_id"] = ["Listed twice: one line per product."]
        seen.add(line["product_id"])
    rows = db.session.execute(
        sa.select(Product.id, Product.is_bundle)
        .where(
            Product.company_id == company_id,
            Product.archived_at.is_(None),
            Product.id.in_(seen),
        )
        .order_by(Product.id)
        .with_for_update(read=True, key_share=True)
    ).all()
    bundles = {product_id for product_id, is_bundle in rows if is_bundle}
    known = {product_id for product_id, _ in rows}
    costs = dict(
        db.session.execute(
            sa.select(SupplierProduct.product_id, SupplierProduct.cost_price).where(
                SupplierProduct.company_id == company_id,
                SupplierProduct.supplier_id == supplier_id,
                SupplierProduct.product_id.in_(seen),
            )
        ).all()
    )
    validated = []
    for i, line in enumerate(lines):
        product_id = line["product_id"]
        field = f"lines.{i}.product_id"
        if field in errors:
            continue
        if product_id not in known:
            errors[field] = ["Unknown product."]
        elif product_id in bundles:
            errors[field] = [
                f"Product {product_id} is a bundle: a bundle holds no stock of its own; "
                "order its components."
            ]
        elif product_id not in costs:
            errors[field] = [
                f"Supplier {supplier_id} does not supply product {product_id}: link them "
                f"first (POST /api/products/{product_id}/suppliers)."
            ]
        else:
            unit_cost = line.get("unit_cost", costs[product_id])
            validated.append({**line, "unit_cost": unit_cost})
    if errors:
        raise _invalid(errors, "Some lines cannot be ordered from this supplier.")
    return validated


def _add_lines(order: PurchaseOrder, lines: list[dict]) -> None:
    db.session.add_all(
        PurchaseOrderLine(
            company_id=order.company_id,
            purchase_order_id=order.id,
            product_id=line["product_id"],
            quantity_ordered=line["quantity"],
            unit_cost=line["unit_cost"],
        )
        for line in lines
    )


def _order_lines(order: PurchaseOrder) -> list[PurchaseOrderLine]:
    return list(
        db.session.scalars(
            sa.select(PurchaseOrderLine)
            .where(
                PurchaseOrderLine.company_id == order.company_id,
                PurchaseOrderLine.purchase_order_id == order.id,
            )
            .order_by(PurchaseOrderLine.product_id)
        )
    )


def create_order(company_id: int, data: dict) -> PurchaseOrder:
    """A new draft order."""
    supplier = require_owned(Supplier, company_id, data["supplier_id"], "supplier_id", share=True)
    lines = _validated_lines(company_id, supplier.id, data["lines"])
    warehouse = require_owned(
        Warehouse, company_id, data["warehouse_id"], "warehouse_id", share=True
    )
    order = PurchaseOrder(
        company_id=company_id,
        supplier_id=supplier.id,
        warehouse_id=warehouse.id,
        status="draft",
        reference=data.get("reference"),
        notes=data.get("notes"),
        expected_at=data.get("expected_at"),
    )
    db.session.add(order)
    db.session.flush()
    _add_lines(order, lines)
    db.session.flush()
    return order


def _require_draft(order: PurchaseOrder, action: str) -> None:
    if order.status != "draft":
        raise conflict(
            "purchase-order-not-draft",
            f"Purchase order {order.id} is {order.status}: only a draft can be {action}.",
            order_status=order.status,
        )


def update_order(company_id: int, order_id: int, changes: dict) -> PurchaseOrder:
    """Change a draft; ``lines``, when given, replace all its lines at once."""
    order = lock_order(company_id, order_id)
    _require_draft(order, "changed")
    supplier_id = order.supplier_id
    if "supplier_id" in changes:
        supplier_id = require_owned(
            Supplier, company_id, changes["supplier_id"], "supplier_id", share=True
        ).id
    lines = None
    if "lines" in changes or supplier_id != order.supplier_id:
        given = changes.get("lines") or [
            {
                "product_id": line.product_id,
                "quantity": line.quantity_ordered,
                "unit_cost": line.unit_cost,
            }
            for line in _order_lines(order)
        ]
        lines = _validated_lines(company_id, supplier_id, given)
    if "warehouse_id" in changes:
        require_owned(Warehouse, company_id, changes["warehouse_id"], "warehouse_id", share=True)
    for field in ("supplier_id", "warehouse_id", "reference", "notes", "expected_at"):
        if field in changes:
            setattr(order, field, changes[field])
    if lines is not None:
        db.session.execute(
            sa.delete(PurchaseOrderLine).where(
                PurchaseOrderLine.company_id == company_id,
                PurchaseOrderLine.purchase_order_id == order.id,
            )
        )
        _add_lines(order, lines)
    order.updated_at = write_time()
    db.session.flush()
    return order


def _require_active(order: PurchaseOrder, product_ids) -> None:
    """The order's supplier, these products and its warehouse are still active (a 409
    naming the archived one otherwise); key-share locks keep them so."""
    if not owned_ids(Supplier, order.company_id, [order.supplier_id], share=True):
        raise conflict(
            "supplier-archived",
            f"Supplier {order.supplier_id} of purchase order {order.id} was deleted.",
            supplier_id=order.supplier_id,
        )
    product_ids = set(product_ids)
    gone = product_ids - owned_ids(Product, order.company_id, product_ids, share=True)
    if gone:
        raise conflict(
            "product-archived",
            f"Product(s) {sorted(gone)} of purchase order {order.id} were deleted.",
            product_id=min(gone),
        )
    if not owned_ids(Warehouse, order.company_id, [order.warehouse_id], share=True):
        raise conflict(
            "warehouse-archived",
            f"Warehouse {order.warehouse_id} of purchase order {order.id} was deleted.",
            warehouse_id=order.warehouse_id,
        )


def submit_order(company_id: int, order_id: int) -> PurchaseOrder:
    """Place a draft with the supplier: ``ordered``, stamped ``ordered_at``."""
    order = lock_order(company_id, order_id)
    _require_draft(order, "submitted")
    _require_active(order, [line.product_id for line in _order_lines(order)])
    order.status = "ordered"
    order.ordered_at = write_time()
    order.updated_at = write_time()
    db.session.flush()
    return order


def cancel_order(company_id: int, order_id: int) -> PurchaseOrder:
    """Cancel a draft, or an ordered order of which nothing was received."""
    order = lock_order(company_id, order_id)
    if order.status not in ("draft", "ordered"):
        raise conflict(
            "purchase-order-not-cancellable",
            f"Purchase order {order.id} is {order.status}: only a draft, or an ordered "
            "order of which nothing was received, can be cancelled.",
            order_status=order.status,
        )
    order.status = "cancelled"
    order.cancelled_at = write_time()
    order.updated_at = write_time()
    db.session.flush()
    return order


def receive(company_id: int, order_id: int, data: dict) -> PurchaseOrder:
    """Goods of an order arrive in its warehouse: ``receipt`` ledger rows naming the
    order, its supplier and each line's unit cost, the received quantities, the
    status (``partially_received``, or ``received`` once every line is complete),
    and a lead-time observation per product received for the first time."""
    # the company-level lock first: a receipt may add inventory rows (app/locks.py)
    company_lock(THRESHOLDS, company_id, shared=True)
    order = lock_order(company_id, order_id)
    if order.status == "draft":
        raise conflict(
            "purchase-order-not-ordered",
            f"Purchase order {order.id} is a draft: submit it before receiving goods.",
            order_status=order.status,
        )
    if order.status in ("received", "cancelled"):
        raise conflict(
            "purchase-order-closed",
            f"Purchase order {order.id} is {order.status}: it takes no more receipts.",
            order_status=order.status,
        )
    lines = {line.product_id: line for line in _order_lines(order)}
    arriving = _receipt_lines(order, lines, data)
    _require_active(order, arriving)
    _refuse_over_receipt(order, lines, arriving, data["allow_over_receipt"])

    when = data.get("occurred_at")
    first = [p for p in arriving if lines[p].quantity_received == 0]
    stock.receive_purchase_order(
        company_id,
        order.warehouse_id,
        [(p, quantity, lines[p].unit_cost) for p, quantity in arriving.items()],
        supplier_id=order.supplier_id,
        purchase_order_id=order.id,
        occurred_at=when,
        reference=data.get("reference"),
    )
    for product_id, quantity in arriving.items():
        lines[product_id].quantity_received += quantity
    _observe_lead_times(order, first, when or dt.datetime.now(dt.UTC))
    complete = all(line.quantity_received >= line.quantity_ordered for line in lines.values())
    order.status = "received" if complete else "partially_received"
    if complete:
        order.received_at = write_time()
    order.updated_at = write_time()
    db.session.flush()
    outbox.emit(
        "purchase_order.received",
        {
            "purchase_order": {
                "id": order.id,
                "status": order.status,
                "reference": order.reference,
                "supplier_id": order.supplier_id,
                "warehouse_id": order.warehouse_id,
            },
            "received": [
                {"product_id": p, "quantity": quantity} for p, quantity in sorted(arriving.items())
            ],
            "lines": [
                {
                    "product_id": line.product_id,
                    "quantity_ordered": line.quantity_ordered,
                    "quantity_received": line.quantity_received,
                }
                for line in sorted(lines.values(), key=lambda line: line.product_id)
            ],
        },
    )
    return order


def _receipt_lines(order: PurchaseOrder, lines: dict, data: dict) -> dict[int, int]:
    """The receipt's quantities by product: each a product of the order, once (400)."""
    errors: dict[str, list[str]] = {}
    arriving: dict[int, int] = {}
    for i, line in enumerate(data["lines"]):
        product_id = line["product_id"]
        if product_id in arriving:
            errors[f"lines.{i}.product_id"] = ["Listed twice: one line per product."]
        elif product_id not in lines:
            errors[f"lines.{i}.product_id"] = [
                f"Product {product_id} is not on purchase order {order.id}."
            ]
        else:
            arriving[product_id] = line["quantity"]
    if order.ordered_at is not None and data.get("occurred_at") is not None:
        if data["occurred_at"] < order.ordered_at:
            errors["occurred_at"] = ["Must not be before the order was placed (ordered_at)."]
    if errors:
        raise _invalid(errors, "The receipt does not match the purchase order.")
    return arriving


def _refuse_over_receipt(order, lines: dict, arriving: dict[int, int], allowed: bool) -> None:
    for product_id, quantity in sorted(arriving.items()):
        line = lines[product_id]
        remaining = line.quantity_ordered - line.quantity_received
        if line.quantity_received + quantity > MAX_INT:
            raise conflict(
                "quantity-limit",
                f"Receiving {quantity} more of product {product_id} would pass the largest "
                f"storable quantity ({MAX_INT}).",
                product_id=product_id,
            )
        if quantity > remaining and not allowed:
            raise conflict(
                "over-receipt",
                f"Purchase order {order.id} has {max(remaining, 0)} unit(s) of product "
                f"{product_id} left to receive; {quantity} arrived. Send "
                "allow_over_receipt: true to accept them all.",
                product_id=product_id,
                remaining=max(remaining, 0),
                requested=quantity,
            )


def _observe_lead_times(order: PurchaseOrder, product_ids, when: dt.datetime) -> None:
    """Record how long the supplier took for each product received for the first time."""
    if order.ordered_at is None:  # pragma: no cover - an ordered order always has one
        return
    days = max(0, int((when - order.ordered_at).total_seconds() // SECONDS_PER_DAY))
    db.session.add_all(
        LeadTimeObservation(
            company_id=order.company_id,
            supplier_id=order.supplier_id,
            product_id=product_id,
            purchase_order_id=order.id,
            days=days,
            observed_at=when,
        )
        for product_id in sorted(product_ids)
    )


def orders_from_alerts(company_id: int, data: dict, today: dt.date) -> dict:
    """One draft order per (supplier, warehouse) of the current low-stock alerts
    (the most urgent ``MAX_ALERTS``), each line the alert's suggested quantity at
    its supplier's cost price."""
    for field, model in (("warehouse_id", Warehouse), ("supplier_id", Supplier)):
        if data.get(field) is not None:
            require_owned(model, company_id, data[field], field)
    wanted = None
    if data.get("product_ids"):
        wanted = set(data["product_ids"])
        known = owned_ids(Product, company_id, wanted)
        errors = {
            f"product_ids.{i}": ["Unknown product."]
            for i, product_id in enumerate(data["product_ids"])
            if product_id not in known
        }
        if errors:
            raise _invalid(errors, "Some products are unknown.")
    args = {
        "days": data["days"],
        "warehouse_id": data.get("warehouse_id"),
        "supplier_id": data.get("supplier_id"),
        "page": 1,
        "page_size": MAX_ALERTS,
    }
    alerts, total = low_stock_alerts(company_id, args, today)
    alerts = [a for a in alerts if wanted is None or a["product_id"] in wanted]
    suppliers = {a["supplier"]["id"] for a in alerts if a["supplier"] is not None}
    active = owned_ids(Supplier, company_id, suppliers)
    groups: dict[tuple[int, int], list[dict]] = {}
    skipped = []
    for alert in alerts:
        supplier = alert["supplier"]
        if alert["suggested_reorder_quantity"] == 0:
            # the open orders already bring what the alert asks for
            skipped.append(
                {
                    "product_id": alert["product_id"],
                    "warehouse_id": alert["warehouse_id"],
                    "reason": "on_order",
                }
            )
            continue
        if supplier is None or supplier["id"] not in active:
            reason = "no_supplier" if supplier is None else "supplier_archived"
            skipped.append(
                {
                    "product_id": alert["product_id"],
                    "warehouse_id": alert["warehouse_id"],
                    "reason": reason,
                }
            )
            continue
        groups.setdefault((supplier["id"], alert["warehouse_id"]), []).append(
            {
                "product_id": alert["product_id"],
                "quantity": alert["suggested_reorder_quantity"],
                "unit_cost": alert["cost_price"],
            }
        )
    orders = []
    for (supplier_id, warehouse_id), lines in sorted(groups.items()):
        lines.sort(key=lambda line: line["product_id"])
        order = create_order(
            company_id,
            {
                "supplier_id": supplier_id,
                "warehouse_id": warehouse_id,
                "lines": lines,
                "notes": "Drafted from the low-stock alerts.",
            },
        )
        orders.append(order_view(company_id, order))
    return {
        "purchase_orders": orders,
        "alerts_considered": len(alerts),
        "skipped": skipped,
        "truncated": total > MAX_ALERTS,
    }
