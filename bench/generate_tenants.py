"""Fill a migrated, empty PostgreSQL database with a large multi-tenant data set, fast.

    DATABASE_URL=postgresql://postgres@127.0.0.1/DB .venv/bin/alembic upgrade head
    python bench/generate_tenants.py --database-url postgresql://postgres@127.0.0.1/DB \
        [--products 20000 --warehouses 5 --suppliers 50 --ledger-rows 3000000 --days 180 \
         --tenants 3 --seed 1]

Everything is built by the server with set-based SQL (``generate_series``,
``INSERT ... SELECT``), never row by row and never through the ORM. Each of the
``--tenants`` companies gets the same shape of data; the first is the tenant the
benchmarks use, the others are same-size noise sharing the tables (their ledger rows
are interleaved with the first tenant's in time, as they would be in production).

Per company: one API key (the first tenant's plaintext is printed), ``--warehouses``
warehouses, ``--products`` products (types fast_moving / regular / slow_moving plus a
few custom ones, ~10% with their own threshold, every 50th a bundle of 2-3 other
products), ``--suppliers`` suppliers (~10% without an email) with 1-4 supplier links
per non-bundle product (at most one preferred), a few type thresholds and reorder
rules, one inventory row per (non-bundle product, warehouse) with roughly 5% of them
below their threshold (some at exactly 0), and exactly ``--ledger-rows`` ledger rows
over the last ``--days`` days: an ``initial`` row per inventory row, then mostly sales,
plus receipts, returns, adjustments, transfers (an out and an in row sharing one
operation) and bundle sales (one row per component, ``bundle_product_id`` set).

Sales are skewed: each inventory row is "hot" (sells every day), "steady", "rare"
(a few sales in the whole window), "dormant" (no sale in the last 45 days) or
"never" sold, so some low-stock rows have recent sales and some do not.

The ledger does NOT add up to the inventory levels (the sum of a row's
``quantity_change`` is not its ``inventory.quantity``): that is irrelevant to the
read benchmarks this data set is for. Every row still satisfies every constraint
of the schema (``quantity_after >= 0``, known reasons, all foreign keys).

Randomness is PostgreSQL's ``random()`` after ``setseed()`` derived from ``--seed``,
consumed in a fixed order, so the same arguments give the same data (apart from the
API keys and the timestamps, which are relative to the start of the run).

Speed and safety: everything is written in ONE transaction (a failure or an interrupt
leaves the database empty, as it was). Before the ledger rows go in, the ledger's
secondary indexes and foreign keys are dropped (their definitions read from the
catalog); afterwards exactly the same indexes are built and the same foreign keys
re-added, which validates every row against its parent in one join instead of one
lookup per row and key, and the definitions are compared with the ones read before.
DDL is transactional in PostgreSQL, so the rollback of a failed run restores them
too. The rows go in sorted by ``occurred_at``, so ids grow with time and the tenants'
rows share pages, as in production. Then ``VACUUM (ANALYZE)`` of the ledger (hint bits
and visibility map, as autovacuum would eventually leave them, so index-only scans
work) and ``ANALYZE`` of everything.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import secrets
import sys
import time
from contextlib import contextmanager

import psycopg2
import psycopg2.extensions
import psycopg2.extras
from psycopg2 import sql

# built-in low-stock thresholds (app.thresholds.queries; duplicated to keep bench/ standalone)
DEFAULT_THRESHOLDS = {"fast_moving": 20, "regular": 10, "slow_moving": 5}
FALLBACK_THRESHOLD = 10
# company-wide type thresholds every generated company sets
TYPE_THRESHOLDS = {"fast_moving": 25, "perishable": 15, "seasonal": 12, "hazmat": 8}
BUNDLE_EVERY = 50  # every 50th product is a bundle: 2%

# shares of the non-initial ledger rows (sales take the rest)
RECEIPT_SHARE = 0.09
RETURN_SHARE = 0.03
ADJUSTMENT_SHARE = 0.02
TRANSFER_SHARE = 0.04  # rows, i.e. twice the number of transfers
BUNDLE_SALE_SHARE = 0.01


def default_threshold_sql(column: str) -> str:
    whens = " ".join(f"WHEN '{t}' THEN {v}" for t, v in sorted(DEFAULT_THRESHOLDS.items()))
    return f"CASE {column} {whens} ELSE {FALLBACK_THRESHOLD} END"


class Loader:
    """One session on the database, timing each step."""

    def __init__(self, url: str):
        # Ctrl-C cancels the running statement (and so rolls the whole load back)
        psycopg2.extensions.set_wait_callback(psycopg2.extras.wait_select)
        self.conn = psycopg2.connect(url.replace("postgresql+psycopg2://", "postgresql://"))
        self.conn.autocommit = True
        self.cur = self.conn.cursor()
        self.steps: list[tuple[str, float]] = []

    def run(self, statement, params=None) -> int:
        self.cur.execute(statement, params)
        return self.cur.rowcount

    def value(self, statement, params=None):
        self.cur.execute(statement, params)
        return self.cur.fetchone()[0]

    def rows(self, statement, params=None) -> list[tuple]:
        self.cur.execute(statement, params)
        return self.cur.fetchall()

    @contextmanager
    def step(self, name: str):
        print(f"  {name} ...", end="", flush=True)
        started = time.perf_counter()
        yield
        elapsed = time.perf_counter() - started
        self.steps.append((name, elapsed))
        print(f" {elapsed:7.1f} s", flush=True)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", required=True, help="postgresql://... (migrated, empty)")
    parser.add_argument("--tenants", type=int, default=3)
    parser.add_argument("--products", type=int, default=20_000)
    parser.add_argument("--warehouses", type=int, default=5)
    parser.add_argument("--suppliers", type=int, default=50)
    parser.add_argument("--ledger-rows", type=int, default=3_000_000, help="per tenant")
    parser.add_argument("--days", type=int, default=180, help="history window")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--low-scale",
        type=float,
        default=1.0,
        help="multiply each row's chance of being below its threshold (3 gives ~10,000 "
        "alerts on the default 20,000 x 5 tenant, 1 about 3,300)",
    )
    parser.add_argument(
        "--keep-indexes",
        action="store_true",
        help="load the ledger with its indexes and foreign keys in place (slow; to compare)",
    )
    args = parser.parse_args()
    if args.tenants < 1 or args.products < BUNDLE_EVERY or args.warehouses < 1:
        parser.error("need --tenants >= 1, --products >= 50, --warehouses >= 1")
    if args.suppliers < 1 or args.days < 2:
        parser.error("need --suppliers >= 1 and --days >= 2")
    return args


def check_empty(db: Loader) -> None:
    if not db.value("SELECT to_regclass('alembic_version') IS NOT NULL"):
        raise SystemExit("not migrated: run `DATABASE_URL=... .venv/bin/alembic upgrade head`")
    if db.value("SELECT EXISTS (SELECT 1 FROM companies)"):
        raise SystemExit("the database already holds companies: give me a fresh, empty one")


def configure_session(db: Loader, seed: int) -> None:
    db.run("SET synchronous_commit = off")
    db.run("SET TimeZone = 'UTC'")
    db.run("SET statement_timeout = 0")
    db.run("SET temp_buffers = '256MB'")
    db.run("SET work_mem = '1GB'")
    db.run("SET maintenance_work_mem = '1GB'")
    # random() is parallel-restricted anyway; serial plans keep its order fixed
    db.run("SET max_parallel_workers_per_gather = 0")
    db.run("SELECT setseed(%s)", (random.Random(seed).uniform(-1, 1),))


def create_companies(db: Loader, tenants: int, t0) -> tuple[list[int], str]:
    """Companies and one API key each (generated here, stored hashed)."""
    company_ids, first_key = [], ""
    for n in range(1, tenants + 1):
        name = "Bench Tenant" if n == 1 else f"Bench Noise {n}"
        company_id = db.value(
            "INSERT INTO companies (name, created_at) VALUES (%s, %s - interval '400 days') "
            "RETURNING id",
            (name, t0),
        )
        prefix = secrets.token_hex(6)
        plaintext = f"sf_{prefix}_{secrets.token_urlsafe(32)}"
        db.run(
            "INSERT INTO api_keys (company_id, name, prefix, key_hash) VALUES (%s, %s, %s, %s)",
            (company_id, "bench", prefix, hashlib.sha256(plaintext.encode()).hexdigest()),
        )
        company_ids.append(company_id)
        first_key = first_key or plaintext
    db.run("CREATE TEMP TABLE tc AS SELECT id AS company_id FROM companies ORDER BY id")
    return company_ids, first_key


def create_catalog(db: Loader, args: argparse.Namespace, t0) -> None:
    p = {"t0": t0, "products": args.products, "warehouses": args.warehouses}
    p |= {"suppliers": args.suppliers, "every": BUNDLE_EVERY}
    with db.step("warehouses"):
        db.run(
            """
            INSERT INTO warehouses (company_id, name, location, created_at)
            SELECT c.company_id, 'Warehouse ' || g,
                   (ARRAY['Berlin', 'Hamburg', 'Munich', 'Cologne', 'Leipzig', 'Vienna',
                          'Zurich', 'Prague'])[1 + (g - 1) %% 8],
                   %(t0)s - interval '400 days'
            FROM tc c CROSS JOIN generate_series(1, %(warehouses)s) g
            ORDER BY c.company_id, g
            """,
            p,
        )
        db.run(
            """
            CREATE TEMP TABLE tw AS
            SELECT company_id, id, row_number() OVER (PARTITION BY company_id ORDER BY id)::int
                   AS idx
            FROM warehouses
            """
        )
    with db.step("products"):
        # types: 25% fast_moving, 45% regular, 20% slow_moving, 10% custom
        db.run(
            """
            INSERT INTO products (company_id, name, sku, price, product_type,
                                  low_stock_threshold, is_bundle, created_at, updated_at)
            SELECT company_id,
                   CASE WHEN g %% %(every)s = 0 THEN 'Bundle ' ELSE 'Item ' END || g,
                   'SKU-' || lpad(g::text, 6, '0'),
                   round((1 + r_price * 499)::numeric, 2),
                   CASE WHEN r_type < 0.25 THEN 'fast_moving'
                        WHEN r_type < 0.70 THEN 'regular'
                        WHEN r_type < 0.90 THEN 'slow_moving'
                        WHEN r_type < 0.94 THEN 'perishable'
                        WHEN r_type < 0.97 THEN 'seasonal'
                        WHEN r_type < 0.99 THEN 'hazmat'
                        ELSE 'oversized' END,
                   CASE WHEN g %% %(every)s <> 0 AND r_own < 0.10
                        THEN floor(r_value * 61)::int END,
                   g %% %(every)s = 0,
                   %(t0)s - interval '1 day' * (200 + floor(r_age * 200)),
                   %(t0)s - interval '1 day' * floor(r_age * 200)
            FROM (
                SELECT company_id, g, random() AS r_price, random() AS r_type,
                       random() AS r_own, random() AS r_value, random() AS r_age
                FROM tc CROSS JOIN generate_series(1, %(products)s) g
                ORDER BY company_id, g OFFSET 0
            ) s
            ORDER BY company_id, g
            """,
            p,
        )
        db.run(
            """
            CREATE TEMP TABLE tp AS
            SELECT company_id, id, substr(sku, 5)::int AS n, is_bundle, product_type,
                   low_stock_threshold, price
            FROM products
            """
        )
        db.run("CREATE UNIQUE INDEX ON tp (company_id, n)")
        db.run("ANALYZE tp")
    with db.step("bundle components"):
        # a bundle n takes 2-3 of the 49 products before it (none of which is a bundle)
        db.run(
            """
            INSERT INTO bundle_components (company_id, bundle_product_id, component_product_id,
                                           quantity)
            SELECT b.company_id, b.id, c.id, s.quantity
            FROM (
                SELECT company_id, id, n,
                       2 + (random() < 0.5)::int AS parts,
                       1 + floor(random() * 16)::int AS o1, 17 + floor(random() * 16)::int AS o2,
                       33 + floor(random() * 16)::int AS o3,
                       1 + floor(random() * 3)::int AS q1, 1 + floor(random() * 3)::int AS q2,
                       1 + floor(random() * 3)::int AS q3
                FROM tp WHERE is_bundle ORDER BY company_id, n OFFSET 0
            ) b
            CROSS JOIN LATERAL (VALUES (1, b.o1, b.q1), (2, b.o2, b.q2), (3, b.o3, b.q3))
                AS s (part, back, quantity)
            JOIN tp c ON c.company_id = b.company_id AND c.n = b.n - s.back
            WHERE s.part <= b.parts
            """
        )
    with db.step("suppliers"):
        db.run(
            """
            INSERT INTO suppliers (company_id, name, contact_email, phone, notes, created_at)
            SELECT company_id, 'Supplier ' || lpad(g::text, 3, '0'),
                   CASE WHEN r_email >= 0.10 THEN 'orders@supplier-' || g || '.example.com' END,
                   '+49 30 555 ' || lpad(g::text, 4, '0'),
                   CASE WHEN r_email >= 0.95 THEN 'phone orders only before noon' END,
                   %(t0)s - interval '400 days'
            FROM (
                SELECT company_id, g, random() AS r_email
                FROM tc CROSS JOIN generate_series(1, %(suppliers)s) g
                ORDER BY company_id, g OFFSET 0
            ) s
            ORDER BY company_id, g
            """,
            p,
        )
        db.run(
            "CREATE TEMP TABLE ts AS SELECT company_id, id, substr(name, 10)::int AS n "
            "FROM suppliers"
        )
        db.run("CREATE UNIQUE INDEX ON ts (company_id, n)")
        db.run("ANALYZE ts")
    with db.step("supplier links"):
        # 1-4 consecutive suppliers (mod S) per product; only the first may be preferred
        db.run(
            """
            INSERT INTO supplier_products (company_id, product_id, supplier_id, supplier_sku,
                cost_price, lead_time_days, min_order_quantity, pack_size, is_preferred,
                created_at)
            SELECT l.company_id, l.product_id, s.id, 'S' || s.n || '-' || l.n,
                   CASE WHEN l.r_cost >= 0.03
                        THEN round(l.price * (0.35 + 0.35 * l.r_cost)::numeric, 2) END,
                   1 + floor(l.r_lead * 30)::int,
                   (ARRAY[1, 1, 5, 10, 12, 24, 50, 100])[1 + floor(l.r_moq * 8)::int],
                   (ARRAY[1, 1, 1, 6, 12, 24])[1 + floor(l.r_pack * 6)::int],
                   l.j = 0 AND l.r_pref < 0.85,
                   %(t0)s - interval '300 days'
            FROM (
                SELECT p.company_id, p.product_id, p.n, p.price, p.s0, p.r_pref, j,
                       random() AS r_cost, random() AS r_lead, random() AS r_moq,
                       random() AS r_pack
                FROM (
                    SELECT company_id, id AS product_id, n, price,
                           floor(random() * %(suppliers)s)::int AS s0,
                           1 + floor(random() * 4)::int AS links, random() AS r_pref
                    FROM tp WHERE NOT is_bundle ORDER BY company_id, n OFFSET 0
                ) p
                CROSS JOIN LATERAL generate_series(0, least(p.links, %(suppliers)s) - 1) j
                ORDER BY p.company_id, p.n, j OFFSET 0
            ) l
            JOIN ts s ON s.company_id = l.company_id AND s.n = (l.s0 + l.j) %% %(suppliers)s + 1
            """,
            p,
        )
        # whom receipts come from: the preferred link, else the cheapest
        db.run(
            """
            CREATE TEMP TABLE tps AS
            SELECT DISTINCT ON (company_id, product_id) company_id, product_id, supplier_id,
                   cost_price
            FROM supplier_products
            ORDER BY company_id, product_id, is_preferred DESC, cost_price NULLS LAST,
                     supplier_id
            """
        )
    with db.step("type thresholds"):
        db.run(
            "INSERT INTO product_type_thresholds (company_id, product_type, low_stock_threshold) "
            "SELECT c.company_id, t.product_type, t.threshold FROM tc c "
            "CROSS JOIN (VALUES "
            + ", ".join(f"('{t}', {v})" for t, v in TYPE_THRESHOLDS.items())
            + ") t (product_type, threshold)"
        )


# sales classes of an inventory row: share, weight of its sales, opening stock scale
CLASSES = [
    # name, cumulative share, weight expression (r = random in [0, 1)), stock scale, P(low)
    ("hot", 0.06, "150 + 350 * r", 400, 0.09),
    ("steady", 0.35, "10 + 50 * r", 150, 0.06),
    ("rare", 0.75, "8 * r", 60, 0.045),
    ("dormant", 0.95, "1 + 5 * r", 40, 0.04),
    ("never", 1.00, "0 * r", 30, 0.04),
]


def class_case(column: int) -> str:
    """A CASE over r_class that picks the ``column``-th field of CLASSES."""
    whens = " ".join(f"WHEN r_class < {c[1]} THEN {render(c[column])}" for c in CLASSES[:-1])
    return f"CASE {whens} ELSE {render(CLASSES[-1][column])} END"


def render(value) -> str:
    if isinstance(value, str) and value[0].isalpha() and " " not in value:
        return f"'{value}'"
    return str(value)


def create_stock(db: Loader, args: argparse.Namespace, t0) -> None:
    with db.step("inventory pairs (temp)"):
        db.run(
            f"""
            CREATE TEMP TABLE pair_draws AS
            SELECT s.*, {class_case(0)} AS cls, floor(100 * ({class_case(2)}))::bigint AS w_sale,
                   {class_case(3)} AS stock_scale, {class_case(4)} AS p_low
            FROM (
                SELECT o.*, random() AS r_class, random() AS r, random() AS r_low,
                       random() AS r_zero, random() AS r_qty, random() AS r_rule,
                       random() AS r_rule_threshold, random() AS r_rule_quantity,
                       random() AS r_updated
                FROM (
                    SELECT p.company_id, p.id AS product_id, p.n, p.product_type,
                           p.low_stock_threshold AS product_threshold,
                           w.id AS warehouse_id, w.idx AS wh_idx,
                           row_number() OVER (PARTITION BY p.company_id
                                              ORDER BY p.n, w.idx)::int AS seq
                    FROM tp p JOIN tw w ON w.company_id = p.company_id
                    WHERE NOT p.is_bundle
                    ORDER BY p.company_id, p.n, w.idx OFFSET 0
                ) o
                OFFSET 0
            ) s
            """
        )
    with db.step("reorder rules"):
        db.run(
            """
            INSERT INTO reorder_rules (company_id, product_id, warehouse_id, threshold,
                                       reorder_quantity, updated_at)
            SELECT company_id, product_id, warehouse_id, 5 + floor(r_rule_threshold * 60)::int,
                   CASE WHEN r_rule_quantity < 0.7
                        THEN 50 + floor(r_rule_quantity * 600)::int END,
                   %(t0)s - interval '10 days'
            FROM pair_draws WHERE r_rule < 0.005
            """,
            {"t0": t0},
        )
    with db.step("inventory"):
        # the threshold the alerts will apply, then a stock level: ~5% below it
        db.run(
            f"""
            CREATE TEMP TABLE pair_stock AS
            SELECT x.*,
                   CASE WHEN x.is_low AND x.r_zero < 0.3 THEN 0
                        WHEN x.is_low THEN floor(x.r_qty * x.threshold)::int
                        ELSE x.threshold + 1 + floor(x.r_qty * x.stock_scale)::int END AS q
            FROM (
                SELECT pr.*,
                       COALESCE(r.threshold, pr.product_threshold, t.low_stock_threshold,
                                {default_threshold_sql("pr.product_type")}) AS threshold,
                       pr.r_low < pr.p_low * {args.low_scale}
                       AND COALESCE(r.threshold, pr.product_threshold,
                           t.low_stock_threshold,
                           {default_threshold_sql("pr.product_type")}) > 0 AS is_low
                FROM pair_draws pr
                LEFT JOIN reorder_rules r ON r.company_id = pr.company_id
                     AND r.product_id = pr.product_id AND r.warehouse_id = pr.warehouse_id
                LEFT JOIN product_type_thresholds t ON t.company_id = pr.company_id
                     AND t.product_type = pr.product_type
            ) x
            ORDER BY x.company_id, x.seq
            """
        )
        db.run(
            """
            INSERT INTO inventory (company_id, product_id, warehouse_id, quantity,
                                   alert_threshold, updated_at)
            SELECT company_id, product_id, warehouse_id, q, threshold,
                   %(t0)s - interval '1 minute' * floor(r_updated * 4320)
            FROM pair_stock ORDER BY company_id, seq
            """,
            {"t0": t0},
        )


def ledger_budget(db: Loader, args: argparse.Namespace) -> None:
    """How many rows of each kind each company gets: exactly --ledger-rows in all."""
    db.run(
        """
        CREATE TEMP TABLE budget (company_id int PRIMARY KEY, pairs int, n_sale bigint,
            n_receipt bigint, n_return bigint, n_adjust bigint, n_transfer bigint,
            bundle_rounds int, bundle_rows bigint)
        """
    )
    per_company = db.rows(
        """
        SELECT c.company_id,
               (SELECT count(*) FROM pair_stock p WHERE p.company_id = c.company_id),
               (SELECT count(*) FROM bundle_components b WHERE b.company_id = c.company_id)
        FROM tc c ORDER BY c.company_id
        """
    )
    for company_id, pairs, components in per_company:
        rest = args.ledger_rows - pairs
        if rest < 0:
            raise SystemExit(
                f"--ledger-rows {args.ledger_rows} is fewer than the {pairs} initial rows"
            )
        n_receipt = round(rest * RECEIPT_SHARE)
        n_return = round(rest * RETURN_SHARE)
        n_adjust = round(rest * ADJUSTMENT_SHARE)
        n_transfer = round(rest * TRANSFER_SHARE / 2) if args.warehouses > 1 else 0
        per_round = components * args.warehouses
        rounds = round(rest * BUNDLE_SALE_SHARE / per_round) if per_round else 0
        n_sale = rest - n_receipt - n_return - n_adjust - 2 * n_transfer - rounds * per_round
        if n_sale < 0:
            raise SystemExit("--ledger-rows is too small for this catalogue")
        db.run(
            "INSERT INTO budget VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                company_id,
                pairs,
                n_sale,
                n_receipt,
                n_return,
                n_adjust,
                n_transfer,
                rounds,
                rounds * per_round,
            ),
        )
    # spread each kind over the pairs by weight, exactly: a pair gets the integers of
    # [N * cum_before / W, N * cum_after / W)
    db.run(
        """
        CREATE TEMP TABLE pairs AS
        SELECT p.*,
               COALESCE((b.n_sale * cs) / NULLIF(ts, 0)
                        - (b.n_sale * (cs - w_sale)) / NULLIF(ts, 0), 0)::int AS n_sale,
               ((b.n_receipt * cr) / tr - (b.n_receipt * (cr - w_receipt)) / tr)::int
                   AS n_receipt,
               COALESCE((b.n_return * cs) / NULLIF(ts, 0)
                        - (b.n_return * (cs - w_sale)) / NULLIF(ts, 0), 0)::int AS n_return
        FROM (
            SELECT x.*,
                   (sum(w_sale) OVER w)::bigint AS cs, (sum(w_sale) OVER c)::bigint AS ts,
                   (sum(w_receipt) OVER w)::bigint AS cr, (sum(w_receipt) OVER c)::bigint AS tr
            FROM (SELECT *, 100 + w_sale / 10 AS w_receipt FROM pair_stock) x
            WINDOW w AS (PARTITION BY company_id ORDER BY seq), c AS (PARTITION BY company_id)
        ) p JOIN budget b ON b.company_id = p.company_id
        ORDER BY p.company_id, p.seq
        """
    )
    db.run("CREATE UNIQUE INDEX ON pairs (company_id, seq)")
    db.run("CREATE UNIQUE INDEX ON pairs (company_id, product_id, wh_idx)")
    db.run("ANALYZE pairs")
    db.run("ANALYZE budget")


LEDGER_COLUMNS = (
    "company_id, product_id, warehouse_id, reason, quantity_change, quantity_after, "
    "operation_id, reference, note, bundle_product_id, supplier_id, unit_cost, occurred_at"
)

# every branch yields LEDGER_COLUMNS; random() is only ever called in a scan with a fixed
# order (an ORDER BY ... OFFSET 0 subquery or a MATERIALIZED CTE), never on a join output
LEDGER_SQL = """
WITH ordered AS MATERIALIZED (
    SELECT p.*, s.supplier_id AS receipt_supplier_id, s.cost_price AS receipt_cost
    FROM pairs p LEFT JOIN tps s ON s.company_id = p.company_id AND s.product_id = p.product_id
    ORDER BY p.company_id, p.seq
),
adjust AS MATERIALIZED (
    SELECT b.company_id, 1 + floor(random() * b.pairs)::int AS seq, random() AS r_sign,
           1 + floor(random() * 5)::int AS amount, floor(random() * 50)::int AS extra,
           md5(random()::text)::uuid::text AS op, random() AS r_note, random() AS r_when
    FROM budget b CROSS JOIN LATERAL generate_series(1, b.n_adjust) g
    ORDER BY b.company_id, g
),
transfer AS MATERIALIZED (
    SELECT b.company_id, 1 + floor(random() * b.pairs)::int AS seq,
           1 + floor(random() * (%(warehouses)s - 1))::int AS shift,
           1 + floor(random() * 20)::int AS amount, floor(random() * 50)::int AS extra,
           md5(random()::text)::uuid::text AS op, random() AS r_when
    FROM budget b CROSS JOIN LATERAL generate_series(1, b.n_transfer) g
    ORDER BY b.company_id, g
),
bundle_sale AS MATERIALIZED (
    SELECT x.*, 1 + floor(power(random(), 2) * 3)::int AS bundles,
           md5(random()::text)::uuid::text AS op, random() AS r_when
    FROM (
        SELECT p.company_id, p.id AS bundle_id, w.id AS warehouse_id, b.bundle_rounds, g
        FROM tp p JOIN tw w ON w.company_id = p.company_id
        JOIN budget b ON b.company_id = p.company_id
        CROSS JOIN LATERAL generate_series(1, b.bundle_rounds) g
        WHERE p.is_bundle
        ORDER BY p.company_id, p.n, w.idx, g OFFSET 0
    ) x
)
SELECT {columns}, LEAST(%(t0)s, occurred_at + interval '1 second' * (
           CASE WHEN random() < 0.02 THEN 259200 ELSE 120 END * random()))
