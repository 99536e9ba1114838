"""Acknowledging low-stock alerts (issue 14): an acknowledged alert leaves the default
list while the situation is no worse, and comes back when ``until`` passes, the
level reaches zero or the stockout moves earlier; on the maintained path and on
the ledger's, in JSON and CSV, with ETags that move when an acknowledgement is
made, deleted or lapses."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
import sqlalchemy as sa

from app.alerts import queries
from app.extensions import db
from app.models import AlertAcknowledgement, AlertState, Event
from tests import test_alerts
from tests.helpers import assert_problem
from tests.test_alerts import fetch, get_alerts, revalidate, rows, sell, stock_op
from tests.test_races import race, show

# the alerts' fixtures, shared
clock = test_alerts.clock
make_selling = test_alerts.make_selling
warehouse = test_alerts.warehouse


def acks_path(company_id: int) -> str:
    """The alert acknowledgements of a company."""
    return f"/api/companies/{company_id}/alerts/low-stock/acknowledgements"


def acknowledge(client, tenant, body, status=201, headers=None):
    """POST an acknowledgement as ``tenant`` (asserting ``status``)."""
    response = client.post(
        acks_path(tenant.id), json=body, headers={**tenant.headers, **(headers or {})}
    )
    assert response.status_code == status, response.json
    return response


def ack_ok(client, tenant, product, warehouse, **fields) -> dict:
    """Acknowledge the alert of ``product`` in ``warehouse`` (asserting a 201)."""
    body = {"product_id": product["id"], "warehouse_id": warehouse["id"], **fields}
    return acknowledge(client, tenant, body).json


def in_an_hour(clock) -> str:
    return (clock.now + dt.timedelta(hours=1)).isoformat()


@pytest.fixture(params=["maintained", "ledger"])
def path(request, app, company):
    """Which path answers the default window: the state kept on the inventory rows,
    or (the state not current for today) the ledger."""
    if request.param == "ledger":
        with app.app_context():
            state = db.session.get(AlertState, company.id)
            state.as_of = state.as_of - dt.timedelta(days=1)
            db.session.commit()
    return request.param


@pytest.fixture
def low(company, warehouse, make_selling) -> dict:
    """A product that alerts: 9 left of threshold 10, 3 sold in 30 days: out in 90 days."""
    return make_selling(company, warehouse["id"], stock=9, sold=3, name="Low")


@pytest.fixture
def other_low(company, warehouse, make_selling) -> dict:
    """Another alerting product: out in 30 days (listed first)."""
    return make_selling(company, warehouse["id"], stock=3, sold=3, name="Other")


# -- hidden while it holds -------------------------------------------------------------------


def test_acknowledging_answers_201_with_who_when_until_and_note(
    client, company, warehouse, low, clock
):
    until = clock.now + dt.timedelta(days=3)
    body = ack_ok(
        client, company, low, warehouse, until=until.isoformat(), note="Reordered by phone"
    )
    assert set(body) == {
        "id",
        "product_id",
        "warehouse_id",
        "until",
        "note",
        "acknowledged_at",
        "acknowledged_by",
    }
    assert (body["product_id"], body["warehouse_id"]) == (low["id"], warehouse["id"])
    assert dt.datetime.fromisoformat(body["until"]) == until
    assert body["note"] == "Reordered by phone"
    assert body["acknowledged_by"] == "initial"  # the name of the key the company was created with
    acknowledged_at = dt.datetime.fromisoformat(body["acknowledged_at"])
    assert abs(acknowledged_at - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)


def test_an_acknowledged_alert_is_hidden_by_default_and_shown_with_include_acknowledged(
    client, company, warehouse, low, other_low, path
):
    ack = ack_ok(client, company, low, warehouse, note="On it")
    body = get_alerts(client, company)
    assert rows(body) == [(other_low["id"], warehouse["id"])]
    assert body["total_alerts"] == 1
    assert body["alerts"][0]["acknowledgement"] is None
    shown = get_alerts(client, company, include_acknowledged="true")
    assert rows(shown) == [(other_low["id"], warehouse["id"]), (low["id"], warehouse["id"])]
    assert shown["total_alerts"] == 2
    assert shown["alerts"][0]["acknowledgement"] is None
    assert shown["alerts"][1]["acknowledgement"] == {
        "id": ack["id"],
        "acknowledged_at": ack["acknowledged_at"],
        "acknowledged_by": ack["acknowledged_by"],
        "until": None,
        "note": "On it",
    }


def test_an_acknowledgement_hides_the_alert_in_its_warehouse_only(
    client, company, warehouse, make_warehouse, make_selling
):
    second = make_warehouse(company, name="Second")
    product = make_selling(company, warehouse["id"], stock=5, sold=2)
    stock_op(
        client,
        company,
        "receipts",
        {"product_id": product["id"], "warehouse_id": second["id"], "quantity": 7},
    )
    sell(client, company, product["id"], second["id"], 2)
    ack_ok(client, company, product, warehouse)
    assert rows(get_alerts(client, company)) == [(product["id"], second["id"])]


def test_an_alert_shows_again_when_until_passes_and_its_etag_moves(
    client, company, warehouse, low, clock, path
):
    ack_ok(client, company, low, warehouse, until=in_an_hour(clock))
    hidden = fetch(client, company)
    assert hidden.json["total_alerts"] == 0
    clock.now += dt.timedelta(minutes=59)
    assert revalidate(client, company, hidden.headers["ETag"]).status_code == 304
    clock.now += dt.timedelta(minutes=2)
    response = revalidate(client, company, hidden.headers["ETag"])
    assert response.status_code == 200
    assert rows(response.json) == [(low["id"], warehouse["id"])]
    assert response.json["alerts"][0]["acknowledgement"] is None


def test_an_alert_shows_again_when_its_level_reaches_zero(
    client, company, warehouse, make_selling, path
):
    # 1 left after selling 100: out today already, so only the zero can be worse
    fast = make_selling(company, warehouse["id"], stock=1, sold=100)
    ack_ok(client, company, fast, warehouse)
    assert get_alerts(client, company)["total_alerts"] == 0
    sell(client, company, fast["id"], warehouse["id"], 1)
    (alert,) = get_alerts(client, company)["alerts"]
    assert (alert["product_id"], alert["current_stock"], alert["days_until_stockout"]) == (
        fast["id"],
        0,
        0,
    )


def test_an_alert_acknowledged_at_zero_stays_hidden_at_zero(
    client, company, warehouse, make_selling, path
):
    empty = make_selling(company, warehouse["id"], stock=0, sold=4)
    ack_ok(client, company, empty, warehouse)
    assert get_alerts(client, company)["total_alerts"] == 0


def test_an_alert_shows_again_when_its_stockout_moves_earlier(
    client, company, warehouse, low, path
):
    ack_ok(client, company, low, warehouse)
    sell(client, company, low["id"], warehouse["id"], 1)  # 8 left, 4 sold: out in 60 days
    alert = get_alerts(client, company)["alerts"]
    assert [(a["product_id"], a["days_until_stockout"]) for a in alert] == [(low["id"], 60)]


def test_an_alert_whose_stockout_moves_later_stays_hidden(
    client, company, warehouse, make_selling, path
):
    product = make_selling(company, warehouse["id"], stock=5, sold=3)  # out in 50 days
    ack_ok(client, company, product, warehouse)
    body = {"product_id": product["id"], "warehouse_id": warehouse["id"], "quantity": 2}
    stock_op(client, company, "receipts", body)  # 7 left: out in 70 days
    assert get_alerts(client, company)["total_alerts"] == 0
    (alert,) = get_alerts(client, company, include_acknowledged="true")["alerts"]
    assert alert["days_until_stockout"] == 70 and alert["acknowledgement"] is not None


def test_an_acknowledgement_of_a_row_that_did_not_sell_lapses_when_it_alerts(
    client, company, warehouse, make_product
):
    product = make_product(company, warehouse_id=warehouse["id"], initial_quantity=5)
    ack_ok(client, company, product, warehouse)  # low, but no sale: no alert, no stockout
    sell(client, company, product["id"], warehouse["id"], 1)
    assert rows(get_alerts(client, company)) == [(product["id"], warehouse["id"])]


def test_the_maintained_and_the_ledger_answers_agree_with_acknowledgements(
    app, client, company, warehouse, low, other_low, make_selling
):
    fast = make_selling(company, warehouse["id"], stock=1, sold=100)
    ack_ok(client, company, low, warehouse)
    ack_ok(client, company, fast, warehouse)
    sell(client, company, fast["id"], warehouse["id"], 1)  # lapses: zero
    today = dt.datetime.now(dt.UTC).date()
    with app.app_context():
        for include in (False, True):
            args = {"days": 30, "page": 1, "page_size": 1000, "include_acknowledged": include}
            kept = queries.low_stock_alerts(company.id, args, today, maintained=True)
            computed = queries.low_stock_alerts(company.id, args, today)
            assert kept == computed
            assert kept[1] == (3 if include else 2)


# -- replacing, deleting, listing ------------------------------------------------------------


def test_acknowledging_again_replaces_the_acknowledgement_with_a_200(
    client, company, warehouse, low, clock
):
    first = ack_ok(client, company, low, warehouse, note="first")
    body = {"product_id": low["id"], "warehouse_id": warehouse["id"], "until": in_an_hour(clock)}
    second = acknowledge(client, company, body, status=200).json
    assert second["id"] == first["id"]
    assert second["note"] is None and second["until"] is not None
    listed = client.get(acks_path(company.id), headers=company.headers).json
    assert listed == [second]


def test_deleting_an_acknowledgement_shows_the_alert_again(client, company, warehouse, low, path):
    ack = ack_ok(client, company, low, warehouse)
    assert get_alerts(client, company)["total_alerts"] == 0
    item = f"{acks_path(company.id)}/{ack['id']}"
    response = client.delete(item, headers=company.headers)
    assert response.status_code == 204
    assert rows(get_alerts(client, company)) == [(low["id"], warehouse["id"])]
    assert client.get(acks_path(company.id), headers=company.headers).json == []
    assert_problem(client.delete(item, headers=company.headers), 404, slug="not-found")


def test_the_list_shows_acknowledgements_whose_until_has_not_passed(
    client, company, warehouse, low, other_low, clock
):
    lasting = ack_ok(client, company, low, warehouse)
    ack_ok(client, company, other_low, warehouse, until=in_an_hour(clock))
    listed = client.get(acks_path(company.id), headers=company.headers).json
    assert [a["product_id"] for a in listed] == [low["id"], other_low["id"]]
    clock.now += dt.timedelta(hours=2)
    listed = client.get(acks_path(company.id), headers=company.headers).json
    assert listed == [lasting]


def test_an_idempotent_retry_replays_the_acknowledgement(
    client, company, warehouse, low, count_rows
):
    body = {"product_id": low["id"], "warehouse_id": warehouse["id"], "note": "once"}
    headers = {"Idempotency-Key": "ack-1"}
    first = acknowledge(client, company, body, headers=headers)
    again = acknowledge(client, company, body, headers=headers)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json == first.json
    assert count_rows(AlertAcknowledgement) == 1


# -- the event -------------------------------------------------------------------------------


def outbox(app, company) -> list[tuple[str, dict]]:
    """The company's events, oldest first: (type, payload)."""
    with app.app_context():
        found = db.session.execute(
            sa.select(Event.type, Event.payload)
            .where(Event.company_id == company.id)
            .order_by(Event.id)
        ).all()
        db.session.remove()
    return [(type_, json.loads(payload)) for type_, payload in found]


