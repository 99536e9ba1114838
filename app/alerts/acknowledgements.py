"""Acknowledging low-stock alerts: a buyer says "seen it", and the alert leaves the
default list while the situation is no worse than it was then.

An acknowledgement belongs to a product in a warehouse (one each: acknowledging
again replaces it). It records who (the request's API key), when, an optional
``until`` and note, and the situation at that moment: the stock level and the
stockout day in the default window (``situation``). The alert list
(``app.alerts.queries``) hides the alert while the acknowledgement *holds*:

- ``until`` is unset or still ahead, and
- the level is not zero, unless it already was when acknowledged, and
- the stockout date is not earlier than it was when acknowledged.

Holding is decided when the alerts are read, so it needs no job and is never
stale; a situation that recovers to no worse than at acknowledgement (a receipt,
say) is hidden again, while a passed ``until`` is final.

Functions flush, never commit.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from app.errors import conflict, field_error, not_found
from app.events import outbox
from app.extensions import db
from app.models import (
    STATE_DAYS,
    AlertAcknowledgement,
    ApiKey,
    LedgerEntry,
    Product,
    Warehouse,
    dialect_insert,
    window_start,
    write_time,
)
from app.stock.service import current_level
from app.tenancy import get_owned

EPOCH = dt.date(1970, 1, 1)


def day_number(day: dt.date) -> int:
    """A day as the integer the acknowledgements compare stockouts with (days since
    1970-01-01): plain integer arithmetic on every database, and it still counts
    past 9999-12-31, where a stockout has no calendar date."""
    return (day - EPOCH).days


def situation(company_id: int, product_id: int, warehouse_id: int, today: dt.date):
    """The row's stock level now and its stockout day (``day_number``) at the default
    window's rate, as the alerts count it; None for the day when the row sold
    nothing in the window (it does not alert, and has no stockout)."""
    level = current_level(company_id, product_id, warehouse_id)
    # from the ledger (the source of truth), whatever the day of the maintained state
    sold = db.session.scalar(
        sa.select(sa.func.coalesce(-sa.func.sum(LedgerEntry.quantity_change), 0)).where(
            LedgerEntry.company_id == company_id,
            LedgerEntry.product_id == product_id,
            LedgerEntry.warehouse_id == warehouse_id,
            LedgerEntry.reason == "sale",
            LedgerEntry.occurred_at >= window_start(today),
        )
    )
    if sold <= 0:
        return level, None
    return level, day_number(today) + level * STATE_DAYS // sold


def acknowledge(
    company_id: int, api_key_id: int, data: dict, now: dt.datetime
) -> tuple[dict, bool]:
    """Acknowledge the alert of a product in a warehouse (or replace its acknowledgement);
    return it and whether it is new.

    Product and warehouse are the company's active ones (else 404), and stay so
    until this transaction ends (key-share locks, in the lock order: product, then
    warehouse); a bundle has no alerts (409).
    """
    until = data.get("until")
    if until is not None and until <= now:
        # the schema checked it against the clock; the request's clock decides too
        raise field_error("until", "Must be in the future.")
    product = get_owned(Product, company_id, data["product_id"], share=True)
    warehouse = get_owned(Warehouse, company_id, data["warehouse_id"], share=True)
    if product.is_bundle:
        raise conflict(
            "bundle-has-no-stock",
            "A bundle holds no stock and gets no low-stock alerts; acknowledge its "
            "components' alerts instead.",
        )
    level, stockout_day = situation(company_id, product.id, data["warehouse_id"], now.date())
    days_left = stockout_day - day_number(now.date()) if stockout_day is not None else None
    values = {
        "until": until,
        "note": data.get("note"),
        "acknowledged_at": write_time(),
        "api_key_id": api_key_id,
        # the key's name read first: no subquery in an INSERT's VALUES (Citus)
        "acknowledged_by": db.session.scalar(sa.select(ApiKey.name).where(ApiKey.id == api_key_id)),
        "level_at_ack": level,
        "stockout_day_at_ack": stockout_day,
    }
    row = {"company_id": company_id, "product_id": product.id, "warehouse_id": data["warehouse_id"]}
    # decided by the unique key: insert, else replace what is there (twice, in case a
    # concurrent DELETE took the row between the two statements)
    for _ in range(2):
        inserted = db.session.scalar(
            dialect_insert(AlertAcknowledgement)
            .values(**row, **values)
            .on_conflict_do_nothing(index_elements=["company_id", "product_id", "warehouse_id"])
            .returning(AlertAcknowledgement.id)
        )
        if inserted is not None:
            return _emit(product, warehouse, level, days_left, _view(company_id, inserted)), True
        replaced = db.session.scalar(
            sa.update(AlertAcknowledgement)
            .where(*(getattr(AlertAcknowledgement, key) == value for key, value in row.items()))
            .values(**values)
            .returning(AlertAcknowledgement.id)
        )
        if replaced is not None:
            return _emit(
                product, warehouse, level, stockout_day, _view(company_id, replaced)
            ), False
    raise conflict(  # pragma: no cover - a delete between each of two tries
        "concurrent-update", "The acknowledgement was changed by another request; retry."
    )


def _emit(product, warehouse, level: int, days_left: int | None, acknowledgement: dict):
    """Queue the ``alert.acknowledged`` event (app.events.outbox): written in this
    transaction, just before its commit, ordered among the row's stock events.
    Return the acknowledgement."""
    outbox.emit(
        "alert.acknowledged",
        {
            "acknowledgement": {
                **acknowledgement,
                "until": _iso(acknowledgement["until"]),
                "acknowledged_at": _iso(acknowledgement["acknowledged_at"]),
            },
            "product": {"id": product.id, "sku": product.sku, "name": product.name},
            "warehouse": {"id": warehouse.id, "name": warehouse.name},
            "quantity": level,
            "days_until_stockout": days_left,
        },
        product_id=product.id,
        warehouse_id=warehouse.id,
    )
    return acknowledgement


def _iso(when: dt.datetime | None) -> str | None:
    """A time as the events write theirs (ISO 8601, UTC, ``Z``)."""
    return when.isoformat().replace("+00:00", "Z") if when is not None else None


def unacknowledge(company_id: int, acknowledgement_id: int) -> None:
    """Delete one of the company's acknowledgements (the alert shows again); else 404."""
    deleted = db.session.execute(
        sa.delete(AlertAcknowledgement).where(
            AlertAcknowledgement.company_id == company_id,
            AlertAcknowledgement.id == acknowledgement_id,
        )
    )
    if deleted.rowcount == 0:
        raise not_found("Acknowledgement")


