"""The webhooks API (issue 14): endpoints, their signing secret, tests (ping),
deliveries and redelivery, the event feed, the URL rules in production, and
tenant isolation. Delivery itself is the worker's (app/events/worker.py)."""

from __future__ import annotations

import datetime as dt
import json
import pathlib
import time

import pytest
import sqlalchemy as sa

from app.events import secrets as signing
from app.extensions import db
from app.models import EVENT_TYPES, Event, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from tests.helpers import assert_problem

URL = "https://hooks.example.com/stockflow"
ALL_EVENTS = ["stock.low", "stock.out", "stock.recovered", "purchase_order.received"]


def create(client, tenant, status=201, headers=None, **body):
    body = {"url": URL, "events": ["stock.low"], **body}
    response = client.post(
        "/api/webhooks", json=body, headers={**tenant.headers, **(headers or {})}
    )
    assert response.status_code == status, response.json
    return response


@pytest.fixture
def hook(client, company) -> dict:
    """A webhook of the company, subscribed to every stock event."""
    return create(client, company, events=ALL_EVENTS, description="ERP").json


def deliveries_of(app, company, endpoint_id=None) -> list[tuple]:
    """(endpoint_id, event type, status, ordering_key) of the company's deliveries, by id."""
    with app.app_context():
        query = (
            sa.select(
                WebhookDelivery.endpoint_id,
                Event.type,
                WebhookDelivery.status,
                WebhookDelivery.ordering_key,
            )
            .join(
                Event,
                sa.and_(
                    Event.company_id == WebhookDelivery.company_id,
                    Event.id == WebhookDelivery.event_id,
                ),
            )
            .where(WebhookDelivery.company_id == company.id)
            .order_by(WebhookDelivery.id)
        )
        if endpoint_id is not None:
            query = query.where(WebhookDelivery.endpoint_id == endpoint_id)
        rows = [tuple(row) for row in db.session.execute(query)]
        db.session.remove()
    return rows


def ping(client, company, hook_id, status=202):
    response = client.post(f"/api/webhooks/{hook_id}/test", headers=company.headers)
    assert response.status_code == status, response.json
    return response.json


def disable_as_the_worker_does(app, company, hook_id, reason):
    with app.app_context():
        db.session.execute(
            sa.update(WebhookEndpoint)
            .where(WebhookEndpoint.company_id == company.id, WebhookEndpoint.id == hook_id)
            .values(enabled=False, disabled_reason=reason, disabled_at=dt.datetime.now(dt.UTC))
        )
        db.session.commit()
        db.session.remove()


# -- create, read, change, delete -------------------------------------------------------


def test_creating_a_webhook_returns_it_with_its_secret_and_reading_never_shows_the_secret(
    client, company
):
    response = create(client, company, events=["stock.out", "stock.low"], description="ERP")
    created = response.json
    assert response.headers["Location"].endswith(f"/api/webhooks/{created['id']}")
    assert created["secret"].startswith("whsec_") and len(created["secret"]) > 40
    assert created["url"] == URL
    assert created["events"] == ["stock.out", "stock.low"]
    assert created["description"] == "ERP"
    assert created["enabled"] is True
    assert created["disabled_reason"] is None and created["disabled_at"] is None
    assert created["created_at"] and created["updated_at"]

    shown = client.get(f"/api/webhooks/{created['id']}", headers=company.headers).json
    assert shown == {k: v for k, v in created.items() if k != "secret"}
    listed = client.get("/api/webhooks", headers=company.headers)
    assert listed.json == [shown]
    assert json.loads(listed.headers["X-Pagination"])["total"] == 1
    for text in (json.dumps(shown), listed.get_data(as_text=True)):
        assert created["secret"] not in text


def test_the_secret_is_derived_from_the_server_key_so_the_worker_can_sign_with_it(
    app, client, company
):
    created = create(client, company).json
    with app.app_context():
        salt = db.session.scalar(
            sa.select(WebhookEndpoint.secret_salt).where(WebhookEndpoint.id == created["id"])
        )
        assert signing.derive(company.id, created["id"], salt) == created["secret"]
        db.session.remove()
    header = signing.sign(created["secret"], b'{"id":"x"}')
    assert signing.verify(created["secret"], header, b'{"id":"x"}')


