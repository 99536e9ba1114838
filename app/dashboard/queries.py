"""Daily sales for the dashboard's sparklines: one grouped statement per request.

The statement reads the ledger through its index on (company, product, warehouse,
reason, occurred_at), for at most ``MAX_PRODUCTS`` products over at most
``MAX_DAYS`` days, so its work is bounded whatever the size of the company.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from app.alerts.queries import window_start
from app.extensions import db
from app.models import LedgerEntry

MAX_DAYS = 90
MAX_PRODUCTS = 200


def _utc_day(column, dialect_name: str):
    """The UTC calendar day of a timestamp column, in the dialect's terms."""
    if dialect_name == "postgresql":
        return sa.cast(sa.func.timezone("UTC", column), sa.Date)
    # SQLite keeps UTC timestamps as ISO text (app.models.UTCDateTime)
    return sa.func.date(column)


def daily_sales(
    company_id: int,
    product_ids: list[int],
    days: int,
    today: dt.date,
    warehouse_id: int | None = None,
) -> list[dict]:
    """Units sold per (product, warehouse) on each of the last ``days`` days (today
    included, oldest first); pairs without a sale in the window are left out."""
    first_day = today - dt.timedelta(days=days - 1)
    day = _utc_day(LedgerEntry.occurred_at, db.session.get_bind().dialect.name).label("day")
    query = (
        sa.select(
            LedgerEntry.product_id,
            LedgerEntry.warehouse_id,
            day,
            # a sale's quantity_change is negative
            sa.func.sum(-LedgerEntry.quantity_change).label("units"),
        )
        .where(
            LedgerEntry.company_id == company_id,
            LedgerEntry.product_id.in_(product_ids),
            LedgerEntry.reason == "sale",
            LedgerEntry.occurred_at >= window_start(first_day, 0),
        )
        .group_by(LedgerEntry.product_id, LedgerEntry.warehouse_id, day)
    )
    if warehouse_id is not None:
        query = query.where(LedgerEntry.warehouse_id == warehouse_id)
    series: dict[tuple[int, int], list[int]] = {}
    for row in db.session.execute(query):
        index = (dt.date.fromisoformat(str(row.day)[:10]) - first_day).days
        if not 0 <= index < days:  # pragma: no cover - a sale dated in the future
            continue
        units = series.setdefault((row.product_id, row.warehouse_id), [0] * days)
        units[index] += int(row.units)
    return [
        {"product_id": product_id, "warehouse_id": warehouse_id, "units": units}
        for (product_id, warehouse_id), units in sorted(series.items())
    ]