def test_acknowledging_writes_an_alert_acknowledged_event_with_the_situation(
    app, client, company, warehouse, low, clock
):
    ack = ack_ok(client, company, low, warehouse, until=in_an_hour(clock), note="Called them")
    again = acknowledge(
        client, company, {"product_id": low["id"], "warehouse_id": warehouse["id"]}, status=200
    ).json
    acknowledged = [
        payload for type_, payload in outbox(app, company) if type_ == "alert.acknowledged"
    ]
    assert len(acknowledged) == 2
    first, second = (payload["data"] for payload in acknowledged)
    assert first["acknowledgement"]["id"] == ack["id"] == again["id"]
    assert first["acknowledgement"]["note"] == "Called them"
    assert first["acknowledgement"]["acknowledged_by"] == "initial"
    assert first["acknowledgement"]["until"].endswith("Z")
    assert first["product"] == {"id": low["id"], "sku": low["sku"], "name": "Low"}
    assert first["warehouse"] == {"id": warehouse["id"], "name": "Main"}
    assert (first["quantity"], first["days_until_stockout"]) == (9, 90)
    assert second["acknowledgement"]["until"] is None


def test_a_refused_acknowledgement_writes_no_event(app, client, company, warehouse, other_company):
    foreign = client.post(
        "/api/products",
        json={"name": "Theirs", "sku": "T-1", "price": "1.00"},
        headers=other_company.headers,
    ).json
    body = {"product_id": foreign["id"], "warehouse_id": warehouse["id"]}
    acknowledge(client, company, body, status=404)
    assert [t for t, _ in outbox(app, company) if t == "alert.acknowledged"] == []


