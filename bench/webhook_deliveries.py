"""How a page of a webhook's deliveries costs as its history grows (issue 14).

    python bench/webhook_deliveries.py --database-url postgresql://postgres@127.0.0.1/DB \
        [--deliveries 200000] [--attempts 3] [--failed-every 1000] [--requests 20]

Builds, in the (scratch) database given, one company with one endpoint that owes
``--deliveries`` events, each with ``--attempts`` attempt rows, one delivery in
``--failed-every`` failed (the oldest ones: the status filter's worst case) and the
rest succeeded, plus a second endpoint with as
many deliveries (the listing must not read them). Then times, through the app
(Flask test client, in process: no network), the first page, a page deep in the
history (by cursor), the rare ``status=failed`` filter and a page of ``/api/events``,
and prints the ``EXPLAIN (ANALYZE, BUFFERS)`` of the listing's delivery statement.
The schema is created with alembic; the database's other tables are left alone, so
give it an empty database (``createdb ...``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def build(app, deliveries: int, attempts: int, failed_every: int) -> tuple[int, str, int]:
    """The company, its key and the endpoint to list."""
    from app.companies import service
    from app.events import service as webhooks
    from app.extensions import db

    with app.test_request_context():
        company, key = service.create_company("Bench webhooks")
        endpoint = webhooks.create_endpoint(
            company.id, {"url": "https://hooks.example.com/in", "events": ["stock.low"]}
        )["id"]
        other = webhooks.create_endpoint(
            company.id, {"url": "https://other.example.com/in", "events": ["stock.low"]}
        )["id"]
        db.session.commit()
        params = {
            "company": company.id,
            "n": deliveries,
            "attempts": attempts,
            "failed_every": failed_every,
        }
        statements = [
            # one event per delivery of each endpoint
            """INSERT INTO events (company_id, uid, type, occurred_at, payload)
               SELECT :company, gen_random_uuid()::text, 'stock.low',
                      now() - make_interval(secs => :n - i), '{"bench": true}'
               FROM generate_series(1, 2 * :n) AS i""",
            """INSERT INTO webhook_deliveries (company_id, endpoint_id, event_id, status,
                   attempts, next_attempt_at, last_status_code, delivered_at)
               SELECT e.company_id,
                      CASE WHEN e.rn % 2 = 0 THEN :endpoint ELSE :other END,
                      e.id,
                      -- the failed ones are the oldest: the filter's worst case
                      CASE WHEN e.rn <= 2 * :n / :failed_every THEN 'failed'
                           ELSE 'succeeded' END,
                      :attempts, e.occurred_at, 200, e.occurred_at
               FROM (SELECT id, company_id, occurred_at,
                            row_number() OVER (ORDER BY id) AS rn
                     FROM events WHERE company_id = :company) AS e""",
            """INSERT INTO webhook_attempts (company_id, delivery_id, attempted_at,
                   status_code, duration_ms, next_retry_at)
               SELECT d.company_id, d.id, d.next_attempt_at + make_interval(secs => a), 500,
                      40 + a, d.next_attempt_at + make_interval(secs => 30 * a)
               FROM webhook_deliveries AS d, generate_series(1, :attempts) AS a
               WHERE d.company_id = :company""",
            "ANALYZE events",
            "ANALYZE webhook_deliveries",
            "ANALYZE webhook_attempts",
        ]
        # the bulk build takes longer than a request may (statement_timeout)
        db.session.execute(sa.text("SET LOCAL statement_timeout = 0"))
        for statement in statements:
            db.session.execute(sa.text(statement), {**params, "endpoint": endpoint, "other": other})
        db.session.commit()
        return company.id, key, endpoint


def timed(client, url: str, headers: dict, repeat: int) -> tuple[float, dict]:
    """p50 wall time (ms) of ``repeat`` GETs, and the last answer."""
    times, body = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        response = client.get(url, headers=headers)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
    return statistics.median(times), body


def explain(app, company_id: int, endpoint_id: int) -> None:
    """EXPLAIN ANALYZE of the first page's delivery statement."""
    from app.events import queries
    from app.extensions import db
    from app.models import WebhookDelivery

    with app.app_context():
        query = (
            queries._deliveries(company_id, endpoint_id)
            .order_by(WebhookDelivery.id.desc())
            .limit(26)
            .compile(db.engine, compile_kwargs={"literal_binds": True})
        )
        for line in db.session.execute(sa.text(f"EXPLAIN (ANALYZE, BUFFERS) {query}")):
            print("   ", line[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--deliveries", type=int, default=200_000)
    parser.add_argument("--attempts", type=int, default=3)
    parser.add_argument("--failed-every", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args()

    from alembic import command
    from alembic.config import Config

    from app import create_app

    root = Path(__file__).resolve().parent.parent
    config = Config(str(root / "alembic.ini"))
    config.attributes["configure_logger"] = False
    config.set_main_option("sqlalchemy.url", args.database_url)
    command.upgrade(config, "head")
    app = create_app({"SQLALCHEMY_DATABASE_URI": args.database_url})

    start = time.perf_counter()
    company_id, key, endpoint = build(app, args.deliveries, args.attempts, args.failed_every)
    print(
        f"built {args.deliveries:,} deliveries x {args.attempts} attempts for the endpoint "
        f"(and as many for another) in {time.perf_counter() - start:.1f} s"
    )
    client = app.test_client()
    headers = {"Authorization": f"Bearer {key}"}
    base = f"/api/webhooks/{endpoint}/deliveries"
    first_ms, first = timed(client, f"{base}?limit=25", headers, args.requests)
    assert len(first["deliveries"]) == 25 and len(first["deliveries"][0]["attempts"]) == (
        args.attempts
    )
    # a cursor near the oldest end: the page reads the same number of rows
    with app.app_context():
        from app.events import queries
        from app.extensions import db

        oldest = db.session.scalar(
            sa.text(
                "SELECT id FROM webhook_deliveries WHERE company_id = :c AND endpoint_id = :e "
                "ORDER BY id OFFSET 30 LIMIT 1"
            ),
            {"c": company_id, "e": endpoint},
        )
        cursor = queries.encode_cursor(oldest)
    deep_ms, deep = timed(client, f"{base}?limit=25&cursor={cursor}", headers, args.requests)
    assert len(deep["deliveries"]) == 25
    failed_ms, failed = timed(client, f"{base}?status=failed&limit=25", headers, args.requests)
    events_ms, _ = timed(client, "/api/events?limit=50", headers, args.requests)
    print("| request | p50 ms |")
    print("| --- | --- |")
    print(f"| first page (25 deliveries, {args.attempts} attempts each) | {first_ms:.1f} |")
    print(f"| a page at the oldest end (cursor) | {deep_ms:.1f} |")
    print(
        f"| status=failed (1 in {args.failed_every}; {len(failed['deliveries'])} on the page) "
        f"| {failed_ms:.1f} |"
    )
    print(f"| /api/events first page (50) | {events_ms:.1f} |")
    print("\nEXPLAIN (ANALYZE, BUFFERS) of the first page's delivery statement:")
    explain(app, company_id, endpoint)


if __name__ == "__main__":
    main()
