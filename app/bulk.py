"""Multi-row statements for the volume paths (batch operations, catalog import).

SQLAlchemy builds a statement of thousands of bound values slowly: compiling a
1,000-row ``VALUES`` and processing its parameters costs ~100 ms of Python, ten
times what the database needs to run it. These helpers send such statements to the
driver as plain SQL with positional parameters, converting values the way the
models' column types would (SQLite stores decimals as text and times as naive UTC
text). Use them only for statements whose SQL is written next to the call.

On PostgreSQL, ``insert`` sends one array literal per column instead of one parameter
per value: psycopg2 quotes every parameter in Python (~1.2 µs each, 17 ms for a
1,000-row ledger INSERT of 13 columns, while the batch holds its row locks), and a
column's whole text is one parameter.
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import re

import sqlalchemy as sa

from app.extensions import db
from app.models import TWO_PLACES

# rows per statement: SQLite allows 32,766 bound values in one statement
CHUNK = 1000


def is_sqlite() -> bool:
    """Whether the session's database is SQLite."""
    return db.session.get_bind().dialect.name == "sqlite"


def chunks(items: list, size: int = CHUNK):
    """``items`` in slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _bind_sqlite(value):
    if isinstance(value, decimal.Decimal):
        return str(value.quantize(TWO_PLACES))
    if isinstance(value, dt.datetime):
        # as models.UTCDateTime writes it: naive UTC, SQLAlchemy's SQLite format
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


def values(rows: list[tuple]) -> tuple[str, list]:
    """``(?, ?), (?, ?)`` for the rows (``%s`` on PostgreSQL), and the flat parameters."""
    mark = "?" if is_sqlite() else "%s"
    width = len(rows[0])
    row_sql = "(" + ", ".join([mark] * width) + ")"
    params = [value for row in rows for value in row]
    if mark == "?":
        params = [_bind_sqlite(v) for v in params]
    return ", ".join([row_sql] * len(rows)), params


def _array_element(value) -> str:
    """``value`` as an element of a PostgreSQL array literal (``{...}``), read by the
    element type's input function as the column reads a bound value."""
    if value is None:
        return "NULL"
    if value is True or value is False:
        return "t" if value else "f"
    if isinstance(value, int | decimal.Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        text = value.isoformat()
    elif isinstance(value, str):
        text = value
    else:
        raise TypeError(f"no array literal for {type(value).__name__}")
    # quoted: any character may follow; only the quote and the backslash are escaped
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def array_literal(column: list) -> str:
    """A PostgreSQL array literal of the column's values. A column of one value (the
    batch's company, operation id, time ...) is converted once, integers directly;
    other values once per distinct value (a decimal's text, which keeps its scale, is
    never shared: 4.5 and 4.50 are equal)."""
    if len(set(map(id, column))) == 1:  # one object (the column is alive: ids are unique)
        return "{" + ",".join([_array_element(column[0])] * len(column)) + "}"
    if set(map(type, column)) == {int}:
        return "{" + ",".join(map(str, column)) + "}"
    seen: dict = {}
    parts = []
    for value in column:
        kind = type(value)
        if kind is decimal.Decimal:
            parts.append(str(value))
            continue
        # equal times with one UTC offset have one ISO text
        key = (kind, value, value.utcoffset()) if kind is dt.datetime else (kind, value)
        text = seen.get(key)
        if text is None:
            text = seen[key] = _array_element(value)
        parts.append(text)
    return "{" + ",".join(parts) + "}"


def _element_type(table: str, column: str) -> str:
    """The column's SQL type without length or precision (a cast to ``varchar(n)``
    would truncate silently; the INSERT's assignment refuses too long a value)."""
    return _type_of(db.session.get_bind().dialect, table, column)


@functools.cache
def _type_of(dialect, table: str, column: str) -> str:
    compiled = db.metadata.tables[table].c[column].type.compile(dialect)
    return re.sub(r"\(.*\)", "", compiled).strip()


def insert(table: str, columns: list[str], rows: list[tuple], tail: str = ""):
    """``INSERT INTO table (columns) VALUES rows tail``: one statement, run.

    The tenant tables' primary keys are ``(company_id, id)``. PostgreSQL draws each
    new row's id from the table's sequence, in the rows' order (``WITH ORDINALITY``
    sorted: the rows are sent as one array per column); SQLite auto-increments only a
    single ``INTEGER PRIMARY KEY``, so there the statement numbers its rows after the
    largest id itself, as ``models.NextId`` does for one row: one statement, under
    SQLite's single-writer lock (it reads the table before inserting, so ``MAX(id)``
    is taken once, before the first row goes in). ``tail`` is what follows the rows
    (``ON CONFLICT ...``, ``RETURNING ...``).
    """
    names = ", ".join(columns)
    if not is_sqlite():
        source, params = _unnest([_element_type(table, c) for c in columns], rows)
        aliases = ", ".join(f"c{i}" for i in range(len(columns)))
        return execute(
            f"INSERT INTO {table} ({names}) SELECT {aliases} "
            f"FROM {source} WITH ORDINALITY AS v ({aliases}, n) ORDER BY n {tail}",
            params,
        )
    sql, params = values([(number, *row) for number, row in enumerate(rows, 1)])
    picked = ", ".join(f"column{i}" for i in range(2, len(columns) + 2))
    # "WHERE true" lets SQLite read ON CONFLICT after a SELECT as the upsert clause
    return execute(
        f"INSERT INTO {table} (id, {names}) "
        f"SELECT (SELECT COALESCE(MAX(id), 0) FROM {table}) + column1, {picked} "
        f"FROM (VALUES {sql}) WHERE true {tail}",
        params,
    )


def relation(columns: list[tuple[str, str]], rows: list[tuple]) -> tuple[str, list]:
    """The rows as a relation ``v`` of these ``(name, SQL type)`` columns, to read FROM:
    one array per column on PostgreSQL (``unnest``), ``VALUES`` on SQLite; its SQL and
    parameters."""
    if is_sqlite():
        sql, params = values(rows)
        picked = ", ".join(f"column{i} AS {name}" for i, (name, _) in enumerate(columns, 1))
        return f"(SELECT {picked} FROM (VALUES {sql})) AS v", params
    source, params = _unnest([kind for _, kind in columns], rows)
    names = ", ".join(name for name, _ in columns)
    return f"{source} AS v ({names})", params


def _unnest(kinds: list[str], rows: list[tuple]) -> tuple[str, list]:
    """``unnest`` of one array per column, of these SQL types (PostgreSQL), and its
    parameters: each column's values as one array literal."""
    arrays = ", ".join(f"%s::{kind}[]" for kind in kinds)
    return f"unnest({arrays})", [array_literal(list(column)) for column in zip(*rows, strict=True)]


def execute(sql: str, params: list):
    """Run one statement with positional parameters in the session's transaction.

    ``{mark}`` in ``sql`` stands for one more positional parameter."""
    sql = sql.replace("{mark}", "?" if is_sqlite() else "%s")
    if is_sqlite():
        params = [_bind_sqlite(v) for v in params]
    return db.session.connection().exec_driver_sql(sql, tuple(params))


def utc(value) -> dt.datetime:
    """A timestamp the driver returned, as an aware UTC datetime (SQLite returns text)."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def inline_sql(expression, table) -> str:
    """An SQL expression over ``table``'s columns as text for the session's database, its
    values inlined: a rule kept as a SQLAlchemy expression (e.g. ``threshold_of``) inside
    one of these statements. Compiled inside ``SELECT ... FROM table`` so that its
    subqueries stay correlated to ``table``."""
    compiled = str(
        sa.select(expression.label("inline_value"))
        .select_from(table)
        .compile(dialect=db.session.get_bind().dialect, compile_kwargs={"literal_binds": True})
    )
    head, separator, _ = compiled.removeprefix("SELECT ").rpartition(" AS inline_value")
    assert separator, compiled
    return head
