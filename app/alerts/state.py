"""The alert state kept on inventory rows: moving it with the days, and rebuilding it.

Every stock change keeps ``inventory.window_sales`` (units sold since the row's
``window_since``, the start of the default window) in the statement that changes
the row (``app.stock.service``). What changes with time alone, sales leaving the
window, is moved here, once a day per company, by ``flask refresh-alert-state``;
``alert_state.as_of`` records the day the company's rows are current for, and the
alerts read the state only on that day (``app.alerts.queries``): a missed run
costs speed, never correctness.

Functions here commit: they run from the command line, a chunk of rows per
transaction, so a refresh never holds many row locks at once.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from app.changes import CONFIG_SLOT
from app.extensions import db
from app.models import (
    AlertState,
    ChangeCounter,
    Company,
    Inventory,
    LedgerEntry,
    UTCDateTime,
    dialect_insert,
    window_start,
)

CHUNK_ROWS = 2000


def _window_sales(company_id: int, since: dt.datetime) -> sa.ScalarSelect:
    """Units sold of the updated row since ``since``, from the ledger."""
    return (
        sa.select(sa.func.coalesce(-sa.func.sum(LedgerEntry.quantity_change), 0))
        .where(
            LedgerEntry.company_id == company_id,
            LedgerEntry.product_id == Inventory.product_id,
            LedgerEntry.warehouse_id == Inventory.warehouse_id,
            LedgerEntry.reason == "sale",
            LedgerEntry.occurred_at >= since,
        )
        .scalar_subquery()
    )


def _refresh_chunk(company_id: int, since: dt.datetime, after: tuple, rebuild: bool) -> tuple:
    """Recompute up to ``CHUNK_ROWS`` rows past ``after`` (warehouse, product); commit;
    return the last row's key, or None when there was none."""
    stale = (
        sa.true()
        if rebuild
        else sa.or_(Inventory.window_since.is_(None), Inventory.window_since != since)
    )
    # first lock the rows, in the global inventory lock order (warehouse, product):
    # a sale that has not reached a row yet now waits for this transaction ...
    keys = db.session.execute(
        sa.select(Inventory.id, Inventory.warehouse_id, Inventory.product_id)
        .where(
            Inventory.company_id == company_id,
            sa.tuple_(Inventory.warehouse_id, Inventory.product_id) > sa.tuple_(*after),
            stale,
        )
        .order_by(Inventory.warehouse_id, Inventory.product_id)
        .limit(CHUNK_ROWS)
        .with_for_update(key_share=True)
    ).all()
    if not keys:
        db.session.commit()
        return None
    # ... then count from the ledger in a new statement: under READ COMMITTED it sees
    # every sale that committed before the locks were granted, and a later sale adds
    # its units on top of this figure (its UPDATE reads the row's new window_since)
    db.session.execute(
        sa.update(Inventory)
        .where(Inventory.company_id == company_id, Inventory.id.in_([k.id for k in keys]))
        .values(
            window_sales=_window_sales(company_id, since),
            window_since=sa.literal(since, UTCDateTime()),
        )
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return keys[-1].warehouse_id, keys[-1].product_id


def refresh(company_id: int, today: dt.date, rebuild: bool = False) -> None:
    """Move the company's rows to ``today``'s default window (every row when
    ``rebuild``: the state recomputed from the ledger), then mark it current."""
    since = window_start(today)
    # until the last chunk is done, as_of still names another day and the alerts
    # are computed from the ledger (a rebuild of today's state keeps answering from
    # the rows: it rewrites them with the figures they already hold)
    after, moved = (0, 0), False
    while (after := _refresh_chunk(company_id, since, after, rebuild)) is not None:
        moved = True
    mark_current(company_id, today)
    if moved:
        # the alerts' version moves: pollers of the default window ask again (a run
        # that found every row current leaves their 304s alone)
        statement = dialect_insert(ChangeCounter).values(
            company_id=company_id, slot=CONFIG_SLOT, changes=1
        )
        db.session.execute(
            statement.on_conflict_do_update(
                index_elements=["company_id", "slot"],
                set_={"changes": ChangeCounter.changes + 1},
            )
        )
    db.session.commit()


def compute_new_company(company_id: int, today: dt.date) -> None:
    """Compute the state of a company whose rows were just written outside the stock
    operations (the demo data), in the caller's transaction (flushes, no commit): no
    one else writes to a company that is not committed yet, so no locks are needed."""
    since = window_start(today)
    db.session.execute(
        sa.update(Inventory)
        .where(Inventory.company_id == company_id)
        .values(
            window_sales=_window_sales(company_id, since),
            window_since=sa.literal(since, UTCDateTime()),
        )
        .execution_options(synchronize_session=False)
    )
    mark_current(company_id, today)


def mark_current(company_id: int, today: dt.date) -> None:
    """Record that the company's rows count ``today``'s default window (flushes)."""
    statement = dialect_insert(AlertState).values(company_id=company_id, as_of=today)
    db.session.execute(
        statement.on_conflict_do_update(
            index_elements=["company_id"], set_={"as_of": statement.excluded.as_of}
        )
    )


def company_ids() -> list[int]:
    """Every company, for a refresh of all of them."""
    return list(db.session.scalars(sa.select(Company.id).order_by(Company.id)))
