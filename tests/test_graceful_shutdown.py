"""SIGTERM to gunicorn under load, on PostgreSQL: the requests in flight finish, the
later ones fail cleanly (connection refused or reset, never a 500), every acknowledged
write is in the database, the ledger still sums to every stock level, and gunicorn
exits with 0 within its graceful timeout.

A small version of ``bash bench/load_bench.sh --sigterm``, with the same load and
checks (``bench/load_mix.py``). To be sure a request really is in flight when the
signal comes, the test holds a row lock that one sale waits on, and releases it only
after the SIGTERM: that sale must still be answered with a 201 and be in the database.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import psycopg2
import pytest

from tests.conftest import ADMIN_TOKEN, ROOT
from tests.helpers import free_port

pytestmark = pytest.mark.postgres

GRACEFUL_TIMEOUT = 10
APP_NAME = "stockflow-shutdown-test"
MIX = {"create_product": 10, "sell": 40, "transfer": 25, "receive": 10, "poll_alerts": 15}


def _load_mix():
    spec = importlib.util.spec_from_file_location("load_mix", ROOT / "bench" / "load_mix.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["load_mix"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


load_mix = _load_mix()


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def is_up(port: int) -> bool:
    client = load_mix.Client("127.0.0.1", port, timeout=2)
    try:
        return client.send("GET", "/health").status == 200
    finally:
        client.close()


@pytest.fixture
def server(database_url, tmp_path):
    """gunicorn (gunicorn.conf.py, 2 workers x 4 threads) on the test database; killed
    whatever happens."""
    port = free_port()
    log_path = tmp_path / "gunicorn.log"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "STOCKFLOW_ENV": "development",
        "STOCKFLOW_ADMIN_TOKEN": ADMIN_TOKEN,
        "STOCKFLOW_STATEMENT_TIMEOUT_MS": "15000",
        "LOG_LEVEL": "WARNING",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "2",
        "GUNICORN_THREADS": "4",
        "GUNICORN_GRACEFUL_TIMEOUT": str(GRACEFUL_TIMEOUT),
        # libpq names the server's connections, so that they can be ended (below)
        "PGAPPNAME": APP_NAME,
    }
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until(lambda: process.poll() is not None or is_up(port), 30, "gunicorn to start")
            assert process.poll() is None, log_path.read_text()[-3000:]
            process.log_path = log_path
            process.port = port
            yield process
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()
            # a killed worker's statement may still run; end it before the tables are
            # truncated, or the TRUNCATE can deadlock with it
            with psycopg2.connect(load_mix.plain_dsn(database_url)) as conn, conn.cursor() as cur:
                cur.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = %s",
                    (APP_NAME,),
                )
            conn.close()


def blocked_by(database_url: str, pid: int) -> int:
    """How many backends wait on a lock that backend ``pid`` holds (asked from a
    connection of its own: a transaction sees one snapshot of pg_stat_activity)."""
    with psycopg2.connect(load_mix.plain_dsn(database_url)) as conn, conn.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))",
            (pid,),
        )
        waiting = cursor.fetchone()[0]
    conn.close()
    return waiting


@pytest.mark.plain_postgres(
    "watches pg_blocking_pids() on the coordinator; on Citus the row lock is waited on a worker"
)
def test_sigterm_under_load_finishes_in_flight_requests_and_loses_no_write(server, database_url):
    port = server.port
    world = load_mix.setup("127.0.0.1", port, ADMIN_TOKEN, warehouses=3, products=8)
    # the product the held-up sale is about; the load leaves it alone
    slow_product, slow_warehouse = world.products.pop(), world.warehouses[0]
    prefix = f"shutdown-{uuid.uuid4().hex[:8]}"

    locker = psycopg2.connect(load_mix.plain_dsn(database_url))
    try:
        cursor = locker.cursor()
        cursor.execute(
            "SELECT quantity FROM inventory "
            "WHERE company_id = %s AND product_id = %s AND warehouse_id = %s FOR UPDATE",
            (world.company_id, slow_product, slow_warehouse),
        )
        stock_before = cursor.fetchone()[0]

        slow = {}

        def held_up_sale():
            client = load_mix.Client("127.0.0.1", port, timeout=60)
            try:
                start = time.perf_counter()
                answer = client.send(
                    "POST",
                    "/api/stock/sales",
                    {"product_id": slow_product, "warehouse_id": slow_warehouse, "quantity": 1},
                    {**world.auth, "Idempotency-Key": f"{prefix}-slow"},
                )
                slow["record"] = load_mix.record_of(
                    "sell", f"{prefix}-slow", time.perf_counter() - start, answer
                )
                slow["answer"] = answer
            finally:
                client.close()

        loaded = {}
        load = threading.Thread(
            target=lambda: loaded.setdefault(
                "run",
                load_mix.run_load(
                    "127.0.0.1", port, world, clients=8, duration=25, mix=MIX, key_prefix=prefix
                ),
            )
        )
        sale = threading.Thread(target=held_up_sale)
        load.start()
        sale.start()
        wait_until(
            lambda: blocked_by(database_url, locker.get_backend_pid()) >= 1,
            10,
            "the sale to wait on the row lock",
        )
        time.sleep(1.0)  # the load runs a while

        sigterm_at = time.monotonic()
        server.send_signal(signal.SIGTERM)
        time.sleep(1.5)  # the sale is still waiting, the server still stopping
        assert server.poll() is None, "gunicorn did not wait for the request in flight"
        locker.commit()  # let it finish

        exit_code = server.wait(timeout=GRACEFUL_TIMEOUT + 10)
        stopped_in = time.monotonic() - sigterm_at
        sale.join(timeout=30)
        load.join(timeout=30)
        assert not load.is_alive(), "clients kept going after the server was gone"
    finally:
        locker.close()

    log = server.log_path.read_text()
    assert exit_code == 0, log[-3000:]
    assert stopped_in < GRACEFUL_TIMEOUT, f"gunicorn took {stopped_in:.1f} s to stop"
    assert "Traceback" not in log, log[-3000:]

    # the sale in flight at the SIGTERM finished, and is in the database
    answer = slow["answer"]
    assert answer.status == 201, answer
    assert answer.body["stock"] == [
        {"product_id": slow_product, "warehouse_id": slow_warehouse, "quantity": stock_before - 1}
    ]
    run = loaded["run"]
    run.sigterm_at = sigterm_at
    run.records.append(slow["record"])
    run.acks.append(load_mix.ack_of("sell", f"{prefix}-slow", answer))

    assert any(r.ended < sigterm_at and r.status == 201 for r in run.records), "no load ran"
    # every request after the SIGTERM was answered or cut off before a response, and
    # at least the last ones were refused: nothing hangs, nothing is a 500
    assert any(r.error == "refused" for r in run.records if r.ended >= sigterm_at)
    checks = load_mix.response_checks(run) + load_mix.database_checks(database_url, world, run)
    failed = [f"{name}: {detail}" for name, passed, detail in checks if not passed]
    assert not failed, failed
