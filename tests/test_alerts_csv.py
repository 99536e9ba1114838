"""The alerts' fast writers against their plain references, on data that exercises every
rule: learned lead times (an even count: the median between two), acknowledgements,
formula text, open orders (covered or not), a stockout past year 9999, order minimums
and packs:

- the CSV on PostgreSQL, written by the database (``COPY``, app.alerts.export), is cell
  for cell the CSV that the JSON derivation writes (``queries.derive`` and
  ``routes.csv_lines``, which SQLite serves);
- the JSON page, written by ``json.dumps`` (``schemas.page_json``), is what
  ``AlertPageSchema`` dumps."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
import sqlalchemy as sa

from app.alerts import queries, routes
from app.alerts.schemas import AlertPageSchema, AlertQuerySchema
from app.extensions import db
from app.models import PurchaseOrder


def post(client, tenant, path, body=None, status=201):
    response = client.post(path, json=body, headers=tenant.headers)
    assert response.status_code == status, response.get_json()
    return response.json


def http_csv(client, tenant, query: str) -> list[list[str]]:
    response = client.get(
        f"/api/companies/{tenant.id}/alerts/low-stock?format=csv{query}", headers=tenant.headers
    )
    assert response.status_code == 200, response.get_json()
    assert response.mimetype == "text/csv"
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


def derived_csv(app, tenant, query: str) -> list[list[str]]:
    """The same answer written from the JSON derivation, as SQLite writes it."""
    raw = dict(part.split("=") for part in f"format=csv{query}".split("&"))
    with app.test_request_context():
        args = AlertQuerySchema().load(raw)
        now = dt.datetime.now(dt.UTC)
        _, maintained = routes.version(tenant.id, args, now)
        alerts = queries.every_alert(tenant.id, args, now.date(), maintained, now)
        text = "".join(routes.csv_lines(alerts))
    return list(csv.reader(io.StringIO(text)))


def assert_csv_is_the_derivation(app, client, tenant, queries_: list[str]) -> None:
    for query in queries_:
        written = http_csv(client, tenant, query)
        assert written == derived_csv(app, tenant, query), query


def assert_json_is_the_schema_dump(app, client, tenant, queries_: list[str]) -> None:
    """Each page (``page_size=1000``) through HTTP is what ``AlertPageSchema`` dumps of
    the same answer."""
    for query in queries_:
        raw = dict(part.split("=") for part in f"page_size=1000{query}".split("&"))
        response = client.get(
            f"/api/companies/{tenant.id}/alerts/low-stock", query_string=raw, headers=tenant.headers
        )
        assert response.status_code == 200 and response.mimetype == "application/json"
        with app.test_request_context():
            args = AlertQuerySchema().load(raw)
            now = dt.datetime.now(dt.UTC)
            _, maintained = routes.version(tenant.id, args, now)
            alerts, total = queries.low_stock_alerts(tenant.id, args, now.date(), maintained, now)
        page = {"alerts": alerts, "total_alerts": total}
        page |= {"page": args["page"], "page_size": args["page_size"], "days": args["days"]}
        assert response.json == json.loads(json.dumps(AlertPageSchema().dump(page))), query


@pytest.fixture
def varied(app, client, company, make_warehouse, make_product):
    """Alerts of every kind in two warehouses; returns their ids by name."""
    main = make_warehouse(company, name="=Main")["id"]
    other = make_warehouse(company, name="Other")["id"]
    bolts = post(client, company, "/api/suppliers", {"name": "@Bolts", "contact_email": None})["id"]
    nuts = post(client, company, "/api/suppliers", {"name": "Nuts", "contact_email": "n@x.io"})[
        "id"
    ]
    ids = {"main": main, "other": other, "bolts": bolts, "nuts": nuts}

    def alerting(name, warehouse, *, threshold=20, stock=30, sold=20, supplier=None, **link):
        product = make_product(company, name=name, low_stock_threshold=threshold)["id"]
        if supplier is not None:
            post(
                client,
                company,
                f"/api/products/{product}/suppliers",
                {"supplier_id": supplier, "cost_price": "0.15", "lead_time_days": 9, **link},
            )
        body = {"product_id": product, "warehouse_id": warehouse}
        post(client, company, "/api/stock/receipts", body | {"quantity": stock})
        post(client, company, "/api/stock/sales", body | {"quantity": sold})
        ids[name] = product
        return product

    def ordered(supplier, warehouse, product, quantity, expected=None) -> int:
        """A submitted purchase order of one line: its id."""
        body = {
            "supplier_id": supplier,
            "warehouse_id": warehouse,
            "lines": [{"product_id": product, "quantity": quantity}],
            "expected_at": expected and expected.isoformat(),
        }
        placed = post(client, company, "/api/purchase-orders", body)["id"]
        post(client, company, f"/api/purchase-orders/{placed}/submit", None, 200)
        return placed

    now = dt.datetime.now(dt.UTC)
    # four deliveries of 4, 6, 7 and 20 days: the median is 6.5, rounded up to 7
    learned = alerting("+Learned", main, threshold=1000, supplier=bolts, pack_size=12)
    for days in (4, 6, 7, 20):
        placed = ordered(bolts, main, learned, 1)
        with app.app_context():
            db.session.execute(
                sa.update(PurchaseOrder)
                .where(PurchaseOrder.id == placed)
                .values(ordered_at=now - dt.timedelta(days=days, hours=1))
            )
            db.session.commit()
        receipt = {"lines": [{"product_id": learned, "quantity": 1}]}
        post(client, company, f"/api/purchase-orders/{placed}/receipts", receipt)
    # covered: enough on order, expected (with microseconds) before the stockout
    covered = alerting("Covered", main, supplier=nuts, min_order_quantity=25, cost_price="2.50")
    ordered(nuts, main, covered, 40, now + dt.timedelta(days=3, microseconds=1234))
    # covered at the boundary: delivered on the stockout day (stock 10, 20 sold in the
    # window of 30 days: out in 15)
    boundary = alerting("Boundary", other, supplier=nuts)
    ordered(nuts, other, boundary, 40, now + dt.timedelta(days=15))
    # not covered: too little, and undated
    ordered(nuts, other, alerting("Short", other, supplier=nuts), 2)
    # no supplier; out of stock; a stockout past 9999-12-31 (a huge threshold, one sale)
    alerting("Orphan", other, sold=15)  # 0.50 a day: amounts keep their zeros
    alerting("Empty", main, stock=5, sold=5, supplier=bolts)
    alerting("Far", main, threshold=20_000_000, stock=10_000_000, sold=1)
    # acknowledged: one until a whole second (no microseconds), one with no end
    for name, until in (("Acked", True), ("Acked forever", False)):
        product = alerting(name, other, supplier=bolts)
        body = {"product_id": product, "warehouse_id": other, "note": "-see PO"}
        if until:
            later = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
            body["until"] = later.replace(microsecond=0).isoformat()
        post(
            client, company, f"/api/companies/{company.id}/alerts/low-stock/acknowledgements", body
        )
    return ids


def test_the_json_page_is_what_the_schema_dumps(app, client, company, varied):
    assert_json_is_the_schema_dump(
        app,
        client,
        company,
        ["", "&include_acknowledged=true", "&covered=true", "&days=29&include_acknowledged=true"],
    )


@pytest.mark.postgres
def test_postgres_writes_the_csv_of_the_json_derivation_cell_for_cell(app, client, company, varied):
    assert_csv_is_the_derivation(
        app,
        client,
        company,
        [
            "",
            "&covered=false",
            "&covered=true",
            "&include_acknowledged=true",
            f"&warehouse_id={varied['main']}",
            f"&supplier_id={varied['bolts']}",
            "&product_type=regular",
            # the ledger path (any other window)
            "&days=29",
            "&days=29&include_acknowledged=true&covered=false",
        ],
    )


@pytest.mark.postgres
def test_postgres_csv_cells_read_as_the_json_writes_them(client, company, varied):
    header, *lines = http_csv(client, company, "&include_acknowledged=true")
    rows = {
        row["product_id"]: row for row in (dict(zip(header, line, strict=True)) for line in lines)
    }
    learned = rows[str(varied["+Learned"])]
    assert (learned["product_name"], learned["warehouse_name"]) == ("'+Learned", "'=Main")
    assert (learned["lead_time_days"], learned["lead_time_source"]) == ("7", "observed")
    assert learned["supplier_name"] == "'@Bolts" and learned["supplier_contact_email"] == ""
    assert int(learned["suggested_reorder_quantity"]) % 12 == 0
    covered = rows[str(varied["Covered"])]
    assert (covered["covered"], covered["on_order"], covered["cost_price"]) == (
        "true",
        "40",
        "2.50",
    )
    delivery = dt.datetime.fromisoformat(covered["next_delivery_at"])
    assert delivery.microsecond != 0 and delivery.utcoffset() == dt.timedelta(0)
    assert rows[str(varied["Short"])]["covered"] == "false"
    boundary = rows[str(varied["Boundary"])]
    assert boundary["stockout_date"] == boundary["next_delivery_at"][:10]
    assert boundary["covered"] == "true"
    assert rows[str(varied["Far"])]["stockout_date"] == ""
    assert rows[str(varied["Empty"])]["urgency"] == "critical"
    orphan = rows[str(varied["Orphan"])]
    assert orphan["supplier_id"] == orphan["lead_time_source"] == orphan["reorder_by"] == ""
    acked = rows[str(varied["Acked"])]
    assert acked["acknowledgement_note"] == "'-see PO"
    assert dt.datetime.fromisoformat(acked["acknowledged_until"]).microsecond == 0
    assert "+" not in acked["acknowledged_until"].partition("T")[2][:8]
    assert rows[str(varied["Acked forever"])]["acknowledged_until"] == ""


@pytest.mark.postgres
def test_postgres_csv_of_a_company_without_alerts_is_the_header(app, client, company):
    assert http_csv(client, company, "") == [routes.CSV_COLUMNS]