def test_an_idempotent_replay_of_the_creation_withholds_the_secret(client, company, count_rows):
    key = {"Idempotency-Key": "create-hook-1"}
    first = create(client, company, headers=key).json
    replay = create(client, company, headers=key)
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.headers["Secret-Withheld"] == "secret"
    assert replay.json["secret"] is None
    assert replay.json["id"] == first["id"]
    assert count_rows(WebhookEndpoint) == 1


def test_no_database_column_holds_a_webhook_secret(app, client, company, hook):
    key = {"Idempotency-Key": "rotate-1"}
    rotated = client.post(
        f"/api/webhooks/{hook['id']}/rotate-secret", headers={**company.headers, **key}
    ).json
    secrets_ = [hook["secret"], rotated["secret"]]
    # the part after the prefix too: no column may hold the secret in another dress
    needles = secrets_ + [s.removeprefix("whsec_") for s in secrets_]
    with app.app_context():
        for table in db.metadata.sorted_tables:
            for row in db.session.execute(sa.select(table)).all():
                stored = " ".join(str(value) for value in row)
                for needle in needles:
                    assert needle not in stored, (table.name, needle)
        db.session.remove()


def test_rotating_the_secret_shows_a_new_one_once_and_the_old_one_stops_matching(
    app, client, company, hook
):
    headers = {**company.headers, "Idempotency-Key": "rotate-2"}
    rotated = client.post(f"/api/webhooks/{hook['id']}/rotate-secret", headers=headers)
    assert rotated.status_code == 200, rotated.json
    assert rotated.json["secret"].startswith("whsec_")
    assert rotated.json["secret"] != hook["secret"]
    assert rotated.json["id"] == hook["id"]
    replay = client.post(f"/api/webhooks/{hook['id']}/rotate-secret", headers=headers)
    assert replay.json["secret"] is None and replay.headers["Secret-Withheld"] == "secret"
    with app.app_context():
        salt = db.session.scalar(
            sa.select(WebhookEndpoint.secret_salt).where(WebhookEndpoint.id == hook["id"])
        )
        assert signing.derive(company.id, hook["id"], salt) == rotated.json["secret"]
        db.session.remove()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"events": ["stock.low"]}, "url"),
        ({"url": 42, "events": ["stock.low"]}, "url"),
        ({"url": "", "events": ["stock.low"]}, "url"),
        ({"url": "ftp://hooks.example.com/x", "events": ["stock.low"]}, "url"),
        ({"url": "hooks.example.com/x", "events": ["stock.low"]}, "url"),
        ({"url": "https:///no-host", "events": ["stock.low"]}, "url"),
        ({"url": "https://user:pw@hooks.example.com/", "events": ["stock.low"]}, "url"),
        ({"url": "https://hooks.example.com:99999/", "events": ["stock.low"]}, "url"),
        ({"url": "https://hooks.example.com/\u0000", "events": ["stock.low"]}, "url"),
        ({"url": "https://h.example/" + "a" * 2048, "events": ["stock.low"]}, "url"),
        ({"url": URL}, "events"),
        ({"url": URL, "events": []}, "events"),
        ({"url": URL, "events": "stock.low"}, "events"),
        ({"url": URL, "events": ["stock.low", "stock.low"]}, "events.1"),
        ({"url": URL, "events": ["ping"]}, "events.0"),
        ({"url": URL, "events": ["stock.low", "stock.gone"]}, "events.1"),
        ({"url": URL, "events": [7]}, "events.0"),
        ({"url": URL, "events": ["stock.low"], "description": "x" * 501}, "description"),
        ({"url": URL, "events": ["stock.low"], "description": 5}, "description"),
        ({"url": URL, "events": ["stock.low"], "secret": "mine"}, "secret"),
        ({"url": URL, "events": ["stock.low"], "enabled": False}, "enabled"),
    ],
)
def test_a_bad_webhook_is_a_400_naming_the_field_and_creates_nothing(
    client, company, count_rows, body, field
):
    response = client.post("/api/webhooks", json=body, headers=company.headers)
    assert_problem(response, 400, field, slug="validation-error")
    assert count_rows(WebhookEndpoint) == 0


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://hooks.example.com/x", "Must be an http or https URL"),
        ("https://user:pw@hooks.example.com/", "without a user name or password"),
        ("https://hooks.example.com/caf\u00e9", "visible ASCII"),
        ("https://hooks.example.com:99999/", "Has an invalid port."),
        ("https://:443/in", "Must name a host."),
        ("https://[::1/in", "Not a valid URL."),
    ],
)
def test_a_refused_url_says_why(client, company, url, why):
    response = client.post(
        "/api/webhooks", json={"url": url, "events": ["stock.low"]}, headers=company.headers
    )
    body = assert_problem(response, 400, "url")
    assert why in body["errors"]["url"][0], body


