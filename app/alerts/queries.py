"""The low-stock alert query: one statement, whatever the size of the company.

An alert is an inventory row (active product that is not a bundle, active
warehouse) whose stock is strictly below its threshold and that had at least one
sale in the window. The statement works in three steps, so the expensive part
only ever touches the few rows that are low:

1. ``low``: the company's inventory rows below their threshold (rule, else
   product, else company type threshold, else the type's default), found through
   the partial index of rows whose stock is below ``inventory.alert_threshold``
   (the threshold copied onto each row when it changes), then checked against
   the thresholds as configured;
2. ``sales``: units sold in the window for those rows only, read from the
   ledger index on (company, product, warehouse, reason, occurred_at);
3. ``choice``: each alerting product's supplier to reorder from: preferred,
   else the cheapest, else the lowest id (one index lookup per product).

The page is ordered most urgent first and carries the total count of matches.
Derived figures (urgency, reorder dates and quantities) are computed in Python
for the rows of the page only (``derive``), with two more statements for those
rows: the stock on open purchase orders (``on_order``) and the supplier links'
learned lead times (``lead_times``).
"""

from __future__ import annotations

import datetime as dt
import decimal

import sqlalchemy as sa

from app.alerts.acknowledgements import day_number
from app.extensions import db
from app.models import PRODUCTS_NOT_ALERTING, STATE_DAYS, Money, UTCDateTime, window_start
from app.purchasing.queries import on_order
from app.schemas import MAX_INT
from app.suppliers.queries import lead_times
from app.thresholds.queries import DEFAULT_THRESHOLDS, FALLBACK_THRESHOLD

# days of margin under which an alert is "high" rather than "normal"
HIGH_URGENCY_MARGIN_DAYS = 7
# the most a reorder can usefully be: one receipt, and one inventory level, hold no more
MAX_SUGGESTED_REORDER = MAX_INT
TWO_PLACES = decimal.Decimal("0.01")


def _default_threshold_sql() -> str:
    """The built-in thresholds as a CASE over the product type (constants, not input);
    a searched CASE, which Citus evaluates as PostgreSQL does where it may not a simple one."""
    whens = " ".join(
        f"WHEN p.product_type = '{product_type}' THEN {threshold}"
        for product_type, threshold in sorted(DEFAULT_THRESHOLDS.items())
    )
    return f"CASE {whens} ELSE {FALLBACK_THRESHOLD} END"


# the threshold as configured, and which setting it comes from (p, r, t: the row's
# product, reorder rule and type threshold)
THRESHOLD = f"""COALESCE(r.threshold, p.low_stock_threshold, t.low_stock_threshold,
                 {_default_threshold_sql()})"""
THRESHOLD_SOURCE = """CASE
            WHEN r.threshold IS NOT NULL THEN 'warehouse_rule'
            WHEN p.low_stock_threshold IS NOT NULL THEN 'product'
            WHEN t.low_stock_threshold IS NOT NULL THEN 'product_type'
            ELSE 'default'
        END"""


ACKNOWLEDGEMENT_HOLDS = """(ack.until IS NULL OR ack.until > :now)
            AND ({stock} > 0 OR ack.level_at_ack = 0)
            AND :today_day + {days_left} >= ack.stockout_day_at_ack"""


def _holding(row: str, stock: str, days_left: str) -> str:
    """The acknowledgement of ``row`` (an alias with product_id and warehouse_id) that
    holds (app.alerts.acknowledgements): ``until`` not passed, the level (``stock``)
    not zero unless it was, and the stockout (today plus ``days_left``) not earlier
    than at acknowledgement (NULL then: no stockout, so any is earlier)."""
    holds = ACKNOWLEDGEMENT_HOLDS.format(stock=stock, days_left=days_left)
    return f"""ack.company_id = :company_id AND ack.product_id = {row}.product_id
            AND ack.warehouse_id = {row}.warehouse_id
            AND {holds}"""


def _not_hidden(row: str, stock: str, days_left: str) -> str:
    """Unless asked for, the alerts an acknowledgement hides leave the answer (an
    anti-join: it keeps the planner's estimate, and the index order, of the rows)."""
    return f"""(:include_acknowledged OR NOT EXISTS (
          SELECT 1 FROM alert_acknowledgements ack
          WHERE {_holding(row, stock, days_left)}))"""


