"""The webhook worker (issue 14): events from real API operations reach a local
receiver signed, once, in order per product-warehouse; failures are retried with
backoff for the retry budget and then disable the endpoint; a worker killed
mid-delivery loses nothing; SIGTERM finishes the delivery in flight; workers side
by side never deliver one delivery twice at once; production refuses loopback at
delivery time.

Most tests drive the worker in-process (``Worker.run_once``) with a clock the test
moves, so nothing sleeps through a backoff; the process tests start ``flask worker``
against the test database. Endpoints are rows written directly (the webhooks API
is another change)."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import http.server
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY

from app.events import delivery, secrets
from app.events.worker import Settings, Worker, backoff
from app.extensions import db
from app.metrics import serve_metrics_only
from app.models import Event, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from tests.conftest import ROOT, build_app
from tests.helpers import free_port
from tests.test_purchasing import receive, shop, submitted  # noqa: F401 (shop: a fixture)

ROUNDS = 20
STOCK_EVENTS = ["stock.low", "stock.out", "stock.recovered", "purchase_order.received"]


# -- a receiver on loopback


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float
    path: str


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 that records every POST and answers with
    ``respond(request)`` -> (status, headers) (200 unless told)."""

    url: str = ""
    requests: list[Received] = field(default_factory=list)
    respond: object = None
    # set: the next request waits for ``release`` before it is answered
    hold: threading.Event | None = None
    release: threading.Event = field(default_factory=threading.Event)
    arrived: threading.Event = field(default_factory=threading.Event)
    in_flight: dict[str, int] = field(default_factory=dict)
    overlaps: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def types(self) -> list[str]:
        return [r.headers["StockFlow-Event-Type"] for r in self.requests]

    def payloads(self) -> list[dict]:
        return [json.loads(r.body) for r in self.requests]


@pytest.fixture
def receiver():
    state = Receiver()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            uid = self.headers.get("StockFlow-Event-Id", "")
            with state.lock:
                state.requests.append(
                    Received(dict(self.headers.items()), body, time.monotonic(), self.path)
                )
                state.in_flight[uid] = state.in_flight.get(uid, 0) + 1
                if state.in_flight[uid] > 1:
                    state.overlaps.append(uid)
                hold, state.hold = state.hold, None
            state.arrived.set()
            try:
                if hold is not None:
                    state.release.wait(30)
                status, headers = state.respond(state.requests[-1]) if state.respond else (200, {})
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
            except OSError:
                pass  # the worker was killed mid-request
            finally:
                with state.lock:
                    state.in_flight[uid] -= 1

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/stockflow"
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
        thread.join(10)


# -- endpoints, a clock, the worker


def make_endpoint(app, tenant, url, events=None) -> tuple[int, str]:
    """An endpoint (id, secret) subscribed to ``events`` (the stock events), made
    through the API (development accepts a loopback URL)."""
    response = app.test_client().post(
        "/api/webhooks", json={"url": url, "events": events or STOCK_EVENTS}, headers=tenant.headers
    )
    assert response.status_code == 201, response.json
    return response.json["id"], response.json["secret"]


