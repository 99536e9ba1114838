"""The ledger's order is the order stock moved, and the sync cursor
(``GET /api/stock/ledger/changes``) hands an integration every committed row exactly
once, even a row whose transaction waited on a lock while later ones committed."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Inventory, LedgerEntry
from tests.helpers import assert_problem
from tests.test_concurrency import run_concurrently

CHANGES = "/api/stock/ledger/changes"


def sale(product_id: int, warehouse_id: int, quantity: int = 1, **extra) -> dict:
    """The body of a sale."""
    return {"product_id": product_id, "warehouse_id": warehouse_id, "quantity": quantity, **extra}


def post_ok(client, tenant, path: str, body: dict) -> dict:
    """POST a stock operation (asserting a 201)."""
    response = client.post(f"/api/stock/{path}", json=body, headers=tenant.headers)
    assert response.status_code == 201, response.json
    return response.json


def changes(client, tenant, after=None, limit=None) -> dict:
    """One answer of the sync feed (asserting a 200)."""
    params = {k: v for k, v in (("after", after), ("limit", limit)) if v is not None}
    response = client.get(CHANGES, query_string=params, headers=tenant.headers)
    assert response.status_code == 200, response.json
    return response.json


def follow(client, tenant, count: int, after=None, limit=2) -> tuple[list[dict], str]:
    """Follow the feed, page by page, until it has served ``count`` rows; and the cursor
    to resume from. (A transaction elsewhere on the PostgreSQL server, say another
    test run's, may hold the newest rows back for a moment: never skip them.)"""
    rows, deadline = [], time.monotonic() + 30
    while True:
        page = changes(client, tenant, after, limit)
        rows += page["entries"]
        after = page["next_cursor"]
        if not page["has_more"] and (len(rows) >= count or time.monotonic() > deadline):
            return rows, after
        if not page["has_more"]:
            time.sleep(0.01)


def ledger_ids(app, company_id: int) -> list[int]:
    """Every ledger row id of a company, from the database."""
    with app.app_context():
        return sorted(
            db.session.scalars(
                sa.select(LedgerEntry.id).where(LedgerEntry.company_id == company_id)
            )
        )


# -- the feed through the API, on both databases ----------------------------------------


def test_sync_cursor_pages_through_every_row_once_and_resumes_after_the_last(
    app, client, company, make_warehouse, make_product
):
    warehouse = make_warehouse(company)["id"]
    product = make_product(company, warehouse_id=warehouse, initial_quantity=50)["id"]
    for quantity in (1, 2, 3):
        post_ok(client, company, "sales", sale(product, warehouse, quantity))

    rows, cursor = follow(client, company, 4)
    assert [row["id"] for row in rows] == ledger_ids(app, company.id)
    assert [row["reason"] for row in rows] == ["initial", "sale", "sale", "sale"]

    # nothing new: an empty answer that keeps the cursor
    assert changes(client, company, cursor) == {
        "entries": [],
        "next_cursor": cursor,
        "has_more": False,
    }
    # a backdated import lands after what was read, not in the past of the feed
    long_ago = (dt.datetime.now(dt.UTC) - dt.timedelta(days=400)).isoformat()
    written = post_ok(client, company, "sales", sale(product, warehouse, occurred_at=long_ago))
    more, _ = follow(client, company, 1, cursor)
    assert [row["id"] for row in more] == [written["entries"][0]["id"]]


def test_sync_cursor_shows_only_the_callers_company(
    client, company, other_company, make_warehouse, make_product
):
    make_product(company, warehouse_id=make_warehouse(company)["id"], initial_quantity=5)
    theirs = make_product(
        other_company, warehouse_id=make_warehouse(other_company)["id"], initial_quantity=5
    )
    rows, cursor = follow(client, other_company, 1)
    assert [row["product_id"] for row in rows] == [theirs["id"]]
    # a cursor of one company reads nothing of another's
    assert changes(client, other_company, cursor)["entries"] == []


@pytest.mark.parametrize(
    "after",
    ["nope", "czF8MXwy!", "YWJj", "czF8LTF8Mg", "czF8MXw5OTk5OTk5OTk5OTk5OTk5OTk5OTk"],
)
def test_a_sync_cursor_we_did_not_issue_is_a_400_naming_after(client, company, after):
    response = client.get(CHANGES, query_string={"after": after}, headers=company.headers)
    assert_problem(response, 400, "after")


def test_a_default_occurred_at_is_the_databases_time_of_writing(
    client, company, make_warehouse, make_product
):
    warehouse = make_warehouse(company)["id"]
    product = make_product(company, warehouse_id=warehouse, initial_quantity=5)["id"]
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    entry = post_ok(client, company, "sales", sale(product, warehouse))["entries"][0]
    after = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    occurred = dt.datetime.fromisoformat(entry["occurred_at"])
    assert before <= occurred <= after
    assert entry["recorded_at"] == entry["occurred_at"]


# -- concurrency, on PostgreSQL -----------------------------------------------------------


def assert_chains(entries: list[dict]) -> None:
    """Read newest first, each row's level is the older row's level plus its change."""
    for newer, older in zip(entries, entries[1:], strict=False):
        assert newer["quantity_after"] == older["quantity_after"] + newer["quantity_change"], (
            newer,
            older,
        )


@pytest.mark.postgres
def test_concurrent_sales_read_newest_first_chain_their_levels(
    app, client, company, make_warehouse, make_product
):
    warehouse = make_warehouse(company)["id"]
    for _ in range(20):
        product = make_product(company, warehouse_id=warehouse, initial_quantity=100)["id"]
        responses = run_concurrently(
            app, [("/api/stock/sales", sale(product, warehouse), company.headers)] * 8
        )
        assert [r.status_code for r in responses] == [201] * 8
        page = client.get(
            f"/api/stock/ledger?product_id={product}&limit=20", headers=company.headers
        ).json
        assert [e["quantity_after"] for e in page["entries"]] == list(range(92, 101))
        assert_chains(page["entries"])


def locked_row(engine, company_id: int, product_id: int, warehouse_id: int):
    """Open a transaction that holds the inventory row's lock; commit it to release."""
    connection = engine.connect()
    transaction = connection.begin()
    connection.execute(
        sa.select(Inventory.id)
        .where(
            Inventory.company_id == company_id,
            Inventory.product_id == product_id,
            Inventory.warehouse_id == warehouse_id,
        )
        .with_for_update()
    )
    return connection, transaction


def wait_for_lock_waiters(engine, count: int, timeout: float = 4.0) -> None:
    """Until ``count`` backends of this database wait on a lock."""
    deadline = time.monotonic() + timeout
    with engine.connect() as connection:
        while time.monotonic() < deadline:
            waiting = connection.scalar(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
            if waiting >= count:
                return
            time.sleep(0.01)
    raise AssertionError("the sale never waited on the lock")


@pytest.mark.postgres
@pytest.mark.plain_postgres(
    "watches pg_stat_activity on the coordinator; on Citus the row lock is waited on a worker"
)
def test_sync_cursor_never_skips_a_sale_that_waited_on_a_lock(
    app, company, make_warehouse, make_product
):
    warehouse = make_warehouse(company)["id"]
    held = make_product(company, warehouse_id=warehouse, initial_quantity=1000)["id"]
    free = make_product(company, warehouse_id=warehouse, initial_quantity=1000)["id"]
    with app.app_context():
        engine = sa.create_engine(db.engine.url)

    seen: list[dict] = []
    writers_done = threading.Event()
    reader_failed: list[BaseException] = []

    def reader():
        # polls all the while, as an integration would; after the writers are done it
        # drains until it has every row (a long transaction elsewhere on the server
        # may hold the feed back for a while, but must never make it skip)
        try:
            client, cursor = app.test_client(), None
            deadline = None
            while True:
                page = changes(client, company, cursor, limit=3)
                seen.extend(page["entries"])
                cursor = page["next_cursor"]
                if writers_done.is_set():
                    deadline = deadline or time.monotonic() + 30
                    if len(seen) >= len(ledger_ids(app, company.id)) and not page["has_more"]:
                        return
                    if time.monotonic() > deadline:
                        return
                if not page["has_more"]:
                    time.sleep(0.005)
        except BaseException as error:  # pragma: no cover - reported below
            reader_failed.append(error)

    polling = threading.Thread(target=reader)
    polling.start()
    try:
        for round_ in range(10):
            connection, transaction = locked_row(engine, company.id, held, warehouse)
            waiting = []
            for i in range(2):
                body = sale(held, warehouse)
                # a keyed sale has its transaction id before it waits (the key insert)
                headers = {**company.headers, "Idempotency-Key": f"held-{round_}-{i}"}
                waiting.append(
                    threading.Thread(
                        target=lambda b=body, h=headers: app.test_client().post(
                            "/api/stock/sales", json=b, headers=h
                        )
                    )
                )
            for thread in waiting:
                thread.start()
            wait_for_lock_waiters(engine, 2)
            # later transactions commit while the two sales wait
            responses = run_concurrently(
                app, [("/api/stock/sales", sale(free, warehouse), company.headers)] * 4
            )
            assert [r.status_code for r in responses] == [201] * 4
            time.sleep(0.05)  # the reader polls past them meanwhile
            transaction.commit()
            connection.close()
            for thread in waiting:
                thread.join()
    finally:
        writers_done.set()
        polling.join()
        engine.dispose()

    assert not reader_failed, reader_failed
    ids = [row["id"] for row in seen]
    assert len(ids) == len(set(ids)), "a row was served twice"
    assert sorted(ids) == ledger_ids(app, company.id), "a committed row was skipped"
    held_sales = [row for row in seen if row["product_id"] == held and row["reason"] == "sale"]
    assert len(held_sales) == 20


@pytest.mark.postgres
@pytest.mark.plain_postgres(
    "watches pg_stat_activity on the coordinator; on Citus the row lock is waited on a worker"
)
def test_a_sale_that_waited_on_a_lock_is_dated_after_the_sales_that_committed_meanwhile(
    app, client, company, make_warehouse, make_product
):
    warehouse = make_warehouse(company)["id"]
    held = make_product(company, warehouse_id=warehouse, initial_quantity=100)["id"]
    free = make_product(company, warehouse_id=warehouse, initial_quantity=100)["id"]
    with app.app_context():
        engine = sa.create_engine(db.engine.url)
    try:
        for _ in range(5):
            connection, transaction = locked_row(engine, company.id, held, warehouse)
            result = {}
            waiting = threading.Thread(
                target=lambda result=result: result.setdefault(
                    "response",
                    app.test_client().post(
                        "/api/stock/sales", json=sale(held, warehouse), headers=company.headers
                    ),
                )
            )
            waiting.start()
            wait_for_lock_waiters(engine, 1)
            meanwhile = post_ok(client, company, "sales", sale(free, warehouse))["entries"][0]
            transaction.commit()
            connection.close()
            waiting.join()
            assert result["response"].status_code == 201
            late = result["response"].json["entries"][0]
            # a poller that saw `meanwhile` and asks ?since= its time still gets `late`
            assert late["occurred_at"] > meanwhile["occurred_at"]
            since = client.get(
                "/api/stock/ledger",
                query_string={"since": meanwhile["occurred_at"]},
                headers=company.headers,
            ).json["entries"]
            assert late["id"] in [e["id"] for e in since]
    finally:
        engine.dispose()