def test_the_url_and_event_types_are_trimmed(client, company):
    created = create(client, company, url=f"  {URL}\u3000", events=[" stock.out "]).json
    assert (created["url"], created["events"]) == (URL, ["stock.out"])


def test_in_development_a_loopback_http_url_is_accepted(client, company):
    # so tests and a local setup can deliver to a receiver on this machine
    assert create(client, company, url="http://127.0.0.1:8080/hook").json["url"]


def test_patch_changes_the_url_events_and_description(client, company, hook):
    response = client.patch(
        f"/api/webhooks/{hook['id']}",
        json={"url": "https://erp.example.com/in", "events": ["stock.out"], "description": None},
        headers=company.headers,
    )
    assert response.status_code == 200, response.json
    assert response.json["url"] == "https://erp.example.com/in"
    assert response.json["events"] == ["stock.out"]
    assert response.json["description"] is None
    assert "secret" not in response.json
    shown = client.get(f"/api/webhooks/{hook['id']}", headers=company.headers).json
    assert shown == response.json


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "_body"),
        ({"url": "gopher://x.example/"}, "url"),
        ({"url": None}, "url"),
        ({"events": []}, "events"),
        ({"events": ["ping"]}, "events.0"),
        ({"enabled": "yes"}, "enabled"),
        ({"enabled": None}, "enabled"),
    ],
)
def test_a_bad_patch_is_a_400_and_changes_nothing(client, company, hook, body, field):
    response = client.patch(f"/api/webhooks/{hook['id']}", json=body, headers=company.headers)
    assert_problem(response, 400, field)
    shown = client.get(f"/api/webhooks/{hook['id']}", headers=company.headers).json
    assert shown == {k: v for k, v in hook.items() if k != "secret"}


def test_a_disabled_endpoint_shows_why_and_enabling_it_clears_the_reason(
    app, client, company, hook
):
    reason = "Gave up after 24 h of failed deliveries (last: HTTP 503)."
    disable_as_the_worker_does(app, company, hook["id"], reason)
    shown = client.get(f"/api/webhooks/{hook['id']}", headers=company.headers).json
    assert shown["enabled"] is False
    assert shown["disabled_reason"] == reason and shown["disabled_at"]
    listed = client.get("/api/webhooks?enabled=false", headers=company.headers).json
    assert [row["id"] for row in listed] == [hook["id"]]
    assert client.get("/api/webhooks?enabled=true", headers=company.headers).json == []

    enabled = client.patch(
        f"/api/webhooks/{hook['id']}", json={"enabled": True}, headers=company.headers
    )
    assert enabled.status_code == 200, enabled.json
    assert enabled.json["enabled"] is True
    assert enabled.json["disabled_reason"] is None and enabled.json["disabled_at"] is None


def test_disabling_through_the_api_records_that_the_company_did(client, company, hook):
    response = client.patch(
        f"/api/webhooks/{hook['id']}", json={"enabled": False}, headers=company.headers
    )
    assert response.status_code == 200, response.json
    assert response.json["enabled"] is False
    assert "through the API" in response.json["disabled_reason"]
    assert response.json["disabled_at"]


def test_deleting_a_webhook_deletes_its_deliveries_and_attempts(
    app, client, company, hook, count_rows
):
    queued = ping(client, company, hook["id"])
    add_attempt(app, company, queued["delivery_id"], status_code=500)
    response = client.delete(f"/api/webhooks/{hook['id']}", headers=company.headers)
    assert response.status_code == 204
    assert_problem(client.get(f"/api/webhooks/{hook['id']}", headers=company.headers), 404)
    assert count_rows(WebhookEndpoint) == 0
    assert count_rows(WebhookDelivery) == 0
    assert count_rows(WebhookAttempt) == 0
    # the event stays: it happened, whoever was listening
    assert count_rows(Event) == 1
    again = client.delete(f"/api/webhooks/{hook['id']}", headers=company.headers)
    assert_problem(again, 404, slug="not-found")