FROM (
    -- the opening stock of every inventory row, before the window
    SELECT company_id, product_id, warehouse_id, 'initial', q + 2 * n_sale + 20,
           q + 2 * n_sale + 20, md5(random()::text)::uuid::text, NULL, 'opening balance',
           NULL::int, NULL::int, NULL::numeric,
           %(t0)s - interval '1 second' * (%(window)s + 86400 * (1 + 5 * random()))
    FROM ordered
    UNION ALL
    -- sales, stratified in time: the g-th most recent sale of n lies in ((g-1)/n, g/n]
    SELECT p.company_id, p.product_id, p.warehouse_id, 'sale',
           -(1 + floor(power(random(), 3) * 10))::int, p.q + 2 * (g - 1),
           md5(random()::text)::uuid::text, NULL, NULL, NULL, NULL, NULL,
           %(t0)s - interval '1 second' * CASE
               WHEN p.cls = 'dormant'
               THEN %(gap)s + (%(window)s - %(gap)s) * (g - random()) / p.n_sale
               ELSE %(window)s * (g - random()) / p.n_sale END
    FROM ordered p CROSS JOIN LATERAL generate_series(1, p.n_sale) g
    UNION ALL
    SELECT p.company_id, p.product_id, p.warehouse_id, 'receipt',
           12 + floor(random() * 489)::int, p.q + 12 + floor(random() * 700)::int,
           md5(random()::text)::uuid::text, 'PO-' || lpad(floor(random() * 1e6)::text, 6, '0'),
           NULL, NULL, p.receipt_supplier_id, p.receipt_cost,
           %(t0)s - interval '1 second' * %(window)s * (g - random()) / p.n_receipt
    FROM ordered p CROSS JOIN LATERAL generate_series(1, p.n_receipt) g
    UNION ALL
    SELECT p.company_id, p.product_id, p.warehouse_id, 'return',
           1 + floor(power(random(), 2) * 3)::int, p.q + 1 + floor(random() * 60)::int,
           md5(random()::text)::uuid::text, 'RMA-' || lpad(floor(random() * 1e6)::text, 6, '0'),
           NULL, NULL, NULL, NULL,
           %(t0)s - interval '1 second' * %(window)s * (g - random()) / p.n_return
    FROM ordered p CROSS JOIN LATERAL generate_series(1, p.n_return) g
    UNION ALL
    SELECT p.company_id, p.product_id, p.warehouse_id, 'adjustment',
           CASE WHEN a.r_sign < 0.7 THEN -a.amount ELSE a.amount END, p.q + a.extra, a.op,
           NULL, (ARRAY['cycle count', 'damaged', 'expired', 'found'])[1 + floor(a.r_note * 4)],
           NULL, NULL, NULL, %(t0)s - interval '1 second' * %(window)s * a.r_when
    FROM adjust a JOIN pairs p ON p.company_id = a.company_id AND p.seq = a.seq
    UNION ALL
    -- a transfer is two rows of one operation: out of one warehouse, into another
    SELECT s.company_id, s.product_id,
           CASE WHEN d.sign < 0 THEN s.warehouse_id ELSE t.warehouse_id END,
           CASE WHEN d.sign < 0 THEN 'transfer_out' ELSE 'transfer_in' END,
           d.sign * x.amount,
           CASE WHEN d.sign < 0 THEN s.q + x.extra ELSE t.q + x.amount + x.extra END,
           x.op, NULL, NULL, NULL, NULL, NULL,
           %(t0)s - interval '1 second' * %(window)s * x.r_when
    FROM transfer x
    JOIN pairs s ON s.company_id = x.company_id AND s.seq = x.seq
    JOIN pairs t ON t.company_id = s.company_id AND t.product_id = s.product_id
         AND t.wh_idx = (s.wh_idx - 1 + x.shift) %% %(warehouses)s + 1
    CROSS JOIN (VALUES (-1), (1)) d (sign)
    UNION ALL
    -- a bundle sold: one sale row per component, bundle_product_id names the bundle
    SELECT b.company_id, c.component_product_id, b.warehouse_id, 'sale',
           -(c.quantity * b.bundles), p.q + b.g, b.op, NULL, NULL, b.bundle_id, NULL, NULL,
           %(t0)s - interval '1 second' * %(window)s * (b.g - b.r_when) / b.bundle_rounds
    FROM bundle_sale b
    JOIN bundle_components c ON c.company_id = b.company_id
         AND c.bundle_product_id = b.bundle_id
    JOIN tw w ON w.company_id = b.company_id AND w.id = b.warehouse_id
    JOIN pairs p ON p.company_id = b.company_id AND p.product_id = c.component_product_id
         AND p.wh_idx = w.idx
) AS r ({columns})
ORDER BY occurred_at, company_id, operation_id, quantity_change, product_id
"""


def ledger_definitions(db: Loader) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The ledger's secondary indexes and foreign keys, as the catalog defines them."""
    indexes = db.rows(
        """
        SELECT indexname, indexdef FROM pg_indexes
        WHERE schemaname = current_schema() AND tablename = 'inventory_ledger'
          AND indexname NOT IN (SELECT conname FROM pg_constraint
                                WHERE conrelid = 'inventory_ledger'::regclass
                                  AND contype IN ('p', 'u', 'x'))
        ORDER BY indexname
        """
    )
    foreign_keys = db.rows(
        """
        SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
        WHERE conrelid = 'inventory_ledger'::regclass AND contype = 'f'
        ORDER BY conname
        """
    )
    return indexes, foreign_keys


