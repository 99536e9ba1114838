"""The transactional outbox: events are rows written in the transaction of the change
that causes them, so a rolled-back change emits nothing and a committed one always
emits (the worker, app/events/worker.py, delivers them after the commit).

Write paths only *note* what happened, in memory, at no cost to the database:

- ``level_changed`` for every stock level a statement moved (its level before and
  after, its threshold and window sales, all of which the statement returned);
- ``emit`` for an event of their own (``purchase_order.received``,
  ``alert.acknowledged``, ``ping``).

Just before the commit, ``write_pending`` (called by ``app.api.transactional`` and
by the commands that write stock) turns the notes into event rows and one delivery
per subscribed webhook endpoint. A row's notes are folded first: an event compares
the row's level when the transaction first moved it with its level at the end, so
a batch or an import emits one event per crossing, never one per item, and a
transaction that went down and back up emits nothing. A request that crossed no
threshold pays nothing here; one that did pays three short statements.

Stock events (``data`` of ``stock.low``, ``stock.out``, ``stock.recovered``):

- ``stock.low``: the level went from >= its threshold to below it;
- ``stock.out``: the level reached 0 (after a ``stock.low`` if it crossed both);
- ``stock.recovered``: the level went from below its threshold to >= it.

An inventory row that did not exist counts as level 0; a new product's opening
stock emits nothing (nothing crossed: the row starts there). A threshold change
emits nothing: it moves no level.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field

import sqlalchemy as sa
from flask import g

from app import bulk
from app.extensions import db
from app.models import STATE_DAYS, Product, Warehouse, WebhookEndpoint, write_time


@dataclass
class _Level:
    before: int
    after: int
    threshold: int
    window_sales: int


@dataclass(frozen=True)
class _Pending:
    type: str
    data: dict
    product_id: int | None = None
    warehouse_id: int | None = None
    endpoint_id: int | None = None
    # the public event id, drawn when the event is noted so ``emit`` can return it
    uid: str = field(default_factory=lambda: str(uuid.uuid4()))


def level_changed(
    product_id: int,
    warehouse_id: int,
    before: int,
    after: int,
    threshold: int,
    window_sales: int,
) -> None:
    """Note that a statement moved this row's level from ``before`` to ``after``."""
    levels = g.setdefault("level_changes", {})
    seen = levels.get((product_id, warehouse_id))
    if seen is None:
        levels[(product_id, warehouse_id)] = _Level(before, after, threshold, window_sales)
    else:
        seen.after, seen.threshold, seen.window_sales = after, threshold, window_sales


def emit(
    type_: str,
    data: dict,
    *,
    product_id: int | None = None,
    warehouse_id: int | None = None,
    endpoint_id: int | None = None,
) -> str:
    """Queue an event for this transaction; it is written just before the commit.
    Returns its public id (``uid``), which the written row will carry.

    ``product_id`` and ``warehouse_id`` (both or neither) order it among that
    row's stock events for each endpoint. With ``endpoint_id`` (a ``ping``) it is
    delivered to that endpoint only, subscribed or not; otherwise to every enabled
    endpoint subscribed to its type."""
    event = _Pending(type_, data, product_id, warehouse_id, endpoint_id)
    g.setdefault("pending_events", []).append(event)
    return event.uid


def discard() -> None:
    """Forget this transaction's notes (it rolled back)."""
    g.pop("level_changes", None)
    g.pop("pending_events", None)


def crossings(before: int, after: int, threshold: int) -> list[str]:
    """The stock events a row's move from ``before`` to ``after`` makes, in order."""
    events = []
    if before >= threshold > after:
        events.append("stock.low")
    if after == 0 < before:
        events.append("stock.out")
    if before < threshold <= after:
        events.append("stock.recovered")
    return events


def days_until_stockout(quantity: int, window_sales: int) -> int | None:
    """Whole days the level lasts at the default window's rate (as the alerts count
    them); None when the row sold nothing in the window."""
    if window_sales <= 0:
        return None
    return quantity * STATE_DAYS // window_sales


