"""A pooled connection is checked before use, without a round trip of its own where it can.

SQLAlchemy's ``pool_pre_ping`` sends ``SELECT 1`` whenever a connection leaves the pool:
one round trip more per request, a third of a single sale's. Instead (PostgreSQL):

- an API request's first statement is usually a read: its key lookup (``app.auth``),
  or a poll's version read, which also confirms a key the worker has seen
  (``app.changes.alert_versions``). Its checkout is not pinged: if the read finds the
  connection dead (the server restarted, a proxy dropped it), SQLAlchemy invalidates it
  and every connection pooled before that moment, and the read, with nothing done yet,
  runs once more on a fresh connection (``first_read``). The client sees no error, as
  with the ping;
- every other checkout (a write that comes first, such as a sale whose key the worker
  has seen: a write is never sent twice; the operator's routes, ``/ready``, commands)
  is pinged as ``pool_pre_ping`` would, and a dead connection is replaced before use.
"""

from __future__ import annotations

import contextlib

import sqlalchemy as sa
from flask import g, has_request_context

from app.extensions import db

_UNPINGED = "checkout_unpinged"


def install(engine: sa.Engine) -> None:
    """Ping checkouts of ``engine`` (a PostgreSQL one; call before other checkout
    listeners, which then see only the checkout that succeeded)."""

    def ping(dbapi_connection, _record, _proxy) -> None:
        if has_request_context() and g.pop(_UNPINGED, False):
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            if engine.dialect.is_disconnect(error, dbapi_connection, None):
                # the pool replaces the connection and checks out again
                raise sa.exc.DisconnectionError() from error
            raise

    sa.event.listen(engine, "checkout", ping)


@contextlib.contextmanager
def first_use():
    """Around a request's first statement, a read that may run twice: its checkout is
    not pinged. The caller retries once on ``dead_connection``."""
    g.setdefault(_UNPINGED, True)
    try:
        yield
    finally:
        g.pop(_UNPINGED, None)


def dead_connection(error: sa.exc.DBAPIError) -> bool:
    """Whether the statement failed because its connection was gone (now replaced)."""
    return error.connection_invalidated


def first_read(read):
    """``read()``, a read that may be the request's first statement, on an unpinged
    checkout: run once more on a fresh connection if its connection was dead."""
    try:
        with first_use():
            return read()
    except sa.exc.DBAPIError as error:
        if not dead_connection(error):
            raise
        db.session.rollback()  # let go of the dead connection
        return read()
