"""Prometheus metrics at ``/metrics``, for operators only.

- HTTP: requests and their latency by route template (``/api/products/<id:product_id>``,
  never the raw path, so ids don't explode the series), method and status.
- Database: pooled connections in use.
- Business: ledger rows written by reason (counted when their transaction commits),
  alert requests by outcome (``computed``, or ``not_modified`` for a 304 that skipped
  the alert query), idempotent replays, and webhook delivery attempts by outcome
  (counted by the worker, ``flask worker``; see "Delivery and the worker" in the README).

Under gunicorn every worker is its own process: ``gunicorn.conf.py`` points
``PROMETHEUS_MULTIPROC_DIR`` at a directory where prometheus_client's multiprocess
mode keeps each worker's samples, and ``/metrics`` adds them up (whichever worker
answers). Without it (``flask run``, tests) the process's own registry is served.

``/metrics`` is a 404 unless ``STOCKFLOW_METRICS_TOKEN`` is set, and then needs
``Authorization: Bearer <that token>`` (401 otherwise).
"""

from __future__ import annotations

import collections
import hmac
import os
import time

import sqlalchemy as sa
from flask import Blueprint, Flask, Response, abort, current_app, g, request
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    multiprocess,
)
from prometheus_client.exposition import choose_encoder

from app.errors import Problem, problem_type_uri
from app.models import LedgerEntry

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
ALERTS_ENDPOINT = "alerts.LowStockAlerts"
# a request that matched no route is counted under this one name
UNMATCHED = "<unmatched>"

HTTP_REQUESTS = Counter(
    "stockflow_http_requests_total",
    "HTTP requests answered, by route template, method and status",
    ["route", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "stockflow_http_request_duration_seconds",
    "Time from the first request hook to the response, by route template, method and status",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
DB_POOL_IN_USE = Gauge(
    "stockflow_db_pool_connections_in_use",
    "Database connections checked out of the pool (all workers)",
    multiprocess_mode="livesum",
)
LEDGER_ROWS = Counter(
    "stockflow_ledger_rows_written_total",
    "Ledger rows committed, by reason (sale, receipt, transfer_in, ...)",
    ["reason"],
)
ALERT_REQUESTS = Counter(
    "stockflow_alert_requests_total",
    "Low-stock alert requests: computed (200) or not_modified (304, no alert query run)",
    ["outcome"],
)
WEBHOOK_ATTEMPTS = Counter(
    "stockflow_webhook_attempts_total",
    "Webhook delivery attempts by outcome: succeeded, retry (scheduled again), failed "
    "(refused or answered 4xx: no retry), gave_up (retry budget spent, endpoint "
    "disabled), stale (the lease was lost; the result was dropped)",
    ["outcome"],
)
IDEMPOTENT_REPLAYS = Counter(
    "stockflow_idempotent_replays_total",
    "Mutating requests answered by replaying the response stored for their Idempotency-Key",
)

bp = Blueprint("metrics", __name__)

_PENDING = "stockflow_metrics_ledger"


def init_app(app: Flask, engine) -> None:
    """Time every request, watch the app's pool, count committed ledger rows."""
    app.before_request(_start_timer)
    app.after_request(_record)
    sa.event.listen(engine, "checkout", _checked_out)
    sa.event.listen(engine, "checkin", _checked_in)
    for name, listener in (
        ("after_flush", _collect_ledger_rows),
        ("after_commit", _count_ledger_rows),
        ("after_rollback", _forget_ledger_rows),
    ):
        if not sa.event.contains(sa.orm.Session, name, listener):
            sa.event.listen(sa.orm.Session, name, listener)
    app.register_blueprint(bp)


def _start_timer() -> None:
    g.metrics_started = time.perf_counter()


def _record(response):
    """``after_request``: one sample per answered request."""
    started = g.pop("metrics_started", None)
    route = request.url_rule.rule if request.url_rule is not None else UNMATCHED
    labels = (route, request.method, str(response.status_code))
    HTTP_REQUESTS.labels(*labels).inc()
    if started is not None:
        HTTP_LATENCY.labels(*labels).observe(time.perf_counter() - started)
    if request.endpoint == ALERTS_ENDPOINT:
        if response.status_code == 200:
            ALERT_REQUESTS.labels("computed").inc()
        elif response.status_code == 304:
            ALERT_REQUESTS.labels("not_modified").inc()
    if response.headers.get("Idempotent-Replayed") == "true":
        IDEMPOTENT_REPLAYS.inc()
    return response


def _checked_out(*_args) -> None:
    DB_POOL_IN_USE.inc()


def _checked_in(*_args) -> None:
    DB_POOL_IN_USE.dec()


def _collect_ledger_rows(session, _flush_context) -> None:
    """Remember the ledger rows of this transaction; they count only if it commits."""
    reasons = [obj.reason for obj in session.new if isinstance(obj, LedgerEntry)]
    if reasons:
        session.info.setdefault(_PENDING, collections.Counter()).update(reasons)


def pending_ledger_rows(session, reasons) -> None:
    """Ledger rows written without the ORM (Core statements): counted if they commit."""
    session.info.setdefault(_PENDING, collections.Counter()).update(reasons)


def committed_ledger_rows(reasons) -> None:
    """Ledger rows a statement wrote and committed by itself (app.oneshot): counted now."""
    for reason in reasons:
        LEDGER_ROWS.labels(reason).inc()


def _count_ledger_rows(session) -> None:
    for reason, count in session.info.pop(_PENDING, {}).items():
        LEDGER_ROWS.labels(reason).inc(count)


def _forget_ledger_rows(session) -> None:
    session.info.pop(_PENDING, None)


def serve_metrics_only(app: Flask, bind: str):
    """Serve the app's ``/metrics`` (same token rule) and nothing else on ``bind``
    (``host:port``), from a daemon thread; the server, for its port and shutdown.

    For the webhook worker: its counters live in its own process (its own container
    under compose), which gunicorn's ``/metrics`` cannot see."""
    import threading
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    host, _, port = bind.rpartition(":")

    def only_metrics(environ, start_response):
        if environ.get("PATH_INFO") != "/metrics":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"Not Found\n"]
        return app(environ, start_response)

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args):
            pass

    server = make_server(
        host.strip("[]") or "0.0.0.0", int(port), only_metrics, handler_class=Quiet
    )
    threading.Thread(target=server.serve_forever, daemon=True, name="metrics").start()
    return server


@bp.get("/metrics")
def metrics():
    """The Prometheus text exposition, for the holder of the metrics token."""
    token = current_app.config.get("STOCKFLOW_METRICS_TOKEN")
    if not token:
        abort(404)
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode(), token.encode()
    ):
        raise Problem(
            401,
            "Metrics need 'Authorization: Bearer <STOCKFLOW_METRICS_TOKEN>'.",
            type_=problem_type_uri("unauthorized"),
            headers={"WWW-Authenticate": 'Bearer realm="stockflow-metrics"'},
        )
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    # the format the scraper asks for (Accept): Prometheus' text format or OpenMetrics
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    response = Response(encode(registry), mimetype=None)
    response.headers["Content-Type"] = content_type
    response.headers["Cache-Control"] = "no-store"
    return response
