"""Database faults on PostgreSQL: an outage, a stuck statement, transient aborts and a
connection killed in the middle of a stock operation.

- The outage test stops and restarts a throwaway cluster that it started itself
  (``tests/pg_instance.py``: initdb into a temporary directory, pg_ctl), under a real
  gunicorn. The shared server is never stopped.
- The other tests use the suite's test database and app; the faults come from a
  second connection (a held row lock, ``pg_terminate_backend``) or a test-only
  trigger that is dropped again afterwards.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import pathlib
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.pool import NullPool

from app import create_app
from app.api import MAX_ATTEMPTS
from app.config import engine_options
from app.extensions import db
from app.models import Inventory, LedgerEntry
from tests.conftest import ADMIN_TOKEN, ROOT, alembic_config
from tests.helpers import assert_problem, free_port, stop_process
from tests.pg_instance import throwaway_postgres

pytestmark = pytest.mark.postgres

UNAVAILABLE = "urn:stockflow:problem:database-unavailable"


# --- reading the database ---------------------------------------------------------------


def stock_levels(app) -> dict[tuple[int, int], int]:
    """Every inventory row as ``(product_id, warehouse_id) -> quantity``."""
    with app.app_context():
        rows = db.session.execute(
            sa.select(Inventory.product_id, Inventory.warehouse_id, Inventory.quantity)
        )
        return {(p, w): q for p, w, q in rows}


def ledger(app, *where) -> list[tuple[int, int, str, int]]:
    """Ledger rows as ``(product_id, warehouse_id, reason, quantity_change)``, by id."""
    with app.app_context():
        rows = db.session.execute(
            sa.select(
                LedgerEntry.product_id,
                LedgerEntry.warehouse_id,
                LedgerEntry.reason,
                LedgerEntry.quantity_change,
            )
            .where(*where)
            .order_by(LedgerEntry.id)
        )
        return [tuple(row) for row in rows]


def app_of_its_own(database_url: str, config: dict | None = None):
    """An app on the suite's database with a pool of its own (so a test can kill its
    connections); ``dispose`` it afterwards."""
    return create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": database_url,
            "STOCKFLOW_ADMIN_TOKEN": ADMIN_TOKEN,
            **(config or {}),
        }
    )


def dispose(app) -> None:
    """Close the connections of ``app``'s pool."""
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def monitor(database_url):
    """An autocommit engine of its own, to watch and poke the app's connections."""
    engine = sa.create_engine(database_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    yield engine
    engine.dispose()


class RowLock:
    """``SELECT ... FOR UPDATE`` on one inventory row from another connection, held
    until ``release()`` (or the end of the ``with`` block)."""

    def __init__(self, database_url: str, product_id: int, warehouse_id: int):
        self.engine = sa.create_engine(database_url, poolclass=NullPool)
        self.where = (Inventory.product_id == product_id, Inventory.warehouse_id == warehouse_id)
        self.connection = None
        self.pid = None

    def __enter__(self) -> RowLock:
        self.connection = self.engine.connect()
        # with the company's id, as every locking query must (Citus routes it to one shard)
        company = self.connection.scalar(sa.select(Inventory.company_id).where(*self.where))
        self.connection.execute(
            sa.select(Inventory.id)
            .where(Inventory.company_id == company, *self.where)
            .with_for_update()
        ).one()
        self.pid = self.connection.scalar(sa.text("SELECT pg_backend_pid()"))
        return self

    def release(self) -> None:
        if self.connection is not None:
            self.connection.rollback()
            self.connection.close()
            self.connection = None

    def __exit__(self, *exc_info) -> None:
        self.release()
        self.engine.dispose()


def backend_blocked_by(monitor, blocker_pid: int, timeout: float = 10.0) -> int:
    """The pid of the one backend waiting on a lock that ``blocker_pid`` holds."""
    deadline = time.monotonic() + timeout
    while True:
        with monitor.connect() as connection:
            waiting = connection.scalars(
                sa.text(
                    "SELECT pid FROM pg_stat_activity "
                    "WHERE :blocker = ANY(pg_blocking_pids(pid)) AND wait_event_type = 'Lock'"
                ),
                {"blocker": blocker_pid},
            ).all()
        if waiting:
            assert len(waiting) == 1, waiting
            return waiting[0]
        assert time.monotonic() < deadline, "the request never blocked on the held lock"
        time.sleep(0.01)


def row_is_locked(monitor, product_id: int, warehouse_id: int) -> bool:
    """Whether another transaction holds (has changed) this inventory row right now."""
    where = (Inventory.product_id == product_id, Inventory.warehouse_id == warehouse_id)
    with monitor.connect() as connection:
        company = connection.scalar(sa.select(Inventory.company_id).where(*where))
        statement = (
            sa.select(Inventory.id)
            .where(Inventory.company_id == company, *where)
            .with_for_update(nowait=True)
        )
        try:
            connection.execute(statement).one()
        except sa.exc.OperationalError as error:
            if getattr(error.orig, "pgcode", None) == "55P03":  # lock_not_available
                return True
            raise
    return False


class Background:
    """Run ``target`` in a thread; ``result()`` joins it (a hang fails the test)."""

    def __init__(self, target):
        self._value = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(target,), daemon=True)
        self._thread.start()

    def _run(self, target) -> None:
        try:
            self._value = target()
        except BaseException as error:  # re-raised in the test's thread
            self._error = error

    def result(self, timeout: float = 20.0):
        self._thread.join(timeout)
        assert not self._thread.is_alive(), f"still running after {timeout} s"
        if self._error is not None:
            raise self._error
        return self._value