def test_the_webhook_list_is_paginated(client, company):
    for number in range(3):
        create(client, company, description=f"hook {number}")
    response = client.get("/api/webhooks?page=2&page_size=2", headers=company.headers)
    assert response.status_code == 200
    assert [row["description"] for row in response.json] == ["hook 2"]
    assert json.loads(response.headers["X-Pagination"])["total"] == 3


# -- the URL rules in production --------------------------------------------------------


@pytest.fixture
def production(app, monkeypatch):
    """The session app, in production mode for this test's requests."""
    monkeypatch.setitem(app.config, "STOCKFLOW_ENV", "production")
    monkeypatch.setitem(app.config, "STOCKFLOW_WEBHOOK_ALLOWED_HOSTS", "")
    return app


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://hooks.example.com/in", "Must be https"),
        ("https://localhost/in", "non-public address"),
        ("https://127.0.0.1/in", "non-public address"),
        ("https://127.0.0.2:8443/in", "non-public address"),
        ("https://10.1.2.3/in", "non-public address"),
        ("https://192.168.0.10/in", "non-public address"),
        ("https://172.16.5.4/in", "non-public address"),
        ("https://169.254.169.254/latest/meta-data/", "non-public address"),
        ("https://[::1]/in", "non-public address"),
        ("https://[::ffff:127.0.0.1]/in", "non-public address"),
        ("https://[fd00:ec2::254]/in", "non-public address"),
        ("https://0.0.0.0/in", "non-public address"),
        ("https://100.64.0.1/in", "non-public address"),
    ],
)
def test_in_production_a_url_to_a_private_address_or_over_http_is_refused(
    client, company, production, count_rows, url, why
):
    response = client.post(
        "/api/webhooks", json={"url": url, "events": ["stock.low"]}, headers=company.headers
    )
    body = assert_problem(response, 400, "url", slug="validation-error")
    assert why in body["errors"]["url"][0], body
    assert count_rows(WebhookEndpoint) == 0


def test_in_production_a_patch_to_a_private_address_is_refused_too(
    client, company, hook, production
):
    response = client.patch(
        f"/api/webhooks/{hook['id']}",
        json={"url": "https://169.254.169.254/"},
        headers=company.headers,
    )
    assert_problem(response, 400, "url")
    shown = client.get(f"/api/webhooks/{hook['id']}", headers=company.headers).json
    assert shown["url"] == URL


def test_in_production_a_public_address_and_an_allow_listed_host_are_accepted(
    client, company, production, monkeypatch
):
    # a literal public address: no DNS needed to decide
    assert create(client, company, url="https://93.184.215.14/in").json["id"]
    refused = client.post(
        "/api/webhooks",
        json={"url": "https://localhost:8443/in", "events": ["stock.low"]},
        headers=company.headers,
    )
    assert_problem(refused, 400, "url")
    monkeypatch.setitem(
        production.config, "STOCKFLOW_WEBHOOK_ALLOWED_HOSTS", "erp.internal, localhost"
    )
    assert create(client, company, url="https://localhost:8443/in").json["id"]
    # the scheme rule stands for an allow-listed host
    plain = client.post(
        "/api/webhooks",
        json={"url": "http://localhost:8443/in", "events": ["stock.low"]},
        headers=company.headers,
    )
    assert_problem(plain, 400, "url")


# -- ping, deliveries, redelivery ------------------------------------------------------


def add_attempt(app, company, delivery_id, **values):
    """An attempt row as the worker writes one (the listing reads them)."""
    with app.app_context():
        db.session.add(
            WebhookAttempt(
                company_id=company.id,
                delivery_id=delivery_id,
                attempted_at=values.pop("attempted_at", dt.datetime.now(dt.UTC)),
                **values,
            )
        )
        db.session.commit()
        db.session.remove()


