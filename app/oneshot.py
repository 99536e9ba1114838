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

``statement_connection`` goes one step further for such a request: when its session
has no transaction yet, the statement takes a pool connection of its own rather than
the session's. The ORM session's bookkeeping (begin, connection, commit, close) cost a
one-statement write more Python than the statement's round trip did.
"""

from __future__ import annotations

import contextlib

from psycopg2 import extensions as psycopg2_extensions


@contextlib.contextmanager
def statement_connection(db):
    """A connection for a request's one write statement, and whether the statement is
    its own transaction there (``own_transaction``): on PostgreSQL, when the request's
    session (``db.session``, Flask-SQLAlchemy's) has no transaction open, a pool
    connection of its own, given back as the block ends; else the session's connection,
    inside the request's transaction."""
    engine = db.engine
    if engine.dialect.name == "postgresql" and not session_in_transaction(db):
        with engine.connect() as connection, own_transaction(connection) as alone:
            yield connection, alone
        return
    connection = db.session.connection()
    with own_transaction(connection) as alone:
        yield connection, alone


def session_in_transaction(db) -> bool:
    """Whether this request's session exists and has a transaction open (without making
    a session just to ask)."""
    return db.session.registry.has() and db.session().in_transaction()


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
