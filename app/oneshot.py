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

``execute_alone`` goes one step further for such a request: when its session has no
transaction yet, the statement takes a pool connection of its own rather than the
session's, and runs on psycopg2's cursor directly.
"""

from __future__ import annotations

import contextlib

import sqlalchemy as sa
from psycopg2 import extensions as psycopg2_extensions

from app import prepared

NOT_ALONE = object()


def execute_alone(db, statement, params):
    """Run the prepared ``statement`` (app.prepared) as its own transaction when no
    transaction is open yet (PostgreSQL): its first row (a tuple), or None.
    ``NOT_ALONE`` when a transaction is open: the caller runs it in the request's
    transaction instead.

    When the request's session (``db.session``) has no transaction, the statement takes
    a pool connection of its own and goes to psycopg2's cursor as it is: SQLAlchemy's
    Core execution (its context and result objects) and the ORM session's bookkeeping
    cost a one-statement write more Python than its round trip did. The pool is
    SQLAlchemy's still (checkout listeners, app.liveness, included), and so are the
    errors: a DBAPI error comes out as SQLAlchemy's (``IntegrityError``,
    ``OperationalError``: app.errors maps them), and a lost connection is invalidated,
    as SQLAlchemy's execution would do."""
    engine = db.engine
    if engine.dialect.name != "postgresql":
        return NOT_ALONE
    if session_in_transaction(db):
        # the session's connection, if its transaction holds none open there (a key
        # lookup that was its own transaction, app.auth)
        connection = db.session.connection()
        with own_transaction(connection) as alone:
            if alone:
                return prepared.execute(connection, statement, params).first()
        return NOT_ALONE
    error_class = engine.dialect.loaded_dbapi.Error
    try:
        pooled = engine.raw_connection()
    except error_class as error:  # no connection (the server is down): as Engine.connect
        raise sa.exc.DBAPIError.instance(None, None, error, error_class) from error
    dbapi = pooled.dbapi_connection
    sql = None
    try:
        dbapi.autocommit = True
        with dbapi.cursor() as cursor:
            sql = prepared.prepare_on(pooled, cursor, statement)
            cursor.execute(sql, params)
            return cursor.fetchone()
    except error_class as error:
        lost = engine.dialect.is_disconnect(error, dbapi, None)
        if lost:
            pooled.invalidate(error)
        raise sa.exc.DBAPIError.instance(
            sql, params, error, error_class, connection_invalidated=lost
        ) from error
    finally:
        if not dbapi.closed:
            dbapi.autocommit = False
        pooled.close()


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