class Clock:
    """Real time plus what the test skipped ahead (the worker's scheduling; the
    signatures use real time)."""

    def __init__(self):
        self.skipped = dt.timedelta()

    def __call__(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.skipped

    def advance(self, **delta) -> None:
        self.skipped += dt.timedelta(**delta)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def worker(app, clock):
    return Worker(app, Settings(), clock=clock)


def deliveries(app, tenant) -> list[WebhookDelivery]:
    with app.app_context():
        rows = db.session.scalars(
            sa.select(WebhookDelivery)
            .where(WebhookDelivery.company_id == tenant.id)
            .order_by(WebhookDelivery.id)
        ).all()
        db.session.expunge_all()
        return rows


def attempts(app, tenant) -> list[WebhookAttempt]:
    with app.app_context():
        rows = db.session.scalars(
            sa.select(WebhookAttempt)
            .where(WebhookAttempt.company_id == tenant.id)
            .order_by(WebhookAttempt.id)
        ).all()
        db.session.expunge_all()
        return rows


def endpoint_row(app, tenant, endpoint_id) -> WebhookEndpoint:
    with app.app_context():
        row = db.session.get(WebhookEndpoint, (tenant.id, endpoint_id))
        db.session.expunge(row)
        return row


@pytest.fixture
def row(client, company, make_warehouse, make_product):
    """A product with 10 units in a warehouse, threshold 5."""
    warehouse = make_warehouse(company)
    product = make_product(
        company,
        low_stock_threshold=5,
        initial_stock=[{"warehouse_id": warehouse["id"], "quantity": 10}],
    )
    return {"product_id": product["id"], "warehouse_id": warehouse["id"]}


def stock(client, tenant, row, kind, quantity, status=201):
    response = client.post(
        f"/api/stock/{kind}", json={**row, "quantity": quantity}, headers=tenant.headers
    )
    assert response.status_code == status, response.get_json()
    return response


# -- delivery of real events


def test_a_sale_below_the_threshold_is_delivered_signed_with_its_headers(
    app, client, company, row, receiver, worker
):
    endpoint_id, secret = make_endpoint(app, company, receiver.url)
    stock(client, company, row, "sales", 6)
    assert worker.run_once() == 1

    [request] = receiver.requests
    with app.app_context():
        event = db.session.scalars(sa.select(Event).where(Event.company_id == company.id)).one()
    # the stored bytes, exactly, signed with the endpoint's secret
    assert request.body == event.payload.encode()
    assert secrets.verify(secret, request.headers["StockFlow-Signature"], request.body)
    assert not secrets.verify("whsec_other", request.headers["StockFlow-Signature"], request.body)
    assert request.headers["StockFlow-Event-Id"] == event.uid
    assert request.headers["StockFlow-Event-Type"] == "stock.low"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"].startswith("StockFlow-Webhooks/")
    assert request.path == "/hooks/stockflow"
    payload = json.loads(request.body)
    assert payload["id"] == event.uid and payload["type"] == "stock.low"
    assert payload["data"]["quantity"] == 4

    [done] = deliveries(app, company)
    assert (done.status, done.attempts, done.last_status_code) == ("succeeded", 1, 200)
    assert done.delivered_at is not None
    [attempt] = attempts(app, company)
    assert attempt.status_code == 200 and attempt.error is None
    assert attempt.duration_ms is not None and attempt.next_retry_at is None
    # nothing more to do
    assert worker.run_once() == 0 and len(receiver.requests) == 1


def test_low_out_and_recovered_arrive_in_the_order_they_happened(
    app, client, company, row, receiver, worker
):
    make_endpoint(app, company, receiver.url)
    stock(client, company, row, "sales", 6)  # 10 -> 4: low
    stock(client, company, row, "sales", 4)  # 4 -> 0: out
    stock(client, company, row, "receipts", 7)  # 0 -> 7: recovered
    assert worker.run_once() == 3
    assert receiver.types() == ["stock.low", "stock.out", "stock.recovered"]
    assert [p["data"]["quantity"] for p in receiver.payloads()] == [4, 0, 7]


def test_a_purchase_order_receipt_is_delivered(app, client, company, shop, receiver, worker):  # noqa: F811
    make_endpoint(app, company, receiver.url, ["purchase_order.received"])
    order = submitted(client, company, shop)
    receive(client, company, order["id"], [(shop["bolt"], 100), (shop["nut"], 50)], 201)
    assert worker.run_once() == 1
    [payload] = receiver.payloads()
    assert payload["type"] == "purchase_order.received"
    assert payload["data"]["purchase_order"]["id"] == order["id"]
    assert payload["data"]["purchase_order"]["status"] == "received"


def test_an_acknowledged_alert_is_delivered(app, client, company, row, receiver, worker):
    make_endpoint(app, company, receiver.url, ["alert.acknowledged"])
    stock(client, company, row, "sales", 6)  # low: an alert to acknowledge
    response = client.post(
        f"/api/companies/{company.id}/alerts/low-stock/acknowledgements",
        json={**row, "note": "Reordered by phone"},
        headers=company.headers,
    )
    assert response.status_code == 201, response.json
    assert worker.run_once() == 1
    [payload] = receiver.payloads()
    assert payload["type"] == "alert.acknowledged"
    assert payload["data"]["acknowledgement"]["note"] == "Reordered by phone"
    assert payload["data"]["product"]["id"] == row["product_id"]


def test_an_endpoint_gets_only_the_types_it_subscribed_to(
    app, client, company, row, receiver, worker
):
    make_endpoint(app, company, receiver.url, ["stock.out"])
    stock(client, company, row, "sales", 10)  # low, then out
    assert worker.run_once() == 1
    assert receiver.types() == ["stock.out"]


def test_a_refused_request_delivers_nothing(app, client, company, row, receiver, worker):
    make_endpoint(app, company, receiver.url)
    stock(client, company, row, "sales", 11, status=409)
    assert worker.run_once() == 0
    assert receiver.requests == [] and deliveries(app, company) == []


def test_another_company_s_events_go_to_its_own_endpoints_only(
    app, client, company, other_company, make_warehouse, make_product, row, receiver, worker
):
    make_endpoint(app, company, receiver.url)
    other_endpoint, _ = make_endpoint(app, other_company, receiver.url + "/globex")
    stock(client, company, row, "sales", 6)
    assert worker.run_once() == 1
    assert [r.path for r in receiver.requests] == ["/hooks/stockflow"]
    assert json.loads(receiver.requests[0].body)["company_id"] == company.id
    assert deliveries(app, other_company) == []


def test_a_ping_and_its_redelivery_arrive_and_the_api_lists_their_attempts(
    app, client, company, receiver, worker
):
    endpoint_id, secret = make_endpoint(app, company, receiver.url, ["stock.low"])
    queued = client.post(f"/api/webhooks/{endpoint_id}/test", headers=company.headers).json
    assert worker.run_once() == 1
    [ping] = receiver.requests
    assert ping.headers["StockFlow-Event-Type"] == "ping"
    assert ping.headers["StockFlow-Event-Id"] == queued["event_id"]
    assert secrets.verify(secret, ping.headers["StockFlow-Signature"], ping.body)

    url = f"/api/webhooks/{endpoint_id}/deliveries/{queued['delivery_id']}/redeliver"
    assert client.post(url, headers=company.headers).status_code == 202
    assert worker.run_once() == 1
    assert [r.headers["StockFlow-Event-Id"] for r in receiver.requests] == [queued["event_id"]] * 2
    assert receiver.requests[0].body == receiver.requests[1].body

    page = client.get(f"/api/webhooks/{endpoint_id}/deliveries", headers=company.headers).json
    assert [(d["status"], d["attempt_count"]) for d in page["deliveries"]] == [
        ("succeeded", 1),
        ("succeeded", 1),
    ]
    for listed in page["deliveries"]:
        [attempt] = listed["attempts"]
        assert attempt["status_code"] == 200 and attempt["next_retry_at"] is None
        assert listed["delivered_at"]


# -- retries, backoff, the budget


def test_a_500_is_retried_within_30_s_then_delivered(
    app, client, company, row, receiver, worker, clock
):
    answers = iter([500, 200])
    receiver.respond = lambda request: (next(answers), {})
    make_endpoint(app, company, receiver.url)
    stock(client, company, row, "sales", 6)

    assert worker.run_once() == 1
    [first] = attempts(app, company)
    assert first.status_code == 500 and first.error.startswith("HTTP 500")
    wait = (first.next_retry_at - first.attempted_at).total_seconds()
    assert 10 <= wait <= 20  # the first retry within 30 s (20 s, jittered down to half)
    [pending] = deliveries(app, company)
    assert pending.status == "pending" and pending.next_attempt_at == first.next_retry_at

    assert worker.run_once() == 0  # not due yet
    clock.advance(seconds=wait)
    assert worker.run_once() == 1
    assert [a.status_code for a in attempts(app, company)] == [500, 200]
    [done] = deliveries(app, company)
    assert (done.status, done.attempts) == ("succeeded", 2)
    # the same event, byte for byte, both times
    assert receiver.requests[0].body == receiver.requests[1].body
    assert len({r.headers["StockFlow-Event-Id"] for r in receiver.requests}) == 1


def test_backoff_doubles_from_20_s_up_to_an_hour_jittered_down_by_half():
    low, high = (lambda a, b: a), (lambda a, b: b)
    assert [backoff(n, high) for n in range(1, 6)] == [20, 40, 80, 160, 320]
    assert [backoff(n, low) for n in range(1, 4)] == [10, 20, 40]
    assert backoff(9, high) == backoff(60, high) == 3600
    assert all(10 <= backoff(1) <= 20 for _ in range(100))


def test_a_429_with_retry_after_is_retried_when_the_receiver_asked(
    app, client, company, row, receiver, worker, clock
):
    receiver.respond = lambda request: (429, {"Retry-After": "120"})
    make_endpoint(app, company, receiver.url)
    stock(client, company, row, "sales", 6)
    worker.run_once()
    [attempt] = attempts(app, company)
    assert attempt.status_code == 429
    assert (attempt.next_retry_at - attempt.attempted_at).total_seconds() == pytest.approx(120, 1)
    clock.advance(seconds=100)
    assert worker.run_once() == 0
    clock.advance(seconds=21)
    assert worker.run_once() == 1


def test_retry_after_reads_seconds_and_http_dates_and_ignores_garbage():
    later = time.time() + 300
    date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(later))
    assert delivery.retry_after({"Retry-After": "30"}) == 30
    assert delivery.retry_after({"Retry-After": date}) == pytest.approx(300, abs=2)
    assert delivery.retry_after({"Retry-After": "soon"}) is None
    assert delivery.retry_after({}) is None