def test_a_test_queues_exactly_one_ping_to_that_endpoint_only(app, client, company, hook):
    other = create(client, company, events=ALL_EVENTS).json
    queued = ping(client, company, hook["id"])
    assert queued["event_type"] == "ping" and queued["event_id"] and queued["delivery_id"]
    assert deliveries_of(app, company) == [(hook["id"], "ping", "pending", None)]
    assert deliveries_of(app, company, other["id"]) == []
    with app.app_context():
        event = db.session.scalar(sa.select(Event).where(Event.uid == queued["event_id"]))
        payload = json.loads(event.payload)
        delivery = db.session.get(WebhookDelivery, (company.id, queued["delivery_id"]))
        assert delivery.event_id == event.id and delivery.endpoint_id == hook["id"]
        db.session.remove()
    assert payload["id"] == queued["event_id"] and payload["type"] == "ping"
    assert payload["company_id"] == company.id
    assert payload["data"] == {"webhook_id": hook["id"]}

    page = client.get(f"/api/webhooks/{hook['id']}/deliveries", headers=company.headers).json
    [listed] = page["deliveries"]
    assert listed["id"] == queued["delivery_id"]
    assert listed["event_id"] == queued["event_id"] and listed["event_type"] == "ping"
    assert listed["status"] == "pending" and listed["attempt_count"] == 0
    assert listed["next_attempt_at"] and listed["attempts"] == []


def test_a_retried_test_with_the_same_idempotency_key_queues_one_ping(
    app, client, company, hook, count_rows
):
    headers = {**company.headers, "Idempotency-Key": "ping-1"}
    first = client.post(f"/api/webhooks/{hook['id']}/test", headers=headers)
    again = client.post(f"/api/webhooks/{hook['id']}/test", headers=headers)
    assert first.status_code == again.status_code == 202
    assert again.headers["Idempotent-Replayed"] == "true" and again.json == first.json
    assert count_rows(Event) == 1 and count_rows(WebhookDelivery) == 1


def test_a_test_of_a_disabled_endpoint_is_a_409_and_queues_nothing(
    app, client, company, hook, count_rows
):
    disable_as_the_worker_does(app, company, hook["id"], "gave up")
    body = assert_problem(
        client.post(f"/api/webhooks/{hook['id']}/test", headers=company.headers),
        409,
        slug="webhook-disabled",
    )
    assert "gave up" in body["detail"]
    assert count_rows(WebhookDelivery) == 0 and count_rows(Event) == 0


def test_the_deliveries_list_shows_attempts_newest_first_and_filters_by_status(
    app, client, company, hook
):
    first = ping(client, company, hook["id"])["delivery_id"]
    second = ping(client, company, hook["id"])["delivery_id"]
    t0 = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)
    add_attempt(
        app,
        company,
        first,
        attempted_at=t0,
        status_code=503,
        duration_ms=120,
        error="HTTP 503",
        next_retry_at=t0 + dt.timedelta(seconds=30),
    )
    add_attempt(
        app,
        company,
        first,
        attempted_at=t0 + dt.timedelta(seconds=31),
        status_code=200,
        duration_ms=80,
    )
    with app.app_context():
        db.session.execute(
            sa.update(WebhookDelivery)
            .where(WebhookDelivery.company_id == company.id, WebhookDelivery.id == first)
            .values(
                status="succeeded",
                attempts=2,
                last_status_code=200,
                delivered_at=t0 + dt.timedelta(seconds=31),
            )
        )
        db.session.commit()
        db.session.remove()

    url = f"/api/webhooks/{hook['id']}/deliveries"
    page = client.get(url, headers=company.headers).json
    assert [d["id"] for d in page["deliveries"]] == [second, first]
    assert page["next_cursor"] is None
    done = page["deliveries"][1]
    assert done["status"] == "succeeded" and done["attempt_count"] == 2
    assert done["last_status_code"] == 200 and done["delivered_at"].startswith(
        "2026-12-06T12:00:31"
    )
    assert done["next_attempt_at"] is None  # nothing more to try
    assert done["attempts"] == [
        {
            "attempted_at": "2026-12-06T12:00:31+00:00",
            "status_code": 200,
            "duration_ms": 80,
            "error": None,
            "next_retry_at": None,
        },
        {
            "attempted_at": "2026-12-06T12:00:00+00:00",
            "status_code": 503,
            "duration_ms": 120,
            "error": "HTTP 503",
            "next_retry_at": "2026-12-06T12:00:30+00:00",
        },
    ]
    pending = client.get(f"{url}?status=pending", headers=company.headers).json
    assert [d["id"] for d in pending["deliveries"]] == [second]
    succeeded = client.get(f"{url}?status=succeeded", headers=company.headers).json
    assert [d["id"] for d in succeeded["deliveries"]] == [first]