# -- ETags -----------------------------------------------------------------------------------


def test_acknowledging_and_unacknowledging_move_the_etag(client, company, warehouse, low, path):
    before = fetch(client, company)
    ack = ack_ok(client, company, low, warehouse)
    hidden = revalidate(client, company, before.headers["ETag"])
    assert hidden.status_code == 200 and hidden.json["total_alerts"] == 0
    client.delete(f"{acks_path(company.id)}/{ack['id']}", headers=company.headers)
    shown = revalidate(client, company, hidden.headers["ETag"])
    assert shown.status_code == 200 and shown.json["total_alerts"] == 1


# -- CSV -------------------------------------------------------------------------------------


def test_csv_hides_acknowledged_alerts_and_shows_them_with_their_acknowledgement(
    client, company, warehouse, low, other_low, path
):
    ack = ack_ok(client, company, low, warehouse, note="=ordered")
    default = list(csv.DictReader(io.StringIO(fetch(client, company, format="csv").text)))
    assert [int(line["product_id"]) for line in default] == [other_low["id"]]
    assert default[0]["acknowledgement_id"] == ""
    response = fetch(client, company, format="csv", include_acknowledged="true")
    lines = list(csv.DictReader(io.StringIO(response.text)))
    assert [int(line["product_id"]) for line in lines] == [other_low["id"], low["id"]]
    assert lines[1]["acknowledgement_id"] == str(ack["id"])
    assert lines[1]["acknowledged_by"] == "initial"
    assert lines[1]["acknowledgement_note"] == "'=ordered"  # not a formula