def test_a_connection_refused_is_retried(app, client, company, row, worker):
    make_endpoint(app, company, f"http://127.0.0.1:{free_port()}/hook")
    stock(client, company, row, "sales", 6)
    worker.run_once()
    [attempt] = attempts(app, company)
    assert attempt.status_code is None and "could not connect" in attempt.error
    assert attempt.next_retry_at is not None
    assert deliveries(app, company)[0].status == "pending"


@pytest.fixture
def trickler():
    """A receiver that answers one byte at a time, a byte every 0.2 s, for 6 s: each
    wait is short, the whole answer is not."""
    listener = socket.create_server(("127.0.0.1", 0))
    done = threading.Event()

    def serve():
        with contextlib.suppress(OSError):
            connection, _ = listener.accept()
            with connection:
                connection.recv(65536)
                for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"z" * 30:
                    if done.is_set():
                        break
                    connection.sendall(bytes([byte]))
                    time.sleep(0.2)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/hook"
    done.set()
    listener.close()
    thread.join(10)


def test_an_answer_trickled_past_the_deadline_is_a_timeout_and_retried(
    app, client, company, row, worker, trickler, monkeypatch
):
    monkeypatch.setattr(delivery, "TOTAL_TIMEOUT_S", 1.0)  # 10 s in production
    make_endpoint(app, company, trickler)
    stock(client, company, row, "sales", 6)
    worker.run_once()
    [attempt] = attempts(app, company)
    assert attempt.status_code is None and attempt.error == "no answer within 1 s"
    assert attempt.duration_ms < 2000 and attempt.next_retry_at is not None


