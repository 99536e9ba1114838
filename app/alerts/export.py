"""Every alert as CSV, written by PostgreSQL: ``COPY (the alert statement) TO STDOUT``.

The JSON pages derive each alert's figures in Python (``queries.derive``), for a page
of rows. For every alert at once that per-row Python was as costly as the statement
itself (10,000 alerts: ~140 ms of dictionaries, dates and ``csv.writer`` after a
~135 ms statement). Here the same statement's rows get the same derivation in SQL
(``DERIVED``, rule for rule the one of ``derive``, with the learned lead times of
``app.suppliers.queries``), and PostgreSQL writes the CSV itself, in C, as the rows
come out of the statement. The Python left is copying bytes.

``tests/test_alerts_reference.py`` holds the two derivations to each other: on random
data sets (open orders in every state, learned lead times, acknowledgements, formula
text), every cell of this CSV equals the JSON answer's. SQLite (no COPY) writes the
CSV from the JSON derivation (``routes.csv_lines``).

The CSV goes to a temporary file (not into the worker's memory), then out in chunks
of ``CHUNK_BYTES``. Nothing is lost by not sending while the statement runs: its rows are
sorted at the end, so the first row exists only when the last one does.
"""

from __future__ import annotations

import datetime as dt
import functools
import tempfile

from app.alerts import queries
from app.alerts.schemas import CSV_COLUMNS, FORMULA_STARTS
from app.extensions import db
from app.schemas import MAX_INT
from app.suppliers.queries import MIN_OBSERVATIONS, OBSERVATIONS

CHUNK_BYTES = 1 << 18


def _text(cell: str) -> str:
    """A text cell: a leading apostrophe on what a spreadsheet would run as a formula
    (``schemas.csv_row``), decided on the first character's code (an integer
    comparison: cheaper per cell than comparing strings)."""
    codes = ", ".join(str(ord(c)) for c in FORMULA_STARTS)
    return f"CASE WHEN ascii({cell}) IN ({codes}) THEN '''' || {cell} ELSE {cell} END"


def _time(cell: str) -> str:
    """A timestamp as Python's ``isoformat`` writes it (microseconds only when there are
    some; the session's offset as +HH:MM)."""
    return f"""(to_char({cell}, 'YYYY-MM-DD"T"HH24:MI:SS')
        || CASE WHEN mod(CAST(date_part('microseconds', {cell}) AS INTEGER), 1000000) <> 0
                THEN to_char({cell}, '.US') ELSE '' END
        || to_char({cell}, 'TZH:TZM'))"""


def _ceil_div(dividend: str, divisor: str) -> str:
    """Integer division rounded up, exact at any size (numeric), for a dividend >= 0."""
    return f"div(CAST({dividend} AS NUMERIC) + {divisor} - 1, {divisor})"


# ``queries.derive``, step by step: each LATERAL reads the steps before it
DERIVED = f"""
CROSS JOIN LATERAL (
    -- the link's learned lead time: the median of its latest observations, rounded
    -- up, once there are enough (app.suppliers.queries.observed_lead_time); looked
    -- up only for the links that have enough (``may_learn``)
    SELECT CASE WHEN a.may_learn THEN (
        SELECT CASE WHEN COUNT(*) >= {MIN_OBSERVATIONS}
                    THEN CAST(CEIL(percentile_cont(0.5) WITHIN GROUP (ORDER BY latest.days))
                              AS INTEGER) END
        FROM (
            SELECT lo.days FROM lead_time_observations lo
            WHERE lo.company_id = %(company_id)s
              AND lo.supplier_id = a.supplier_id AND lo.product_id = a.product_id
            ORDER BY lo.observed_at DESC, lo.id DESC
            LIMIT {OBSERVATIONS}
        ) AS latest) END AS days
) AS learned
CROSS JOIN LATERAL (
    SELECT
        CAST(COALESCE(a.on_order, 0) AS BIGINT) AS incoming,
        CASE WHEN COALESCE(a.on_order, 0) <> 0 THEN a.next_delivery_at END AS next_delivery,
        CASE WHEN a.supplier_id IS NOT NULL AND learned.days IS NOT NULL
             THEN learned.days ELSE a.lead_time_days END AS lead_time,
        CASE WHEN a.supplier_id IS NULL THEN NULL
             WHEN learned.days IS NOT NULL THEN 'observed'
             ELSE 'configured' END AS lead_time_source,
        CASE WHEN a.units_sold <> 0 AND a.days_until_stockout <= %(last_day)s
             THEN %(today)s + CAST(a.days_until_stockout AS INTEGER) END AS stockout
) AS d1
CROSS JOIN LATERAL (
    SELECT
        a.current_stock + d1.incoming AS projected,
        d1.incoming > 0 AND a.current_stock + d1.incoming >= a.threshold
            AND (d1.stockout IS NULL OR (d1.next_delivery IS NOT NULL
                                         AND CAST(d1.next_delivery AS DATE) <= d1.stockout))
            AS covered,
        a.days_until_stockout - COALESCE(d1.lead_time, 0) AS margin,
        {_ceil_div("a.units_sold * (COALESCE(d1.lead_time, 0) + %(days)s)", "%(days)s")}
            - a.current_stock - d1.incoming AS needed,
        COALESCE(NULLIF(a.min_order_quantity, 0), 1) AS minimum,
        COALESCE(NULLIF(a.pack_size, 0), 1) AS pack
) AS d2"""

