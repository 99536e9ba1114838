"""Low-stock thresholds: the defaults, a company's per-type overrides, and reorder rules
(a threshold for one product in one warehouse). Functions flush, never commit.

This module is the single source of the default thresholds; the demo data and the
low-stock alerts import them from here.
"""

from __future__ import annotations

import sqlalchemy as sa

from app.errors import conflict, not_found
from app.extensions import db
from app.locks import THRESHOLDS, company_lock
from app.models import (
    Inventory,
    Product,
    ProductTypeThreshold,
    ReorderRule,
    Warehouse,
    flush_or_conflict,
)
from app.tenancy import get_owned

# the threshold of a product type the company has not configured
DEFAULT_THRESHOLDS = {"fast_moving": 20, "regular": 10, "slow_moving": 5}
# ... and of any type not listed above
FALLBACK_THRESHOLD = 10


def default_threshold(product_type: str) -> int:
    """The built-in low-stock threshold of a product type."""
    return DEFAULT_THRESHOLDS.get(product_type, FALLBACK_THRESHOLD)


def threshold_of(company_id, product_id, warehouse_id) -> sa.ColumnElement[int]:
    """The threshold that applies to a product in a warehouse, as SQL (columns or values):
    the reorder rule's, else the product's, else the company's for its type, else the
    type's default."""
    rule = (
        sa.select(ReorderRule.threshold)
        .where(
            ReorderRule.company_id == company_id,
            ReorderRule.product_id == product_id,
            ReorderRule.warehouse_id == warehouse_id,
        )
        .scalar_subquery()
    )
    product = (
        sa.select(
            sa.func.coalesce(
                Product.low_stock_threshold,
                ProductTypeThreshold.low_stock_threshold,
                # a searched CASE: Citus mis-evaluates a simple one (CASE x WHEN ...)
                # in an UPDATE that also sets now()
                sa.case(
                    *(
                        (Product.product_type == name, value)
                        for name, value in DEFAULT_THRESHOLDS.items()
                    ),
                    else_=FALLBACK_THRESHOLD,
                ),
            )
        )
        .outerjoin(
            ProductTypeThreshold,
            sa.and_(
                ProductTypeThreshold.company_id == Product.company_id,
                ProductTypeThreshold.product_type == Product.product_type,
            ),
        )
        .where(Product.company_id == company_id, Product.id == product_id)
        .scalar_subquery()
    )
    return sa.func.coalesce(rule, product)


