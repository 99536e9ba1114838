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
  first looks at its socket, a system call and no round trip: an idle connection has
  nothing to read, so a quiet socket is taken as it is. A server that ended the
  connection (a restart, ``pg_terminate_backend``, a proxy or an idle timeout closing
  it) has sent its goodbye or closed the socket, which makes it readable: that
  checkout, or one whose socket cannot be polled, is pinged as ``pool_pre_ping``
  would, and a dead connection is replaced before use. (A live connection with
  something unread, such as a notice, passes the ping and is kept.)

  What no check before use can see, the ping included, is a connection that dies
  after it: the peer's host vanishing without a word, or a kill between the check and
  the statement. Such a write fails with a 503 problem and is not resent; the client
  retries with its ``Idempotency-Key``.
"""

from __future__ import annotations

import contextlib
import select

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
        if quiet(dbapi_connection):
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            if engine.dialect.is_disconnect(error, dbapi_connection, None):
                # the pool replaces the connection and checks out again
                raise sa.exc.DisconnectionError() from error
            raise

    sa.event.listen(engine, "checkout", ping)


def quiet(dbapi_connection) -> bool:
    """Whether an idle psycopg2 connection's socket is open with nothing to read: no
    word from the server since its last answer (libpq has read that answer whole)."""
    if dbapi_connection.closed:
        return False
    try:
        poller = select.poll()  # no FD_SETSIZE bound, unlike select.select
        poller.register(dbapi_connection.fileno(), select.POLLIN)
        # also reports POLLHUP and POLLERR: a closed or broken socket is not quiet
        return not poller.poll(0)
    except (OSError, ValueError):
        return False


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
