"""The Python cost of one request, in process (Flask's test client, no HTTP server).

    python bench/profile_inprocess.py DATABASE_URL [sale|create_product|health|batch|import] [N]

On a migrated, empty-enough PostgreSQL database (or SQLite URL): sets up a company,
a warehouse and a product over the API, runs the request N times (default 2000),
prints the CPU microseconds per request, then cProfile's top functions of another
N/4 requests. ``batch`` is bench/throughput.sh's batch (1,000 one-unit sales over 200
products), ``import`` its import request (10,000 new products with opening stock, as
CSV): give them a small N (e.g. 20 and 4); the wall time per request is printed too.
The CPU of gunicorn's HTTP handling is not in it; the database's work is not either
(only this process's). GC_FREEZE=1 freezes the heap after the setup, as
gunicorn.conf.py's post_worker_init does.
"""

from __future__ import annotations

import cProfile
import gc
import os
import pstats
import sys
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from app import create_app  # noqa: E402


def main() -> None:
    url, kind = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "sale"
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
    token = "inproc-" + uuid.uuid4().hex
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "STOCKFLOW_ADMIN_TOKEN": token})
    client = app.test_client()
    admin = {"Authorization": f"Bearer {token}"}
    company = client.post("/api/companies", json={"name": "Profile"}, headers=admin).json
    headers = {"Authorization": f"Bearer {company['api_key']}"}
    warehouse = client.post("/api/warehouses", json={"name": "W"}, headers=headers).json["id"]

    def stocked_product(name: str) -> int:
        return client.post(
            "/api/products",
            json={
                "name": name,
                "sku": uuid.uuid4().hex,
                "price": "1.00",
                "warehouse_id": warehouse,
                "initial_quantity": 10_000_000,
            },
            headers=headers,
        ).json["id"]

    product = stocked_product("P")
    counter = iter(range(10**9))
    if kind == "batch":
        spread = [stocked_product(f"B{i}") for i in range(200)]
        batch = {
            "operations": [
                {
                    "type": "sale",
                    "product_id": spread[i % 200],
                    "warehouse_id": warehouse,
                    "quantity": 1,
                }
                for i in range(1000)
            ]
        }
    csv_headers = {**headers, "Content-Type": "text/csv"}

    def import_body() -> bytes:
        start = next(counter) * 10_000
        lines = ["sku,name,price,product_type,warehouse_id,quantity"]
        lines += [
            f"IMP-{i},Imported {i},4.50,regular,{warehouse},100"
            for i in range(start, start + 10_000)
        ]
        return ("\n".join(lines) + "\n").encode()

    def one():
        if kind == "sale":
            body = {"product_id": product, "warehouse_id": warehouse, "quantity": 1}
            response = client.post("/api/stock/sales", json=body, headers=headers)
        elif kind == "create_product":
            body = {"name": "Bench product", "sku": f"p-{next(counter)}", "price": "9.99"}
            response = client.post("/api/products", json=body, headers=headers)
        elif kind == "batch":
            response = client.post("/api/stock/batch", json=batch, headers=headers)
        elif kind == "import":
            response = client.post("/api/products/import", data=import_body(), headers=csv_headers)
        else:
            response = client.get("/health")
        assert response.status_code < 300, response.data

    if os.environ.get("GC_FREEZE") == "1":
        gc.freeze()
    for _ in range(100 if kind not in ("batch", "import") else 2):
        one()
    started, wall = time.process_time(), time.perf_counter()
    for _ in range(n):
        one()
    print(
        f"{kind}: {1e6 * (time.process_time() - started) / n:.0f} us CPU per request, "
        f"{1e3 * (time.perf_counter() - wall) / n:.1f} ms wall"
    )
    profile = cProfile.Profile(time.process_time)  # CPU, not waits on the database
    profile.enable()
    for _ in range(max(1, n // 4)):
        one()
    profile.disable()
    stats = pstats.Stats(profile).sort_stats(os.environ.get("SORT", "tottime"))
    stats.print_stats(int(os.environ.get("TOP", "45")))
    if os.environ.get("CALLERS"):
        stats.print_callers(os.environ["CALLERS"])


if __name__ == "__main__":
    main()
