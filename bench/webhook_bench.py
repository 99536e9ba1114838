"""Webhook delivery throughput: N events owed to one endpoint (a local receiver that
answers 200 at once), delivered by W ``flask worker --once`` processes started
together; prints deliveries per second and checks each event arrived exactly once.

    python bench/webhook_bench.py --database-url postgresql+psycopg2://HOST/SCRATCH \
        --events 2000 --workers 1 2 4
    python bench/webhook_bench.py --events 1000 --workers 1 2      # a temporary SQLite file

The database is migrated and its webhook tables emptied first: use a scratch one.
Events are keyed on 50 product-warehouse rows, so the per-row order is in play.
"""

from __future__ import annotations

import argparse
import collections
import http.server
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from alembic import command  # noqa: E402
from alembic.config import Config  # noqa: E402

from app import create_app  # noqa: E402
from app.events import outbox, secrets  # noqa: E402
from app.extensions import db  # noqa: E402
from app.models import Company, Event, WebhookDelivery, WebhookEndpoint  # noqa: E402

KEY = "bench-webhook-key-0123456789abcdef0123456789"


def receiver():
    arrived = collections.Counter()
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with lock:
                arrived[self.headers["StockFlow-Event-Id"]] += 1
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, arrived


def prepare(app, url: str, events: int) -> int:
    """A company, an endpoint to ``url`` and ``events`` owed stock.low events."""
    with app.app_context():
        for model in (WebhookDelivery, Event, WebhookEndpoint):
            db.session.execute(sa.delete(model))
        company = db.session.scalar(sa.select(Company).limit(1))
        if company is None:
            company = Company(name="Bench")
            db.session.add(company)
            db.session.flush()
        db.session.add(
            WebhookEndpoint(
                company_id=company.id,
                url=url,
                events=json.dumps(["stock.low"]),
                secret_salt=secrets.new_salt(),
            )
        )
        db.session.commit()
        with app.test_request_context():
            for start in range(0, events, 500):
                for n in range(start, min(start + 500, events)):
                    outbox.emit("stock.low", {"n": n}, product_id=n % 50 + 1, warehouse_id=1)
                outbox.write_pending(company.id)
                db.session.commit()
        return company.id


def run(database_url: str, events: int, workers: int) -> None:
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "STOCKFLOW_WEBHOOK_KEY": KEY})
    server, arrived = receiver()
    prepare(app, f"http://127.0.0.1:{server.server_address[1]}/hook", events)
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "STOCKFLOW_ENV": "development",
        "STOCKFLOW_WEBHOOK_KEY": KEY,
        "STOCKFLOW_WORKER_REFRESHES_ALERTS": "0",
        "LOG_LEVEL": "WARNING",
    }
    started = time.perf_counter()
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", "worker", "--once"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
        )
        for _ in range(workers)
    ]
    for process in processes:
        process.wait()
    elapsed = time.perf_counter() - started
    server.shutdown()
    with app.app_context():
        done = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(WebhookDelivery)
            .where(WebhookDelivery.status == "succeeded")
        )
        db.engine.dispose()
    twice = sum(1 for count in arrived.values() if count > 1)
    print(
        f"{database_url.split(':')[0]:<20} workers={workers} events={events} "
        f"delivered={done} twice={twice} seconds={elapsed:.1f} "
        f"deliveries/s={done / elapsed:.0f}  (incl. ~1 s process start)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args()
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3"
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["configure_logger"] = False
    config.set_main_option("sqlalchemy.url", url)
    command.upgrade(config, "head")
    for workers in args.workers:
        run(url, args.events, workers)


if __name__ == "__main__":
    main()