# --- a connection killed half way through a multi-row operation ----------------------


@dataclass
class MultiRowOperation:
    """A stock operation that changes several inventory rows, in lock order."""

    path: str
    body: dict
    first_row: tuple[int, int]  # (product, warehouse) it changes first
    later_row: tuple[int, int]  # one it changes after that: the test holds its lock
    changes: dict[tuple[int, int], int]  # the whole effect on the stock


def transfer_operation(client, company, make_warehouse, make_product) -> MultiRowOperation:
    source, target = make_warehouse(company)["id"], make_warehouse(company)["id"]
    assert source < target  # rows change in warehouse order: the source row first
    product = make_product(
        company,
        initial_stock=[
            {"warehouse_id": source, "quantity": 10},
            {"warehouse_id": target, "quantity": 5},
        ],
    )["id"]
    return MultiRowOperation(
        "/api/stock/transfers",
        {
            "product_id": product,
            "from_warehouse_id": source,
            "to_warehouse_id": target,
            "quantity": 4,
        },
        first_row=(product, source),
        later_row=(product, target),
        changes={(product, source): -4, (product, target): +4},
    )


def bundle_sale_operation(client, company, make_warehouse, make_product) -> MultiRowOperation:
    warehouse = make_warehouse(company)["id"]
    first = make_product(company, warehouse_id=warehouse, initial_quantity=10)["id"]
    second = make_product(company, warehouse_id=warehouse, initial_quantity=10)["id"]
    assert first < second  # rows change in product order within a warehouse
    bundle = make_product(company, is_bundle=True)["id"]
    response = client.put(
        f"/api/products/{bundle}/components",
        json=[{"product_id": first, "quantity": 1}, {"product_id": second, "quantity": 2}],
        headers=company.headers,
    )
    assert response.status_code == 200, response.json
    return MultiRowOperation(
        "/api/stock/sales",
        {"product_id": bundle, "warehouse_id": warehouse, "quantity": 3},
        first_row=(first, warehouse),
        later_row=(second, warehouse),
        changes={(first, warehouse): -3, (second, warehouse): -6},
    )


