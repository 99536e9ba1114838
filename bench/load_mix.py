"""A mixed load against a running StockFlow, then the database checks that it left no trace
of a lost, doubled or half-done write.

    python bench/load_mix.py --url http://127.0.0.1:8000 --admin-token TOKEN \
        --database-url postgresql://postgres@127.0.0.1/DB --clients 32 --duration 20
    python bench/load_mix.py ... --duration 60 --sigterm-after 8 --server-pid PID

Over the API it first creates a company with warehouses, suppliers and products with
opening stock. Then every client thread, on its own keep-alive connection, picks
operations at random (``--mix``, weights): create a product (with opening stock), sell,
transfer between warehouses, receive goods, and poll the low-stock alerts with
``If-None-Match`` (as a dashboard does), until the time is up. Every mutating request
carries an ``Idempotency-Key``; a request whose connection broke before a response is
sent again with the same key on a new connection (at most 3 attempts), which is safe.

Outcomes per operation: 2xx, 409 ``insufficient-stock`` (a legitimate answer to a sale or
transfer of more than is there), 304 (a poll whose answer did not change), 5xx,
connection errors, anything else. Prints requests/s and p50/p99 latency per operation.

Then it checks the database (psycopg2, ``--database-url``):

- every inventory row of the company equals the sum of its ledger rows, and its last
  ledger row's ``quantity_after``; no stock is negative;
- every acknowledged (2xx) write is there: each created product (id and SKU), each
  ledger row a sale, transfer or receipt answered with (id, operation, product,
  warehouse, change), and its idempotency key with the 2xx status;
- nothing was written that was not acknowledged: the company's idempotency keys of the
  load are exactly the acknowledged ones (a request whose connection broke and that was
  committed anyway would show up here, or as a replay on its retry);
- no 5xx, no unexpected status, no connection error.

With ``--sigterm-after S --server-pid PID`` it sends SIGTERM to the gunicorn master S
seconds into the load, and the clients carry on until connections are refused. Then a
request may also end cleanly with a 503, or with its connection closed or reset before a
response, after the SIGTERM (not before); it must never be a 500, and everything above
still holds: every 2xx is in the database. It reports how long the server took to exit.

Exits non-zero when a check fails. Stdlib only (psycopg2 for the checks, imported when
they run); loopback targets only. ``bash bench/load_bench.sh`` runs it against a fresh
server and database; ``tests/test_graceful_shutdown.py`` uses its functions for a small
SIGTERM test in the suite.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import random
import signal
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field

OPERATIONS = ("create_product", "sell", "transfer", "receive", "poll_alerts")
DEFAULT_MIX = "create_product=5,sell=40,transfer=20,receive=10,poll_alerts=25"
# statuses that are a correct answer to each operation
EXPECTED = {
    "create_product": {201},
    "sell": {201, 409},
    "transfer": {201, 409},
    "receive": {201},
    "poll_alerts": {200, 304},
}
INSUFFICIENT_STOCK = "urn:stockflow:problem:insufficient-stock"
MAX_ATTEMPTS = 3
LOOPBACK = ("127.0.0.1", "localhost", "::1")


# ---------------------------------------------------------------- HTTP


@dataclass
class Answer:
    """What one attempt got: a status (and body, headers) or a connection error."""

    status: int | None
    body: object = None
    headers: dict = field(default_factory=dict)
    error: str | None = None  # "refused" (nothing sent) or "dropped" (no response)
    detail: str = ""


class Client:
    """One keep-alive connection, reopened after an error."""

    def __init__(self, host: str, port: int, timeout: float):
        self.host, self.port, self.timeout = host, port, timeout
        self.conn: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def send(self, method: str, path: str, body=None, headers=None) -> Answer:
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        if self.conn.sock is None:
            try:
                self.conn.connect()
            except OSError as error:
                self.close()
                return Answer(None, error="refused", detail=type(error).__name__)
        payload = json.dumps(body).encode() if body is not None else None
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        try:
            self.conn.request(method, path, body=payload, headers=all_headers)
            response = self.conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as error:
            # sent (at least in part), but no complete response: the request may or
            # may not have been processed; its idempotency key tells, afterwards
            self.close()
            return Answer(None, error="dropped", detail=type(error).__name__)
        response_headers = {k.lower(): v for k, v in response.getheaders()}
        if response.will_close:
            self.close()
        try:
            parsed = json.loads(data) if data else None
        except ValueError:
            parsed = data[:200]
        return Answer(response.status, parsed, response_headers)


def call(client: Client, method: str, path: str, body=None, headers=None):
    """A setup request that must succeed with a 2xx."""
    answer = client.send(method, path, body, headers)
    if answer.status is None or answer.status >= 300:
        raise SystemExit(f"setup: {method} {path} -> {answer.status or answer.error}: {answer}")
    return answer.body


# ---------------------------------------------------------------- the company under load


@dataclass
class World:
    """The company the load acts on; products grow as clients create them."""

    company_id: int
    api_key: str
    warehouses: list[int]
    suppliers: list[int]
    products: list[int]
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def auth(self) -> dict:
        return {"Authorization": f"Bearer {self.api_key}"}

    def add_product(self, product_id: int) -> None:
        with self.lock:
            self.products.append(product_id)

    def some_product(self, rng: random.Random) -> int:
        with self.lock:
            return rng.choice(self.products)


def setup(
    host: str,
    port: int,
    admin_token: str,
    warehouses: int = 4,
    suppliers: int = 3,
    products: int = 40,
    seed: int = 1,
) -> World:
    """A fresh company with warehouses, suppliers and stocked products, over the API."""
    rng = random.Random(seed)
    client = Client(host, port, timeout=30)
    try:
        company = call(
            client,
            "POST",
            "/api/companies",
            {"name": f"load {uuid.uuid4().hex[:8]}"},
            {"Authorization": f"Bearer {admin_token}"},
        )
        auth = {"Authorization": f"Bearer {company['api_key']}"}
        warehouse_ids = [
            call(client, "POST", "/api/warehouses", {"name": f"WH {i}"}, auth)["id"]
            for i in range(warehouses)
        ]
        supplier_ids = [
            call(
                client,
                "POST",
                "/api/suppliers",
                {"name": f"Supplier {i}", "contact_email": f"orders{i}@example.com"},
                auth,
            )["id"]
            for i in range(suppliers)
        ]
        product_ids = []
        for i in range(products):
            body = {
                "name": f"Item {i}",
                "sku": f"SETUP-{i}",
                "price": f"{rng.randint(1, 9999) / 100:.2f}",
                "product_type": rng.choice(["regular", "fast_moving", "slow_moving"]),
                "initial_stock": [
                    {"warehouse_id": w, "quantity": rng.randint(5, 60)} for w in warehouse_ids
                ],
            }
            product = call(client, "POST", "/api/products", body, auth)
            product_ids.append(product["id"])
            if supplier_ids:
                call(
                    client,
                    "POST",
                    f"/api/products/{product['id']}/suppliers",
                    {
                        "supplier_id": rng.choice(supplier_ids),
                        "cost_price": f"{rng.randint(1, 500) / 100:.2f}",
                        "lead_time_days": rng.randint(1, 14),
                        "is_preferred": True,
                    },
                    auth,
                )
    finally:
        client.close()
    return World(company["id"], company["api_key"], warehouse_ids, supplier_ids, product_ids)


# ---------------------------------------------------------------- the load


@dataclass
class Record:
    """One attempt of one operation."""

    op: str
    ended: float  # time.monotonic() when the answer (or the error) came
    latency: float  # seconds
    status: int | None
    error: str | None = None
    detail: str = ""
    key: str | None = None
    problem_type: str | None = None
    replayed: bool = False


@dataclass
class Ack:
    """A write the server acknowledged with a 2xx: what must be in the database."""

    op: str
    key: str
    status: int
    product: tuple[int, str] | None = None  # (id, sku)
    entries: list[tuple] = field(default_factory=list)  # (id, op id, product, wh, change)


@dataclass
class Run:
    records: list[Record] = field(default_factory=list)
    acks: list[Ack] = field(default_factory=list)
    started: float = 0.0
    elapsed: float = 0.0
    sigterm_at: float | None = None  # time.monotonic() when SIGTERM was sent
    key_prefix: str = ""


def parse_mix(text: str) -> dict[str, float]:
    mix = {}
    for part in text.split(","):
        name, _, weight = part.partition("=")
        if name.strip() not in OPERATIONS:
            raise SystemExit(f"--mix: unknown operation {name!r} (known: {OPERATIONS})")
        mix[name.strip()] = float(weight)
    return mix


def _request_for(op: str, world: World, rng: random.Random, key: str, etag: str | None):
    """(method, path, body, extra headers) for one operation."""
    if op == "poll_alerts":
        headers = {"If-None-Match": etag} if etag else {}
        return "GET", f"/api/companies/{world.company_id}/alerts/low-stock", None, headers
    headers = {"Idempotency-Key": key}
    if op == "create_product":
        stocked = rng.sample(world.warehouses, rng.randint(1, min(2, len(world.warehouses))))
        body = {
            "name": f"Load item {key}",
            "sku": f"LOAD-{key}",
            "price": f"{rng.randint(1, 9999) / 100:.2f}",
            "product_type": rng.choice(["regular", "fast_moving", "slow_moving"]),
            "initial_stock": [{"warehouse_id": w, "quantity": rng.randint(0, 30)} for w in stocked],
        }
        return "POST", "/api/products", body, headers
    product_id = world.some_product(rng)
    if op == "sell":
        body = {
            "product_id": product_id,
            "warehouse_id": rng.choice(world.warehouses),
            "quantity": rng.randint(1, 4),
            "reference": f"order {key}",
        }
        return "POST", "/api/stock/sales", body, headers
    if op == "transfer":
        source, target = rng.sample(world.warehouses, 2)
        body = {
            "product_id": product_id,
            "from_warehouse_id": source,
            "to_warehouse_id": target,
            "quantity": rng.randint(1, 6),
        }
        return "POST", "/api/stock/transfers", body, headers
    if op == "receive":
        body = {
            "product_id": product_id,
            "warehouse_id": rng.choice(world.warehouses),
            "quantity": rng.randint(5, 30),
            "unit_cost": f"{rng.randint(1, 500) / 100:.2f}",
        }
        if world.suppliers:
            body["supplier_id"] = rng.choice(world.suppliers)
        return "POST", "/api/stock/receipts", body, headers
    raise ValueError(op)


def ack_of(op: str, key: str, answer: Answer) -> Ack:
    """What a 2xx to ``op`` says must now be in the database."""
    body = answer.body if isinstance(answer.body, dict) else {}
    if op == "create_product":
        return Ack(op, key, answer.status, product=(body.get("id"), body.get("sku")))
    entries = [
        (e["id"], body["operation_id"], e["product_id"], e["warehouse_id"], e["quantity_change"])
        for e in body.get("entries", [])
    ]
    return Ack(op, key, answer.status, entries=entries)


def record_of(op: str, key: str | None, latency: float, answer: Answer) -> Record:
    """The record of one attempt, ended now."""
    problem = answer.body if isinstance(answer.body, dict) else {}
    return Record(
        op,
        ended=time.monotonic(),
        latency=latency,
        status=answer.status,
        error=answer.error,
        detail=answer.detail,
        key=key,
        problem_type=problem.get("type") if (answer.status or 0) >= 400 else None,
        replayed=answer.headers.get("idempotent-replayed") == "true",
    )


def run_load(
    host: str,
    port: int,
    world: World,
    clients: int,
    duration: float,
    mix: dict[str, float],
    seed: int = 1,
    timeout: float = 60.0,
    sigterm_after: float | None = None,
    send_sigterm=None,
    key_prefix: str | None = None,
) -> Run:
    """``clients`` threads for ``duration`` seconds (or until the server refuses them).

    With ``sigterm_after``, ``send_sigterm()`` is called that many seconds in. Every
    Idempotency-Key starts with ``key_prefix`` (default: a random one).
    """
    run = Run(key_prefix=key_prefix or f"load-{uuid.uuid4().hex[:8]}")
    ops, weights = list(mix), list(mix.values())
    lock = threading.Lock()
    run.started = time.monotonic()
    deadline = run.started + duration

    def worker(index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        client = Client(host, port, timeout)
        records, acks, etag, n = [], [], None, 0
        try:
            while time.monotonic() < deadline:
                op = rng.choices(ops, weights)[0]
                n += 1
                key = f"{run.key_prefix}-{index}-{n}"
                method, path, body, extra = _request_for(op, world, rng, key, etag)
                headers = {**world.auth, **extra}
                refused = False
                for _ in range(MAX_ATTEMPTS):
                    start = time.perf_counter()
                    answer = client.send(method, path, body, headers)
                    latency = time.perf_counter() - start
                    mutating_key = key if method == "POST" else None
                    records.append(record_of(op, mutating_key, latency, answer))
                    if answer.error == "refused":
                        refused = True
                        break
                    if answer.error is None:
                        break
                    # dropped before a response: the same key again, on a new connection
                if refused:
                    break  # the server is gone
                if answer.status is None:
                    continue
                if op == "poll_alerts" and answer.status == 200:
                    etag = answer.headers.get("etag")
                elif method == "POST" and 200 <= answer.status < 300:
                    ack = ack_of(op, key, answer)
                    acks.append(ack)
                    if ack.product is not None and ack.product[0]:
                        world.add_product(ack.product[0])
        finally:
            client.close()
            with lock:
                run.records.extend(records)
                run.acks.extend(acks)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    if sigterm_after is not None:
        time.sleep(max(0.0, run.started + sigterm_after - time.monotonic()))
        run.sigterm_at = time.monotonic()
        send_sigterm()
    for thread in threads:
        thread.join()
    run.elapsed = time.monotonic() - run.started
    return run


# ---------------------------------------------------------------- report


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def table(run: Run) -> str:
    """A markdown table: counts, outcomes, requests/s and latency per operation."""
    lines = [
        "| Operation | Requests | 2xx | 409 stock | 304 | 5xx | Conn. errors | Other "
        "| Requests/s | p50 ms | p99 ms |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for op in (*OPERATIONS, "all"):
        records = [r for r in run.records if op in ("all", r.op)]
        if not records:
            continue
        ms = [r.latency * 1000 for r in records if r.status is not None]
        counts = {
            "2xx": sum(1 for r in records if r.status and 200 <= r.status < 300),
            "409": sum(1 for r in records if r.status == 409),
            "304": sum(1 for r in records if r.status == 304),
            "5xx": sum(1 for r in records if r.status and r.status >= 500),
            "conn": sum(1 for r in records if r.status is None),
        }
        other = len(records) - sum(counts.values())
        p50 = f"{percentile(ms, 50):.1f}" if ms else "-"
        p99 = f"{percentile(ms, 99):.1f}" if ms else "-"
        lines.append(
            f"| {op} | {len(records)} | {counts['2xx']} | {counts['409']} | {counts['304']} | "
            f"{counts['5xx']} | {counts['conn']} | {other} | "
            f"{len(records) / run.elapsed:.1f} | {p50} | {p99} |"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------- checks


def plain_dsn(url: str) -> str:
    """A SQLAlchemy URL (``postgresql+psycopg2://...``) as libpq takes it."""
    scheme, sep, rest = url.partition("://")
    if scheme.startswith("postgres"):
        scheme = "postgresql"
    return f"{scheme}{sep}{rest}"


def response_checks(run: Run) -> list[tuple[str, bool, str]]:
    """(check, passed, detail) about what the clients were answered."""

    def after_sigterm(record: Record) -> bool:
        return run.sigterm_at is not None and record.ended >= run.sigterm_at

    server_errors = [r for r in run.records if r.status and r.status >= 500]
    bad_5xx = [r for r in server_errors if not (r.status == 503 and after_sigterm(r))]
    unexpected = [
        r
        for r in run.records
        if r.status is not None
        and r.status < 500
        and (
            r.status not in EXPECTED[r.op]
            or (r.status == 409 and r.problem_type != INSUFFICIENT_STOCK)
        )
    ]
    conn_errors = [r for r in run.records if r.status is None]
    # the time a request was recorded is when it ended: an error after the SIGTERM is a
    # request the stopping server did not take (closed, reset or refused), which is clean
    early_errors = [r for r in conn_errors if not after_sigterm(r)]

    def sample(records):
        return ", ".join(
            f"{r.op} {r.status or r.error} {r.problem_type or r.detail}" for r in records[:5]
        )

    checks = [
        (
            "no 500 (nor any 5xx but a 503 after the SIGTERM)" if run.sigterm_at else "no 5xx",
            not bad_5xx,
            sample(bad_5xx),
        ),
        ("no unexpected status", not unexpected, sample(unexpected)),
        (
            "no connection error" + (" before the SIGTERM" if run.sigterm_at else ""),
            not early_errors,
            sample(early_errors),
        ),
    ]
    replays = [r for r in run.records if r.replayed]
    checks.append(
        (
            "no write committed whose response was lost (replayed on retry)",
            not replays,
            sample(replays),
        )
    )
    return checks


def database_checks(database_url: str, world: World, run: Run) -> list[tuple[str, bool, str]]:
    """(check, passed, detail) about what the database holds after the load."""
    import psycopg2  # only the checks need it

    company = world.company_id
    with psycopg2.connect(plain_dsn(database_url)) as conn, conn.cursor() as cur:
        cur.execute(
            """
            WITH sums AS (
                SELECT product_id, warehouse_id, SUM(quantity_change) AS total,
                       (ARRAY_AGG(quantity_after ORDER BY id DESC))[1] AS last_after
                FROM inventory_ledger WHERE company_id = %(c)s
                GROUP BY product_id, warehouse_id
            )
            SELECT COALESCE(i.product_id, s.product_id), COALESCE(i.warehouse_id, s.warehouse_id),
                   i.quantity, COALESCE(s.total, 0), s.last_after
            FROM (SELECT * FROM inventory WHERE company_id = %(c)s) i
            FULL JOIN sums s USING (product_id, warehouse_id)
            """,
            {"c": company},
        )
        rows = cur.fetchall()
        mismatched = [r for r in rows if r[2] != r[3] or (r[4] is not None and r[2] != r[4])]
        negative = [r for r in rows if r[2] is not None and r[2] < 0]
        units = sum(r[2] or 0 for r in rows)

        acked_products = {a.product for a in run.acks if a.product}
        cur.execute(
            "SELECT id, sku FROM products WHERE company_id = %s AND id = ANY(%s)",
            (company, [p[0] for p in acked_products]),
        )
        missing_products = acked_products - set(cur.fetchall())

        acked_entries = {e for a in run.acks for e in a.entries}
        cur.execute(
            "SELECT id, operation_id, product_id, warehouse_id, quantity_change "
            "FROM inventory_ledger WHERE company_id = %s AND id = ANY(%s)",
            (company, [e[0] for e in acked_entries]),
        )
        missing_entries = acked_entries - set(cur.fetchall())
        empty_stock_acks = [a for a in run.acks if a.product is None and not a.entries]

        cur.execute(
            "SELECT key, status_code FROM idempotency_keys WHERE company_id = %s AND key LIKE %s",
            (company, run.key_prefix + "-%"),
        )
        stored = dict(cur.fetchall())
        acked = {a.key: a.status for a in run.acks}
        missing_keys = {k for k, status in acked.items() if stored.get(k) != status}
        unacked = set(stored) - set(acked)
        cur.execute(
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN reason = 'sale' THEN 1 END), 0) "
            "FROM inventory_ledger WHERE company_id = %s",
            (company,),
        )
        ledger_rows, sale_rows = cur.fetchone()
    conn.close()

    def few(items):
        return ", ".join(map(str, sorted(items, key=str)[:5]))

    return [
        (
            f"ledger sums to every stock level ({len(rows)} inventory rows, {units} units, "
            f"{ledger_rows} ledger rows, {sale_rows} sales)",
            not mismatched,
            "(product, warehouse, stock, ledger sum, last quantity_after): " + few(mismatched),
        ),
        ("no negative stock", not negative, few(negative)),
        (
            f"every acknowledged product is in the database ({len(acked_products)})",
            not missing_products,
            few(missing_products),
        ),
        (
            f"every acknowledged ledger row is in the database ({len(acked_entries)})",
            not missing_entries and not empty_stock_acks,
            few(missing_entries) or f"{len(empty_stock_acks)} 2xx without entries",
        ),
        (
            f"every acknowledged idempotency key is stored with its status ({len(acked)})",
            not missing_keys,
            few(missing_keys),
        ),
        (
            "nothing committed that was not acknowledged",
            not unacked,
            f"{len(unacked)} keys: " + few(unacked),
        ),
    ]


