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


def company_lock(what: int, company_id: int, *, shared: bool = False) -> None:
    """Take the company's ``what`` lock until the transaction ends (shared or exclusive)."""
    if db.session.get_bind().dialect.name != "postgresql":
        return
    take = sa.func.pg_advisory_xact_lock_shared if shared else sa.func.pg_advisory_xact_lock
    db.session.execute(sa.select(take(what, company_id)))