LEDGER_DAYS_LEFT = "CAST(low.current_stock AS BIGINT) * :days / sales.units_sold"
LOW = f"""
low AS (
    -- the company's inventory rows below their threshold (narrow rows: ids and numbers)
    SELECT
        i.product_id, i.warehouse_id, i.quantity AS current_stock, r.reorder_quantity,
        COALESCE(r.threshold, p.low_stock_threshold, t.low_stock_threshold,
                 {_default_threshold_sql()}) AS threshold,
        CASE
            WHEN r.threshold IS NOT NULL THEN 'warehouse_rule'
            WHEN p.low_stock_threshold IS NOT NULL THEN 'product'
            WHEN t.low_stock_threshold IS NOT NULL THEN 'product_type'
            ELSE 'default'
        END AS threshold_source
    FROM inventory i
    JOIN products p ON p.company_id = i.company_id AND p.id = i.product_id
    JOIN warehouses w ON w.company_id = i.company_id AND w.id = i.warehouse_id
    LEFT JOIN reorder_rules r
        ON r.company_id = i.company_id AND r.product_id = i.product_id
        AND r.warehouse_id = i.warehouse_id
    LEFT JOIN product_type_thresholds t
        ON t.company_id = p.company_id AND t.product_type = p.product_type
    WHERE i.company_id = :company_id
      AND i.quantity < i.alert_threshold  -- the partial index of low rows answers this
      AND p.archived_at IS NULL AND NOT p.is_bundle
      AND w.archived_at IS NULL
      AND (:warehouse_id IS NULL OR i.warehouse_id = :warehouse_id)
      AND (:product_type IS NULL OR p.product_type = :product_type)
      -- and the threshold as configured now decides (the copy only narrows the search)
      AND i.quantity < COALESCE(r.threshold, p.low_stock_threshold, t.low_stock_threshold,
                                {_default_threshold_sql()})
),
sales AS (
    -- units sold in the window, for the low rows only (an index-only lookup each)
    SELECT l.product_id, l.warehouse_id, -SUM(l.quantity_change) AS units_sold
    FROM low
    JOIN inventory_ledger l
        ON l.company_id = :company_id AND l.product_id = low.product_id
        AND l.warehouse_id = low.warehouse_id
        AND l.reason = 'sale' AND l.occurred_at >= :since
    GROUP BY l.product_id, l.warehouse_id
),
alerts AS MATERIALIZED (
    SELECT low.*, sales.units_sold,
           CAST(low.current_stock AS BIGINT) * :days / sales.units_sold AS days_until_stockout
    FROM low
    JOIN sales ON sales.product_id = low.product_id AND sales.warehouse_id = low.warehouse_id
    WHERE {_not_hidden("low", "low.current_stock", LEDGER_DAYS_LEFT)}
)"""

# a product's supplier to reorder from: preferred, else the cheapest, else the lowest id
# (the archived suppliers are a set read once per statement, not a join per product:
# PostgreSQL hashed every supplier for each product's lookup)
CHOSEN_SUPPLIER = """(
    SELECT sp.supplier_id
    FROM supplier_products sp
    WHERE sp.company_id = :company_id AND sp.product_id = {product}
      AND sp.supplier_id NOT IN (
          SELECT s.id FROM suppliers s
          WHERE s.company_id = :company_id AND s.archived_at IS NOT NULL)
    ORDER BY sp.is_preferred DESC, sp.cost_price ASC NULLS LAST, sp.supplier_id ASC
    LIMIT 1
)"""

ORDER = "days_until_stockout, current_stock, product_id, warehouse_id"