def print_checks(checks) -> bool:
    for name, passed, detail in checks:
        print(f"  [{'ok' if passed else 'FAIL'}] {name}" + ("" if passed else f": {detail}"))
    return all(passed for _, passed, _ in checks)


# ---------------------------------------------------------------- the command


def _wait_gone(pid: int, limit: float) -> float | None:
    """Seconds until ``pid`` exited (or is a zombie); None if it outlived ``limit``."""
    start = time.monotonic()
    while time.monotonic() - start < limit:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return time.monotonic() - start
        except FileNotFoundError:
            return time.monotonic() - start
        except OSError:
            pass
        time.sleep(0.05)
    return None


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--admin-token", required=True)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds")
    parser.add_argument("--mix", default=DEFAULT_MIX, help=f"weights, default {DEFAULT_MIX}")
    parser.add_argument("--warehouses", type=int, default=4)
    parser.add_argument("--products", type=int, default=40, help="created before the load")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=60.0, help="per request, seconds")
    parser.add_argument("--sigterm-after", type=float, help="SIGTERM the server after S seconds")
    parser.add_argument("--server-pid", type=int, help="the gunicorn master (with --sigterm-after)")
    parser.add_argument(
        "--graceful-timeout",
        type=float,
        default=float(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30")),
    )
    args = parser.parse_args()
    if not args.database_url:
        raise SystemExit("--database-url (or DATABASE_URL) is needed for the checks")
    if args.sigterm_after is not None and not args.server_pid:
        raise SystemExit("--sigterm-after needs --server-pid")
    if args.warehouses < 2:
        raise SystemExit("--warehouses: transfers need at least 2")

    url = urllib.parse.urlsplit(args.url)
    if url.hostname not in LOOPBACK:
        raise SystemExit("load is only ever sent to loopback")
    host, port = url.hostname, url.port or 80
    mix = parse_mix(args.mix)

    started = time.monotonic()
    world = setup(host, port, args.admin_token, args.warehouses, 3, args.products, args.seed)
    print(
        f"setup: company {world.company_id}, {len(world.warehouses)} warehouses, "
        f"{len(world.suppliers)} suppliers, {len(world.products)} products "
        f"({time.monotonic() - started:.1f} s)",
        flush=True,
    )
    server_gone: list[float] = []

    def send_sigterm():
        os.kill(args.server_pid, signal.SIGTERM)
        print(f"SIGTERM sent to {args.server_pid} at {args.sigterm_after:g} s", flush=True)
        # note when the server is gone, while the clients carry on
        sent = time.monotonic()

        def watch():
            took = _wait_gone(args.server_pid, args.graceful_timeout + 15)
            server_gone.append(sent + took if took is not None else math.inf)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        watchers.append(watcher)

    watchers: list[threading.Thread] = []
    run = run_load(
        host,
        port,
        world,
        args.clients,
        args.duration,
        mix,
        seed=args.seed,
        timeout=args.timeout,
        sigterm_after=args.sigterm_after,
        send_sigterm=send_sigterm,
    )
    print(
        f"\n{args.clients} clients, {run.elapsed:.1f} s, mix {args.mix}"
        + (" (until the server refused connections)" if run.sigterm_at else "")
        + "\n"
    )
    print(table(run))
    writes = len(run.acks)
    rows = sum(len(a.entries) for a in run.acks)
    print(
        f"\nacknowledged writes: {writes} in {run.elapsed:.1f} s = {writes / run.elapsed:.1f}/s "
        f"(stock operations wrote {rows} ledger rows = {rows / run.elapsed:.1f}/s)\n"
    )

    checks = response_checks(run)
    if run.sigterm_at is not None:
        for watcher in watchers:
            watcher.join()
        took = server_gone[0] - run.sigterm_at
        after = [r for r in run.records if r.ended >= run.sigterm_at]
        outcomes: dict[str, int] = {}
        for r in after:
            label = str(r.status) if r.status else f"{r.error} ({r.detail})"
            outcomes[label] = outcomes.get(label, 0) + 1
        print(f"after the SIGTERM, {len(after)} requests ended: {outcomes}")
        in_flight = [r for r in after if r.ended - r.latency < run.sigterm_at]
        answered = sum(1 for r in in_flight if r.status is not None)
        print(
            f"in flight at the SIGTERM: {len(in_flight)} requests, {answered} answered, "
            f"{len(in_flight) - answered} cut off before a response"
        )
        print(f"the server was gone {took:.1f} s after the SIGTERM")
        checks.append(
            (
                f"server exited within the graceful timeout ({args.graceful_timeout:g} s)",
                took <= args.graceful_timeout,
                "it did not" if math.isinf(took) else f"it took {took:.1f} s",
            )
        )
    checks += database_checks(args.database_url, world, run)
    print("checks:")
    if not print_checks(checks):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
