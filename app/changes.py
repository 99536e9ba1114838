"""Versioning a company's data for cheap polling (see ``models.ChangeCounter``).

Services say what they changed (``stock_changed``); ``transactional`` calls
``bump`` just before committing, so the counters move in the same transaction as
the change, and a poller that sees the new version sees the change too.
"""

from __future__ import annotations

import datetime as dt
import functools

import sqlalchemy as sa
from flask import g

from app import liveness, prepared
from app.extensions import db
from app.models import AlertAcknowledgement, AlertState, ApiKey, ChangeCounter
from app.oneshot import own_transaction

STOCK_SLOTS = 16
CONFIG_SLOT = STOCK_SLOTS  # catalog, suppliers, thresholds, keys: anything but stock
# a stock change of a row that was or is in the default window's alert set, by
# warehouse group and product: (warehouse_id % 4) * 4 + product_id % 4, so a query of
# one warehouse is versioned by the 4 slots of its group, and no slot is hotter than
# a sixteenth of the alerting writes
ALERT_SLOTS = range(CONFIG_SLOT + 1, CONFIG_SLOT + 1 + STOCK_SLOTS)
WAREHOUSE_GROUPS = 4


def alert_slot(product_id: int, warehouse_id: int) -> int:
    """The alert slot of an inventory row."""
    per_group = STOCK_SLOTS // WAREHOUSE_GROUPS
    return ALERT_SLOTS[(warehouse_id % WAREHOUSE_GROUPS) * per_group + product_id % per_group]


def warehouse_alert_slots(warehouse_id: int) -> list[int]:
    """The alert slots of every row of a warehouse (and of the warehouses of its group)."""
    per_group = STOCK_SLOTS // WAREHOUSE_GROUPS
    first = (warehouse_id % WAREHOUSE_GROUPS) * per_group
    return list(ALERT_SLOTS[first : first + per_group])


def stock_changed(product_ids) -> None:
    """Record that this request changed the stock of these products."""
    g.setdefault("change_slots", set()).update(p % STOCK_SLOTS for p in product_ids)


def alerts_changed(rows) -> None:
    """Record that this request changed rows (``(product_id, warehouse_id)`` pairs)
    the low-stock alerts show (or showed)."""
    g.setdefault("change_slots", set()).update(alert_slot(p, w) for p, w in rows)


def counted(slot: int) -> None:
    """Say that this request's statement has bumped this slot itself (a write of one
    statement, app.oneshot): ``bump`` leaves it out."""
    g.setdefault("counted_slots", set()).add(slot)


def only_stock() -> None:
    """Say that this request changes no configuration the alerts read: a stock
    operation, or a product created (no alert shows it before it sells)."""
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


def alert_version_slots(warehouse_id: int | None) -> list[int]:
    """The slots the default alerts' version sums: the configuration's, and the alert
    slots of every row (or of one warehouse's rows)."""
    alerting = list(ALERT_SLOTS) if warehouse_id is None else warehouse_alert_slots(warehouse_id)
    return [CONFIG_SLOT, *alerting]


# PostgreSQL: ``alert_versions`` as a prepared statement (app.prepared), since every
# poll runs it: planning it took longer than running it (0.1-0.2 ms against 0.04)
ALERT_VERSIONS = prepared.Statement(
    "stockflow_alert_versions",
    f"""SELECT
    (SELECT COALESCE(SUM(changes), 0) FROM {ChangeCounter.__tablename__}
     WHERE company_id = %(company)s),
    (SELECT COALESCE(SUM(changes), 0) FROM {ChangeCounter.__tablename__}
     WHERE company_id = %(company)s AND slot = ANY(%(slots)s)),
    (SELECT as_of FROM {AlertState.__tablename__} WHERE company_id = %(company)s),
    (SELECT MIN(until) FROM {AlertAcknowledgement.__tablename__}
     WHERE company_id = %(company)s AND until > %(now)s),
    EXISTS (SELECT 1 FROM {ApiKey.__tablename__}
            WHERE id = %(key)s AND company_id = %(company)s AND revoked_at IS NULL)""",
    {"company": "integer", "slots": "integer[]", "now": "timestamptz", "key": "integer"},
)


def alert_versions(
    company_id: int, now: dt.datetime, warehouse_id: int | None = None, key_id: int | None = None
):
    """In one statement: the company's data version, the version of what its default
    alerts depend on (configuration and alerting rows; of one warehouse's group with
    ``warehouse_id``), its alert state's day, the earliest ``until`` of its
    acknowledgements still ahead of ``now``, and whether API key ``key_id`` of the
    company is unrevoked (``app.auth.confirms_key``: a poll's one round trip).

    That last one is what the passing of time alone changes in the alerts (besides
    the day): when it passes, an acknowledgement stops hiding its alert, and the
    ETag, which holds it, moves with it.

    On PostgreSQL the read is its own transaction when none is open (``own_transaction``):
    a poll answered 304 then costs no BEGIN and no ROLLBACK round trip. Nothing is lost:
    at READ COMMITTED each statement of a transaction reads its own snapshot anyway, so
    the alert query that follows a changed version never read the version's."""
    if db.session.get_bind().dialect.name == "postgresql":
        params = {
            "company": company_id,
            "slots": alert_version_slots(warehouse_id),
            "now": now,
            "key": key_id,
        }

        def read():
            connection = db.session.connection()
            with own_transaction(connection):
                return prepared.execute(connection, ALERT_VERSIONS, params).one()

        # often the request's first statement: it checks its connection (app.liveness)
        return liveness.first_read(read)
    counters = sa.select(sa.func.coalesce(sa.func.sum(ChangeCounter.changes), 0)).where(
        ChangeCounter.company_id == company_id
    )
    return db.session.execute(
        sa.select(
            counters.scalar_subquery(),
            counters.where(
                ChangeCounter.slot.in_(alert_version_slots(warehouse_id))
            ).scalar_subquery(),
            sa.select(AlertState.as_of)
            .where(AlertState.company_id == company_id)
            .scalar_subquery(),
            sa.select(sa.func.min(AlertAcknowledgement.until))
            .where(
                AlertAcknowledgement.company_id == company_id,
                AlertAcknowledgement.until > now,
            )
            .scalar_subquery(),
            sa.exists().where(
                ApiKey.id == key_id, ApiKey.company_id == company_id, ApiKey.revoked_at.is_(None)
            ),
        )
    ).one()


def version(company_id: int) -> int:
    """The company's data version: grows with every committed change."""
    return db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(ChangeCounter.changes), 0)).where(
            ChangeCounter.company_id == company_id
        )
    )
