"""The figures of issue 12 on one database: first page, every alert, the best single SQL
statement, the per-row loop, and 304 polls while other products are being sold.

    python bench/alerts_figures.py --url http://127.0.0.1:8000 --company-id 1 \
        --api-key sf_... --database-url postgresql://postgres@127.0.0.1/DB [--requests 30]

Prints a markdown table. Timings through HTTP are wall times on a kept-alive
connection (p50 of ``--requests`` for the small ones, best of 3 for the big ones);
the SQL figures are ``psycopg2`` wall times of the statement alone (best of 3).
Stdlib and psycopg2 only; loopback targets only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import psycopg2

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ALERTS = "/api/companies/{company}/alerts/low-stock"


def get(conn, path, headers) -> tuple[int, bytes, dict]:
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    body = response.read()
    return response.status, body, {k.lower(): v for k, v in response.getheaders()}


def timed(fn, repeat: int) -> list[float]:
    """Wall times (ms) of ``repeat`` calls."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return times


def sql_statements(company_id: int):
    """The full-set statements: the ledger path's (today's before issue 12) and the kept
    state's, with every row in one answer."""
    from app.alerts import queries

    def literal(sql: str) -> tuple[str, dict]:
        today = dt.datetime.now(dt.UTC).date()
        args = {"days": 30, "page": 1, "page_size": queries.EVERY_ROW}
        parameters = queries._parameters(company_id, args, today)
        text = queries.for_database(sql).replace(":since", "%(since)s")
        names = ("company_id", "days", "warehouse_id", "product_type", "limit", "offset")
        names += ("now", "today_day", "include_acknowledged", "supplier_id")
        for name in names:
            text = text.replace(f":{name}", f"%({name})s")
        return text, parameters

    return {
        "raw SQL, from the ledger (one statement, every alert)": literal(queries.LOW_STOCK_SQL),
        "raw SQL, from the kept state (one statement, every alert)": literal(queries.STATE_SQL),
    }


def per_row_loop(cursor, company_id: int, since) -> int:
    """The naive algorithm: for every inventory row, its threshold, then its sales, then
    its supplier, one query each (what the first version of the endpoint did)."""
    cursor.execute(
        "SELECT i.product_id, i.warehouse_id, i.quantity, p.product_type, p.low_stock_threshold"
        " FROM inventory i JOIN products p ON p.company_id = i.company_id AND p.id = i.product_id"
        " JOIN warehouses w ON w.company_id = i.company_id AND w.id = i.warehouse_id"
        " WHERE i.company_id = %s AND p.archived_at IS NULL AND NOT p.is_bundle"
        " AND w.archived_at IS NULL",
        (company_id,),
    )
    defaults = {"fast_moving": 20, "regular": 10, "slow_moving": 5}
    alerts = 0
    for product_id, warehouse_id, quantity, product_type, product_threshold in cursor.fetchall():
        cursor.execute(
            "SELECT threshold FROM reorder_rules WHERE company_id = %s AND product_id = %s"
            " AND warehouse_id = %s",
            (company_id, product_id, warehouse_id),
        )
        rule = cursor.fetchone()
        threshold = rule[0] if rule else product_threshold
        if threshold is None:
            cursor.execute(
                "SELECT low_stock_threshold FROM product_type_thresholds"
                " WHERE company_id = %s AND product_type = %s",
                (company_id, product_type),
            )
            typed = cursor.fetchone()
            threshold = typed[0] if typed else defaults.get(product_type, 10)
        if quantity >= threshold:
            continue
        cursor.execute(
            "SELECT COALESCE(-SUM(quantity_change), 0) FROM inventory_ledger WHERE company_id = %s"
            " AND product_id = %s AND warehouse_id = %s AND reason = 'sale'"
            " AND occurred_at >= %s",
            (company_id, product_id, warehouse_id, since),
        )
        if not cursor.fetchone()[0]:
            continue
        cursor.execute(
            "SELECT sp.supplier_id FROM supplier_products sp JOIN suppliers s"
            " ON s.company_id = sp.company_id AND s.id = sp.supplier_id"
            " WHERE sp.company_id = %s AND sp.product_id = %s AND s.archived_at IS NULL"
            " ORDER BY sp.is_preferred DESC, sp.cost_price ASC NULLS LAST, s.id LIMIT 1",
            (company_id, product_id),
        )
        cursor.fetchone()
        alerts += 1
    return alerts