# -- refusals --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"until": "2000-01-01T00:00:00Z"}, "until"),
        ({"until": "tomorrow"}, "until"),
        ({"until": "2999-01-01T00:00:00Z"}, "until"),
        ({"note": "  "}, "note"),
        ({"note": "x" * 501}, "note"),
        ({"colour": "red"}, "colour"),
        ({"product_id": None}, "product_id"),
        ({"warehouse_id": "1"}, "warehouse_id"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_writes_nothing(
    client, company, warehouse, low, count_rows, change, field
):
    body = {"product_id": low["id"], "warehouse_id": warehouse["id"], **change}
    response = client.post(acks_path(company.id), json=body, headers=company.headers)
    assert_problem(response, 400, field)
    assert count_rows(AlertAcknowledgement) == 0


def test_a_note_of_500_characters_is_accepted(client, company, warehouse, low):
    assert len(ack_ok(client, company, low, warehouse, note="x" * 500)["note"]) == 500


def test_a_bundle_has_no_alert_to_acknowledge(client, company, warehouse, make_product):
    bundle = make_product(company, is_bundle=True)
    body = {"product_id": bundle["id"], "warehouse_id": warehouse["id"]}
    response = client.post(acks_path(company.id), json=body, headers=company.headers)
    assert_problem(response, 409, slug="bundle-has-no-stock")


def test_an_archived_product_cannot_be_acknowledged(
    client, company, warehouse, make_product, count_rows
):
    product = make_product(company)
    archived = client.delete(f"/api/products/{product['id']}", headers=company.headers)
    assert archived.status_code == 204
    body = {"product_id": product["id"], "warehouse_id": warehouse["id"]}
    response = client.post(acks_path(company.id), json=body, headers=company.headers)
    assert_problem(response, 404, slug="not-found")
    assert count_rows(AlertAcknowledgement) == 0


# -- tenancy ---------------------------------------------------------------------------------


def test_another_companys_product_or_warehouse_is_a_404_and_writes_nothing(
    client, company, other_company, warehouse, low, make_warehouse, make_product, count_rows
):
    foreign_product = make_product(other_company)
    foreign_warehouse = make_warehouse(other_company)
    for body in (
        {"product_id": foreign_product["id"], "warehouse_id": warehouse["id"]},
        {"product_id": low["id"], "warehouse_id": foreign_warehouse["id"]},
    ):
        response = client.post(acks_path(company.id), json=body, headers=company.headers)
        assert_problem(response, 404, slug="not-found")
    assert count_rows(AlertAcknowledgement) == 0


def test_every_route_of_another_company_is_a_404(client, company, other_company, warehouse, low):
    ack = ack_ok(client, company, low, warehouse)
    body = {"product_id": low["id"], "warehouse_id": warehouse["id"]}
    ours = acks_path(company.id)
    for response in (
        client.get(ours, headers=other_company.headers),
        client.post(ours, json=body, headers=other_company.headers),
        client.delete(f"{ours}/{ack['id']}", headers=other_company.headers),
        # their own path, our acknowledgement's id
        client.delete(f"{acks_path(other_company.id)}/{ack['id']}", headers=other_company.headers),
    ):
        assert_problem(response, 404)
    assert client.get(ours, headers=company.headers).json == [ack]
    assert client.get(acks_path(other_company.id), headers=other_company.headers).json == []
    assert get_alerts(client, company)["total_alerts"] == 0


# -- races (PostgreSQL) ----------------------------------------------------------------------

ROUNDS = 20


@pytest.mark.postgres
def test_acknowledging_while_the_product_is_archived_never_acknowledges_an_archived_one(
    app, company, warehouse, make_product
):
    for round_ in range(ROUNDS):
        product = make_product(company)["id"]  # no stock: it may be archived
        body = {"product_id": product, "warehouse_id": warehouse["id"]}
        ack, archive = race(
            app,
            ("POST", acks_path(company.id), body, company.headers),
            ("DELETE", f"/api/products/{product}", None, company.headers),
        )
        outcome = (ack.status_code, archive.status_code)
        assert outcome in {(201, 204), (404, 204)}, (round_, show(ack, archive))
        with app.app_context():
            written = db.session.scalar(
                sa.select(sa.func.count())
                .select_from(AlertAcknowledgement)
                .where(
                    AlertAcknowledgement.company_id == company.id,
                    AlertAcknowledgement.product_id == product,
                )
            )
            db.session.remove()
        # a 404 (the archive came first) wrote nothing; a 201 came before the archive
        assert written == (1 if ack.status_code == 201 else 0), round_


@pytest.mark.postgres
def test_concurrent_acknowledgements_of_one_alert_leave_one_acknowledgement(
    app, client, company, warehouse, low
):
    for round_ in range(ROUNDS):
        bodies = [
            {"product_id": low["id"], "warehouse_id": warehouse["id"], "note": f"{round_}-{i}"}
            for i in range(2)
        ]
        responses = race(
            app, *(("POST", acks_path(company.id), body, company.headers) for body in bodies)
        )
        statuses = sorted(r.status_code for r in responses)
        # the first round creates it (one 201), every later one replaces it
        assert statuses == ([200, 201] if round_ == 0 else [200, 200]), show(*responses)
        listed = client.get(acks_path(company.id), headers=company.headers).json
        assert len(listed) == 1
        assert listed[0]["note"] in {body["note"] for body in bodies}