def acknowledgements(company_id: int, now: dt.datetime) -> list[dict]:
    """The company's acknowledgements whose ``until`` has not passed, of active
    products and warehouses, oldest first (whether each still holds depends on the
    situation: the alerts say, with ``include_acknowledged=true``)."""
    rows = db.session.scalars(
        sa.select(AlertAcknowledgement)
        .join(
            Product,
            sa.and_(
                Product.company_id == AlertAcknowledgement.company_id,
                Product.id == AlertAcknowledgement.product_id,
            ),
        )
        .join(
            Warehouse,
            sa.and_(
                Warehouse.company_id == AlertAcknowledgement.company_id,
                Warehouse.id == AlertAcknowledgement.warehouse_id,
            ),
        )
        .where(
            AlertAcknowledgement.company_id == company_id,
            sa.or_(AlertAcknowledgement.until.is_(None), AlertAcknowledgement.until > now),
            Product.archived_at.is_(None),
            Warehouse.archived_at.is_(None),
        )
        .order_by(AlertAcknowledgement.id)
    )
    return [view(row) for row in rows]


def _view(company_id: int, acknowledgement_id: int) -> dict:
    row = db.session.execute(
        sa.select(AlertAcknowledgement)
        .where(
            AlertAcknowledgement.company_id == company_id,
            AlertAcknowledgement.id == acknowledgement_id,
        )
        .execution_options(populate_existing=True)
    ).scalar_one()
    return view(row)


def view(row: AlertAcknowledgement) -> dict:
    """An acknowledgement as the API shows it."""
    return {
        "id": row.id,
        "product_id": row.product_id,
        "warehouse_id": row.warehouse_id,
        "until": row.until,
        "note": row.note,
        "acknowledged_at": row.acknowledged_at,
        "acknowledged_by": row.acknowledged_by,
    }