def test_the_deliveries_list_pages_with_a_cursor(client, company, hook):
    ids = [ping(client, company, hook["id"])["delivery_id"] for _ in range(5)]
    url = f"/api/webhooks/{hook['id']}/deliveries?limit=2"
    seen, cursor = [], None
    for _ in range(5):
        page = client.get(url + (f"&cursor={cursor}" if cursor else ""), headers=company.headers)
        assert page.status_code == 200, page.json
        seen += [d["id"] for d in page.json["deliveries"]]
        cursor = page.json["next_cursor"]
        if cursor is None:
            break
    assert seen == ids[::-1]


@pytest.mark.parametrize(
    "query", ["cursor=nope", "cursor=aWQ6eA", "status=lost", "limit=0", "limit=101"]
)
def test_a_bad_deliveries_query_is_a_400(client, company, hook, query):
    response = client.get(f"/api/webhooks/{hook['id']}/deliveries?{query}", headers=company.headers)
    assert_problem(response, 400, query.split("=")[0])


def test_the_deliveries_list_shows_at_most_20_attempts_per_delivery(app, client, company, hook):
    delivery_id = ping(client, company, hook["id"])["delivery_id"]
    for number in range(23):
        add_attempt(app, company, delivery_id, status_code=500, duration_ms=number)
    page = client.get(f"/api/webhooks/{hook['id']}/deliveries", headers=company.headers).json
    shown = page["deliveries"][0]["attempts"]
    assert [a["duration_ms"] for a in shown] == list(range(22, 2, -1))


def test_a_redelivery_is_a_new_pending_delivery_of_the_same_event_and_keeps_the_history(
    app, client, company, hook
):
    queued = ping(client, company, hook["id"])
    add_attempt(app, company, queued["delivery_id"], status_code=410, error="HTTP 410")
    with app.app_context():
        db.session.execute(
            sa.update(WebhookDelivery)
            .where(WebhookDelivery.id == queued["delivery_id"])
            .values(status="failed", attempts=1, last_status_code=410)
        )
        db.session.commit()
        db.session.remove()
    url = f"/api/webhooks/{hook['id']}/deliveries/{queued['delivery_id']}/redeliver"
    response = client.post(url, headers=company.headers)
    assert response.status_code == 202, response.json
    again = response.json
    assert again["id"] != queued["delivery_id"]
    assert again["event_id"] == queued["event_id"] and again["event_type"] == "ping"
    assert again["status"] == "pending" and again["attempt_count"] == 0
    assert again["attempts"] == [] and again["next_attempt_at"]

    page = client.get(f"/api/webhooks/{hook['id']}/deliveries", headers=company.headers).json
    assert [(d["id"], d["status"]) for d in page["deliveries"]] == [
        (again["id"], "pending"),
        (queued["delivery_id"], "failed"),
    ]
    assert page["deliveries"][1]["attempts"][0]["error"] == "HTTP 410"
    assert deliveries_of(app, company) == [
        (hook["id"], "ping", "failed", None),
        (hook["id"], "ping", "pending", None),
    ]


def test_redelivering_another_endpoints_delivery_is_a_404(client, company, hook, count_rows):
    other = create(client, company).json
    queued = ping(client, company, hook["id"])
    url = f"/api/webhooks/{other['id']}/deliveries/{queued['delivery_id']}/redeliver"
    assert_problem(client.post(url, headers=company.headers), 404, slug="not-found")
    missing = f"/api/webhooks/{hook['id']}/deliveries/{2**62}/redeliver"
    assert_problem(client.post(missing, headers=company.headers), 404)
    assert count_rows(WebhookDelivery) == 1


def test_redelivering_to_a_disabled_endpoint_is_a_409(app, client, company, hook, count_rows):
    queued = ping(client, company, hook["id"])
    disable_as_the_worker_does(app, company, hook["id"], "gave up")
    url = f"/api/webhooks/{hook['id']}/deliveries/{queued['delivery_id']}/redeliver"
    assert_problem(client.post(url, headers=company.headers), 409, slug="webhook-disabled")
    assert count_rows(WebhookDelivery) == 1


