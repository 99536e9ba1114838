"""Batches over the same warehouse run one after the other in the order they came
(``app.locks.batch_locks``); batches over other warehouses do not wait for them.

Row locks alone keep no order among batches: once the holder updates a row, its
waiters retry on the new row version, where a later batch can get in first (the
bench's p99 was 0.7-2.9 s with 4 batches over the same rows). Here a test's own
transaction holds a warehouse's batch lock, as a batch in progress would; the
requests are seen waiting on it in ``pg_locks`` (PostgreSQL only: SQLite runs one
writer at a time and takes no such lock).
"""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.locks import BATCHES, MAX_WAREHOUSE_LOCKS, WAREHOUSE_BATCHES
from app.models import LedgerEntry

pytestmark = pytest.mark.postgres

TIMEOUT = 10


def sale(product: int, warehouse: int, note: str) -> dict:
    return {
        "type": "sale",
        "product_id": product,
        "warehouse_id": warehouse,
        "quantity": 1,
        "note": note,
    }


class Sent(threading.Thread):
    """A batch request sent from its own thread; ``status`` once it is answered."""

    def __init__(self, app, tenant, operations):
        super().__init__(daemon=True)
        self.app, self.tenant, self.operations = app, tenant, operations
        self.status = None

    def run(self):
        response = self.app.test_client().post(
            "/api/stock/batch", json={"operations": self.operations}, headers=self.tenant.headers
        )
        self.status = response.status_code


def advisory_waiters(app) -> int:
    with app.app_context():
        return db.session.execute(
            sa.text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
        ).scalar_one()


def wait_for_waiters(app, count: int) -> None:
    deadline = time.monotonic() + TIMEOUT
    while advisory_waiters(app) < count:
        assert time.monotonic() < deadline, f"expected {count} batch(es) waiting on a batch lock"
        time.sleep(0.01)


def held(app, *locks: tuple[str, int, int]):
    """A connection whose open transaction holds these advisory locks, as a batch in
    progress would: ``("exclusive" | "shared", key1, key2)``."""
    with app.app_context():
        connection = db.engine.connect()
    for mode, first, second in locks:
        take = "pg_advisory_xact_lock" if mode == "exclusive" else "pg_advisory_xact_lock_shared"
        connection.execute(sa.text(f"SELECT {take}(:a, :b)"), {"a": first, "b": second})
    return connection


def entries_by_note(app, company_id: int) -> dict[str, tuple[int, int]]:
    with app.app_context():
        return {
            note: (entry_id, after)
            for note, entry_id, after in db.session.execute(
                sa.select(LedgerEntry.note, LedgerEntry.id, LedgerEntry.quantity_after).where(
                    LedgerEntry.company_id == company_id, LedgerEntry.reason == "sale"
                )
            )
        }


def test_batches_over_one_warehouse_run_in_the_order_they_came_and_others_do_not_wait(
    app, company, make_warehouse, make_product
):
    main = make_warehouse(company)["id"]
    other = make_warehouse(company)["id"]
    product = make_product(company, initial_stock=[{"warehouse_id": main, "quantity": 100}])["id"]
    elsewhere = make_product(company, initial_stock=[{"warehouse_id": other, "quantity": 100}])[
        "id"
    ]
    for round_ in range(5):
        hold = held(app, ("exclusive", WAREHOUSE_BATCHES, main))
        try:
            senders = []
            for position in range(3):
                sender = Sent(app, company, [sale(product, main, f"{round_}-{position}")])
                sender.start()
                senders.append(sender)
                # each one queued before the next is sent
                wait_for_waiters(app, position + 1)
            # a batch over another warehouse of the same company goes through meanwhile
            unrelated = Sent(app, company, [sale(elsewhere, other, f"{round_}-other")])
            unrelated.start()
            unrelated.join(TIMEOUT)
            assert unrelated.status == 201
            assert all(sender.status is None for sender in senders), "they waited"
        finally:
            hold.rollback()
            hold.close()
        for sender in senders:
            sender.join(TIMEOUT)
            assert sender.status == 201
        entries = entries_by_note(app, company.id)
        order = [entries[f"{round_}-{position}"] for position in range(3)]
        assert order == sorted(order), f"served out of order: {order}"
        assert [after for _, after in order] == [99 - 3 * round_ - i for i in range(3)]


def test_a_batch_over_more_warehouses_than_the_limit_waits_for_the_companys_batches(
    app, company, make_warehouse, make_product
):
    warehouses = [make_warehouse(company)["id"] for _ in range(MAX_WAREHOUSE_LOCKS + 1)]
    stock = [{"warehouse_id": w, "quantity": 10} for w in warehouses]
    product = make_product(company, initial_stock=stock)["id"]
    wide = [sale(product, w, f"wide-{w}") for w in warehouses]
    narrow = [sale(product, warehouses[0], "narrow")]
    # a batch over a few warehouses in progress holds the company's lock shared
    hold = held(app, ("shared", BATCHES, company.id))
    try:
        wide_batch = Sent(app, company, wide)
        wide_batch.start()
        wait_for_waiters(app, 1)
        # a narrow batch sent now would share the lock with the one in progress, but
        # the wide one asked first: it queues behind it, so no wide batch starves
        narrow_batch = Sent(app, company, narrow)
        narrow_batch.start()
        wait_for_waiters(app, 2)
        assert wide_batch.status is None and narrow_batch.status is None
    finally:
        hold.rollback()
        hold.close()
    for sender in (wide_batch, narrow_batch):
        sender.join(TIMEOUT)
        assert sender.status == 201
    entries = entries_by_note(app, company.id)
    assert entries[f"wide-{warehouses[0]}"] < entries["narrow"]
    assert entries["narrow"][1] == 8
    # and with the company's lock held exclusively (a wide batch in progress), a narrow
    # batch waits for it too
    hold = held(app, ("exclusive", BATCHES, company.id))
    try:
        queued = Sent(app, company, [sale(product, warehouses[0], "narrow again")])
        queued.start()
        wait_for_waiters(app, 1)
        assert queued.status is None
    finally:
        hold.rollback()
        hold.close()
    queued.join(TIMEOUT)
    assert queued.status == 201