def load_ledger(db: Loader, args: argparse.Namespace, t0) -> int:
    window = args.days * 86400
    gap = (45 if args.days > 60 else args.days // 2) * 86400
    params = {"t0": t0, "window": window, "gap": gap, "warehouses": args.warehouses}
    insert = f"INSERT INTO inventory_ledger ({LEDGER_COLUMNS}, recorded_at) " + LEDGER_SQL.format(
        columns=LEDGER_COLUMNS
    )
    with db.step("ledger budget"):
        ledger_budget(db, args)
    before = ledger_definitions(db)
    indexes, foreign_keys = before
    if not args.keep_indexes:
        with db.step(f"drop {len(indexes)} ledger indexes, {len(foreign_keys)} FKs"):
            for name, _ in indexes:
                db.run(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
            for name, _ in foreign_keys:
                db.run(
                    sql.SQL("ALTER TABLE inventory_ledger DROP CONSTRAINT {}").format(
                        sql.Identifier(name)
                    )
                )
    with db.step("ledger rows (sorted by occurred_at)"):
        db.run("SET LOCAL work_mem = '3GB'")
        inserted = db.run(insert, params)
    if not args.keep_indexes:
        for name, definition in indexes:
            with db.step(f"create index {name}"):
                db.run(definition)
        with db.step(f"re-add {len(foreign_keys)} foreign keys (validates every row)"):
            for name, definition in foreign_keys:
                db.run(
                    sql.SQL("ALTER TABLE inventory_ledger ADD CONSTRAINT {} ").format(
                        sql.Identifier(name)
                    )
                    + sql.SQL(definition)
                )
    after = ledger_definitions(db)
    if after != before:
        raise SystemExit(f"ledger indexes/foreign keys differ after the load:\n{before}\n{after}")
    return inserted


def report(db: Loader, company_ids: list[int], api_key: str, total: float) -> None:
    tables = [
        row[0]
        for row in db.rows(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' "
            "AND table_name <> 'alembic_version' ORDER BY table_name"
        )
    ]
    print("\nrows per table")
    for table in tables:
        count = db.value(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
        print(f"  {table:<26} {count:>12,}")
    print("\nledger rows per company and reason")
    for company_id, reason, count in db.rows(
        "SELECT company_id, reason, count(*) FROM inventory_ledger GROUP BY 1, 2 ORDER BY 1, 2"
    ):
        print(f"  company {company_id:<4} {reason:<14} {count:>10,}")
    tenant = company_ids[0]
    # the alert definition: stock < threshold and a sale since midnight (UTC) 30 days ago
    (pairs, low, zero, low_zero, recent, low_recent, daily, w_start) = db.rows(
        f"""
        WITH since AS (
            SELECT ((now() AT TIME ZONE 'UTC')::date - 30)::timestamp AT TIME ZONE 'UTC' AS ts
        ),
        rows AS (
            SELECT i.quantity, i.quantity < COALESCE(r.threshold, p.low_stock_threshold,
                       t.low_stock_threshold, {default_threshold_sql("p.product_type")}) AS low,
                   EXISTS (SELECT 1 FROM inventory_ledger l, since
                           WHERE l.company_id = i.company_id AND l.product_id = i.product_id
                             AND l.warehouse_id = i.warehouse_id AND l.reason = 'sale'
                             AND l.occurred_at >= since.ts) AS recent,
                   (SELECT count(DISTINCT date_trunc('day', l.occurred_at))
                    FROM inventory_ledger l, since
                    WHERE l.company_id = i.company_id AND l.product_id = i.product_id
                      AND l.warehouse_id = i.warehouse_id AND l.reason = 'sale'
                      AND l.occurred_at >= since.ts) >= 30 AS daily
            FROM inventory i
            JOIN products p ON p.company_id = i.company_id AND p.id = i.product_id
            LEFT JOIN reorder_rules r ON r.company_id = i.company_id
                 AND r.product_id = i.product_id AND r.warehouse_id = i.warehouse_id
            LEFT JOIN product_type_thresholds t ON t.company_id = p.company_id
                 AND t.product_type = p.product_type
            WHERE i.company_id = %s
        )
        SELECT count(*), count(*) FILTER (WHERE low), count(*) FILTER (WHERE quantity = 0),
               count(*) FILTER (WHERE low AND quantity = 0), count(*) FILTER (WHERE recent),
               count(*) FILTER (WHERE low AND recent), count(*) FILTER (WHERE daily),
               (SELECT ts FROM since)
        FROM rows
        """,
        (tenant,),
    )[0]
    print(f"\ntenant 1 inventory (company {tenant}): {pairs:,} rows")
    print(f"  below threshold:                  {low:>7,} ({low / pairs:.1%} of rows)")
    print(f"    of which at 0:                  {low_zero:>7,} (all rows at 0: {zero:,})")
    print(f"  any row, a sale since {w_start:%Y-%m-%d}:  {recent:>7,} ({recent / pairs:.1%})")
    print(f"  sold on each of the last 30 days: {daily:>7,}")
    print(
        f"  BELOW THRESHOLD WITH A SALE IN THE LAST 30 DAYS: {low_recent:,} "
        f"({low_recent / max(low, 1):.1%} of the low rows) = the expected total_alerts"
    )
    print("\ntimings")
    for name, elapsed in db.steps:
        print(f"  {name:<58} {elapsed:7.1f} s")
    print(f"  {'TOTAL':<58} {total:7.1f} s")
    print("\ntenant 1, for the benchmarks:")
    print(f"TENANT_COMPANY_ID={tenant}")
    print(f"TENANT_API_KEY={api_key}")


def main() -> None:
    args = parse_args()
    started = time.perf_counter()
    db = Loader(args.database_url)
    check_empty(db)
    configure_session(db, args.seed)
    t0 = db.value("SELECT date_trunc('second', now())")
    print(
        f"generating {args.tenants} tenants x ({args.products:,} products, {args.warehouses} "
        f"warehouses, {args.ledger_rows:,} ledger rows over {args.days} days), seed {args.seed}",
        flush=True,
    )
    # one transaction: a failure (or an interrupted run) leaves the database as it was,
    # empty and with every index and foreign key of the ledger
    db.run("BEGIN")
    try:
        with db.step("companies and API keys"):
            company_ids, api_key = create_companies(db, args.tenants, t0)
        create_catalog(db, args, t0)
        create_stock(db, args, t0)
        load_ledger(db, args, t0)
        with db.step("commit"):
            db.run("COMMIT")
    except BaseException:
        db.run("ROLLBACK")
        raise
    with db.step("VACUUM ANALYZE inventory_ledger (hint bits, visibility map)"):
        db.run("VACUUM (ANALYZE) inventory_ledger")
    with db.step("ANALYZE (every table)"):
        db.run("ANALYZE")
    total = time.perf_counter() - started
    report(db, company_ids, api_key, total)
    db.conn.close()


if __name__ == "__main__":
    sys.exit(main())
