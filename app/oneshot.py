"""A statement that is its own transaction, when the request has none open yet.

psycopg2 opens a transaction (a ``BEGIN`` round trip) before a request's first
statement and ends it with a ``COMMIT`` round trip. For a request whose database
work is one statement, both are waste, and the COMMIT round trip is worse than waste
on a hot row: the row stays locked while the server waits for the app to send it
(and the app's thread may wait for the GIL first). Run with ``autocommit``,
PostgreSQL commits the statement as it ends: all of it or none of it, and its row
locks are held only while it runs and its commit is flushed.

Only when no transaction is open on the connection: a request that already wrote
(say, claimed an ``Idempotency-Key``) or read under a lock keeps its one transaction,
and the statement runs inside it as usual. SQLite: always inside the transaction.
"""

from __future__ import annotations

import contextlib

from psycopg2 import extensions as psycopg2_extensions


@contextlib.contextmanager
def own_transaction(connection):
    """Within this block, each statement on ``connection`` (a SQLAlchemy Connection)
    commits as it ends, if no transaction was open; yields whether that is so."""
    dbapi = (
        connection.connection.dbapi_connection if connection.dialect.name == "postgresql" else None
    )
    if (
        dbapi is None
        or dbapi.autocommit
        or dbapi.info.transaction_status != psycopg2_extensions.TRANSACTION_STATUS_IDLE
    ):
        yield False
        return
    dbapi.autocommit = True
    try:
        yield True
    finally:
        # a connection lost meanwhile is invalidated by SQLAlchemy; leave it be
        if not dbapi.closed:
            dbapi.autocommit = False
