"""Drive sales against a running StockFlow and report throughput and latency.

    python bench/sell_load.py --url http://127.0.0.1:8000 --admin-token TOKEN \
        --threads 16 --duration 20

It creates its own company, warehouse and a product with plenty of stock (over the
API), then every thread sells 1 unit in a loop on a keep-alive connection until
the time is up. Prints requests/s and p50/p99 latency, then checks that the stock
level equals the opening stock minus the successful sales. Stdlib only; loopback
targets only.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import threading
import time
import urllib.parse


def request(conn, method, path, body=None, headers=None):
    """One JSON request on a kept-alive connection; returns (status, body)."""
    payload = json.dumps(body).encode() if body is not None else None
    conn.request(
        method, path, body=payload, headers={"Content-Type": "application/json", **(headers or {})}
    )
    response = conn.getresponse()
    data = response.read()
    return response.status, (json.loads(data) if data else None)


def setup(host, port, admin_token, opening_stock):
    """A fresh company with one warehouse and one well-stocked product."""
    conn = http.client.HTTPConnection(host, port, timeout=10)
    status, company = request(
        conn,
        "POST",
        "/api/companies",
        {"name": f"bench {time.time():.0f}"},
        {"Authorization": f"Bearer {admin_token}"},
    )
    assert status == 201, company
    auth = {"Authorization": f"Bearer {company['api_key']}"}
    _, warehouse = request(conn, "POST", "/api/warehouses", {"name": "Bench"}, auth)
    _, product = request(
        conn,
        "POST",
        "/api/products",
        {
            "name": "Bench item",
            "sku": "BENCH-1",
            "price": "1.00",
            "warehouse_id": warehouse["id"],
            "initial_quantity": opening_stock,
        },
        auth,
    )
    conn.close()
    return auth, warehouse["id"], product["id"]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--admin-token", required=True)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds")
    parser.add_argument("--opening-stock", type=int, default=10_000_000)
    args = parser.parse_args()

    url = urllib.parse.urlsplit(args.url)
    if url.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("load is only ever sent to loopback")
    host, port = url.hostname, url.port or 80
    auth, warehouse_id, product_id = setup(host, port, args.admin_token, args.opening_stock)
    body = {"product_id": product_id, "warehouse_id": warehouse_id, "quantity": 1}

    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    deadline = time.monotonic() + args.duration

    def worker():
        conn = http.client.HTTPConnection(host, port, timeout=30)
        mine, codes = [], {}
        while time.monotonic() < deadline:
            start = time.perf_counter()
            status, _ = request(conn, "POST", "/api/stock/sales", body, auth)
            mine.append(time.perf_counter() - start)
            codes[status] = codes.get(status, 0) + 1
        conn.close()
        with lock:
            latencies.extend(mine)
            for code, n in codes.items():
                statuses[code] = statuses.get(code, 0) + n

    threads = [threading.Thread(target=worker) for _ in range(args.threads)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started

    conn = http.client.HTTPConnection(host, port, timeout=10)
    _, stock = request(conn, "GET", f"/api/products/{product_id}/stock", headers=auth)
    sold = statuses.get(201, 0)
    consistent = stock["total_quantity"] == args.opening_stock - sold
    cuts = statistics.quantiles(latencies, n=100)
    print(
        f"threads={args.threads} duration={elapsed:.1f}s requests={len(latencies)} "
        f"statuses={statuses}"
    )
    print(
        f"throughput={len(latencies) / elapsed:.0f} req/s  p50={cuts[49] * 1000:.1f} ms  "
        f"p99={cuts[98] * 1000:.1f} ms"
    )
    print(
        f"stock after={stock['total_quantity']} expected={args.opening_stock - sold} "
        f"consistent={consistent}"
    )
    if not consistent or set(statuses) != {201}:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