def write_pending(company_id: int) -> int:
    """Write this transaction's events and their deliveries; how many events."""
    levels: dict[tuple[int, int], _Level] = g.pop("level_changes", {})
    pending: list[_Pending] = g.pop("pending_events", [])
    moved = {
        key: (level, kinds)
        for key, level in levels.items()
        if (kinds := crossings(level.before, level.after, level.threshold))
    }
    if not moved and not pending:
        return 0
    if moved:
        pending = _stock_events(company_id, moved) + pending
    return _write(company_id, pending)


def _stock_events(company_id: int, moved: dict) -> list[_Pending]:
    product_ids = sorted({p for p, _ in moved})
    warehouse_ids = sorted({w for _, w in moved})
    products = {
        row.id: row
        for row in db.session.execute(
            sa.select(Product.id, Product.sku, Product.name).where(
                Product.company_id == company_id, Product.id.in_(product_ids)
            )
        )
    }
    warehouses = {
        row.id: row
        for row in db.session.execute(
            sa.select(Warehouse.id, Warehouse.name).where(
                Warehouse.company_id == company_id, Warehouse.id.in_(warehouse_ids)
            )
        )
    }
    events = []
    for (product_id, warehouse_id), (level, kinds) in sorted(moved.items()):
        product, warehouse = products[product_id], warehouses[warehouse_id]
        data = {
            "product": {"id": product.id, "sku": product.sku, "name": product.name},
            "warehouse": {"id": warehouse.id, "name": warehouse.name},
            "quantity": level.after,
            "previous_quantity": level.before,
            "threshold": level.threshold,
            "days_until_stockout": days_until_stockout(level.after, level.window_sales),
        }
        events += [_Pending(kind, data, product_id, warehouse_id) for kind in kinds]
    return events


def _write(company_id: int, pending: list[_Pending]) -> int:
    now = bulk.utc(db.session.scalar(sa.select(write_time())))
    rows, uids = [], []
    for event in pending:
        uid = event.uid
        payload = {
            "id": uid,
            "type": event.type,
            "occurred_at": now.isoformat().replace("+00:00", "Z"),
            "company_id": company_id,
            "data": event.data,
        }
        body = json.dumps(payload, separators=(",", ":"), default=str)
        rows.append((company_id, uid, event.type, event.product_id, event.warehouse_id, now, body))
        uids.append(uid)
    ids: dict[str, int] = {}
    for chunk in bulk.chunks(rows):
        written = bulk.insert(
            "events",
            ["company_id", "uid", "type", "product_id", "warehouse_id", "occurred_at", "payload"],
            chunk,
            "RETURNING id, uid",
        )
        ids.update({uid: id_ for id_, uid in written})
    # FOR KEY SHARE, in id order: an endpoint being deleted is waited for and then
    # left out (never a foreign-key error on its delivery), and a deletion waits for
    # this commit; a PATCH (no key update) is not held up
    endpoints = db.session.execute(
        sa.select(WebhookEndpoint.id, WebhookEndpoint.events)
        .where(WebhookEndpoint.company_id == company_id, WebhookEndpoint.enabled)
        .order_by(WebhookEndpoint.id)
        .with_for_update(read=True, key_share=True)
    ).all()
    subscribed = {endpoint.id: set(json.loads(endpoint.events)) for endpoint in endpoints}
    deliveries = []
    for event, uid in zip(pending, uids, strict=True):
        if event.endpoint_id is not None:
            targets = [event.endpoint_id]
        else:
            targets = [id_ for id_, types in subscribed.items() if event.type in types]
        key = _ordering_key(event.product_id, event.warehouse_id)
        deliveries += [(company_id, target, ids[uid], key, now) for target in targets]
    for chunk in bulk.chunks(deliveries):
        bulk.insert(
            "webhook_deliveries",
            ["company_id", "endpoint_id", "event_id", "ordering_key", "next_attempt_at"],
            chunk,
        )
    return len(rows)


def _ordering_key(product_id: int | None, warehouse_id: int | None) -> str | None:
    if product_id is None or warehouse_id is None:
        return None
    return f"{product_id}:{warehouse_id}"