def test_a_host_that_does_not_resolve_is_retried(app, client, company, row, worker):
    # DNS may be down for a moment: unlike an address the rules refuse, it is retried
    make_endpoint(app, company, "http://stockflow-receiver.invalid/hook")
    stock(client, company, row, "sales", 6)
    worker.run_once()
    [attempt] = attempts(app, company)
    assert "does not resolve" in attempt.error and attempt.next_retry_at is not None
    assert deliveries(app, company)[0].status == "pending"


@pytest.fixture
def tls_receiver(tmp_path):
    """A TLS server on 127.0.0.1 with a self-signed certificate for ``localhost``
    (which no one trusts); it records the server name each client asked for (SNI)."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost"]
        + ["-addext", "subjectAltName=DNS:localhost"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    names = []
    context.sni_callback = lambda sock, name, ctx: names.append(name)
    listener = socket.create_server(("127.0.0.1", 0))

    def serve():
        with contextlib.suppress(OSError):
            connection, _ = listener.accept()
            with connection, contextlib.suppress(OSError):
                context.wrap_socket(connection, server_side=True).close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], names
    listener.close()
    thread.join(10)


def test_https_sends_the_name_as_sni_and_refuses_a_certificate_no_one_trusts(
    app, client, company, row, worker, tls_receiver
):
    port, names = tls_receiver
    # localhost resolves to 127.0.0.1 (and ::1): the worker connects to the address
    make_endpoint(app, company, f"https://localhost:{port}/hook")
    stock(client, company, row, "sales", 6)
    worker.run_once()
    assert names == ["localhost"]
    [attempt] = attempts(app, company)
    assert attempt.status_code is None and "TLS with 127.0.0.1" in attempt.error
    assert "certificate verify failed" in attempt.error
    assert attempt.next_retry_at is not None


def test_a_4xx_fails_the_delivery_at_once_and_keeps_the_endpoint(
    app, client, company, row, receiver, worker, clock
):
    receiver.respond = lambda request: (410, {})
    endpoint_id, _ = make_endpoint(app, company, receiver.url)
    stock(client, company, row, "sales", 6)
    worker.run_once()
    [failed] = deliveries(app, company)
    assert failed.status == "failed" and failed.last_status_code == 410
    assert attempts(app, company)[0].next_retry_at is None
    clock.advance(hours=2)
    assert worker.run_once() == 0
    assert endpoint_row(app, company, endpoint_id).enabled


def test_a_redirect_is_not_followed(app, client, company, row, receiver, worker):
    receiver.respond = lambda request: (302, {"Location": "http://169.254.169.254/"})
    make_endpoint(app, company, receiver.url)
    stock(client, company, row, "sales", 6)
    worker.run_once()
    assert len(receiver.requests) == 1
    [failed] = deliveries(app, company)
    assert failed.status == "failed" and failed.last_status_code == 302


def test_the_endpoint_is_disabled_when_the_retry_budget_is_spent(
    app, client, company, row, receiver, worker, clock
):
    receiver.respond = lambda request: (503, {})
    endpoint_id, _ = make_endpoint(app, company, receiver.url)
    stock(client, company, row, "sales", 6)
    worker.run_once()
    # each retry comes at most an hour after the last, never past the budget's end
    for _ in range(40):
        clock.advance(hours=1)
        worker.run_once()
        if deliveries(app, company)[0].status != "pending":
            break
    [failed] = deliveries(app, company)
    assert failed.status == "failed"
    tried = attempts(app, company)
    span = tried[-1].attempted_at - tried[0].attempted_at
    assert dt.timedelta(hours=24) <= span < dt.timedelta(hours=25)
    deadline = tried[0].attempted_at + dt.timedelta(hours=24)
    assert all(a.next_retry_at <= deadline for a in tried[:-1])
    assert tried[-1].next_retry_at is None
    # the company sees why
    endpoint = client.get(f"/api/webhooks/{endpoint_id}", headers=company.headers).json
    assert endpoint["enabled"] is False and endpoint["disabled_at"]
    assert "24 h" in endpoint["disabled_reason"] and "HTTP 503" in endpoint["disabled_reason"]
    # a disabled endpoint is owed nothing new
    stock(client, company, row, "sales", 4)
    assert len(deliveries(app, company)) == 1
    assert worker.run_once() == 0


def test_the_retry_budget_is_configurable(app, client, company, row, receiver, clock):
    receiver.respond = lambda request: (500, {})
    worker = Worker(
        build_app(app.config["SQLALCHEMY_DATABASE_URI"], STOCKFLOW_WEBHOOK_RETRY_HOURS=0.01),
        clock=clock,
    )
    endpoint_id, _ = make_endpoint(app, company, receiver.url)
    stock(client, company, row, "sales", 6)
    worker.run_once()
    clock.advance(seconds=37)  # 0.01 h = 36 s
    worker.run_once()
    assert deliveries(app, company)[0].status == "failed"
    assert not endpoint_row(app, company, endpoint_id).enabled


# -- ordering


def test_a_row_s_later_event_waits_for_the_earlier_one_to_be_delivered(
    app, client, company, row, make_warehouse, make_product, receiver, worker, clock
):
    first_answer = iter([500])
    receiver.respond = lambda request: (next(first_answer, 200), {})
    make_endpoint(app, company, receiver.url)
    elsewhere = make_warehouse(company)
    other = make_product(
        company,
        low_stock_threshold=5,
        initial_stock=[{"warehouse_id": elsewhere["id"], "quantity": 10}],
    )
    stock(client, company, row, "sales", 6)  # low (answered 500)
    stock(client, company, row, "sales", 4)  # out: must wait for low
    other_row = {"product_id": other["id"], "warehouse_id": elsewhere["id"]}
    stock(client, company, other_row, "sales", 6)  # another row: does not wait

    worker.run_once()
    assert [
        (r.headers["StockFlow-Event-Type"], json.loads(r.body)["data"]["warehouse"]["id"])
        for r in receiver.requests
    ] == [
        ("stock.low", row["warehouse_id"]),
        ("stock.low", elsewhere["id"]),
    ]
    clock.advance(seconds=30)
    worker.run_once()
    assert receiver.types()[2:] == ["stock.low", "stock.out"]
    assert [d.status for d in deliveries(app, company)] == ["succeeded"] * 3


# -- lease and endpoint changes


def test_a_result_after_the_lease_was_taken_over_is_dropped(
    app, client, company, row, receiver, clock
):
    make_endpoint(app, company, receiver.url)
    stock(client, company, row, "sales", 6)
    slow, fast = Worker(app, clock=clock), Worker(app, clock=clock)
    with app.app_context():
        [company_id] = slow.due_companies(clock())
        mine = slow.claim(company_id, clock())
        assert slow.claim(company_id, clock()) is None  # held
        clock.advance(seconds=31)  # the lease ended: the slow worker is presumed dead
        theirs = fast.claim(company_id, clock())
        assert theirs is not None and theirs.attempts == 2
        late = delivery.Result(200, None, 5)
        assert slow.finish(mine, late, clock(), clock()) == "stale"
        assert fast.finish(theirs, late, clock(), clock()) == "succeeded"
    assert len(attempts(app, company)) == 1
    assert deliveries(app, company)[0].attempts == 2


def test_a_delivery_whose_endpoint_was_deleted_in_flight_is_dropped(
    app, client, company, row, receiver, clock, worker
):
    endpoint_id, _ = make_endpoint(app, company, receiver.url)
    stock(client, company, row, "sales", 6)
    with app.app_context():
        claim = worker.claim(company.id, clock())
        db.session.execute(
            sa.delete(WebhookEndpoint).where(
                WebhookEndpoint.company_id == company.id, WebhookEndpoint.id == endpoint_id
            )
        )
        db.session.commit()
        assert worker.finish(claim, delivery.Result(200, None, 5), clock(), clock()) == "stale"
    assert deliveries(app, company) == []


def test_a_disabled_endpoint_s_pending_deliveries_wait(app, client, company, row, receiver, worker):
    endpoint_id, _ = make_endpoint(app, company, receiver.url)
    stock(client, company, row, "sales", 6)
    with app.app_context():
        db.session.execute(
            sa.update(WebhookEndpoint)
            .where(WebhookEndpoint.company_id == company.id)
            .values(enabled=False)
        )
        db.session.commit()
    assert worker.run_once() == 0
    with app.app_context():
        db.session.execute(
            sa.update(WebhookEndpoint)
            .where(WebhookEndpoint.company_id == company.id)
            .values(enabled=True)
        )
        db.session.commit()
    assert worker.run_once() == 1


# -- SSRF at delivery time


def test_production_refuses_a_host_that_resolves_to_loopback_at_delivery_time(
    app, client, company, row, receiver, clock
):
    port = receiver.url.split(":")[2].split("/")[0]
    make_endpoint(app, company, f"https://localhost:{port}/hook")
    stock(client, company, row, "sales", 6)
    production = build_app(app.config["SQLALCHEMY_DATABASE_URI"])
    # production mode for the URL rules only (the config check wants PostgreSQL)
    production.config["STOCKFLOW_ENV"] = "production"
    Worker(production, clock=clock).run_once()
    assert receiver.requests == []
    [failed] = deliveries(app, company)
    assert failed.status == "failed"
    assert "URL refused" in failed.last_error and "non-public address" in failed.last_error
    [attempt] = attempts(app, company)
    assert attempt.status_code is None and attempt.next_retry_at is None


def test_production_delivers_to_an_allowed_on_premise_host(app, client, company, row, clock):
    # allowed: the address rule is skipped, and the delivery really connects (and,
    # nothing listening there, is retried)
    make_endpoint(app, company, f"https://localhost:{free_port()}/hook")
    stock(client, company, row, "sales", 6)
    production = build_app(
        app.config["SQLALCHEMY_DATABASE_URI"], STOCKFLOW_WEBHOOK_ALLOWED_HOSTS="localhost"
    )
    production.config["STOCKFLOW_ENV"] = "production"
    Worker(production, clock=clock).run_once()
    [attempt] = attempts(app, company)
    assert "could not connect" in attempt.error and attempt.next_retry_at is not None


# -- pruning


def test_pruning_deletes_finished_deliveries_and_their_events_after_the_retention(
    app, client, company, row, receiver, worker, clock
):
    receiver.respond = lambda request: (
        (200, {}) if request.headers["StockFlow-Event-Type"] != "stock.out" else (500, {})
    )
    make_endpoint(app, company, receiver.url)
    stock(client, company, row, "sales", 10)  # low (delivered), out (pending: 500s)
    worker.run_once()
    with app.app_context():
        assert worker.prune(clock() + dt.timedelta(days=6)) == (0, 0)
        # the delivered one and, having no delivery left, its event; the pending one stays
        assert worker.prune(clock() + dt.timedelta(days=7, seconds=1)) == (1, 1)
        left = db.session.scalars(sa.select(Event.type).where(Event.company_id == company.id)).all()
    assert left == ["stock.out"]
    assert [d.status for d in deliveries(app, company)] == ["pending"]
    assert len(attempts(app, company)) == 1


# -- processes: killed mid-delivery, SIGTERM, workers side by side


def worker_process(app, tmp_path, name, **env) -> subprocess.Popen:
    """``flask --app wsgi worker`` on the test database (its log in tmp_path/name)."""
    with app.app_context():
        key = secrets.server_key().decode()
    log = open(tmp_path / f"{name}.log", "w")  # closed below: the child keeps its copy
    process = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "worker", "--poll-interval", "0.1"],
        cwd=ROOT,
        env={
            **os.environ,
            "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
            "STOCKFLOW_ENV": "development",
            "STOCKFLOW_WEBHOOK_KEY": key,
            "LOG_LEVEL": "INFO",
            **env,
        },
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    return process


def kill(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
        process.wait(10)


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_a_worker_killed_mid_delivery_loses_nothing(app, client, company, row, receiver, tmp_path):
    secret = make_endpoint(app, company, receiver.url)[1]
    stock(client, company, row, "sales", 6)
    receiver.hold = threading.Event()
    first = worker_process(app, tmp_path, "first", STOCKFLOW_WEBHOOK_LEASE_S="2")
    second = None
    try:
        assert receiver.arrived.wait(30), (tmp_path / "first.log").read_text()
        os.kill(first.pid, signal.SIGKILL)  # mid-delivery: the request is in flight
        first.wait(10)
        receiver.release.set()
        assert deliveries(app, company)[0].status == "pending"
        second = worker_process(app, tmp_path, "second", STOCKFLOW_WEBHOOK_LEASE_S="2")
        wait_for(
            lambda: deliveries(app, company)[0].status == "succeeded",
            30,
            "the second worker to deliver",
        )
    finally:
        receiver.release.set()
        kill(first)
        if second is not None:
            kill(second)
    # the same event again (receivers deduplicate on StockFlow-Event-Id), signed anew
    assert len(receiver.requests) == 2
    assert len({r.headers["StockFlow-Event-Id"] for r in receiver.requests}) == 1
    assert secrets.verify(
        secret, receiver.requests[1].headers["StockFlow-Signature"], receiver.requests[1].body
    )
    assert deliveries(app, company)[0].attempts == 2
    assert [a.status_code for a in attempts(app, company)] == [200]


def test_sigterm_finishes_the_delivery_in_flight_then_exits_0(
    app, client, company, row, receiver, tmp_path
):
    make_endpoint(app, company, receiver.url)
    stock(client, company, row, "sales", 10)  # low, then out
    receiver.hold = threading.Event()
    process = worker_process(app, tmp_path, "worker")
    try:
        assert receiver.arrived.wait(30), (tmp_path / "worker.log").read_text()
        process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert process.poll() is None  # still waiting for the answer
        receiver.release.set()
        assert process.wait(15) == 0, (tmp_path / "worker.log").read_text()
    finally:
        receiver.release.set()
        kill(process)
    # the one in flight was recorded; the next one was left for the next worker
    assert [d.status for d in deliveries(app, company)] == ["succeeded", "pending"]
    assert receiver.types() == ["stock.low"]


def test_workers_side_by_side_never_deliver_one_delivery_twice_at_once(
    app, client, company, make_warehouse, make_product, receiver
):
    make_endpoint(app, company, receiver.url)
    warehouse = make_warehouse(company)
    for _ in range(12):
        product = make_product(
            company,
            low_stock_threshold=5,
            initial_stock=[{"warehouse_id": warehouse["id"], "quantity": 10}],
        )
        stock(
            client,
            company,
            {"product_id": product["id"], "warehouse_id": warehouse["id"]},
            "sales",
            10,
        )
    # 24 deliveries: low and out of 12 rows
    barrier = threading.Barrier(4)
    failures = []

    def work():
        try:
            barrier.wait()
            Worker(app).run_once()
        except Exception as error:  # pragma: no cover - reported below
            failures.append(error)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    assert receiver.overlaps == []
    done = deliveries(app, company)
    assert len(done) == 24 and {d.status for d in done} == {"succeeded"}
    # none was claimed twice: each was attempted once, and arrived once
    assert {d.attempts for d in done} == {1}
    uids = [r.headers["StockFlow-Event-Id"] for r in receiver.requests]
    assert len(uids) == len(set(uids)) == 24
    # and each row's low came before its out
    order = [
        (json.loads(r.body)["data"]["product"]["id"], r.headers["StockFlow-Event-Type"])
        for r in receiver.requests
    ]
    for product_id in {p for p, _ in order}:
        assert [t for p, t in order if p == product_id] == ["stock.low", "stock.out"]


def race(*actions) -> list:
    """Run each action in its own thread, all released at once; their results."""
    barrier = threading.Barrier(len(actions))
    results = [None] * len(actions)

    def run(i, action):
        barrier.wait()
        results[i] = action()

    threads = [threading.Thread(target=run, args=item) for item in enumerate(actions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def finish_in_context(app, worker, claim, now) -> str:
    """Record a 503 for ``claim`` as ``worker`` would (in its own app context)."""
    with app.app_context():
        try:
            return worker.finish(claim, delivery.Result(503, "HTTP 503", 5), now, now)
        finally:
            db.session.remove()


@pytest.mark.postgres
def test_finishing_a_delivery_racing_the_endpoint_s_deletion_never_deadlocks(
    app, client, company, receiver, clock
):
    """The worker recording a give-up (which disables the endpoint) while the company
    deletes the endpoint: both take the endpoint row first, so one waits for the
    other; the DELETE always succeeds and the result is recorded or dropped."""
    impatient = Worker(app, Settings(retry_budget=dt.timedelta()), clock=clock)
    outcomes = set()
    for round_ in range(ROUNDS):
        endpoint_id, _ = make_endpoint(app, company, receiver.url)
        client.post(f"/api/webhooks/{endpoint_id}/test", headers=company.headers)
        with app.app_context():
            claim = impatient.claim(company.id, clock())
            db.session.remove()
        assert claim is not None, round_
        finished, deleted = race(
            functools.partial(finish_in_context, app, impatient, claim, clock()),
            functools.partial(
                app.test_client().delete,
                f"/api/webhooks/{endpoint_id}",
                headers=company.headers,
            ),
        )
        results = {"finish": finished, "delete": deleted.status_code}
        assert results["delete"] == 204, (round_, results)
        assert results["finish"] in {"gave_up", "stale"}, (round_, results)
        outcomes.add(results["finish"])
        assert (
            client.get(f"/api/webhooks/{endpoint_id}", headers=company.headers).status_code == 404
        )
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(WebhookDelivery)) == 0


def test_the_worker_counts_attempts_by_outcome_and_serves_only_its_metrics(
    app, client, company, row, receiver, worker
):
    make_endpoint(app, company, receiver.url)
    before = (
        REGISTRY.get_sample_value("stockflow_webhook_attempts_total", {"outcome": "succeeded"}) or 0
    )
    stock(client, company, row, "sales", 6)
    worker.run_once()
    after = REGISTRY.get_sample_value("stockflow_webhook_attempts_total", {"outcome": "succeeded"})
    assert after == before + 1

    metrics_app = build_app(app.config["SQLALCHEMY_DATABASE_URI"], STOCKFLOW_METRICS_TOKEN="t0k")
    server = serve_metrics_only(metrics_app, "127.0.0.1:0")
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        request = urllib.request.Request(f"{base}/metrics", headers={"Authorization": "Bearer t0k"})
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read().decode()
        assert 'stockflow_webhook_attempts_total{outcome="succeeded"}' in text
        for path, status in (("/metrics", 401), ("/api/products", 404), ("/health", 404)):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(base + path, timeout=10)
            assert refused.value.code == status
            refused.value.close()
    finally:
        server.shutdown()
        server.server_close()


def test_the_worker_moves_alert_state_that_is_behind_once_a_day(
    app, client, company, other_company, row, worker
):
    from app.models import AlertState

    today = dt.datetime.now(dt.UTC).date()
    with app.app_context():
        db.session.execute(
            sa.update(AlertState)
            .where(AlertState.company_id == company.id)
            .values(as_of=today - dt.timedelta(days=1))
        )
        db.session.commit()
    # only the company that is behind; the other one is current
    assert worker.refresh_alert_state_if_due(today) == [company.id]
    with app.app_context():
        assert db.session.get(AlertState, company.id).as_of == today
    assert worker.refresh_alert_state_if_due(today) == []  # done for today
    # the next day, every company
    tomorrow = today + dt.timedelta(days=1)
    assert worker.refresh_alert_state_if_due(tomorrow) == sorted([company.id, other_company.id])
    # the alerts still answer (from the ledger, today being another day than as_of)
    response = client.get(f"/api/companies/{company.id}/alerts/low-stock", headers=company.headers)
    assert response.status_code == 200


def test_the_loop_outlives_a_database_it_cannot_reach_and_stops_when_told(caplog):
    unreachable = build_app(f"postgresql+psycopg2://stockflow@127.0.0.1:{free_port()}/none")
    runner = Worker(unreachable, Settings(poll_s=0.05))
    thread = threading.Thread(target=runner.run)
    thread.start()
    try:
        wait_for(
            lambda: any("pass failed" in r.getMessage() for r in caplog.records),
            30,
            "the fault to be logged",
        )
        assert thread.is_alive()  # it waits and tries again
    finally:
        runner.stop.set()
        thread.join(30)
    assert not thread.is_alive()