@pytest.mark.plain_postgres(
    "finds the blocked request with pg_blocking_pids() on the coordinator; "
    "on Citus the wait is on a worker"
)
@pytest.mark.parametrize(
    "build", [transfer_operation, bundle_sale_operation], ids=["transfer", "bundle-sale"]
)
def test_a_connection_killed_in_the_middle_of_a_multi_row_operation_leaves_none_of_it(
    build, app, client, company, make_warehouse, make_product, database_url, monitor
):
    operation = build(client, company, make_warehouse, make_product)
    levels_before, ledger_before = stock_levels(app), ledger(app)

    def send():
        return app.test_client().post(operation.path, json=operation.body, headers=company.headers)

    with RowLock(database_url, *operation.later_row) as lock:
        request = Background(send)
        victim = backend_blocked_by(monitor, lock.pid)
        # half done: the first row is already changed (locked by the request's transaction)
        assert row_is_locked(monitor, *operation.first_row)
        with monitor.connect() as connection:
            assert connection.scalar(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": victim})
        lock.release()
        response = request.result()

    body = assert_problem(response, 503, slug="database-unavailable")
    assert "Traceback" not in json.dumps(body)
    assert response.headers["Retry-After"] == "1"
    assert stock_levels(app) == levels_before
    assert ledger(app) == ledger_before

    # control: the same operation, stopped at the same point and then let go, writes all
    with RowLock(database_url, *operation.later_row) as lock:
        request = Background(send)
        backend_blocked_by(monitor, lock.pid)
        lock.release()
        response = request.result()

    assert response.status_code == 201, response.json
    expected = dict(levels_before)
    for row, change in operation.changes.items():
        expected[row] = expected.get(row, 0) + change
    assert stock_levels(app) == expected
    written = ledger(app, LedgerEntry.operation_id == response.json["operation_id"])
    assert sorted((p, w, change) for p, w, _, change in written) == sorted(
        (p, w, change) for (p, w), change in operation.changes.items()
    )


# --- a statement stuck behind a lock ----------------------------------------------------


def test_a_statement_stuck_on_a_lock_is_cut_off_by_the_statement_timeout_as_a_503(
    app, client, company, make_warehouse, make_product, database_url
):
    warehouse = make_warehouse(company)["id"]
    product = make_product(company, warehouse_id=warehouse, initial_quantity=10)["id"]
    sale = {"product_id": product, "warehouse_id": warehouse, "quantity": 1}
    impatient = app_of_its_own(
        database_url,
        {
            "SQLALCHEMY_ENGINE_OPTIONS": engine_options(
                database_url, env={"STOCKFLOW_STATEMENT_TIMEOUT_MS": "300"}
            )
        },
    )
    try:
        with RowLock(database_url, product, warehouse):
            started = time.monotonic()
            response = impatient.test_client().post(
                "/api/stock/sales", json=sale, headers=company.headers
            )
            elapsed = time.monotonic() - started

        assert_problem(response, 503, slug="database-unavailable")
        assert response.headers["Retry-After"] == "1"
        assert 0.3 <= elapsed < 2.0, elapsed
        assert stock_levels(app) == {(product, warehouse): 10}
        assert ledger(app, LedgerEntry.reason == "sale") == []

        # a cancelled statement does not break the connection: the next sale goes through
        response = impatient.test_client().post(
            "/api/stock/sales", json=sale, headers=company.headers
        )
        assert response.status_code == 201, response.json
        assert stock_levels(app) == {(product, warehouse): 9}
    finally:
        dispose(impatient)


@pytest.mark.plain_postgres(
    "the one-statement sale runs on plain PostgreSQL only, and the test finds the "
    "blocked request with pg_blocking_pids() on the coordinator"
)
def test_a_one_statement_write_whose_connection_dies_mid_statement_is_a_503_and_writes_nothing(
    app, company, make_warehouse, make_product, database_url, monitor
):
    # a sale whose key the worker has seen, and that leaves the row above its threshold,
    # runs on a pool connection of its own, on psycopg2's cursor
    # (app.oneshot.execute_alone): a connection lost under it is invalidated, the error
    # is SQLAlchemy's OperationalError (a 503), nothing is written
    warehouse = make_warehouse(company)["id"]
    product = make_product(company, warehouse_id=warehouse, initial_quantity=1000)["id"]
    sale = {"product_id": product, "warehouse_id": warehouse, "quantity": 1}
    fresh = app_of_its_own(database_url)
    try:
        client = fresh.test_client()
        assert (
            client.post("/api/stock/sales", json=sale, headers=company.headers).status_code == 201
        )
        replies = []
        with RowLock(database_url, product, warehouse) as lock:
            seller = threading.Thread(
                target=lambda: replies.append(
                    fresh.test_client().post("/api/stock/sales", json=sale, headers=company.headers)
                )
            )
            seller.start()
            victim = backend_blocked_by(monitor, lock.pid)
            with monitor.connect() as connection:
                assert connection.scalar(
                    sa.text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": victim}
                )
            seller.join(10)
        assert_problem(replies[0], 503, slug="database-unavailable")
        assert stock_levels(app) == {(product, warehouse): 999}
        assert len(ledger(app, LedgerEntry.reason == "sale")) == 1
        # the dead connection left the pool: the next sale is served
        response = client.post("/api/stock/sales", json=sale, headers=company.headers)
        assert response.status_code == 201, response.json
        assert stock_levels(app) == {(product, warehouse): 998}
    finally:
        dispose(fresh)


# --- a connection lost once the response is built -----------------------------------------


def test_a_connection_lost_after_the_response_was_built_still_delivers_the_response(
    company, make_warehouse, make_product, database_url, monitor
):
    # the database goes away between a read's last statement and the end of the
    # request, when the session's read transaction is rolled back (found under gunicorn:
    # the failed rollback escaped and turned the finished 200 into a bare 500)
    warehouse = make_warehouse(company)["id"]
    product = make_product(company, warehouse_id=warehouse, initial_quantity=7)["id"]
    fragile = app_of_its_own(database_url)
    lost = []

    @fragile.after_request
    def lose_the_connection(response):
        if not lost:
            pid = db.session.scalar(sa.text("SELECT pg_backend_pid()"))
            with monitor.connect() as connection:
                # with a timeout, pg_terminate_backend waits until the backend is gone
                lost.append(
                    connection.scalar(
                        sa.text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid}
                    )
                )
        return response

    try:
        client = fragile.test_client()
        response = client.get(f"/api/products/{product}", headers=company.headers)
        assert lost == [True]
        assert response.status_code == 200, response.data
        assert response.json["stock"] == [{"warehouse_id": warehouse, "quantity": 7}]
        # the pool replaced the dead connection: the next request is served as usual
        again = client.get(f"/api/products/{product}", headers=company.headers)
        assert again.status_code == 200, again.data
    finally:
        dispose(fragile)


