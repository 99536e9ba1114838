"""Transaction-scoped locks on things that are not one row (PostgreSQL advisory locks).

A lock is named by what it guards and the company: ``(what, company_id)``, the two
int4 keys of ``pg_advisory_xact_lock``. It is released when the transaction ends,
so a service takes it and never frees it. SQLite runs one writer at a time, so
there these are no-ops.

Lock order (every request takes locks in this order, so none waits in a cycle):
a company-level lock below, then a purchase order row (``FOR UPDATE``: its
status and received quantities change only under it), then supplier rows, then
product rows (id order), then warehouse rows, then inventory rows (warehouse id,
then product id), then webhook endpoint rows (id order: the outbox takes them
``FOR KEY SHARE`` when it fans events out just before the commit; the webhooks
API takes its one endpoint first; the webhook worker, recording an attempt, takes
its endpoint ``FOR NO KEY UPDATE``, then the delivery), then their deliveries, then
the change counters. (The worker's claim locks only deliveries, ``SKIP LOCKED``: it
never waits.)

A batch (``app/stock/batch.py``) takes its batch locks (``batch_locks``) after its
key-share locks on the products, warehouses and suppliers it names and before its
inventory rows. Only batches take them, and a batch that holds one never waits for
anything a batch queued behind it holds: those hold only key-share locks (which
conflict with none of a batch's own) and shared company locks.

The purchase order comes right after the company-level locks: a receipt must
hold it before it reads what is left to receive, and nothing that locks a
supplier, product or warehouse row ever waits on a purchase order afterwards
(archiving locks only the archived row; inserting a row that references an
order happens under that order's lock).
"""

from __future__ import annotations

import sqlalchemy as sa

from app.extensions import db

# a company's bundle graph: component edits take it so that two edits cannot
# together build a cycle. It is not the company row: an insert of any row that
# references the company (an idempotency key, say) takes a key-share lock on that
# row, and a FOR UPDATE after it deadlocks with a twin request.
BUNDLE_GRAPH = 0x5F0B
# a company's threshold settings (type thresholds, product thresholds and types,
# reorder rules): writers take it exclusively, anything that computes a fresh
# ``inventory.alert_threshold`` copy (a first receipt) takes it shared.
THRESHOLDS = 0x5F07
# a company's batches (``batch_locks``): a batch over a few warehouses takes it shared,
# one over more than ``MAX_WAREHOUSE_LOCKS`` warehouses exclusively
BATCHES = 0x5F0C
# one warehouse's batches, keyed by the warehouse id (unique across companies)
WAREHOUSE_BATCHES = 0x5F0D
MAX_WAREHOUSE_LOCKS = 16


def _on_postgresql() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def _advisory_lock(first: int, second: int, *, shared: bool = False) -> None:
    """``pg_advisory_xact_lock(first, second)`` (or its shared form), until the
    transaction ends."""
    take = sa.func.pg_advisory_xact_lock_shared if shared else sa.func.pg_advisory_xact_lock
    db.session.execute(sa.select(take(first, second)))


def company_lock(what: int, company_id: int, *, shared: bool = False) -> None:
    """Take the company's ``what`` lock until the transaction ends (shared or exclusive)."""
    if _on_postgresql():
        _advisory_lock(what, company_id, shared=shared)


def batch_locks(company_id: int, warehouse_ids: set[int]) -> None:
    """Queue behind the company's other batches over any of these warehouses, in the
    order they came, until the transaction ends.

    Batches over the same rows run one after the other whatever is done, on the rows'
    locks. But a row lock is no queue once its holder updates the row: the waiters
    wait on the old row version, and when the holder commits they all retry on the new
    one, where a batch that arrived later can get in first, again and again (4 batches
    over the same 200 rows, 1,000 sales each: a median batch of 100 ms, and 1 in 100
    waiting 0.7-2.9 s). PostgreSQL's lock manager grants an advisory lock in the order
    it was asked for. One lock per warehouse touched (id order) keeps batches of
    different warehouses in parallel; a batch over more warehouses than
    ``MAX_WAREHOUSE_LOCKS`` takes the company's lock exclusively instead (the others
    take it shared), so no batch holds more than that many locks of PostgreSQL's lock
    table. Single operations take none of these: they queue on the rows as before."""
    if not _on_postgresql():
        return
    if len(warehouse_ids) > MAX_WAREHOUSE_LOCKS:
        _advisory_lock(BATCHES, company_id)
        return
    _advisory_lock(BATCHES, company_id, shared=True)
    for warehouse_id in sorted(warehouse_ids):
        _advisory_lock(WAREHOUSE_BATCHES, warehouse_id)