# -- the outbox's fan-out to endpoints ---------------------------------------------------


def test_a_sale_crossing_the_threshold_is_delivered_to_subscribed_enabled_endpoints_only(
    app, client, company, make_warehouse, make_product
):
    subscribed = create(client, company, events=["stock.low"]).json
    everything = create(client, company, events=ALL_EVENTS).json
    unsubscribed = create(client, company, events=["stock.recovered"]).json
    disabled = create(client, company, events=["stock.low"]).json
    disable_as_the_worker_does(app, company, disabled["id"], "gave up")
    warehouse = make_warehouse(company)["id"]
    product = make_product(
        company,
        low_stock_threshold=5,
        initial_stock=[{"warehouse_id": warehouse, "quantity": 10}],
    )["id"]
    response = client.post(
        "/api/stock/sales",
        json={"product_id": product, "warehouse_id": warehouse, "quantity": 6},
        headers=company.headers,
    )
    assert response.status_code == 201, response.json
    key = f"{product}:{warehouse}"
    assert sorted(deliveries_of(app, company)) == sorted(
        [
            (subscribed["id"], "stock.low", "pending", key),
            (everything["id"], "stock.low", "pending", key),
        ]
    )
    listed = client.get(f"/api/webhooks/{subscribed['id']}/deliveries", headers=company.headers)
    assert [d["event_type"] for d in listed.json["deliveries"]] == ["stock.low"]
    for idle in (unsubscribed, disabled):
        page = client.get(f"/api/webhooks/{idle['id']}/deliveries", headers=company.headers)
        assert page.json["deliveries"] == []


# -- the event feed ----------------------------------------------------------------------


def test_the_event_feed_lists_the_companys_events_newest_first_as_delivered(
    app, client, company, other_company, hook
):
    other_hook = create(client, other_company).json
    ping(client, other_company, other_hook["id"])
    uids = [ping(client, company, hook["id"])["event_id"] for _ in range(3)]
    page = client.get("/api/events?limit=2", headers=company.headers)
    assert page.status_code == 200, page.json
    assert [e["id"] for e in page.json["events"]] == uids[:0:-1]
    rest = client.get(
        f"/api/events?limit=2&cursor={page.json['next_cursor']}", headers=company.headers
    ).json
    assert [e["id"] for e in rest["events"]] == [uids[0]] and rest["next_cursor"] is None
    with app.app_context():
        stored = db.session.scalar(sa.select(Event.payload).where(Event.uid == uids[0]))
        db.session.remove()
    assert rest["events"][0] == json.loads(stored)
    assert client.get("/api/events?type=stock.low", headers=company.headers).json["events"] == []
    assert_problem(client.get("/api/events?type=stock.gone", headers=company.headers), 400, "type")
    assert_problem(client.get("/api/events?cursor=zz", headers=company.headers), 400, "cursor")


# -- tenancy -----------------------------------------------------------------------------


def test_another_companys_webhooks_deliveries_and_events_are_404_or_invisible(
    app, client, company, other_company, hook, count_rows
):
    queued = ping(client, company, hook["id"])
    base = f"/api/webhooks/{hook['id']}"
    requests = [
        ("GET", base, None),
        ("PATCH", base, {"description": "hijacked", "enabled": False}),
        ("DELETE", base, None),
        ("POST", f"{base}/rotate-secret", None),
        ("POST", f"{base}/test", None),
        ("GET", f"{base}/deliveries", None),
        ("POST", f"{base}/deliveries/{queued['delivery_id']}/redeliver", None),
    ]
    for method, url, body in requests:
        kwargs = {"json": body} if body is not None else {}
        response = client.open(url, method=method, headers=other_company.headers, **kwargs)
        assert_problem(response, 404, slug="not-found")
        assert "ERP" not in response.get_data(as_text=True)
    # B's own webhook and a delivery of it: A's webhook id with B's delivery is a 404 too
    own = create(client, other_company).json
    own_delivery = ping(client, other_company, own["id"])["delivery_id"]
    crossed = f"{base}/deliveries/{own_delivery}/redeliver"
    assert_problem(client.post(crossed, headers=other_company.headers), 404)
    assert_problem(client.post(crossed, headers=company.headers), 404)

    assert [w["id"] for w in client.get("/api/webhooks", headers=other_company.headers).json] == [
        own["id"]
    ]
    events = client.get("/api/events", headers=other_company.headers).json["events"]
    assert {e["company_id"] for e in events} == {other_company.id}
    shown = client.get(base, headers=company.headers).json
    assert shown == {k: v for k, v in hook.items() if k != "secret"}
    assert count_rows(WebhookDelivery, WebhookDelivery.company_id == company.id) == 1