# the answer: the page's rows with names and their supplier's terms, and the total
ANSWER = f"""
answer AS (
    SELECT
        page.*, p.name AS product_name, p.sku, p.product_type, w.name AS warehouse_name,
        s.id AS supplier_id, s.name AS supplier_name, s.contact_email,
        sp.lead_time_days, sp.cost_price, sp.min_order_quantity, sp.pack_size,
        ack.id AS acknowledgement_id, ack.acknowledged_at, ack.acknowledged_by,
        ack.until AS acknowledged_until, ack.note AS acknowledgement_note
    FROM page
    JOIN products p ON p.company_id = :company_id AND p.id = page.product_id
    JOIN warehouses w ON w.company_id = :company_id AND w.id = page.warehouse_id
    LEFT JOIN suppliers s ON s.company_id = :company_id AND s.id = page.chosen_supplier_id
    LEFT JOIN supplier_products sp
        ON sp.company_id = :company_id AND sp.product_id = page.product_id
        AND sp.supplier_id = page.chosen_supplier_id
    -- the acknowledgement that holds, looked up for the page's rows only
    LEFT JOIN alert_acknowledgements ack
        ON {_holding("page", "page.current_stock", "page.days_until_stockout")}
)
SELECT counted.total_alerts, answer.*
FROM (SELECT COUNT(*) AS total_alerts FROM {{matches}}) AS counted
LEFT JOIN answer ON 1 = 1
ORDER BY {", ".join(f"answer.{column}" for column in ORDER.split(", "))}
"""

# -- the maintained path: the default window, read from the inventory rows' state ----------
#
# ``inventory.window_sales`` holds each row's units sold in the default window and
# ``alert_threshold`` its threshold (both kept at write time, app.stock.service), so
# the alerts are the rows of the partial index ix_inventory_alert_order, already in
# the alerts' order: a page is a range scan of the index, stopped by its LIMIT, and
# the total an index-only count. Thresholds' sources, names and suppliers are then
# looked up for the page's rows only.

SORT_KEY = f"(CAST(i.quantity AS BIGINT) * {STATE_DAYS}) / i.window_sales"

STATE_ALERTS = f"""(
    SELECT i.product_id, i.warehouse_id, i.quantity AS current_stock,
           i.window_sales AS units_sold, {SORT_KEY} AS days_until_stockout
    FROM inventory i
    JOIN products p ON p.company_id = i.company_id AND p.id = i.product_id
    JOIN warehouses w ON w.company_id = i.company_id AND w.id = i.warehouse_id
    WHERE i.company_id = :company_id
      AND i.quantity < i.alert_threshold AND i.window_sales > 0  -- the index's rows
      AND p.archived_at IS NULL AND NOT p.is_bundle
      AND w.archived_at IS NULL
      AND (:warehouse_id IS NULL OR i.warehouse_id = :warehouse_id)
      AND (:product_type IS NULL OR p.product_type = :product_type)
      AND {_not_hidden("i", "i.quantity", SORT_KEY)}
) AS alerts"""


# the same rows, counted: an index-only scan of the alerting rows, less the rows of the
# few products and warehouses the alerts leave out (anti-joins on small sets)
STATE_MATCHES = f"""(
    SELECT 1
    FROM inventory i
    WHERE i.company_id = :company_id
      AND i.quantity < i.alert_threshold AND i.window_sales > 0
      AND (:warehouse_id IS NULL OR i.warehouse_id = :warehouse_id)
      AND NOT EXISTS (
          SELECT 1 FROM products p
          WHERE p.company_id = :company_id AND p.id = i.product_id
            AND ({PRODUCTS_NOT_ALERTING}))
      AND NOT EXISTS (
          SELECT 1 FROM warehouses w
          WHERE w.company_id = :company_id AND w.id = i.warehouse_id
            AND w.archived_at IS NOT NULL)
      AND (:product_type IS NULL OR EXISTS (
          SELECT 1 FROM products p
          WHERE p.company_id = :company_id AND p.id = i.product_id
            AND p.product_type = :product_type))
      AND {_not_hidden("i", "i.quantity", SORT_KEY)}
) AS matches"""


def _state_page(source: str, supplier: str = "") -> str:
    """The page CTE of the maintained path: the page's rows of ``source`` with their
    threshold, its source and the rule's reorder quantity (and their ``supplier``,
    unless ``source`` has it)."""
    chosen = f", {supplier} AS chosen_supplier_id" if supplier else ""
    return f"""
page AS MATERIALIZED (
    SELECT numbered.*, r.reorder_quantity, {THRESHOLD} AS threshold,
           {THRESHOLD_SOURCE} AS threshold_source{chosen}
    FROM (SELECT * FROM {source} ORDER BY {ORDER} LIMIT :limit OFFSET :offset) AS numbered
    JOIN products p ON p.company_id = :company_id AND p.id = numbered.product_id
    LEFT JOIN reorder_rules r
        ON r.company_id = :company_id AND r.product_id = numbered.product_id
        AND r.warehouse_id = numbered.warehouse_id
    LEFT JOIN product_type_thresholds t
        ON t.company_id = :company_id AND t.product_type = p.product_type
)"""


