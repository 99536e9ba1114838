"""Latency of one GET of one product, in process (no HTTP server), on the database given.

    python bench/get_latency.py DATABASE_URL [REQUESTS]

The database must be migrated (and, on a Citus coordinator, distributed). The script
creates a company with a warehouse and a stocked product, then times REQUESTS (default
2000) ``GET /api/products/<id>`` with the company's key, after 200 warm-up requests:
the key lookup, the product, its stock, every statement of one request.

On a Citus coordinator it also times the key lookup alone two ways: on ``api_keys``, a
reference table (the layout in use: one local index probe), and on a throwaway copy of
it distributed by ``company_id`` (layout B: the lookup by prefix has no company_id, so
it queries every shard). The copy is dropped afterwards.
"""

from __future__ import annotations

import sys
import time
import uuid

import sqlalchemy as sa

ADMIN = "bench-admin-token-" + uuid.uuid4().hex


def percentiles(samples: list[float]) -> str:
    """p50 / p95 / p99 in milliseconds."""
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
    return f"p50 {pick(0.50):.2f} ms  p95 {pick(0.95):.2f} ms  p99 {pick(0.99):.2f} ms"


def timed(call, n: int) -> list[float]:
    """Run ``call`` n times; the duration of each, in seconds."""
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return samples


def main(url: str, n: int) -> None:
    """Set up a company and measure."""
    sys.path.insert(0, ".")
    from app import create_app
    from app.config import normalize_url
    from app.extensions import db

    url = normalize_url(url)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "STOCKFLOW_ADMIN_TOKEN": ADMIN})
    client = app.test_client()
    company = client.post(
        "/api/companies",
        json={"name": f"Bench {uuid.uuid4().hex[:6]}"},
        headers={"Authorization": f"Bearer {ADMIN}"},
    ).json
    headers = {"Authorization": f"Bearer {company['api_key']}"}
    warehouse = client.post("/api/warehouses", json={"name": "W"}, headers=headers).json
    product = client.post(
        "/api/products",
        json={
            "name": "P",
            "sku": uuid.uuid4().hex[:8],
            "price": "1.00",
            "warehouse_id": warehouse["id"],
            "initial_quantity": 10,
        },
        headers=headers,
    ).json
    path = f"/api/products/{product['id']}"

    def get():
        response = client.get(path, headers=headers)
        assert response.status_code == 200, response.json

    timed(get, 200)
    print(f"GET {path} x{n}: {percentiles(timed(get, n))}")

    with app.app_context(), db.engine.connect() as connection:
        citus = connection.scalar(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'citus'"))
        if not citus:
            return
        prefix = company["api_key"].split("_")[1]
        lookup = "SELECT company_id, key_hash FROM {} WHERE prefix = :p AND revoked_at IS NULL"
        connection.execute(sa.text("DROP TABLE IF EXISTS api_keys_layout_b"))
        connection.execute(sa.text("CREATE TABLE api_keys_layout_b (LIKE api_keys)"))
        connection.execute(
            sa.text("SELECT create_distributed_table('api_keys_layout_b', 'company_id')")
        )
        connection.execute(sa.text("INSERT INTO api_keys_layout_b SELECT * FROM api_keys"))
        connection.execute(sa.text("CREATE INDEX ON api_keys_layout_b (company_id, prefix)"))
        connection.commit()
        for table, label in (
            ("api_keys", "reference table (layout A)"),
            ("api_keys_layout_b", "distributed by company_id (layout B)"),
        ):
            query = sa.text(lookup.format(table))

            def probe(query=query):
                assert connection.execute(query, {"p": prefix}).first() is not None
                connection.commit()

            timed(probe, 200)
            print(f"key lookup, {label} x{n}: {percentiles(timed(probe, n))}")
        connection.execute(sa.text("DROP TABLE api_keys_layout_b"))
        connection.commit()
    with app.app_context():
        db.engine.dispose()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 2000)