# -- the README -------------------------------------------------------------------------

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def readme_section(title: str) -> str:
    text = README.read_text()
    start = text.index(f"### {title}\n")
    return text[start : text.index("\n### ", start + 1)]


def test_the_readme_documents_every_event_type():
    payloads = readme_section("Event payloads")
    for type_ in EVENT_TYPES:
        assert f"**`{type_}`**" in payloads, type_


def test_the_readmes_receiver_snippet_verifies_a_real_signature_and_refuses_a_stale_one():
    snippet = readme_section("The signing secret").split("```python\n")[1].split("```")[0]
    namespace: dict = {}
    exec(snippet, namespace)  # noqa: S102 - our own documentation
    verify = namespace["verify"]
    secret, body = "whsec_test", b'{"id":"e1","type":"ping"}'
    assert verify(secret, signing.sign(secret, body), body)
    assert not verify(secret, signing.sign(secret, body), body + b" ")
    assert not verify("whsec_other", signing.sign(secret, body), body)
    stale = signing.sign(secret, body, timestamp=int(time.time()) - signing.REPLAY_WINDOW_S - 5)
    assert not verify(secret, stale, body)


# -- races (PostgreSQL: row locks decide) ------------------------------------------------

RACE_ROUNDS = 20


@pytest.mark.postgres
def test_a_redelivery_racing_the_endpoints_deletion_is_never_a_500_nor_a_stranded_delivery(
    app, client, company, count_rows
):
    from tests.test_races import race, show

    for round_ in range(RACE_ROUNDS):
        hook = create(client, company).json
        delivery = ping(client, company, hook["id"])["delivery_id"]
        base = f"/api/webhooks/{hook['id']}"
        redeliver, delete = race(
            app,
            ("POST", f"{base}/deliveries/{delivery}/redeliver", None, company.headers),
            ("DELETE", base, None, company.headers),
        )
        outcome = (redeliver.status_code, delete.status_code)
        assert outcome in {(202, 204), (404, 204)}, (round_, show(redeliver, delete))
        assert count_rows(WebhookEndpoint) == 0
        # the deletion took every delivery, the redelivery's included
        assert count_rows(WebhookDelivery) == 0, round_


@pytest.mark.postgres
def test_a_test_racing_a_disable_either_queues_before_it_or_is_a_409(app, client, company):
    from tests.test_races import race, show

    for round_ in range(RACE_ROUNDS):
        hook = create(client, company).json
        base = f"/api/webhooks/{hook['id']}"
        test, disable = race(
            app,
            ("POST", f"{base}/test", None, company.headers),
            ("PATCH", base, {"enabled": False}, company.headers),
        )
        outcome = (test.status_code, disable.status_code)
        assert outcome in {(202, 200), (409, 200)}, (round_, show(test, disable))
        queued = deliveries_of(app, company, hook["id"])
        assert len(queued) == (1 if test.status_code == 202 else 0), round_


@pytest.mark.postgres
def test_a_sale_crossing_the_threshold_racing_the_endpoints_deletion_both_succeed(
    app, client, company, make_warehouse, make_product, count_rows
):
    from tests.test_races import race, show

    warehouse = make_warehouse(company)["id"]
    for round_ in range(RACE_ROUNDS):
        hook = create(client, company).json
        product = make_product(
            company,
            low_stock_threshold=5,
            initial_stock=[{"warehouse_id": warehouse, "quantity": 10}],
        )["id"]
        sale, delete = race(
            app,
            (
                "POST",
                "/api/stock/sales",
                {"product_id": product, "warehouse_id": warehouse, "quantity": 6},
                company.headers,
            ),
            ("DELETE", f"/api/webhooks/{hook['id']}", None, company.headers),
        )
        assert (sale.status_code, delete.status_code) == (201, 204), (round_, show(sale, delete))
        assert count_rows(WebhookDelivery) == 0, round_