STATE_SQL = f"""
WITH {_state_page(STATE_ALERTS, CHOSEN_SUPPLIER.format(product="numbered.product_id"))},
{ANSWER.format(matches=STATE_MATCHES)}"""

STATE_BY_SUPPLIER_SQL = f"""
WITH supplied AS MATERIALIZED (
    SELECT * FROM (
        SELECT alerts.*, {CHOSEN_SUPPLIER.format(product="alerts.product_id")} AS chosen_supplier_id
        FROM {STATE_ALERTS}
    ) AS chosen
    WHERE chosen_supplier_id = :supplier_id
),
{_state_page("supplied")},
{ANSWER.format(matches="supplied")}"""

# -- the computed path: any window, from the ledger ------------------------------------

# without a supplier filter, suppliers are looked up for the page's rows only
LOW_STOCK_SQL = f"""
WITH {LOW},
page AS (
    SELECT numbered.*, {CHOSEN_SUPPLIER.format(product="numbered.product_id")} AS chosen_supplier_id
    FROM (SELECT * FROM alerts ORDER BY {ORDER} LIMIT :limit OFFSET :offset) AS numbered
),
{ANSWER.format(matches="alerts")}"""

# filtering by supplier needs every alert's supplier before the page is cut
LOW_STOCK_BY_SUPPLIER_SQL = f"""
WITH {LOW},
supplied AS MATERIALIZED (
    SELECT * FROM (
        SELECT alerts.*, {CHOSEN_SUPPLIER.format(product="alerts.product_id")} AS chosen_supplier_id
        FROM alerts
    ) AS chosen
    WHERE chosen_supplier_id = :supplier_id
),
page AS (SELECT * FROM supplied ORDER BY {ORDER} LIMIT :limit OFFSET :offset),
{ANSWER.format(matches="supplied")}"""


def _statement(sql: str) -> sa.TextClause:
    typed = [
        sa.bindparam("warehouse_id", type_=sa.Integer()),
        sa.bindparam("product_type", type_=sa.String()),
        sa.bindparam("now", type_=UTCDateTime()),
        sa.bindparam("include_acknowledged", type_=sa.Boolean()),
    ]
    if ":since" in sql:
        typed.append(sa.bindparam("since", type_=UTCDateTime()))
    return (
        sa.text(sql)
        .bindparams(*typed)
        .columns(
            cost_price=Money(), acknowledged_at=UTCDateTime(), acknowledged_until=UTCDateTime()
        )
    )


LOW_STOCK = _statement(LOW_STOCK_SQL)
LOW_STOCK_BY_SUPPLIER = _statement(LOW_STOCK_BY_SUPPLIER_SQL)
STATE = _statement(STATE_SQL)
STATE_BY_SUPPLIER = _statement(STATE_BY_SUPPLIER_SQL)
# the row count of "every alert" (CSV): more than any company has rows
EVERY_ROW = 2**62


def _parameters(
    company_id: int, args: dict, today: dt.date, now: dt.datetime | None = None
) -> dict:
    return {
        "company_id": company_id,
        "now": now or dt.datetime.now(dt.UTC),
        "today_day": day_number(today),
        "include_acknowledged": args.get("include_acknowledged", False),
        "days": args["days"],
        "since": window_start(today, args["days"]),
        "warehouse_id": args.get("warehouse_id"),
        "product_type": args.get("product_type"),
        "limit": args["page_size"],
        "offset": (args["page"] - 1) * args["page_size"],
    }


def state_answers(args: dict, as_of: dt.date | None, today: dt.date) -> bool:
    """Whether the maintained state answers this query: the default window, on the
    day the company's state is current for (else the ledger does, never a stale state)."""
    return args["days"] == STATE_DAYS and as_of == today


