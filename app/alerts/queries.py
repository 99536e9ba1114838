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

The page is ordered most urgent first and carries the total count of matches,
the stock on open purchase orders of its rows and their acknowledgements; every
filter (``?covered=``, acknowledgements) is decided in the statement. Derived
figures (urgency, reorder dates and quantities) are computed in Python for the
rows of the page only (``derive``), with one more statement only when a row's
supplier link has enough deliveries to have learned a lead time (``lead_times``).
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import re

import sqlalchemy as sa

from app import prepared
from app.alerts.acknowledgements import day_number
from app.extensions import db
from app.models import PRODUCTS_NOT_ALERTING, STATE_DAYS, Money, UTCDateTime, window_start
from app.schemas import MAX_INT
from app.suppliers.queries import MIN_OBSERVATIONS, lead_times
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


# with ?supplier_id=, only the products the supplier offers (an index range of its
# links): the supplier each one is reordered from is then looked up for those only
SUPPLIED_BY = """(:supplier_id IS NULL OR i.product_id IN (
          SELECT sp.product_id FROM supplier_products sp
          WHERE sp.company_id = :company_id AND sp.supplier_id = :supplier_id))"""

LEDGER_DAYS_LEFT = "CAST(low.current_stock AS BIGINT) * :days / sales.units_sold"

# the day (``day_number``) of the last date a stockout has (9999-12-31): past it, the
# alert's stockout_date is null
LAST_DAY = (dt.date.max - dt.date(1970, 1, 1)).days
# the UTC day number of a delivery time, per database: ``_statement`` replaces each
# token with the database's expression of its time
DELIVERY_DAYS = {
    "/*next_delivery_day*/": "MIN(o.expected_at)",
    "/*special_delivery_day*/": "special.next_delivery_at",
    "/*supply_delivery_day*/": "supply.next_delivery_at",
}
DELIVERY_DAY_SQL = {
    "postgresql": "CAST(floor(extract(epoch FROM {at}) / 86400) AS BIGINT)",
    # SQLite keeps times as UTC text 'YYYY-MM-DD HH:MM:SS...': the date's julian day
    "sqlite": "CAST(julianday(substr({at}, 1, 10)) - 2440587.5 AS INTEGER)",
}


def _covers(
    stock: str, threshold: str, days_left: str, on_order: str, next_at: str, token: str
) -> str:
    """``derive``'s ``covered`` rule in SQL, given what is on order (``on_order``, and
    ``next_at``, the earliest expected time, whose day ``token`` stands for): the level
    plus what is on order reaches ``threshold``, and the next delivery is due on or
    before the stockout date (today plus ``days_left``; any time, or none, when that
    date is past 9999-12-31)."""
    return f"""{stock} + {on_order} >= {threshold}
            AND (({next_at} IS NULL AND :today_day + {days_left} > {LAST_DAY})
                 OR {token} <= :today_day + {days_left})"""


# what is on order per (product, warehouse), from the open order lines
OPEN_SUPPLY = """(
    SELECT l.product_id, o.warehouse_id,
           SUM(l.quantity_ordered - l.quantity_received) AS on_order,
           MIN(o.expected_at) AS next_delivery_at
    FROM purchase_order_lines l
    JOIN purchase_orders o ON o.company_id = l.company_id AND o.id = l.purchase_order_id
    WHERE l.company_id = :company_id AND o.status IN ('ordered', 'partially_received')
      AND l.quantity_ordered > l.quantity_received
    GROUP BY l.product_id, o.warehouse_id
) AS supply"""


def _covered(row: str, stock: str, threshold: str, days_left: str) -> str:
    """Whether open purchase orders cover the alert of ``row``: ``_covers`` over its
    open order lines, one index lookup of the product's lines (an aggregate's select
    list: SQLite allows HAVING on aggregate queries only)."""
    rule = _covers(
        stock,
        threshold,
        days_left,
        "SUM(l.quantity_ordered - l.quantity_received)",
        "MIN(o.expected_at)",
        "/*next_delivery_day*/",
    )
    return f"""EXISTS (
          SELECT COUNT(*)
          FROM purchase_order_lines l
          JOIN purchase_orders o ON o.company_id = l.company_id AND o.id = l.purchase_order_id
          WHERE l.company_id = :company_id AND l.product_id = {row}.product_id
            AND o.warehouse_id = {row}.warehouse_id
            AND o.status IN ('ordered', 'partially_received')
            AND l.quantity_ordered > l.quantity_received
          HAVING {rule})"""