def test_a_pooled_connection_that_died_while_idle_is_replaced_without_an_error(
    company, make_warehouse, make_product, database_url, monitor
):
    # no ping of its own before an API request (app.liveness): the key lookup (or a
    # poll's version read) finds the dead connection and runs again on a new one; other
    # checkouts are pinged
    warehouse = make_warehouse(company)["id"]
    product = make_product(company, warehouse_id=warehouse, initial_quantity=5)["id"]
    fresh = app_of_its_own(database_url)
    backends = []

    @fresh.after_request
    def note_the_backend(response):
        backends.append(db.session.scalar(sa.text("SELECT pg_backend_pid()")))
        return response

    def kill_the_last_backend():
        with monitor.connect() as connection:
            assert connection.scalar(
                sa.text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": backends[-1]}
            )

    try:
        client = fresh.test_client()
        assert client.get(f"/api/products/{product}", headers=company.headers).status_code == 200
        kill_the_last_backend()
        sale = {"product_id": product, "warehouse_id": warehouse, "quantity": 1}
        response = client.post("/api/stock/sales", json=sale, headers=company.headers)
        assert response.status_code == 201, response.json
        assert response.json["stock"][0]["quantity"] == 4
        kill_the_last_backend()
        assert client.get("/ready").status_code == 200
        # a key the worker has seen (app.auth.confirms_key): the sale's statement, a
        # write, comes first, so its checkout is pinged and the dead one replaced
        kill_the_last_backend()
        response = client.post("/api/stock/sales", json=sale, headers=company.headers)
        assert response.status_code == 201, response.json
        assert response.json["stock"][0]["quantity"] == 3
        # and a poll's version read, a read, finds the dead connection and runs again
        alerts = f"/api/companies/{company.id}/alerts/low-stock"
        etag = client.get(alerts, headers=company.headers).headers["ETag"]
        kill_the_last_backend()
        polled = client.get(alerts, headers={**company.headers, "If-None-Match": etag})
        assert polled.status_code == 304
        assert len(set(backends)) == 5
    finally:
        dispose(fresh)


