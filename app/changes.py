"""Versioning a company's data for cheap polling (see ``models.ChangeCounter``).

Services say what they changed (``stock_changed``); ``transactional`` calls
``bump`` just before committing, so the counters move in the same transaction as
the change, and a poller that sees the new version sees the change too.
"""

from __future__ import annotations

import functools

import sqlalchemy as sa
from flask import g

from app.extensions import db
from app.models import AlertState, ChangeCounter

STOCK_SLOTS = 16
CONFIG_SLOT = STOCK_SLOTS  # catalog, suppliers, thresholds, keys: anything but stock
# a stock change of a row that was or is in the default window's alert set (by product)
ALERT_SLOTS = range(CONFIG_SLOT + 1, CONFIG_SLOT + 1 + STOCK_SLOTS)


def stock_changed(product_ids) -> None:
    """Record that this request changed the stock of these products."""
    g.setdefault("change_slots", set()).update(p % STOCK_SLOTS for p in product_ids)


def alerts_changed(product_ids) -> None:
    """Record that this request changed rows the low-stock alerts show (or showed)."""
    g.setdefault("change_slots", set()).update(ALERT_SLOTS[p % STOCK_SLOTS] for p in product_ids)


def counted(slot: int) -> None:
    """Say that this request's statement has bumped this slot itself (a write of one
    statement, app.oneshot): ``bump`` leaves it out."""
    g.setdefault("counted_slots", set()).add(slot)


def only_stock() -> None:
    """Say that this request is a stock operation: it changes no configuration."""
    g.only_stock = True


def bump(company_id: int) -> None:
    """Count this request's change: the stock slots it touched, the alert slots of the
    alerting rows it changed and, unless it is a stock operation, the configuration slot.

    Slots are bumped in ascending order, after every other row lock the request
    took, so two requests cannot wait on each other's counters.
    """
    slots = set(g.pop("change_slots", set()))
    if not g.pop("only_stock", False):
        slots.add(CONFIG_SLOT)
    slots -= g.pop("counted_slots", set())
    if not slots:
        return
    # one multi-row upsert (a batch touches up to 16 stock and 16 alert slots): its rows
    # are taken in VALUES order
    connection = db.session.connection()
    params = {"company": company_id} | {f"slot{i}": slot for i, slot in enumerate(sorted(slots))}
    connection.exec_driver_sql(_upsert(connection.dialect.name, len(slots)), params)


@functools.cache
def _upsert(dialect: str, rows: int) -> str:
    """``INSERT INTO change_counters ... ON CONFLICT DO UPDATE`` of ``rows`` slots, as the
    driver takes it (the same SQL on PostgreSQL and SQLite). Built once per row count:
    SQLAlchemy compiled the multi-row statement anew on every write."""
    value = "(%(company)s, %(slot{})s, 1)" if dialect == "postgresql" else "(:company, :slot{}, 1)"
    values = ", ".join(value.replace("{}", str(i)) for i in range(rows))
    table = ChangeCounter.__tablename__
    return (
        f"INSERT INTO {table} (company_id, slot, changes) VALUES {values} "
        f"ON CONFLICT (company_id, slot) DO UPDATE SET changes = {table}.changes + 1"
    )


def alert_versions(company_id: int):
    """In one statement: the company's data version, the version of what its default
    alerts depend on (configuration and alerting rows), and its alert state's day."""
    counters = sa.select(sa.func.coalesce(sa.func.sum(ChangeCounter.changes), 0)).where(
        ChangeCounter.company_id == company_id
    )
    return db.session.execute(
        sa.select(
            counters.scalar_subquery(),
            counters.where(ChangeCounter.slot >= CONFIG_SLOT).scalar_subquery(),
            sa.select(AlertState.as_of)
            .where(AlertState.company_id == company_id)
            .scalar_subquery(),
        )
    ).one()


def version(company_id: int) -> int:
    """The company's data version: grows with every committed change."""
    return db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(ChangeCounter.changes), 0)).where(
            ChangeCounter.company_id == company_id
        )
    )