CELLS = {
    "product_id": "a.product_id",
    "product_name": _text("a.product_name"),
    "sku": _text("a.sku"),
    "warehouse_id": "a.warehouse_id",
    "warehouse_name": _text("a.warehouse_name"),
    "current_stock": "a.current_stock",
    "threshold": "a.threshold",
    "threshold_source": "a.threshold_source",  # one of the statement's own words
    "product_type": _text("a.product_type"),
    "units_sold_in_window": "a.units_sold",
    "avg_daily_sales": "round(CAST(a.units_sold AS NUMERIC) / %(days)s, 2)",
    "days_until_stockout": "a.days_until_stockout",
    "stockout_date": "d1.stockout",
    "urgency": f"""CASE WHEN a.current_stock = 0 OR d2.margin < 0 THEN 'critical'
        WHEN d2.margin < {queries.HIGH_URGENCY_MARGIN_DAYS} THEN 'high' ELSE 'normal' END""",
    "supplier_id": "a.supplier_id",
    "supplier_name": _text("a.supplier_name"),
    "supplier_contact_email": _text("a.contact_email"),
    "lead_time_days": "d1.lead_time",
    "cost_price": "a.cost_price",
    "reorder_by": "d1.stockout - d1.lead_time",
    "suggested_reorder_quantity": f"""CASE WHEN d1.incoming <> 0 AND d2.needed <= 0 THEN 0
        ELSE LEAST({_ceil_div("GREATEST(d2.needed, d2.minimum)", "d2.pack")} * d2.pack,
                   {queries.MAX_SUGGESTED_REORDER}) END""",
    "reorder_quantity": "a.reorder_quantity",
    "lead_time_source": "d1.lead_time_source",
    "on_order": "d1.incoming",
    "projected_quantity": "d2.projected",
    "next_delivery_at": _time("d1.next_delivery"),
    "covered": "CASE WHEN d2.covered THEN 'true' ELSE 'false' END",
    "acknowledgement_id": "a.acknowledgement_id",
    "acknowledged_at": _time("a.acknowledged_at"),
    "acknowledged_by": _text("a.acknowledged_by"),
    "acknowledged_until": _time("a.acknowledged_until"),
    "acknowledgement_note": _text("a.acknowledgement_note"),
}
assert list(CELLS) == CSV_COLUMNS
assert queries.MAX_SUGGESTED_REORDER == MAX_INT


@functools.cache
def _copy_sql(maintained: bool, by_supplier: bool, covered: bool | None) -> str:
    """The COPY of the alert statement's every row, derived and written as CSV (built
    once per variant, as ``queries.prepared_page`` is)."""
    statement = queries.BIND.sub(
        r"%(\1)s", queries.for_database(queries.SQL_OF[maintained, by_supplier](covered))
    )
    columns = ",\n    ".join(f'{cell} AS "{name}"' for name, cell in CELLS.items())
    order = ", ".join(f"a.{column}" for column in queries.ORDER.split(", "))
    return f"""COPY (
SELECT
    {columns}
FROM ({statement}) AS a
{DERIVED}
WHERE a.product_id IS NOT NULL  -- the statement's row of the total alone, when none
ORDER BY {order}
) TO STDOUT WITH (FORMAT csv, HEADER, NULL '')"""


def every_alert_csv(company_id: int, args: dict, today: dt.date, maintained: bool, now):
    """Every alert of the query as CSV (header first): chunks of bytes, and their
    length in all (the response's Content-Length: no chunked encoding to write and
    read). The COPY runs now, in the request's transaction; the chunks are read from
    its temporary file as they are sent."""
    parameters = queries._parameters(
        company_id, {**args, "page": 1, "page_size": queries.EVERY_ROW}, today, now
    )
    parameters.update(today=today, last_day=(dt.date.max - today).days)
    sql = _copy_sql(maintained, args.get("supplier_id") is not None, args.get("covered"))
    written = tempfile.TemporaryFile()
    try:
        cursor = db.session.connection().connection.dbapi_connection.cursor()
        with cursor:
            cursor.copy_expert(cursor.mogrify(sql, parameters), written, size=CHUNK_BYTES)
        size = written.tell()
        written.seek(0)
    except BaseException:
        written.close()
        raise
    return _chunks(written), size


def _chunks(written):
    with written:
        while chunk := written.read(CHUNK_BYTES):
            yield chunk
