"""Server-side prepared statements for the hottest statements (PostgreSQL).

psycopg2 sends every statement as text, and PostgreSQL parses and plans it anew: for
the sale's one statement (app/stock/fast.py) planning took about as long as running
it (0.2-0.3 ms of the server's CPU). A ``Statement`` is ``PREPARE``d once per
database connection, on its first use there, and then sent as ``EXECUTE name(...)``.

A prepared statement lives as long as its connection (a rollback keeps it; a new
connection, after a disconnect or a recycle, starts without it: the pool's record of
the connection is cleared then, and so is what we noted in it). PostgreSQL re-plans
it by itself when a table it reads changes (a migration).
"""

from __future__ import annotations

import dataclasses
import re

from app.distribution import on_citus

PLACEHOLDER = re.compile(r"%\((\w+)\)s")
_KEY = "stockflow_prepared"


@dataclasses.dataclass(frozen=True)
class Statement:
    """``sql`` with psycopg2's ``%(name)s`` parameters, whose SQL types ``types`` gives."""

    name: str
    sql: str
    types: dict[str, str]
    # run with the generic plan (made once per connection) rather than PostgreSQL's
    # choice, which keeps re-planning a statement whose generic plan it estimates the
    # costlier: SET LOCAL (to the end of the transaction) in the EXECUTE's round trip
    generic: bool = False

    def __post_init__(self):
        order = list(dict.fromkeys(PLACEHOLDER.findall(self.sql)))
        assert set(order) == set(self.types), (self.name, order, self.types)
        numbered = PLACEHOLDER.sub(lambda m: f"${order.index(m.group(1)) + 1}", self.sql)
        signature = ", ".join(self.types[name] for name in order)
        object.__setattr__(self, "prepare", f"PREPARE {self.name} ({signature}) AS {numbered}")
        arguments = ", ".join(f"%({name})s" for name in order)
        execute = f"EXECUTE {self.name} ({arguments})"
        # Citus plans a generic plan's parameters nowhere (it routes by the company id's
        # value): there the statement runs with PostgreSQL's choice of plan
        object.__setattr__(self, "execute_custom", execute)
        if self.generic:
            execute = f"SET LOCAL plan_cache_mode = force_generic_plan; {execute}"
        object.__setattr__(self, "execute", execute)


def _prepared_names(pooled) -> set[str]:
    """The statements prepared on ``pooled``'s connection (a pool connection, as
    SQLAlchemy hands it out: ``Connection.connection`` or ``Engine.raw_connection()``)."""
    dbapi = pooled.dbapi_connection
    owner, names = pooled.info.get(_KEY, (None, set()))
    if owner is not dbapi:  # a new connection under the same record
        names = set()
        pooled.info[_KEY] = (dbapi, names)
    return names


def execute(connection, statement: Statement, params: dict):
    """Run ``statement`` on ``connection`` (a SQLAlchemy Connection to PostgreSQL),
    preparing it there first if this connection has not yet."""
    names = _prepared_names(connection.connection)
    if statement.name not in names:
        # alone, so that a failure after it cannot leave us wrong about whether it exists
        connection.exec_driver_sql(statement.prepare)
        names.add(statement.name)
    if statement.generic and on_citus(connection.engine):
        return connection.exec_driver_sql(statement.execute_custom, params)
    return connection.exec_driver_sql(statement.execute, params)


def prepare_on(pooled, cursor, statement: Statement) -> str:
    """Prepare ``statement`` with ``cursor`` on ``pooled``'s connection (in autocommit)
    if it is not yet; the SQL that executes it."""
    names = _prepared_names(pooled)
    if statement.name not in names:
        cursor.execute(statement.prepare)
        names.add(statement.name)
    return statement.execute