@pytest.mark.plain_postgres(
    "the one-statement sale, whose checkout no read comes first on, runs on plain "
    "PostgreSQL only (app.distribution.on_citus)"
)
def test_a_write_first_checkout_pings_only_a_connection_with_something_to_read(
    company, make_warehouse, make_product, database_url, monitor, monkeypatch
):
    # app.liveness: a checkout that no read comes first on (a sale whose key the worker
    # has seen) looks at its socket instead of sending a ping; a socket with something
    # unread (here a notification; a dying server's goodbye in the test above) is
    # pinged, and a live connection passes the ping and is kept
    warehouse = make_warehouse(company)["id"]
    product = make_product(company, warehouse_id=warehouse, initial_quantity=9)["id"]
    fresh = app_of_its_own(database_url)
    backends, pings = [], []

    @fresh.after_request
    def note_the_backend(response):
        backends.append(db.session.scalar(sa.text("SELECT pg_backend_pid()")))
        return response

    channel = f"stockflow_test_{uuid.uuid4().hex[:8]}"
    sale = {"product_id": product, "warehouse_id": warehouse, "quantity": 1}
    try:
        client = fresh.test_client()
        with fresh.app_context():
            dialect = db.engine.dialect
        ping = dialect.do_ping
        monkeypatch.setattr(dialect, "do_ping", lambda c: pings.append(1) or ping(c))
        # the first sale looks the key up (a read comes first); the next ones do not
        for _ in range(3):
            response = client.post("/api/stock/sales", json=sale, headers=company.headers)
            assert response.status_code == 201, response.json
        assert pings == [] and len(set(backends)) == 1

        # the pool's one connection listens, and is sent a notification it has not read
        with fresh.app_context():
            raw = db.engine.raw_connection()
            raw.dbapi_connection.autocommit = True
            with raw.dbapi_connection.cursor() as cursor:
                cursor.execute(f"LISTEN {channel}")
                cursor.execute("SELECT pg_backend_pid()")
                assert cursor.fetchone()[0] == backends[-1]
            raw.dbapi_connection.autocommit = False
            raw.close()
        with monitor.connect() as connection:
            connection.exec_driver_sql(f"NOTIFY {channel}")
        time.sleep(0.2)
        response = client.post("/api/stock/sales", json=sale, headers=company.headers)
        assert response.status_code == 201, response.json
        assert response.json["stock"][0]["quantity"] == 5
        assert pings == [1] and len(set(backends)) == 1
    finally:
        dispose(fresh)


# --- serialization failures and deadlocks -----------------------------------------------


@contextlib.contextmanager
def failing_ledger_inserts(database_url: str, sqlstate: str, failures: int):
    """A test-only trigger: the first ``failures`` ledger inserts raise ``sqlstate``.

    Yields a function that says how many ledger inserts were tried. The count is a
    sequence, which a rollback does not undo. Trigger, function and sequence are
    dropped afterwards, whatever happens.
    """
    name = f"test_fault_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(database_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(
                f"""
                CREATE SEQUENCE {name};
                CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $body$
                BEGIN
                    IF nextval('{name}') <= {failures} THEN
                        RAISE EXCEPTION 'injected transient failure' USING ERRCODE = '{sqlstate}';
                    END IF;
                    RETURN NEW;
                END $body$;
                CREATE TRIGGER {name} BEFORE INSERT ON inventory_ledger
                    FOR EACH ROW EXECUTE FUNCTION {name}();
                """
            )

        def attempts() -> int:
            with engine.connect() as connection:
                value, called = connection.exec_driver_sql(
                    f"SELECT last_value, is_called FROM {name}"
                ).one()
            return value if called else 0

        yield attempts
    finally:
        with engine.connect() as connection:
            connection.exec_driver_sql(
                f"DROP TRIGGER IF EXISTS {name} ON inventory_ledger; "
                f"DROP FUNCTION IF EXISTS {name}(); DROP SEQUENCE IF EXISTS {name}"
            )
        engine.dispose()