# the (product, warehouse) pairs with something on order: few, whatever the alerts
OPEN_PAIRS = """SELECT l.product_id, o.warehouse_id
    FROM purchase_order_lines l
    JOIN purchase_orders o ON o.company_id = l.company_id AND o.id = l.purchase_order_id
    WHERE l.company_id = :company_id AND o.status IN ('ordered', 'partially_received')
      AND l.quantity_ordered > l.quantity_received"""


def _coverage(row: str, stock: str, threshold: str, days_left: str, covered) -> str:
    """The ``?covered=`` filter (a statement per value): none, only covered alerts
    (among the few rows with something on order: a set the database can start
    from), or only uncovered ones."""
    if covered is None:
        return "TRUE"
    rule = _covered(row, stock, threshold, days_left)
    if covered:
        return f"""(({row}.product_id, {row}.warehouse_id) IN ({OPEN_PAIRS})
               AND {rule})"""
    return f"NOT {rule}"


def _low(covered) -> str:
    """The ledger path's CTEs ``low``, ``sales`` and ``alerts``."""
    return f"""
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
      AND {SUPPLIED_BY}
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
      AND {_coverage("low", "low.current_stock", "low.threshold", LEDGER_DAYS_LEFT, covered)}
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


def _open_orders(aggregate: str) -> str:
    """An aggregate over the open order lines of the page row's product and warehouse
    (what ``app.purchasing.queries.on_order`` computes, for the page's rows in the
    statement itself: one index lookup each instead of a statement)."""
    return f"""(
            SELECT {aggregate}
            FROM purchase_order_lines l
            JOIN purchase_orders o
                ON o.company_id = l.company_id AND o.id = l.purchase_order_id
            WHERE l.company_id = :company_id AND l.product_id = page.product_id
              AND o.warehouse_id = page.warehouse_id
              AND o.status IN ('ordered', 'partially_received')
              AND l.quantity_ordered > l.quantity_received)"""


# the answer: the page's rows with names and their supplier's terms, and the total
ANSWER = f"""
answer AS (
    SELECT
        page.*, p.name AS product_name, p.sku, p.product_type, w.name AS warehouse_name,
        s.id AS supplier_id, s.name AS supplier_name, s.contact_email,
        sp.lead_time_days, sp.cost_price, sp.min_order_quantity, sp.pack_size,
        ack.id AS acknowledgement_id, ack.acknowledged_at, ack.acknowledged_by,
        ack.until AS acknowledged_until, ack.note AS acknowledgement_note,
        {_open_orders("SUM(l.quantity_ordered - l.quantity_received)")} AS on_order,
        {_open_orders("MIN(o.expected_at)")} AS next_delivery_at,
        -- whether the supplier link may have an observed lead time (at least 3
        -- observations): only those links' lead times are looked up (``lead_times``)
        EXISTS (
            SELECT 1 FROM lead_time_observations lo
            WHERE lo.company_id = :company_id AND lo.supplier_id = page.chosen_supplier_id
              AND lo.product_id = page.product_id
            LIMIT 1 OFFSET {MIN_OBSERVATIONS - 1}) AS may_learn
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
FROM (SELECT {{total}} AS total_alerts) AS counted
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
# the same figure where a condition may be evaluated before ``window_sales > 0``
DAYS_LEFT = f"(CAST(i.quantity AS BIGINT) * {STATE_DAYS}) / NULLIF(i.window_sales, 0)"


def _state_alerts(covered) -> str:
    """The maintained path's alerts, as a subquery ``alerts``; with ?covered=true,
    started from what is on order (``OPEN_SUPPLY``: few rows, whatever the alerts)
    rather than walking the alert index to the page's last covered row."""
    supply, coverage = "", _coverage("i", "i.quantity", "i.alert_threshold", DAYS_LEFT, covered)
    if covered:
        supply = f"""JOIN {OPEN_SUPPLY}
        ON supply.product_id = i.product_id AND supply.warehouse_id = i.warehouse_id"""
        coverage = _covers(
            "i.quantity",
            "i.alert_threshold",
            DAYS_LEFT,
            "supply.on_order",
            "supply.next_delivery_at",
            "/*supply_delivery_day*/",
        )
    return f"""(
    SELECT i.product_id, i.warehouse_id, i.quantity AS current_stock,
           i.window_sales AS units_sold, {SORT_KEY} AS days_until_stockout
    FROM inventory i
    JOIN products p ON p.company_id = i.company_id AND p.id = i.product_id
    JOIN warehouses w ON w.company_id = i.company_id AND w.id = i.warehouse_id
    {supply}
    WHERE i.company_id = :company_id
      AND i.quantity < i.alert_threshold AND i.window_sales > 0  -- the index's rows
      AND p.archived_at IS NULL AND NOT p.is_bundle
      AND w.archived_at IS NULL
      AND (:warehouse_id IS NULL OR i.warehouse_id = :warehouse_id)
      AND (:product_type IS NULL OR p.product_type = :product_type)
      AND {SUPPLIED_BY}
      AND {_not_hidden("i", "i.quantity", DAYS_LEFT)}
      AND {coverage}
) AS alerts"""


def _state_member(row: str) -> str:
    """Whether inventory row ``row`` is an alert of the maintained path, before
    acknowledgements and coverage: a row of the alert index, less the rows of the few
    products and warehouses the alerts leave out (anti-joins on small sets), filtered
    by warehouse and product type."""
    return f"""{row}.company_id = :company_id
      AND {row}.quantity < {row}.alert_threshold AND {row}.window_sales > 0
      AND (:warehouse_id IS NULL OR {row}.warehouse_id = :warehouse_id)
      AND NOT EXISTS (
          SELECT 1 FROM products p
          WHERE p.company_id = :company_id AND p.id = {row}.product_id
            AND ({PRODUCTS_NOT_ALERTING}))
      AND NOT EXISTS (
          SELECT 1 FROM warehouses w
          WHERE w.company_id = :company_id AND w.id = {row}.warehouse_id
            AND w.archived_at IS NOT NULL)
      AND (:product_type IS NULL OR EXISTS (
          SELECT 1 FROM products p
          WHERE p.company_id = :company_id AND p.id = {row}.product_id
            AND p.product_type = :product_type))"""


def _special_rows(covered) -> str:
    """The few rows an acknowledgement or (with ?covered=) an open order can take out
    of (or, for covered=true, into) the answer, read from those two small tables,
    with what is on order for each (``OPEN_SUPPLY``; NULL without ?covered=)."""
    acknowledged = """SELECT ack.product_id, ack.warehouse_id,
           NULL AS on_order, NULL AS next_delivery_at
    FROM alert_acknowledgements ack
    WHERE ack.company_id = :company_id"""
    if covered is None:
        return f"({acknowledged}) AS special"
    return f"""(
    SELECT rows.product_id, rows.warehouse_id,
           MAX(rows.on_order) AS on_order, MAX(rows.next_delivery_at) AS next_delivery_at
    FROM (
        {acknowledged}
        UNION ALL
        SELECT supply.product_id, supply.warehouse_id, supply.on_order,
               supply.next_delivery_at
        FROM {OPEN_SUPPLY}
    ) AS rows
    GROUP BY rows.product_id, rows.warehouse_id
) AS special"""


def _state_total(covered) -> str:
    """The total, without a per-alert lookup: the alerts counted from the index alone
    (none when only covered ones are asked for: every covered alert is a special
    row), corrected by the special rows that are alerts: +1 each shown, -1 each
    counted. Coverage is computed once per (product, warehouse) with something on
    order (``OPEN_SUPPLY``), not with a lookup per row."""
    shown = _not_hidden("i", "i.quantity", DAYS_LEFT)
    if covered is not None:
        rule = _covers(
            "i.quantity",
            "i.alert_threshold",
            DAYS_LEFT,
            "special.on_order",
            "special.next_delivery_at",
            "/*special_delivery_day*/",
        )
        # unknown (a NULL delivery day) is not covered, as in ``_covered``'s EXISTS
        is_covered = f"COALESCE(special.on_order IS NOT NULL AND {rule}, FALSE)"
        shown += f" AND {'' if covered else 'NOT '}{is_covered}"
    counted = "0" if covered else f"(SELECT COUNT(*) FROM inventory i WHERE {_state_member('i')})"
    return f"""(
    {counted}
    + (SELECT COALESCE(SUM(
           CASE WHEN {shown} THEN 1 ELSE 0 END - {0 if covered else 1}), 0)
       FROM {_special_rows(covered)}
       JOIN inventory i
           ON i.company_id = :company_id AND i.product_id = special.product_id
           AND i.warehouse_id = special.warehouse_id
       WHERE {_state_member("i")})
)"""


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


def _state_sql(covered) -> str:
    """The maintained path's statement."""
    page = _state_page(
        _state_alerts(covered), CHOSEN_SUPPLIER.format(product="numbered.product_id")
    )
    return f"""
WITH {page},
{ANSWER.format(total=_state_total(covered))}"""


def _state_by_supplier_sql(covered) -> str:
    """The maintained path's statement with ``?supplier_id=``."""
    return f"""
WITH supplied AS MATERIALIZED (
    SELECT * FROM (
        SELECT alerts.*, {CHOSEN_SUPPLIER.format(product="alerts.product_id")} AS chosen_supplier_id
        FROM {_state_alerts(covered)}
    ) AS chosen
    WHERE chosen_supplier_id = :supplier_id
),
{_state_page("supplied")},
{ANSWER.format(total="(SELECT COUNT(*) FROM supplied)")}"""


# -- the computed path: any window, from the ledger ------------------------------------


def _low_stock_sql(covered) -> str:
    """The ledger path's statement: without a supplier filter, suppliers are looked up
    for the page's rows only."""
    return f"""
WITH {_low(covered)},
page AS (
    SELECT numbered.*, {CHOSEN_SUPPLIER.format(product="numbered.product_id")} AS chosen_supplier_id
    FROM (SELECT * FROM alerts ORDER BY {ORDER} LIMIT :limit OFFSET :offset) AS numbered
),
{ANSWER.format(total="(SELECT COUNT(*) FROM alerts)")}"""


def _low_stock_by_supplier_sql(covered) -> str:
    """The ledger path's statement with ``?supplier_id=``: the suppliers of every
    alert of the supplier's products before the page is cut."""
    return f"""
WITH {_low(covered)},
supplied AS MATERIALIZED (
    SELECT * FROM (
        SELECT alerts.*, {CHOSEN_SUPPLIER.format(product="alerts.product_id")} AS chosen_supplier_id
        FROM alerts
    ) AS chosen
    WHERE chosen_supplier_id = :supplier_id
),
page AS (SELECT * FROM supplied ORDER BY {ORDER} LIMIT :limit OFFSET :offset),
{ANSWER.format(total="(SELECT COUNT(*) FROM supplied)")}"""


# the default statements (every alert, covered or not), e.g. for bench/
STATE_SQL = _state_sql(None)
LOW_STOCK_SQL = _low_stock_sql(None)


def _statement(sql: str, dialect: str) -> sa.TextClause:
    typed = [
        sa.bindparam("warehouse_id", type_=sa.Integer()),
        sa.bindparam("product_type", type_=sa.String()),
        sa.bindparam("now", type_=UTCDateTime()),
        sa.bindparam("include_acknowledged", type_=sa.Boolean()),
        sa.bindparam("supplier_id", type_=sa.Integer()),
    ]
    if ":since" in sql:
        typed.append(sa.bindparam("since", type_=UTCDateTime()))
    return (
        sa.text(for_database(sql, dialect))
        .bindparams(*typed)
        .columns(
            cost_price=Money(),
            acknowledged_at=UTCDateTime(),
            acknowledged_until=UTCDateTime(),
            next_delivery_at=UTCDateTime(),
            may_learn=sa.Boolean(),
        )
    )


def for_database(sql: str, dialect: str = "postgresql") -> str:
    """An alert statement's SQL text as ``dialect`` runs it (the delivery days)."""
    for token, at in DELIVERY_DAYS.items():
        sql = sql.replace(token, DELIVERY_DAY_SQL[dialect].format(at=at))
    return sql


# per database: (maintained, by supplier, covered) -> the statement (a statement per
# ?covered= value: the database plans only the filter asked for)
SQL_OF = {
    (True, False): _state_sql,
    (True, True): _state_by_supplier_sql,
    (False, False): _low_stock_sql,
    (False, True): _low_stock_by_supplier_sql,
}
STATEMENTS = {
    dialect: {
        (maintained, by_supplier, covered): _statement(
            SQL_OF[maintained, by_supplier](covered), dialect
        )
        for maintained, by_supplier in SQL_OF
        for covered in (None, True, False)
    }
    for dialect in DELIVERY_DAY_SQL
}

# PostgreSQL: the maintained path's page statements are PREPAREd once per connection
# (app.prepared): psycopg2 sends the parameters as literals, and PostgreSQL spent
# about as long planning the statement as running it (2 ms each at 10,000 alerts).
# The plan is the generic one, made once per connection: the plan a prepared
# statement would choose by itself stays custom (re-planned on every EXECUTE, its
# estimated cost being the lower), and the generic plan of a statement with
# "$n IS NULL OR ..." filters cannot know which filters are off (it counted the
# alerts with a nested loop, three times slower). So each combination of filters
# given is a statement of its own, whose absent filters are folded into the text
# (``_folded``): the generic plan is then the custom plan of the default query, the
# index range scan of the page stopped by its limit (tests/test_alerts_plan.py).
# The streamed export (a server-side cursor, which cannot DECLARE an EXECUTE) and
# the computed path send their text as before; so does SQLite.
PREPARED_TYPES = {
    "company_id": "integer",
    "now": "timestamptz",
    "today_day": "integer",
    "include_acknowledged": "boolean",
    "supplier_id": "integer",
    "warehouse_id": "integer",
    "product_type": "varchar",
    "limit": "bigint",
    "offset": "bigint",
}
# SQLAlchemy's bind parameter syntax (sqlalchemy.sql.compiler.BIND_PARAMS)
BIND = re.compile(r"(?<![:\w\x5c]):(\w+)(?!:)")
# the optional filters, whose "IS NULL" (or value) a statement variant fixes
OPTIONAL = ("supplier_id", "warehouse_id", "product_type")


def _folded(sql: str, given: dict[str, bool], include_acknowledged: bool) -> str:
    """``sql`` with each optional filter's "IS NULL" decided (``given``: whether the
    query has it) and ``include_acknowledged`` a constant: PostgreSQL folds the
    constant conditions away when it plans, as it does for literal values."""
    for name, present in given.items():
        # a given filter's "IS NULL OR" goes away whole: its EXISTS or IN then stands
        # alone in the WHERE, where PostgreSQL can plan it as a (hash) semi-join; "FALSE
        # OR ..." is folded only after that step, leaving a subplan run row by row
        if present:
            sql = sql.replace(f"(%({name})s IS NULL OR ", "(")
        sql = sql.replace(f"%({name})s IS NULL", "FALSE" if present else "TRUE")
    return sql.replace("%(include_acknowledged)s", "TRUE" if include_acknowledged else "FALSE")


@functools.cache
def prepared_page(
    by_supplier: bool,
    covered: bool | None,
    warehouse: bool,
    product_type: bool,
    include_acknowledged: bool,
) -> prepared.Statement:
    """The maintained path's page statement for this combination of filters, as a
    prepared statement planned once (generically) per connection."""
    given = {"supplier_id": by_supplier, "warehouse_id": warehouse, "product_type": product_type}
    text = _folded(
        BIND.sub(r"%(\1)s", for_database(SQL_OF[True, by_supplier](covered), "postgresql")),
        given,
        include_acknowledged,
    )
    names = set(prepared.PLACEHOLDER.findall(text))
    flags = "".join(
        "1" if flag else "0"
        for flag in (by_supplier, covered is not None, bool(covered), warehouse, product_type)
    )
    return prepared.Statement(
        f"stockflow_alerts_{flags}{int(include_acknowledged)}",
        text,
        {name: kind for name, kind in PREPARED_TYPES.items() if name in names},
        generic=True,
    )


def _prepared_page(args: dict) -> prepared.Statement:
    return prepared_page(
        args.get("supplier_id") is not None,
        args.get("covered"),
        args.get("warehouse_id") is not None,
        args.get("product_type") is not None,
        bool(args.get("include_acknowledged", False)),
    )


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
        "supplier_id": args.get("supplier_id"),
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
    dialect = db.session.get_bind().dialect.name
    if maintained and not stream and dialect == "postgresql":
        statement = _prepared_page(args)
        values = {name: parameters[name] for name in statement.types}
        return prepared.execute(db.session.connection(), statement, values).mappings()
    statement = STATEMENTS[dialect][maintained, by_supplier, args.get("covered")]
    options = {"yield_per": 1000} if stream else {}
    return db.session.execute(statement, parameters, execution_options=options).mappings()


def _derived(company_id: int, rows: list, days: int, today: dt.date) -> list[dict]:
    """The alerts of these rows (``derive``): their stock on order came with them; the
    lead times are looked up (one statement) only for the supplier links that have
    enough observations to learn one."""
    rows = [row for row in rows if row["product_id"] is not None]
    learned = lead_times(
        company_id,
        [(row["supplier_id"], row["product_id"]) for row in rows if row["may_learn"]],
    )
    return [
        derive(
            row,
            days,
            today,
            {"on_order": int(row["on_order"]), "next_delivery_at": row["next_delivery_at"]}
            if row["on_order"]
            else None,
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
    """Every alert of the query, as a generator (the rows are fetched, and their
    supply looked up, a thousand at a time)."""
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
    from the maintained state when ``maintained`` (see ``state_answers``). Every
    filter (``covered`` and acknowledgements included) is part of the statement, so
    the page is cut by the database."""
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
    yield from _every(company_id, args, today, maintained, now)


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


def explain(company_id: int, days: int = 30, maintained: bool = False, **filters) -> str:
    """``EXPLAIN (ANALYZE, BUFFERS)`` of the alert statement's first page (PostgreSQL;
    for bench/): of the maintained path (its prepared statement's EXECUTE, with the
    plan the requests get), or of the computed one; ``filters`` are query arguments
    (``covered=False``, ``supplier_id=3`` ...)."""
    args = {"days": days, "page": 1, "page_size": 100, **filters}
    parameters = _parameters(company_id, args, dt.datetime.now(dt.UTC).date())
    if maintained:
        page = _prepared_page(args)
        values = {name: parameters[name] for name in page.types}
        connection = db.session.connection()
        prepared.execute(connection, page, values).all()  # prepared on this connection
        analyzed = page.execute.replace("EXECUTE ", "EXPLAIN (ANALYZE, BUFFERS) EXECUTE ")
        return "\n".join(row[0] for row in connection.exec_driver_sql(analyzed, values))
    statement = STATEMENTS["postgresql"][
        maintained, args.get("supplier_id") is not None, args.get("covered")
    ]
    sql = str(statement)
    compiled = statement.bindparams(
        **{name: value for name, value in parameters.items() if f":{name}" in sql}
    ).compile(dialect=db.engine.dialect, compile_kwargs={"literal_binds": True})
    rows = db.session.execute(sa.text(f"EXPLAIN (ANALYZE, BUFFERS) {compiled}"))
    return "\n".join(row[0] for row in rows)