def _rows(company_id: int, args: dict, today: dt.date, maintained: bool, now=None, stream=False):
    parameters = _parameters(company_id, args, today, now)
    by_supplier = args.get("supplier_id") is not None
    if maintained:
        statement = STATE_BY_SUPPLIER if by_supplier else STATE
    else:
        statement = LOW_STOCK_BY_SUPPLIER if by_supplier else LOW_STOCK
    if by_supplier:
        parameters["supplier_id"] = args["supplier_id"]
    options = {"yield_per": 1000} if stream else {}
    return db.session.execute(statement, parameters, execution_options=options).mappings()


def _supply(company_id: int, rows: list) -> tuple[dict, dict]:
    """What is on order for these alert rows, and their supplier links' lead times:
    one statement each, whatever the number of rows."""
    ordered = on_order(company_id, [(row["product_id"], row["warehouse_id"]) for row in rows])
    learned = lead_times(
        company_id,
        [(row["supplier_id"], row["product_id"]) for row in rows if row["supplier_id"] is not None],
    )
    return ordered, learned


def _derived(company_id: int, rows: list, days: int, today: dt.date) -> list[dict]:
    """The alerts of these rows (``derive``), with their stock on order and lead times."""
    rows = [row for row in rows if row["product_id"] is not None]
    ordered, learned = _supply(company_id, rows)
    return [
        derive(
            row,
            days,
            today,
            ordered.get((row["product_id"], row["warehouse_id"])),
            learned.get((row["supplier_id"], row["product_id"])),
        )
        for row in rows
    ]


def _chunks(rows, size: int = 1000):
    chunk = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _every(company_id: int, args: dict, today: dt.date, maintained: bool, now=None):
    """Every alert of the query, unfiltered by ``covered``, as a generator (the rows
    are fetched, and their supply looked up, a thousand at a time)."""
    everything = {**args, "page": 1, "page_size": EVERY_ROW}
    rows = _rows(company_id, everything, today, maintained, now, stream=True)
    for chunk in _chunks(rows):
        yield from _derived(company_id, chunk, args["days"], today)


def low_stock_alerts(
    company_id: int,
    args: dict,
    today: dt.date,
    maintained: bool = False,
    now: dt.datetime | None = None,
) -> tuple[list[dict], int]:
    """One page of the company's alerts, most urgent first, and how many there are;
    from the maintained state when ``maintained`` (see ``state_answers``).

    With ``covered`` (true or false), only the alerts whose ``covered`` is that: it
    depends on open orders and lead times, known per alert only, so the page is cut
    after deriving every alert of the query (bounded by the number of alerts, not
    by the company's rows)."""
    if args.get("covered") is not None:
        # counted as they stream, only the page's alerts kept
        start = (args["page"] - 1) * args["page_size"]
        page, total = [], 0
        for alert in _every(company_id, args, today, maintained, now):
            if alert["covered"] is args["covered"]:
                if start <= total < start + args["page_size"]:
                    page.append(alert)
                total += 1
        return page, total
    rows = _rows(company_id, args, today, maintained, now).all()
    total = rows[0]["total_alerts"] if rows else 0
    return _derived(company_id, rows, args["days"], today), total


def every_alert(
    company_id: int,
    args: dict,
    today: dt.date,
    maintained: bool = False,
    now: dt.datetime | None = None,
):
    """Every alert of the query (pages aside), most urgent first, as a generator that
    fetches rows from the database as it goes (for the CSV export)."""
    for alert in _every(company_id, args, today, maintained, now):
        if args.get("covered") is None or alert["covered"] is args["covered"]:
            yield alert


def stockout_date(today: dt.date, days_left: int) -> dt.date | None:
    """``today`` plus ``days_left`` days, or None when that is past 9999-12-31.

    A high threshold over a large stock that barely sells puts the stockout
    millions of days away; no calendar date names it, and it must not turn the
    whole answer into an error.
    """
    if days_left > (dt.date.max - today).days:
        return None
    return today + dt.timedelta(days=days_left)