@pytest.mark.plain_postgres(
    "injects the fault with a trigger; Citus refuses triggers on distributed tables"
)
@pytest.mark.parametrize("sqlstate", ["40001", "40P01"], ids=["serialization", "deadlock"])
def test_transient_aborts_are_retried_inside_the_request_and_the_client_never_sees_them(
    sqlstate, app, client, company, make_warehouse, make_product, database_url
):
    source, target = make_warehouse(company)["id"], make_warehouse(company)["id"]
    product = make_product(company, warehouse_id=source, initial_quantity=10)["id"]
    body = {
        "product_id": product,
        "from_warehouse_id": source,
        "to_warehouse_id": target,
        "quantity": 4,
    }
    headers = {**company.headers, "Idempotency-Key": f"transfer-{sqlstate}"}
    failures = MAX_ATTEMPTS - 1

    with failing_ledger_inserts(database_url, sqlstate, failures) as attempts:
        response = client.post("/api/stock/transfers", json=body, headers=headers)
        assert response.status_code == 201, response.json
        # the aborted attempts, then the two rows of the attempt that went through
        assert attempts() == failures + 2
        replay = client.post("/api/stock/transfers", json=body, headers=headers)
        assert replay.status_code == 201
        assert replay.headers["Idempotent-Replayed"] == "true"
        assert replay.json == response.json
        assert attempts() == failures + 2

    assert stock_levels(app) == {(product, source): 6, (product, target): 4}
    assert ledger(app, LedgerEntry.reason.like("transfer%")) == [
        (product, source, "transfer_out", -4),
        (product, target, "transfer_in", 4),
    ]
    assert {entry["operation_id"] for entry in response.json["entries"]} == {
        response.json["operation_id"]
    }


@pytest.mark.plain_postgres(
    "injects the fault with a trigger; Citus refuses triggers on distributed tables"
)
def test_a_transient_abort_that_outlasts_every_retry_is_a_503_that_writes_nothing(
    app, client, company, make_warehouse, make_product, database_url
):
    warehouse = make_warehouse(company)["id"]
    product = make_product(company, warehouse_id=warehouse, initial_quantity=10)["id"]
    sale = {"product_id": product, "warehouse_id": warehouse, "quantity": 2}
    headers = {**company.headers, "Idempotency-Key": "sale-that-keeps-failing"}

    with failing_ledger_inserts(database_url, "40001", failures=10**6) as attempts:
        response = client.post("/api/stock/sales", json=sale, headers=headers)
        assert attempts() == MAX_ATTEMPTS  # bounded: tried exactly MAX_ATTEMPTS times

    assert_problem(response, 503, slug="database-unavailable")
    assert response.headers["Retry-After"] == "1"
    assert stock_levels(app) == {(product, warehouse): 10}
    assert ledger(app, LedgerEntry.reason == "sale") == []
    # the failed request did not use up its key: the client's retry does the work
    retry = client.post("/api/stock/sales", json=sale, headers=headers)
    assert retry.status_code == 201, retry.json
    assert "Idempotent-Replayed" not in retry.headers
    assert stock_levels(app) == {(product, warehouse): 8}


# --- an outage under gunicorn -------------------------------------------------------------


@dataclass
class Reply:
    """One HTTP exchange as a client saw it (``status`` None: no HTTP answer at all)."""

    method: str
    path: str
    status: int | None
    headers: dict[str, str]
    body: object
    started: float
    finished: float
    error: str = ""

    @property
    def seconds(self) -> float:
        return self.finished - self.started


def http_call(port, method, path, body=None, headers=None, timeout=15.0) -> Reply:
    """One request on a fresh connection to 127.0.0.1:``port``."""
    headers = dict(headers or {})
    payload = None
    if body is not None:
        payload = json.dumps(body)
        headers["Content-Type"] = "application/json"
    started = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        raw = response.read()
        status, reply_headers = response.status, {k.lower(): v for k, v in response.getheaders()}
    except (OSError, http.client.HTTPException) as error:
        return Reply(method, path, None, {}, None, started, time.monotonic(), repr(error))
    finally:
        connection.close()
    finished = time.monotonic()
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw.decode(errors="replace")
    return Reply(method, path, status, reply_headers, parsed, started, finished)


def process_children(parent: int) -> set[int]:
    """The live child processes of ``parent`` (from /proc)."""
    children = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                # "pid (command) state ppid ...": the command may hold spaces and parens
                state, ppid = stat.read().rsplit(")", 1)[1].split()[:2]
        except (OSError, ValueError):
            continue
        if int(ppid) == parent and state != "Z":
            children.add(int(entry))
    return children


