"""/metrics (Prometheus text format, for the metrics token only) and the JSON app logs:
in-process for each metric, and under gunicorn with two workers for the multiprocess
mode (every worker's requests counted, whichever answers the scrape) and the log lines.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import os
import subprocess
import sys
import time
import uuid

import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.logging_json import JsonFormatter
from tests.conftest import ADMIN_TOKEN, ROOT, build_app
from tests.helpers import assert_problem, free_port, stop_process

METRICS_TOKEN = "metrics-token-for-tests-0123456789"


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """Every sample of an exposition, by (name, sorted labels)."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(text: str, name: str, **labels) -> float:
    return samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def metrics_app(database_url):
    """An app that serves /metrics to METRICS_TOKEN."""
    from app.extensions import db

    app = build_app(database_url, STOCKFLOW_METRICS_TOKEN=METRICS_TOKEN)
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def metrics_client(metrics_app):
    return metrics_app.test_client()


def scrape(client) -> str:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain; version=0.0.4")
    return response.get_data(as_text=True)


def test_metrics_are_a_404_while_no_token_is_configured(client):
    response = client.get("/metrics")
    assert_problem(response, 404)
    assert client.get("/metrics", headers={"Authorization": "Bearer anything"}).status_code == 404


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong", f"Basic {METRICS_TOKEN}", f"Bearer {METRICS_TOKEN}x", "Bearer "],
)
def test_metrics_need_the_bearer_token(metrics_client, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    response = metrics_client.get("/metrics", headers=headers)
    assert_problem(response, 401, slug="unauthorized")
    assert "stockflow_" not in response.get_data(as_text=True)


def test_requests_are_counted_by_route_template_method_and_status(
    metrics_client, company, make_product
):
    product = make_product(company)
    route = "/api/products/<id:product_id>"
    before = scrape(metrics_client)
    for _ in range(3):
        assert metrics_client.get(f"/api/products/{product['id']}", headers=company.headers)
    assert metrics_client.get("/api/products/999999", headers=company.headers).status_code == 404
    after = scrape(metrics_client)
    labels = {"route": route, "method": "GET"}
    count = "stockflow_http_requests_total"
    assert (
        value(after, count, status="200", **labels) - value(before, count, status="200", **labels)
        == 3
    )
    assert (
        value(after, count, status="404", **labels) - value(before, count, status="404", **labels)
        == 1
    )
    # the histogram's count agrees, and no raw id became a label
    histogram = "stockflow_http_request_duration_seconds_count"
    assert (
        value(after, histogram, status="200", **labels)
        - value(before, histogram, status="200", **labels)
        == 3
    )
    assert f"/api/products/{product['id']}" not in after
    assert value(after, "stockflow_db_pool_connections_in_use") >= 0


def test_ledger_rows_are_counted_by_reason_only_when_committed(
    metrics_client, company, make_warehouse, make_product
):
    warehouse = make_warehouse(company)
    product = make_product(company, warehouse_id=warehouse["id"], initial_quantity=50)
    other = make_warehouse(company)
    before = scrape(metrics_client)
    sale = {"product_id": product["id"], "warehouse_id": warehouse["id"], "quantity": 2}
    # the first sale runs in the request's transaction (its key is looked up first); on
    # PostgreSQL the second, whose key the worker has seen, is its own (app.oneshot)
    for _ in range(2):
        response = metrics_client.post("/api/stock/sales", json=sale, headers=company.headers)
        assert response.status_code == 201
    refused = {**sale, "quantity": 100}
    assert (
        metrics_client.post("/api/stock/sales", json=refused, headers=company.headers).status_code
        == 409
    )
    transfer = {
        "product_id": product["id"],
        "from_warehouse_id": warehouse["id"],
        "to_warehouse_id": other["id"],
        "quantity": 1,
    }
    response = metrics_client.post("/api/stock/transfers", json=transfer, headers=company.headers)
    assert response.status_code == 201
    after = scrape(metrics_client)
    name = "stockflow_ledger_rows_written_total"
    delta = {
        reason: value(after, name, reason=reason) - value(before, name, reason=reason)
        for reason in ("sale", "transfer_in", "transfer_out")
    }
    # the refused sale wrote nothing, so it counted nothing
    assert delta == {"sale": 2, "transfer_in": 1, "transfer_out": 1}


def test_alert_requests_are_counted_as_computed_or_not_modified(metrics_client, company):
    path = f"/api/companies/{company.id}/alerts/low-stock"
    before = scrape(metrics_client)
    first = metrics_client.get(path, headers=company.headers)
    assert first.status_code == 200
    again = metrics_client.get(
        path, headers={**company.headers, "If-None-Match": first.headers["ETag"]}
    )
    assert again.status_code == 304
    after = scrape(metrics_client)
    name = "stockflow_alert_requests_total"
    for outcome in ("computed", "not_modified"):
        assert value(after, name, outcome=outcome) - value(before, name, outcome=outcome) == 1


def test_idempotent_replays_are_counted(metrics_client, company):
    before = scrape(metrics_client)
    headers = {**company.headers, "Idempotency-Key": f"wh-{uuid.uuid4().hex}"}
    for _ in range(3):
        response = metrics_client.post("/api/warehouses", json={"name": "Main"}, headers=headers)
        assert response.status_code == 201
    after = scrape(metrics_client)
    name = "stockflow_idempotent_replays_total"
    assert value(after, name) - value(before, name) == 2


def test_an_app_log_line_is_one_json_object_with_the_request_id():
    record = logging.makeLogRecord(
        {
            "name": "app.companies.routes",
            "levelname": "INFO",
            "msg": 'company "%s" created\nsecond line',
            "args": ("Acme",),
            "request_id": "req-1",
            "company_id": 7,
        }
    )
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == 'company "Acme" created\nsecond line'
    assert entry["request_id"] == "req-1" and entry["company_id"] == 7
    assert entry["level"] == "INFO" and entry["logger"] == "app.companies.routes"


# --- under gunicorn: multiprocess metrics and the log stream --------------------------


def request(port, method, path, headers=None, body=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


@pytest.fixture
def gunicorn_with_metrics(database_url, tmp_path):
    """gunicorn with 2 workers, the metrics token and JSON logs; stopped by PID."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "STOCKFLOW_ENV": "development",
        "STOCKFLOW_ADMIN_TOKEN": ADMIN_TOKEN,
        "STOCKFLOW_METRICS_TOKEN": METRICS_TOKEN,
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "2",
        "GUNICORN_THREADS": "2",
        "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    out, err = tmp_path / "stdout.log", tmp_path / "stderr.log"
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
            cwd=ROOT,
            env=env,
            stdout=stdout,
            stderr=stderr,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, err.read_text()
            with contextlib.suppress(OSError):
                if request(port, "GET", "/health")[0] == 200:
                    break
            assert time.monotonic() < deadline, err.read_text()
            time.sleep(0.1)
        process.port, process.stdout_path, process.stderr_path = port, out, err
        yield process
    finally:
        stop_process(process)


def test_gunicorn_workers_share_one_metrics_view_and_log_json_lines(gunicorn_with_metrics):
    server = gunicorn_with_metrics
    port = server.port
    auth = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    assert request(port, "GET", "/metrics")[0] == 401
    n = 40
    for _ in range(n):
        assert request(port, "GET", "/health")[0] == 200
    # each scrape lands on either worker; each one sees both workers' requests
    seen = set()
    for _ in range(6):
        status, headers, body = request(port, "GET", "/metrics", auth)
        assert status == 200 and headers["Content-Type"].startswith("text/plain")
        text = body.decode()
        total = value(
            text, "stockflow_http_requests_total", route="/health", method="GET", status="200"
        )
        seen.add(total)
    # the startup probes count too: at least the n health checks, the same in every scrape
    assert len(seen) == 1 and seen.pop() >= n

    status, _, body = request(
        port,
        "POST",
        "/api/companies",
        {
            "Authorization": f"Bearer {ADMIN_TOKEN}",
            "Content-Type": "application/json",
            "X-Request-ID": "log-test-1",
        },
        json.dumps({"name": "Logged"}),
    )
    assert status == 201
    company_id = json.loads(body)["id"]
    stop_process(server)
    lines = (
        server.stderr_path.read_text().splitlines() + server.stdout_path.read_text().splitlines()
    )
    entries = [json.loads(line) for line in lines if line.strip()]  # every line is JSON
    created = [e for e in entries if e.get("event") == "company_created"]
    assert created and created[0]["request_id"] == "log-test-1"
    assert created[0]["company_id"] == company_id and created[0]["level"] == "INFO"
    # gunicorn's own lines (booting workers) are JSON too
    assert any("Booting worker" in e.get("message", "") for e in entries)