def derive(
    row, days: int, today: dt.date, ordered: dict | None = None, learned: dict | None = None
) -> dict:
    """An alert as the API shows it, with what a buyer needs to act on it: ``ordered``
    is the row's stock on open orders (``on_order``), ``learned`` its supplier link's
    lead times (``lead_times``); None for none."""
    sold = row["units_sold"]
    stock = row["current_stock"]
    days_left = row["days_until_stockout"]
    lead_time = row["lead_time_days"]
    lead_time_source = None
    if row["supplier_id"] is not None:
        lead_time_source = "configured"
        if learned is not None and learned["lead_time_source"] == "observed":
            lead_time, lead_time_source = learned["effective_lead_time_days"], "observed"
    incoming = ordered["on_order"] if ordered else 0
    next_delivery = ordered["next_delivery_at"] if ordered else None
    projected = stock + incoming
    stockout = stockout_date(today, days_left) if sold else None
    # covered: what is on order lifts the level back to the threshold, and arrives
    # (by its expected date) no later than the stockout; an order without an expected
    # date covers only a stockout that has no date
    covered = (
        incoming > 0
        and projected >= row["threshold"]
        and (stockout is None or (next_delivery is not None and next_delivery.date() <= stockout))
    )
    margin = days_left - (lead_time or 0)
    if stock == 0 or margin < 0:
        urgency = "critical"
    elif margin < HIGH_URGENCY_MARGIN_DAYS:
        urgency = "high"
    else:
        urgency = "normal"
    # cover the lead time plus one more window at the current rate, less what is there
    # (and what is already on order)
    needed = -(-sold * ((lead_time or 0) + days) // days) - stock - incoming
    minimum = row["min_order_quantity"] or 1
    pack = row["pack_size"] or 1
    if incoming and needed <= 0:
        # the open orders already bring what the formula asks for: order nothing more
        suggested = 0
    else:
        # integer division: sums of sales pass 2^53, where a float would round
        suggested = min(-(-max(needed, minimum) // pack) * pack, MAX_SUGGESTED_REORDER)
    acknowledgement = None
    if row["acknowledgement_id"] is not None:
        acknowledgement = {
            "id": row["acknowledgement_id"],
            "acknowledged_at": row["acknowledged_at"],
            "acknowledged_by": row["acknowledged_by"],
            "until": row["acknowledged_until"],
            "note": row["acknowledgement_note"],
        }
    supplier = None
    if row["supplier_id"] is not None:
        supplier = {
            "id": row["supplier_id"],
            "name": row["supplier_name"],
            "contact_email": row["contact_email"],
        }
    return {
        "product_id": row["product_id"],
        "product_name": row["product_name"],
        "sku": row["sku"],
        "warehouse_id": row["warehouse_id"],
        "warehouse_name": row["warehouse_name"],
        "current_stock": stock,
        "threshold": row["threshold"],
        "days_until_stockout": days_left,
        "supplier": supplier,
        "threshold_source": row["threshold_source"],
        "product_type": row["product_type"],
        "units_sold_in_window": sold,
        "avg_daily_sales": (decimal.Decimal(sold) / days).quantize(
            TWO_PLACES, decimal.ROUND_HALF_UP
        ),
        "stockout_date": stockout,
        "lead_time_days": lead_time,
        "lead_time_source": lead_time_source,
        "cost_price": row["cost_price"],
        "reorder_by": stockout - dt.timedelta(days=lead_time)
        if stockout is not None and lead_time is not None
        else None,
        "urgency": urgency,
        "suggested_reorder_quantity": suggested,
        "reorder_quantity": row["reorder_quantity"],
        "on_order": incoming,
        "projected_quantity": projected,
        "next_delivery_at": next_delivery,
        "covered": covered,
        "acknowledgement": acknowledgement,
    }


def explain(company_id: int, days: int = 30, maintained: bool = False) -> str:
    """``EXPLAIN (ANALYZE, BUFFERS)`` of the alert statement's first page (PostgreSQL;
    for bench/): of the maintained path, or of the computed one."""
    args = {"days": days, "page": 1, "page_size": 100}
    sql = STATE_SQL if maintained else LOW_STOCK_SQL
    parameters = _parameters(company_id, args, dt.datetime.now(dt.UTC).date())
    compiled = (
        sa.text(sql)
        .bindparams(**{name: value for name, value in parameters.items() if f":{name}" in sql})
        .compile(dialect=db.engine.dialect, compile_kwargs={"literal_binds": True})
    )
    rows = db.session.execute(sa.text(f"EXPLAIN (ANALYZE, BUFFERS) {compiled}"))
    return "\n".join(row[0] for row in rows)