@dataclass
class Server:
    process: subprocess.Popen
    port: int
    log_path: pathlib.Path

    def call(self, method, path, body=None, headers=None, timeout=15.0) -> Reply:
        return http_call(self.port, method, path, body, headers, timeout)

    def worker_pids(self) -> set[int]:
        return process_children(self.process.pid)

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace")
        return "gunicorn log:\n" + "\n".join(text.splitlines()[-lines:])


@contextlib.contextmanager
def gunicorn_server(database_url: str, log_path: pathlib.Path, workers: int, **settings):
    """gunicorn (``gunicorn.conf.py``, ``wsgi:app``) on a free loopback port; stopped after."""
    port = free_port()
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("STOCKFLOW_", "GUNICORN_"))
        and name not in ("DATABASE_URL", "TEST_DATABASE_URL", "PORT")
    }
    env.update(
        DATABASE_URL=database_url,
        STOCKFLOW_ADMIN_TOKEN=ADMIN_TOKEN,
        GUNICORN_BIND=f"127.0.0.1:{port}",
        GUNICORN_WORKERS=str(workers),
        GUNICORN_GRACEFUL_TIMEOUT="2",
        LOG_LEVEL="WARNING",
        **settings,
    )
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Server(process, port, log_path)
    try:
        deadline = time.monotonic() + 30
        while not (
            len(server.worker_pids()) == workers
            and server.call("GET", "/health", timeout=2).status == 200
        ):
            assert process.poll() is None, f"gunicorn exited\n{server.log_tail()}"
            assert time.monotonic() < deadline, f"gunicorn did not start\n{server.log_tail()}"
            time.sleep(0.1)
        yield server
    finally:
        stop_process(process)


class Load:
    """Client threads that sell one unit and read the product, in turns, until stopped."""

    def __init__(self, server: Server, headers: dict, product: int, warehouse: int, clients: int):
        self.server, self.headers = server, headers
        self.sale = {"product_id": product, "warehouse_id": warehouse, "quantity": 1}
        self.product_path = f"/api/products/{product}"
        self.replies: list[Reply] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]

    def _run(self) -> None:
        selling = True
        while not self._stop.is_set():
            if selling:
                reply = self.server.call("POST", "/api/stock/sales", self.sale, self.headers)
            else:
                reply = self.server.call("GET", self.product_path, headers=self.headers)
            with self._lock:
                self.replies.append(reply)
            selling = not selling
            time.sleep(0.01)

    def wait_for(self, count: int, since: float, timeout: float = 10.0) -> None:
        """Wait until ``count`` replies to requests sent after ``since`` have come in."""
        deadline = time.monotonic() + timeout
        while sum(1 for r in list(self.replies) if r.started >= since) < count:
            assert time.monotonic() < deadline, f"fewer than {count} replies in {timeout} s"
            time.sleep(0.02)

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)


def assert_unavailable_problem(reply: Reply) -> None:
    assert reply.headers.get("content-type") == "application/problem+json", reply
    assert reply.body["type"] == UNAVAILABLE and reply.body["status"] == 503, reply
    assert reply.headers.get("retry-after") == "1", reply


OPENING_STOCK = 100_000
CONNECT_TIMEOUT_S = 2
MIN_REPLIES = 12  # per phase: before the stop, while down, after the recovery


def test_a_database_outage_is_a_fast_503_and_the_same_workers_recover_when_it_returns(
    tmp_path,
):
    with throwaway_postgres() as pg:
        command.upgrade(alembic_config(pg.url), "head")
        with gunicorn_server(
            pg.url,
            tmp_path / "gunicorn.log",
            workers=2,
            GUNICORN_THREADS="2",
            STOCKFLOW_DB_CONNECT_TIMEOUT_S=str(CONNECT_TIMEOUT_S),
            STOCKFLOW_STATEMENT_TIMEOUT_MS="2000",
            STOCKFLOW_POOL_TIMEOUT_S="2",
        ) as server:
            _outage(pg, server)


