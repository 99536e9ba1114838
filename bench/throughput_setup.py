"""Set up a tenant for bench/throughput.sh over the API and write the request bodies.

    python bench/throughput_setup.py --url URL --admin-token TOKEN --out DIR [--spread 200]

Creates a company, a warehouse, one hot product and ``--spread`` products, each with
plenty of stock, then writes into DIR: ``env`` (shell assignments: API_KEY,
COMPANY_ID, WAREHOUSE_ID, HOT_PRODUCT_ID, PRODUCT_IDS, PRODUCT_FIRST, PRODUCT_LAST),
``sale.json`` (one unit of the hot product), ``batch.json`` (1,000 one-unit sales
spread over the products) and ``import_1.csv``, ``import_2.csv``, ... (``--import-rows``
new products with opening stock, 10,000 a file: the import's limit per request).
Stdlib only; loopback targets only.
"""

from __future__ import annotations

import argparse
import csv
import http.client
import json
import pathlib
import urllib.parse

STOCK = 10_000_000  # enough that no benchmark run sells out
IMPORT_ROWS_PER_REQUEST = 10_000


def call(conn, method, path, body, token):
    conn.request(
        method,
        path,
        body=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    response = conn.getresponse()
    data = json.loads(response.read() or b"null")
    if response.status >= 300:
        raise SystemExit(f"{method} {path}: {response.status} {data}")
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--admin-token", required=True)
    parser.add_argument("--out", required=True, type=pathlib.Path)
    parser.add_argument("--spread", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--import-rows", type=int, default=20_000)
    args = parser.parse_args()
    url = urllib.parse.urlsplit(args.url)
    assert url.hostname in ("127.0.0.1", "localhost", "::1"), "loopback only"
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)

    company = call(conn, "POST", "/api/companies", {"name": "Throughput"}, args.admin_token)
    key = company["api_key"]
    warehouse = call(conn, "POST", "/api/warehouses", {"name": "Bench"}, key)["id"]
    ids = []
    for i in range(args.spread + 1):
        product = call(
            conn,
            "POST",
            "/api/products",
            {
                "name": f"Bench {i}",
                "sku": f"BENCH-{i}",
                "price": "1.00",
                "warehouse_id": warehouse,
                "initial_quantity": STOCK,
            },
            key,
        )
        ids.append(product["id"])
    hot, spread = ids[0], ids[1:]

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    env = {
        "API_KEY": key,
        "COMPANY_ID": company["id"],
        "WAREHOUSE_ID": warehouse,
        "HOT_PRODUCT_ID": hot,
        "PRODUCT_IDS": ",".join(map(str, spread)),
        "PRODUCT_FIRST": min(spread),
        "PRODUCT_LAST": max(spread),
    }
    (out / "env").write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    (out / "sale.json").write_text(
        json.dumps({"product_id": hot, "warehouse_id": warehouse, "quantity": 1})
    )
    operations = [
        {
            "type": "sale",
            "product_id": spread[i % len(spread)],
            "warehouse_id": warehouse,
            "quantity": 1,
        }
        for i in range(args.batch_size)
    ]
    (out / "batch.json").write_text(json.dumps({"operations": operations}))
    # POST /api/products/import takes up to 10,000 rows a request: one file per request
    for part, start in enumerate(range(0, args.import_rows, IMPORT_ROWS_PER_REQUEST), 1):
        with open(out / f"import_{part}.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["sku", "name", "price", "product_type", "warehouse_id", "quantity"])
            for i in range(start, min(start + IMPORT_ROWS_PER_REQUEST, args.import_rows)):
                writer.writerow([f"IMP-{i}", f"Imported {i}", "4.50", "regular", warehouse, 100])


if __name__ == "__main__":
    main()