def in_process_pages(args, first: dict, supplier: int | None):
    """Times (ms) of the first page computed by ``app.alerts.queries`` in this process,
    for the default query and a few filters (the maintained path)."""
    from app import create_app
    from app.alerts import queries
    from app.extensions import db

    url = args.database_url.replace("postgresql://", "postgresql+psycopg2://", 1)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    filters = [("", {}), (" ?covered=false", {"covered": False})]
    filters.append(
        (f" ?warehouse_id={first['warehouse_id']}", {"warehouse_id": first["warehouse_id"]})
    )
    if supplier is not None:
        filters.append((f" ?supplier_id={supplier}", {"supplier_id": supplier}))
    with app.app_context():
        today = dt.datetime.now(dt.UTC).date()
        for name, extra in filters:
            page = {"days": 30, "page": 1, "page_size": 100, **extra}

            def compute(page=page):
                queries.low_stock_alerts(args.company_id, page, today, maintained=True)
                db.session.rollback()

            compute()
            yield name, timed(compute, 25)
        db.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--company-id", type=int, required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--skip-loop", action="store_true", help="skip the slow per-row loop")
    args = parser.parse_args()
    url = urllib.parse.urlsplit(args.url)
    if url.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("load is only ever sent to loopback")
    host, port = url.hostname, url.port or 80
    path = ALERTS.format(company=args.company_id)
    auth = {"Authorization": f"Bearer {args.api_key}"}
    conn = http.client.HTTPConnection(host, port, timeout=300)
    rows = []

    def row(name, ms, note=""):
        rows.append((name, ms, note))
        print(f"  {name}: {ms:.1f} ms {note}", flush=True)

    status, body, _ = get(conn, path, auth)
    total = json.loads(body)["total_alerts"]
    print(f"total_alerts={total}", flush=True)
    # (1) the first page of the default query, and with each filter
    first = json.loads(body)["alerts"][0]
    supplier = first["supplier"]["id"] if first["supplier"] else None
    variants = ["", "?warehouse_id=", "?product_type=regular", "?covered=false", "?days=7"]
    if supplier is not None:
        variants.insert(3, f"?supplier_id={supplier}")
    for query in variants:
        if query == "?warehouse_id=":
            query += str(first["warehouse_id"])
        times = timed(lambda q=query: get(conn, path + q, auth), args.requests)
        row(f"first page{(' ' + query) if query else ''} (HTTP, p50)", statistics.median(times))
    # (1b) the same first pages in-process: the statement(s) and the derivation, no
    # HTTP (what the machine's load inflates least)
    for name, extra in in_process_pages(args, first, supplier):
        row(f"first page{name} in-process (median of 25)", statistics.median(extra))
    # (2) every alert: all pages of 1000, one CSV export
    pages = -(-total // 1000)

    def all_pages():
        for page in range(1, pages + 1):
            status, _, _ = get(conn, f"{path}?page_size=1000&page={page}", auth)
            assert status == 200

    row(f"every alert, {pages} pages of 1000 (HTTP, best of 3)", min(timed(all_pages, 3)))
    csv_size = []

    def export():
        status, data, _ = get(conn, f"{path}?format=csv", auth)
        assert status == 200
        csv_size.append(data.count(b"\n") - 1)

    row("every alert, CSV export (HTTP, best of 3)", min(timed(export, 3)), f"{csv_size[-1]} rows")
    # (3) the best single SQL statement computing the full set
    db = psycopg2.connect(args.database_url)
    db.autocommit = True
    cursor = db.cursor()
    cursor.execute("SET jit = off")
    for name, (sql, parameters) in sql_statements(args.company_id).items():
        run = lambda s=sql, p=parameters: cursor.execute(s, p)  # noqa: E731
        row(f"{name} (best of 3)", min(timed(run, 3)))
    # (3b) the ratio the issue names, from pairs taken one right after the other (the
    # machine is shared: figures taken a minute apart see different loads)
    kept = run  # the kept state's statement, the last of sql_statements
    pairs = [(timed(export, 1)[0], timed(kept, 1)[0]) for _ in range(9)]
    csv_ms, sql_ms = (statistics.median(side) for side in zip(*pairs, strict=True))
    row(
        "every alert, CSV export, interleaved with the kept state's statement (median of 9)",
        csv_ms,
        f"statement {sql_ms:.1f} ms: {csv_ms / sql_ms:.2f}x",
    )
    # (4) the per-row loop
    if not args.skip_loop:
        from app.models import window_start

        since = window_start(dt.datetime.now(dt.UTC).date())
        found = []
        times = timed(lambda: found.append(per_row_loop(cursor, args.company_id, since)), 1)
        row("per-row loop (psycopg2, one run)", times[0], f"{found[0]} alerts")
    # (5) polls while other products of the tenant are being sold
    cursor.execute(
        "SELECT i.product_id, i.warehouse_id FROM inventory i JOIN products p"
        " ON p.company_id = i.company_id AND p.id = i.product_id"
        " WHERE i.company_id = %s AND NOT p.is_bundle AND p.archived_at IS NULL"
        " ORDER BY i.quantity - i.alert_threshold DESC LIMIT 50",
        (args.company_id,),
    )
    far_above = cursor.fetchall()
    conn.close()  # idle through the loop: the server may have closed it
    conn = http.client.HTTPConnection(host, port, timeout=300)
    status, _, headers = get(conn, path, auth)
    etag = headers["etag"]

    def polls_while_selling(rows, polled_path, polled_etag, seconds=5):
        """p50 of 304 polls of ``polled_path`` (one connection, one after the other, as
        a dashboard polls) while another connection sells ``rows`` one unit at a time
        and takes each unit back as a return (so the levels stay put), back to back:
        both driven by wrk (a C client in processes of its own: Python client threads
        would take the GIL from each other and the server's CPU). Returns the p50
        (ms), the answers that were not 304, and the stock changes made."""
        env = {
            **os.environ,
            "API_KEY": args.api_key,
            "ETAG": polled_etag,
            "ROWS": ",".join(f"{p}:{w}" for p, w in rows or []),
        }
        base = f"http://{host}:{port}"
        seller = None
        if rows:
            seller = subprocess.Popen(
                ["wrk", "-t1", "-c1", f"-d{seconds + 2}s", "-s", "bench/wrk/sell_rows.lua", base],
                env=env,
                stdout=subprocess.PIPE,
                text=True,
            )
        try:
            time.sleep(0.5)
            polled = subprocess.run(
                [
                    "wrk",
                    "-t1",
                    "-c1",
                    f"-d{seconds}s",
                    "--latency",
                    "-s",
                    "bench/wrk/poll.lua",
                    base + polled_path,
                ],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        finally:
            sold_out = seller.communicate()[0] if seller else "0 requests in"
            # wrk stops on time, not on an answer: let the server finish (and commit)
            # the sale in flight before the next figure reads an ETag
            time.sleep(1)
        assert seller is None or "not_201=0" in sold_out, sold_out
        p50 = re.search(r"^\s+50%\s+([\d.]+)(us|ms|s)$", polled, re.M)
        scale = {"us": 0.001, "ms": 1, "s": 1000}[p50.group(2)]
        sold = int(re.search(r"(\d+) requests in", sold_out).group(1))
        not_304 = int(re.search(r"not_304=(\d+)", polled).group(1))
        return float(p50.group(1)) * scale, not_304, sold

    p50, not_304, sold = polls_while_selling(far_above, path, etag)
    row(
        "poll while other products sell (HTTP, wrk p50)",
        p50,
        f"{not_304} answers not 304, {sold} sales and returns meanwhile (wrk, one connection)",
    )
    # a warehouse's poll while low products of warehouses of other groups sell
    warehouse = first["warehouse_id"]
    cursor.execute(
        "SELECT i.product_id, i.warehouse_id FROM inventory i JOIN products p"
        " ON p.company_id = i.company_id AND p.id = i.product_id"
        " WHERE i.company_id = %s AND NOT p.is_bundle AND p.archived_at IS NULL"
        " AND i.quantity < i.alert_threshold AND i.window_sales > 0 AND i.quantity >= 5"
        " AND i.warehouse_id %% 4 <> %s %% 4 ORDER BY i.quantity DESC LIMIT 50",
        (args.company_id, warehouse),
    )
    low_elsewhere = cursor.fetchall()
    if low_elsewhere:
        scoped = f"{path}?warehouse_id={warehouse}"
        conn = http.client.HTTPConnection(host, port, timeout=300)  # idle past keep-alive
        status, _, headers = get(conn, scoped, auth)
        p50, not_304, sold = polls_while_selling(low_elsewhere, scoped, headers["etag"])
        row(
            "poll ?warehouse_id= while low products of other warehouses sell (HTTP, wrk p50)",
            p50,
            f"{not_304} answers not 304, {sold} sales and returns meanwhile (wrk, one connection)",
        )
    conn = http.client.HTTPConnection(host, port, timeout=300)
    p50, not_304, _ = polls_while_selling(None, path, get(conn, path, auth)[2]["etag"])
    row("poll, idle (HTTP, wrk p50)", p50, f"{not_304} answers not 304 (wrk, one connection)")
    print()
    print("| figure | ms | note |")
    print("| --- | --- | --- |")
    for name, ms, note in rows:
        print(f"| {name} | {ms:.1f} | {note} |")


if __name__ == "__main__":
    main()