def _outage(pg, server: Server) -> None:
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    reply = server.call("POST", "/api/companies", {"name": "Outage Ltd"}, admin)
    assert reply.status == 201, (reply, server.log_tail())
    headers = {"Authorization": f"Bearer {reply.body['api_key']}"}
    warehouse = server.call("POST", "/api/warehouses", {"name": "Main"}, headers).body["id"]
    product = server.call(
        "POST",
        "/api/products",
        {
            "name": "Widget",
            "sku": "W-1",
            "price": "1.00",
            "warehouse_id": warehouse,
            "initial_quantity": OPENING_STOCK,
        },
        headers,
    ).body["id"]
    workers = server.worker_pids()
    assert len(workers) == 2

    with Load(server, headers, product, warehouse, clients=3) as load:
        load.wait_for(MIN_REPLIES, since=0)
        stop_requested = time.monotonic()
        pg.stop("fast")
        down = time.monotonic()
        load.wait_for(MIN_REPLIES, since=down)
        ready_down = server.call("GET", "/ready")
        health_down = server.call("GET", "/health")
        restart_requested = time.monotonic()
        pg.start()
        up = time.monotonic()
        deadline = up + 10
        while (ready_up := server.call("GET", "/ready")).status != 200:
            assert time.monotonic() < deadline, f"not ready 10 s after the restart: {ready_up}"
            time.sleep(0.02)
        load.wait_for(MIN_REPLIES, since=ready_up.finished)
    replies = load.replies

    # no request went unanswered, none was a 500, none hung
    assert all(r.status is not None for r in replies), [r for r in replies if r.status is None]
    statuses = Counter(r.status for r in replies)
    assert set(statuses) <= {200, 201, 503}, (statuses, server.log_tail())
    for reply in replies:
        if reply.status == 503:
            assert_unavailable_problem(reply)
    slowest = max(r.seconds for r in replies)
    assert slowest < CONNECT_TIMEOUT_S + 2, slowest
    # before the stop everything worked; while it was down every request was a 503
    before = [r for r in replies if r.finished < stop_requested]
    during = [r for r in replies if r.started >= down and r.finished <= restart_requested]
    assert len(before) >= MIN_REPLIES and {r.status for r in before} <= {200, 201}
    assert len(during) >= MIN_REPLIES and {r.status for r in during} == {503}
    assert ready_down.status == 503
    assert_unavailable_problem(ready_down)
    assert health_down.status == 200
    # once ready again, the same processes serve: no worker was restarted
    after = [r for r in replies if r.started >= ready_up.finished]
    after_statuses = Counter(r.status for r in after)
    assert len(after) >= MIN_REPLIES and set(after_statuses) <= {200, 201}, (
        after_statuses,
        server.log_tail(),
    )
    assert server.process.poll() is None
    assert server.worker_pids() == workers

    # what was written before the outage is still there, and the ledger agrees with the
    # stock; a sale that was in flight at the stop may have committed before its answer
    # was lost, so it may be there or not
    sold = sum(1 for r in replies if r.method == "POST" and r.status == 201)
    unsure = sum(1 for r in replies if r.method == "POST" and r.status == 503 and r.started < down)
    engine = sa.create_engine(pg.url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            sales = connection.scalar(
                sa.select(sa.func.count())
                .select_from(LedgerEntry)
                .where(LedgerEntry.reason == "sale")
            )
            ledger_sum = connection.scalar(sa.select(sa.func.sum(LedgerEntry.quantity_change)))
    finally:
        engine.dispose()
    assert sold <= sales <= sold + unsure, (sold, sales, unsure)
    assert ledger_sum == OPENING_STOCK - sales
    stock = server.call("GET", f"/api/products/{product}", headers=headers).body["stock"]
    assert stock == [{"warehouse_id": warehouse, "quantity": OPENING_STOCK - sales}]

    outage_503s = sorted(r.seconds for r in replies if r.status == 503)
    print(
        f"\noutage: {len(replies)} requests {dict(statuses)}; 503 latency "
        f"median {outage_503s[len(outage_503s) // 2] * 1000:.1f} ms, "
        f"max {outage_503s[-1] * 1000:.1f} ms; slowest request {slowest * 1000:.0f} ms; "
        f"stop took {(down - stop_requested) * 1000:.0f} ms; ready "
        f"{(ready_up.finished - up) * 1000:.0f} ms after pg_ctl start returned"
    )