def refresh_alert_thresholds(company_id: int, *where) -> int:
    """Recompute ``inventory.alert_threshold`` for the company's rows matching ``where``,
    in the transaction that changed a threshold; return how many rows changed.

    The caller holds the company's ``THRESHOLDS`` lock exclusively (taken before
    the change), so no concurrent first receipt computes a copy from the old
    settings, and no concurrent settings change is missed by this statement.
    """
    # the company as a value, not the column: Citus then routes the whole statement,
    # subqueries included, to the company's shard
    effective = threshold_of(company_id, Inventory.product_id, Inventory.warehouse_id)
    result = db.session.execute(
        sa.update(Inventory)
        .where(
            Inventory.company_id == company_id,
            *where,
            # rewrite only the copies that differ (fewer row versions, an honest count)
            Inventory.alert_threshold != effective,
        )
        .values(alert_threshold=effective)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


def recompute_alert_thresholds(company_id: int) -> int:
    """Recompute every threshold copy of the company, e.g. after an import or a restore
    that wrote inventory rows outside the API; return how many copies were wrong."""
    company_lock(THRESHOLDS, company_id)
    return refresh_alert_thresholds(company_id)


def _of_type(company_id: int, product_type: str):
    return Inventory.product_id.in_(
        sa.select(Product.id).where(
            Product.company_id == company_id, Product.product_type == product_type
        )
    )


def _type_row(product_type: str, threshold: int, source: str) -> dict:
    return {"product_type": product_type, "low_stock_threshold": threshold, "source": source}


def type_thresholds(company_id: int) -> list[dict]:
    """Every product type that matters to the company, by name, with its threshold.

    That is the default types, the types the company configured and the types its
    active products use; ``source`` says whether the company set the threshold.
    """
    configured = dict(
        db.session.execute(
            sa.select(
                ProductTypeThreshold.product_type, ProductTypeThreshold.low_stock_threshold
            ).where(ProductTypeThreshold.company_id == company_id)
        ).all()
    )
    used = set(
        db.session.scalars(
            sa.select(Product.product_type)
            .where(Product.company_id == company_id, Product.archived_at.is_(None))
            .distinct()
        )
    )
    return [
        _type_row(name, configured[name], "company")
        if name in configured
        else _type_row(name, default_threshold(name), "default")
        for name in sorted(DEFAULT_THRESHOLDS.keys() | configured.keys() | used)
    ]


def set_type_threshold(company_id: int, product_type: str, threshold: int) -> dict:
    """Set (insert or replace) the company's threshold for a product type."""
    company_lock(THRESHOLDS, company_id)
    row = _find_type_threshold(company_id, product_type)
    if row is None:
        row = ProductTypeThreshold(company_id=company_id, product_type=product_type)
        db.session.add(row)
    row.low_stock_threshold = threshold
    _flush_upsert("pk_product_type_thresholds", f"The threshold of type '{product_type}'")
    refresh_alert_thresholds(company_id, _of_type(company_id, product_type))
    return _type_row(product_type, threshold, "company")


def delete_type_threshold(company_id: int, product_type: str) -> None:
    """Drop the company's threshold for a type (back to the default); no-op if unset."""
    company_lock(THRESHOLDS, company_id)
    db.session.execute(
        sa.delete(ProductTypeThreshold).where(
            ProductTypeThreshold.company_id == company_id,
            ProductTypeThreshold.product_type == product_type,
        )
    )
    refresh_alert_thresholds(company_id, _of_type(company_id, product_type))


def reorder_rules(company_id: int, product_id: int) -> list[ReorderRule]:
    """The rules of one of the company's active products, in active warehouses, by warehouse."""
    get_owned(Product, company_id, product_id)
    return list(
        db.session.scalars(
            sa.select(ReorderRule)
            .join(
                Warehouse,
                sa.and_(
                    Warehouse.company_id == ReorderRule.company_id,
                    Warehouse.id == ReorderRule.warehouse_id,
                ),
            )
            .where(
                ReorderRule.company_id == company_id,
                ReorderRule.product_id == product_id,
                Warehouse.archived_at.is_(None),
            )
            .order_by(ReorderRule.warehouse_id)
        )
    )


def set_reorder_rule(
    company_id: int, product_id: int, warehouse_id: int, data: dict
) -> tuple[ReorderRule, bool]:
    """Set (insert or replace) a product's rule in a warehouse; return it and whether it is new.

    Both must be the company's and active (else 404); a bundle holds no stock, so it
    has no rules (409).
    """
    company_lock(THRESHOLDS, company_id)
    product = get_owned(Product, company_id, product_id, share=True)
    get_owned(Warehouse, company_id, warehouse_id, share=True)
    if product.is_bundle:
        raise conflict(
            "bundle-has-no-stock",
            "A bundle holds no stock and gets no low-stock alerts; "
            "set reorder rules on its components instead.",
        )
    rule = _find_rule(company_id, product_id, warehouse_id)
    created = rule is None
    if created:
        rule = ReorderRule(company_id=company_id, product_id=product_id, warehouse_id=warehouse_id)
        db.session.add(rule)
    else:
        # a replace with the same values is still an update: say when it was last set
        rule.updated_at = sa.func.now()
    rule.threshold = data["threshold"]
    rule.reorder_quantity = data.get("reorder_quantity")
    _flush_upsert(
        "pk_reorder_rules", f"The reorder rule of product {product_id} in warehouse {warehouse_id}"
    )
    _refresh_row(company_id, product_id, warehouse_id)
    return rule, created


def delete_reorder_rule(company_id: int, product_id: int, warehouse_id: int) -> None:
    """Remove a product's rule in a warehouse; 404 if there is none."""
    company_lock(THRESHOLDS, company_id)
    get_owned(Product, company_id, product_id)
    get_owned(Warehouse, company_id, warehouse_id)
    rule = _find_rule(company_id, product_id, warehouse_id)
    if rule is None:
        raise not_found("Reorder rule")
    db.session.delete(rule)
    db.session.flush()
    _refresh_row(company_id, product_id, warehouse_id)


def _refresh_row(company_id: int, product_id: int, warehouse_id: int) -> None:
    refresh_alert_thresholds(
        company_id, Inventory.product_id == product_id, Inventory.warehouse_id == warehouse_id
    )


def _find_type_threshold(company_id: int, product_type: str) -> ProductTypeThreshold | None:
    return db.session.get(ProductTypeThreshold, (company_id, product_type))


def _find_rule(company_id: int, product_id: int, warehouse_id: int) -> ReorderRule | None:
    return db.session.get(ReorderRule, (company_id, product_id, warehouse_id))


def _flush_upsert(primary_key: str, what: str) -> None:
    """Flush an upsert; a concurrent request that inserted the same row first is a 409."""
    detail = f"{what} was created by another request at the same time; retry."
    flush_or_conflict({primary_key: conflict("concurrent-update", detail)})
