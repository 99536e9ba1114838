"""Purchase orders (issue 13): the lifecycle, refusals that write nothing, receipts
into stock, concurrency, tenancy, learned lead times and drafts from the alerts."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.config import engine_options
from app.extensions import db
from app.models import (
    Inventory,
    LeadTimeObservation,
    LedgerEntry,
    PurchaseOrder,
    PurchaseOrderLine,
)
from app.purchasing import queries
from tests.conftest import build_app
from tests.helpers import assert_problem

ROUNDS = 20


def post(client, tenant, path, body=None, status=None, **headers):
    response = client.post(path, json=body, headers={**tenant.headers, **headers})
    if status is not None:
        assert response.status_code == status, response.get_json()
    return response


@pytest.fixture
def shop(client, company, make_warehouse, make_product):
    """A warehouse, a supplier, two products it supplies and one it doesn't, a bundle."""
    warehouse = make_warehouse(company)
    supplier = post(client, company, "/api/suppliers", {"name": "Bolts Ltd"}, 201).json
    other_supplier = post(client, company, "/api/suppliers", {"name": "Nuts Ltd"}, 201).json
    bolt = make_product(company, name="Bolt")
    nut = make_product(company, name="Nut")
    washer = make_product(company, name="Washer")
    bundle = make_product(company, name="Kit", is_bundle=True)
    for product, cost in ((bolt, "0.10"), (nut, "0.05")):
        post(
            client,
            company,
            f"/api/products/{product['id']}/suppliers",
            {"supplier_id": supplier["id"], "cost_price": cost, "lead_time_days": 9},
            201,
        )
    post(
        client,
        company,
        f"/api/products/{washer['id']}/suppliers",
        {"supplier_id": other_supplier["id"]},
        201,
    )
    return {
        "warehouse": warehouse["id"],
        "supplier": supplier["id"],
        "other_supplier": other_supplier["id"],
        "bolt": bolt["id"],
        "nut": nut["id"],
        "washer": washer["id"],
        "bundle": bundle["id"],
    }


def order_body(shop, **overrides):
    if "lines" not in overrides:
        overrides["lines"] = [
            {"product_id": shop["bolt"], "quantity": 100},
            {"product_id": shop["nut"], "quantity": 50, "unit_cost": "0.07"},
        ]
    return {
        "supplier_id": shop["supplier"],
        "warehouse_id": shop["warehouse"],
        "reference": "PO-1",
        **overrides,
    }


def create(client, tenant, shop, **overrides) -> dict:
    return post(client, tenant, "/api/purchase-orders", order_body(shop, **overrides), 201).json


def submitted(client, tenant, shop, **overrides) -> dict:
    order = create(client, tenant, shop, **overrides)
    return post(client, tenant, f"/api/purchase-orders/{order['id']}/submit", None, 200).json


def receive(client, tenant, order_id, lines, status=None, **extra):
    return post(
        client,
        tenant,
        f"/api/purchase-orders/{order_id}/receipts",
        {"lines": [{"product_id": p, "quantity": q} for p, q in lines], **extra},
        status,
    )


def level(app, product_id, warehouse_id) -> int:
    with app.app_context():
        return (
            db.session.scalar(
                sa.select(Inventory.quantity).where(
                    Inventory.product_id == product_id, Inventory.warehouse_id == warehouse_id
                )
            )
            or 0
        )


def table_counts(app) -> dict[str, int]:
    with app.app_context():
        return {
            model.__tablename__: db.session.scalar(sa.select(sa.func.count()).select_from(model))
            for model in (
                PurchaseOrder,
                PurchaseOrderLine,
                LedgerEntry,
                Inventory,
                LeadTimeObservation,
            )
        }


# ---------------------------------------------------------------------------
# the lifecycle
# ---------------------------------------------------------------------------


def test_a_new_order_is_a_draft_with_lines_costs_and_computed_totals(client, company, shop):
    order = create(client, company, shop)
    assert order["status"] == "draft"
    assert order["ordered_at"] is None and order["received_at"] is None
    bolt, nut = order["lines"]
    # a line without unit_cost takes the supplier link's cost price
    assert (bolt["product_id"], bolt["unit_cost"], bolt["line_total"]) == (
        shop["bolt"],
        "0.10",
        "10.00",
    )
    assert (nut["unit_cost"], nut["line_total"]) == ("0.07", "3.50")
    assert order["total_cost"] == "13.50" and order["total_quantity"] == 150
    response = client.get(f"/api/purchase-orders/{order['id']}", headers=company.headers)
    assert response.json == order


def test_full_lifecycle_submit_partial_then_final_receipt(app, client, company, shop):
    order = create(client, company, shop)
    ordered = post(client, company, f"/api/purchase-orders/{order['id']}/submit", None, 200).json
    assert ordered["status"] == "ordered" and ordered["ordered_at"] is not None

    partial = receive(client, company, order["id"], [(shop["bolt"], 60)], 201).json
    assert partial["status"] == "partially_received" and partial["received_at"] is None
    assert level(app, shop["bolt"], shop["warehouse"]) == 60

    done = receive(client, company, order["id"], [(shop["bolt"], 40), (shop["nut"], 50)], 201)
    assert done.json["status"] == "received" and done.json["received_at"] is not None
    assert [line["received_quantity"] for line in done.json["lines"]] == [100, 50]
    assert level(app, shop["bolt"], shop["warehouse"]) == 100
    assert level(app, shop["nut"], shop["warehouse"]) == 50

    ledger = client.get(
        f"/api/stock/ledger?product_id={shop['nut']}", headers=company.headers
    ).json["entries"]
    (row,) = ledger
    assert row["reason"] == "receipt" and row["purchase_order_id"] == order["id"]
    assert row["supplier_id"] == shop["supplier"] and row["unit_cost"] == "0.07"
    # closed now: no more receipts, no cancel
    response = receive(client, company, order["id"], [(shop["bolt"], 1)])
    assert_problem(response, 409, slug="purchase-order-closed")
    response = post(client, company, f"/api/purchase-orders/{order['id']}/cancel")
    assert_problem(response, 409, slug="purchase-order-not-cancellable")


def test_draft_is_changed_with_lines_replaced_atomically(client, company, shop):
    order = create(client, company, shop)
    response = client.patch(
        f"/api/purchase-orders/{order['id']}",
        json={"lines": [{"product_id": shop["nut"], "quantity": 7}], "notes": "rush"},
        headers=company.headers,
    )
    assert response.status_code == 200, response.json
    assert [(line["product_id"], line["quantity"]) for line in response.json["lines"]] == [
        (shop["nut"], 7)
    ]
    assert response.json["notes"] == "rush"
    # a bad line refuses the whole change: the old lines stay
    response = client.patch(
        f"/api/purchase-orders/{order['id']}",
        json={
            "lines": [
                {"product_id": shop["bolt"], "quantity": 1},
                {"product_id": shop["washer"], "quantity": 1},
            ]
        },
        headers=company.headers,
    )
    assert_problem(response, 400, "lines.1.product_id")
    after = client.get(f"/api/purchase-orders/{order['id']}", headers=company.headers).json
    assert [(line["product_id"], line["quantity"]) for line in after["lines"]] == [(shop["nut"], 7)]


def test_changing_the_supplier_checks_every_line_against_the_new_one(client, company, shop):
    order = create(client, company, shop)
    path = f"/api/purchase-orders/{order['id']}"
    response = client.patch(
        path, json={"supplier_id": shop["other_supplier"]}, headers=company.headers
    )
    assert_problem(response, 400, "lines.0.product_id", "lines.1.product_id")
    assert client.get(path, headers=company.headers).json == order
    changed = client.patch(
        path,
        json={
            "supplier_id": shop["other_supplier"],
            "lines": [{"product_id": shop["washer"], "quantity": 3}],
        },
        headers=company.headers,
    )
    assert changed.status_code == 200, changed.json
    assert changed.json["supplier_id"] == shop["other_supplier"]
    assert changed.json["total_cost"] == "0.00"  # the link has no cost price


def test_submitting_with_an_archived_product_is_a_409_and_stays_a_draft(client, company, shop):
    order = create(client, company, shop)
    assert client.delete(f"/api/products/{shop['nut']}", headers=company.headers).status_code == 204
    response = post(client, company, f"/api/purchase-orders/{order['id']}/submit")
    body = assert_problem(response, 409, slug="product-archived")
    assert body["product_id"] == shop["nut"]
    after = client.get(f"/api/purchase-orders/{order['id']}", headers=company.headers).json
    assert after["status"] == "draft" and after["ordered_at"] is None


def test_changing_an_ordered_order_is_a_409_and_changes_nothing(client, company, shop):
    order = submitted(client, company, shop)
    response = client.patch(
        f"/api/purchase-orders/{order['id']}", json={"notes": "x"}, headers=company.headers
    )
    assert_problem(response, 409, slug="purchase-order-not-draft")
    assert client.get(f"/api/purchase-orders/{order['id']}", headers=company.headers).json == order


def test_cancel_a_draft_and_an_ordered_order_but_not_a_partly_received_one(client, company, shop):
    draft = create(client, company, shop)
    cancelled = post(client, company, f"/api/purchase-orders/{draft['id']}/cancel", None, 200)
    assert cancelled.json["status"] == "cancelled" and cancelled.json["cancelled_at"]
    ordered = submitted(client, company, shop)
    post(client, company, f"/api/purchase-orders/{ordered['id']}/cancel", None, 200)
    partly = submitted(client, company, shop)
    receive(client, company, partly["id"], [(shop["bolt"], 1)], 201)
    response = post(client, company, f"/api/purchase-orders/{partly['id']}/cancel")
    assert_problem(response, 409, slug="purchase-order-not-cancellable")
    response = post(client, company, f"/api/purchase-orders/{draft['id']}/submit")
    assert_problem(response, 409, slug="purchase-order-not-draft")


def test_list_filters_by_status_supplier_warehouse_and_product(client, company, shop):
    draft = create(client, company, shop)
    ordered = submitted(client, company, shop, lines=[{"product_id": shop["nut"], "quantity": 1}])

    def ids(query):
        response = client.get(f"/api/purchase-orders{query}", headers=company.headers)
        assert response.status_code == 200, response.json
        return [order["id"] for order in response.json]

    assert ids("") == [ordered["id"], draft["id"]]
    assert ids("?status=draft") == [draft["id"]]
    assert ids(f"?product_id={shop['bolt']}") == [draft["id"]]
    assert ids(f"?supplier_id={shop['supplier']}&warehouse_id={shop['warehouse']}") == [
        ordered["id"],
        draft["id"],
    ]
    assert ids(f"?supplier_id={shop['other_supplier']}") == []
    assert ids("?page_size=1&page=2") == [draft["id"]]
    assert_problem(client.get("/api/purchase-orders?status=lost", headers=company.headers), 400)


# ---------------------------------------------------------------------------
# refusals write nothing
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "field", "says"),
    [
        (
            lambda s: [{"product_id": s["washer"], "quantity": 1}],
            "lines.0.product_id",
            "does not supply",
        ),
        (lambda s: [{"product_id": s["bundle"], "quantity": 1}], "lines.0.product_id", "bundle"),
        (lambda s: [{"product_id": 999999, "quantity": 1}], "lines.0.product_id", "Unknown"),
        (
            lambda s: [
                {"product_id": s["bolt"], "quantity": 1},
                {"product_id": s["bolt"], "quantity": 2},
            ],
            "lines.1.product_id",
            "twice",
        ),
        (lambda s: [{"product_id": s["bolt"], "quantity": 0}], "lines.0.quantity", ""),
        (
            lambda s: [{"product_id": s["bolt"], "quantity": 1, "unit_cost": "-1"}],
            "lines.0.unit_cost",
            "",
        ),
        (lambda s: [], "lines", ""),
    ],
)
def test_bad_lines_are_a_400_naming_the_line_and_write_nothing(
    app, client, company, shop, lines, field, says
):
    before = table_counts(app)
    response = post(client, company, "/api/purchase-orders", order_body(shop, lines=lines(shop)))
    body = assert_problem(response, 400, field)
    assert says in " ".join(body["errors"][field])
    assert table_counts(app) == before


def test_receipt_refusals_are_clear_and_write_nothing(app, client, company, shop):
    draft = create(client, company, shop)
    order = submitted(client, company, shop)
    before = table_counts(app)
    assert_problem(
        receive(client, company, draft["id"], [(shop["bolt"], 1)]),
        409,
        slug="purchase-order-not-ordered",
    )
    body = assert_problem(
        receive(client, company, order["id"], [(shop["bolt"], 101)]), 409, slug="over-receipt"
    )
    assert (body["product_id"], body["remaining"], body["requested"]) == (shop["bolt"], 100, 101)
    assert_problem(
        receive(client, company, order["id"], [(shop["washer"], 1)]), 400, "lines.0.product_id"
    )
    assert_problem(
        receive(client, company, order["id"], [(shop["bolt"], 1), (shop["bolt"], 1)]),
        400,
        "lines.1.product_id",
    )
    assert_problem(
        receive(
            client, company, order["id"], [(shop["bolt"], 1)], occurred_at="2000-01-01T00:00:00Z"
        ),
        400,
        "occurred_at",
    )
    assert table_counts(app) == before
    assert client.get(f"/api/purchase-orders/{order['id']}", headers=company.headers).json == order


def test_over_receipt_is_accepted_when_allowed(app, client, company, shop):
    order = submitted(client, company, shop)
    done = receive(
        client,
        company,
        order["id"],
        [(shop["bolt"], 120), (shop["nut"], 50)],
        201,
        allow_over_receipt=True,
    )
    assert done.json["status"] == "received"
    assert done.json["lines"][0]["received_quantity"] == 120
    assert level(app, shop["bolt"], shop["warehouse"]) == 120


@pytest.mark.parametrize("what", ["supplier", "warehouse", "product"])
def test_receipt_after_archiving_the_supplier_warehouse_or_product_is_a_409(
    app, client, company, shop, what
):
    order = submitted(client, company, shop)
    path = {
        "supplier": f"/api/suppliers/{shop['supplier']}",
        "warehouse": f"/api/warehouses/{shop['warehouse']}",
        "product": f"/api/products/{shop['bolt']}",
    }[what]
    assert client.delete(path, headers=company.headers).status_code == 204
    before = table_counts(app)
    response = receive(client, company, order["id"], [(shop["bolt"], 1)])
    assert_problem(response, 409, slug=f"{what}-archived")
    assert table_counts(app) == before


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    ordered=st.tuples(st.integers(1, 20), st.integers(1, 20)),
    receipts=st.lists(
        st.tuples(st.integers(0, 1), st.integers(1, 15), st.booleans()), min_size=1, max_size=8
    ),
)
def test_received_quantities_status_and_stock_follow_the_accepted_receipts(
    app, client, make_company, make_warehouse, make_product, ordered, receipts
):
    """Whatever receipts arrive: a line never passes its ordered quantity unless
    over-receipt was allowed, the status says what was received, and the stock and
    ledger hold exactly the accepted receipts."""
    company = make_company()
    warehouse = make_warehouse(company)["id"]
    supplier = post(client, company, "/api/suppliers", {"name": "S"}, 201).json["id"]
    products = [make_product(company)["id"] for _ in range(2)]
    for product in products:
        post(client, company, f"/api/products/{product}/suppliers", {"supplier_id": supplier}, 201)
    lines = [{"product_id": p, "quantity": q} for p, q in zip(products, ordered, strict=True)]
    shop = {"supplier": supplier, "warehouse": warehouse}
    order = submitted(client, company, shop, lines=lines)
    received = [0, 0]
    closed = False
    for index, quantity, allow in receipts:
        response = receive(
            client, company, order["id"], [(products[index], quantity)], allow_over_receipt=allow
        )
        left = ordered[index] - received[index]
        if closed:
            assert_problem(response, 409, slug="purchase-order-closed")
        elif quantity > left and not allow:
            assert_problem(response, 409, slug="over-receipt")
        else:
            assert response.status_code == 201, response.json
            received[index] += quantity
        closed = all(r >= o for r, o in zip(received, ordered, strict=True))
    final = client.get(f"/api/purchase-orders/{order['id']}", headers=company.headers).json
    assert [line["received_quantity"] for line in final["lines"]] == received
    expected = "received" if closed else "partially_received" if any(received) else "ordered"
    assert final["status"] == expected
    assert (final["received_at"] is not None) == closed
    for product, quantity in zip(products, received, strict=True):
        assert level(app, product, warehouse) == quantity


# ---------------------------------------------------------------------------
# tenancy and idempotency
# ---------------------------------------------------------------------------


def test_another_company_s_order_is_a_404_on_every_route(client, company, other_company, shop):
    order = submitted(client, company, shop)
    base = f"/api/purchase-orders/{order['id']}"
    h = other_company.headers
    assert_problem(client.get(base, headers=h), 404)
    assert_problem(client.patch(base, json={"notes": "x"}, headers=h), 404)
    for action in ("submit", "cancel"):
        assert_problem(client.post(f"{base}/{action}", headers=h), 404)
    response = client.post(
        f"{base}/receipts", json={"lines": [{"product_id": shop["bolt"], "quantity": 1}]}, headers=h
    )
    assert_problem(response, 404)
    assert client.get("/api/purchase-orders", headers=h).json == []
    assert client.get(base, headers=company.headers).json == order


def test_another_company_s_supplier_product_or_warehouse_is_a_400(
    client, company, other_company, shop, make_warehouse
):
    theirs = make_warehouse(other_company)["id"]
    h = other_company.headers
    assert_problem(
        client.post(
            "/api/purchase-orders",
            json=order_body(shop, warehouse_id=theirs),
            headers=company.headers,
        ),
        400,
        "warehouse_id",
    )
    # from the other side: every id of ours is unknown to them
    assert_problem(
        client.post("/api/purchase-orders", json=order_body(shop), headers=h), 400, "supplier_id"
    )
    mine = post(client, other_company, "/api/suppliers", {"name": "Theirs"}, 201).json["id"]
    body = order_body(shop, supplier_id=mine, warehouse_id=theirs)
    assert_problem(
        client.post("/api/purchase-orders", json=body, headers=h),
        400,
        "lines.0.product_id",
        "lines.1.product_id",
    )
    assert_problem(
        client.post(
            "/api/purchase-orders/from-alerts", json={"supplier_id": shop["supplier"]}, headers=h
        ),
        400,
        "supplier_id",
    )


def test_writes_replay_with_the_same_idempotency_key(app, client, company, shop):
    first = post(
        client,
        company,
        "/api/purchase-orders",
        order_body(shop),
        201,
        **{"Idempotency-Key": "po-1"},
    )
    again = post(
        client,
        company,
        "/api/purchase-orders",
        order_body(shop),
        201,
        **{"Idempotency-Key": "po-1"},
    )
    assert again.headers["Idempotent-Replayed"] == "true" and again.json == first.json
    order_id = first.json["id"]
    post(
        client,
        company,
        f"/api/purchase-orders/{order_id}/submit",
        None,
        200,
        **{"Idempotency-Key": "s-1"},
    )
    replay = post(
        client,
        company,
        f"/api/purchase-orders/{order_id}/submit",
        None,
        200,
        **{"Idempotency-Key": "s-1"},
    )
    assert replay.headers["Idempotent-Replayed"] == "true"
    body = {"lines": [{"product_id": shop["nut"], "quantity": 5}]}
    for _ in range(2):
        post(
            client,
            company,
            f"/api/purchase-orders/{order_id}/receipts",
            body,
            201,
            **{"Idempotency-Key": "r-1"},
        )
    assert level(app, shop["nut"], shop["warehouse"]) == 5
    assert table_counts(app)["purchase_orders"] == 1


# ---------------------------------------------------------------------------
# lead times learned from deliveries, and what is on order
# ---------------------------------------------------------------------------


def _backdate_order(app, order_id, days):
    with app.app_context():
        db.session.execute(
            sa.update(PurchaseOrder)
            .where(PurchaseOrder.id == order_id)
            .values(ordered_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=days, hours=1))
        )
        db.session.commit()


def links_of(client, company, product_id):
    response = client.get(f"/api/products/{product_id}/suppliers", headers=company.headers)
    assert response.status_code == 200
    return response.json


def test_lead_time_is_configured_until_three_deliveries_then_observed_median(
    app, client, company, shop
):
    for count, days in enumerate((4, 6, 20, 5), start=1):
        order = submitted(
            client, company, shop, lines=[{"product_id": shop["bolt"], "quantity": 2}]
        )
        _backdate_order(app, order["id"], days)
        receive(client, company, order["id"], [(shop["bolt"], 1)], 201)
        # a second receipt of the same product is not a new observation
        receive(client, company, order["id"], [(shop["bolt"], 1)], 201)
        (link,) = links_of(client, company, shop["bolt"])
        assert link["lead_time_days"] == 9
        if count < 3:
            assert (link["observed_lead_time_days"], link["lead_time_source"]) == (
                None,
                "configured",
            )
    # median of 4, 6, 20, 5 is 5.5: rounded up
    assert (link["observed_lead_time_days"], link["lead_time_source"]) == (6, "observed")
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(LeadTimeObservation)) == 4
        learned = queries.lead_times(
            company.id, [(shop["supplier"], shop["bolt"]), (shop["supplier"], shop["nut"])]
        )
    assert learned[(shop["supplier"], shop["bolt"])]["effective_lead_time_days"] == 6
    assert learned[(shop["supplier"], shop["nut"])]["lead_time_source"] == "configured"


def test_only_the_last_ten_observations_count(app, client, company, shop):
    with app.app_context():
        from app.suppliers.queries import observed_lead_time

        assert observed_lead_time([1] * 10 + [100] * 5) == 1
        assert observed_lead_time([3, 1]) is None


def test_on_order_counts_open_orders_remaining_quantities(app, client, company, shop):
    expected = "2030-01-02T03:04:05+00:00"
    order = submitted(client, company, shop, expected_at=expected)
    receive(client, company, order["id"], [(shop["bolt"], 30)], 201)
    create(client, company, shop)  # a draft is not on order
    cancelled = submitted(client, company, shop)
    post(client, company, f"/api/purchase-orders/{cancelled['id']}/cancel", None, 200)
    with app.app_context():
        result = queries.on_order(
            company.id,
            [
                (shop["bolt"], shop["warehouse"]),
                (shop["nut"], shop["warehouse"]),
                (shop["washer"], shop["warehouse"]),
            ],
        )
    assert result == {
        (shop["bolt"], shop["warehouse"]): {
            "on_order": 70,
            "next_delivery_at": dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        },
        (shop["nut"], shop["warehouse"]): {
            "on_order": 50,
            "next_delivery_at": dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        },
    }


# ---------------------------------------------------------------------------
# drafts from the low-stock alerts
# ---------------------------------------------------------------------------


def test_from_alerts_drafts_one_order_per_supplier_and_warehouse(
    app, client, company, shop, make_product
):
    wh = shop["warehouse"]
    lonely = make_product(company, name="No supplier")
    for product in (shop["bolt"], shop["nut"], shop["washer"], lonely["id"]):
        post(
            client,
            company,
            "/api/stock/receipts",
            {"product_id": product, "warehouse_id": wh, "quantity": 3},
            201,
        )
        post(
            client,
            company,
            "/api/stock/sales",
            {"product_id": product, "warehouse_id": wh, "quantity": 2},
            201,
        )
    alerts = client.get(
        f"/api/companies/{company.id}/alerts/low-stock", headers=company.headers
    ).json
    suggested = {a["product_id"]: a["suggested_reorder_quantity"] for a in alerts["alerts"]}
    assert set(suggested) == {shop["bolt"], shop["nut"], shop["washer"], lonely["id"]}

    response = post(client, company, "/api/purchase-orders/from-alerts", {}, 201)
    body = response.json
    assert body["alerts_considered"] == 4 and body["truncated"] is False
    assert body["skipped"] == [
        {"product_id": lonely["id"], "warehouse_id": wh, "reason": "no_supplier"}
    ]
    by_supplier = {order["supplier_id"]: order for order in body["purchase_orders"]}
    assert set(by_supplier) == {shop["supplier"], shop["other_supplier"]}
    assert all(order["status"] == "draft" for order in by_supplier.values())
    lines = {line["product_id"]: line for line in by_supplier[shop["supplier"]]["lines"]}
    assert {p: line["quantity"] for p, line in lines.items()} == {
        shop["bolt"]: suggested[shop["bolt"]],
        shop["nut"]: suggested[shop["nut"]],
    }
    assert lines[shop["bolt"]]["unit_cost"] == "0.10"

    only = post(
        client, company, "/api/purchase-orders/from-alerts", {"product_ids": [shop["washer"]]}, 201
    ).json
    assert [o["supplier_id"] for o in only["purchase_orders"]] == [shop["other_supplier"]]
    assert_problem(
        post(client, company, "/api/purchase-orders/from-alerts", {"product_ids": [999999]}),
        400,
        "product_ids.0",
    )


# ---------------------------------------------------------------------------
# races (PostgreSQL)
# ---------------------------------------------------------------------------


def race(app, *requests):
    """Send each (method, path, body, headers) from its own thread, released at once."""
    barrier = threading.Barrier(len(requests))
    results = [None] * len(requests)

    def send(i, method, path, body, headers):
        client = app.test_client()
        barrier.wait()
        results[i] = client.open(path, method=method, json=body, headers=headers)

    threads = [threading.Thread(target=send, args=(i, *r)) for i, r in enumerate(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.postgres
def test_concurrent_receipts_of_one_order_never_over_receive(app, client, company, shop):
    for round_ in range(ROUNDS):
        order = submitted(
            client, company, shop, lines=[{"product_id": shop["bolt"], "quantity": 10}]
        )
        count = 2 + round_ % 3
        body = {"lines": [{"product_id": shop["bolt"], "quantity": 6}]}
        path = f"/api/purchase-orders/{order['id']}/receipts"
        results = race(app, *[("POST", path, body, company.headers)] * count)
        statuses = sorted(r.status_code for r in results)
        assert statuses == [201] + [409] * (count - 1), [r.get_json() for r in results]
        final = client.get(f"/api/purchase-orders/{order['id']}", headers=company.headers).json
        assert final["lines"][0]["received_quantity"] == 6
        assert final["status"] == "partially_received"
    assert level(app, shop["bolt"], shop["warehouse"]) == 6 * ROUNDS


@pytest.mark.postgres
def test_concurrent_receipts_that_fit_all_land_and_close_the_order(app, client, company, shop):
    for _ in range(ROUNDS // 2):
        order = submitted(client, company, shop, lines=[{"product_id": shop["nut"], "quantity": 9}])
        body = {"lines": [{"product_id": shop["nut"], "quantity": 3}]}
        path = f"/api/purchase-orders/{order['id']}/receipts"
        results = race(app, *[("POST", path, body, company.headers)] * 3)
        assert [r.status_code for r in results] == [201] * 3, [r.get_json() for r in results]
        final = client.get(f"/api/purchase-orders/{order['id']}", headers=company.headers).json
        assert final["status"] == "received" and final["lines"][0]["received_quantity"] == 9
        with app.app_context():
            observations = db.session.scalar(
                sa.select(sa.func.count())
                .select_from(LeadTimeObservation)
                .where(LeadTimeObservation.purchase_order_id == order["id"])
            )
        assert observations == 1


@pytest.mark.postgres
def test_submit_and_cancel_of_one_draft_never_both_win(app, client, company, shop):
    for _ in range(ROUNDS):
        order = create(client, company, shop)
        base = f"/api/purchase-orders/{order['id']}"
        submit, cancel = race(
            app,
            ("POST", f"{base}/submit", None, company.headers),
            ("POST", f"{base}/cancel", None, company.headers),
        )
        final = client.get(base, headers=company.headers).json
        # cancel after submit is allowed (nothing received): both may succeed in that order
        if submit.status_code == 200 and cancel.status_code == 200:
            assert final["status"] == "cancelled" and final["ordered_at"] is not None
        else:
            assert sorted([submit.status_code, cancel.status_code]) == [200, 409]
            assert final["status"] == ("ordered" if submit.status_code == 200 else "cancelled")


@pytest.mark.postgres
@pytest.mark.parametrize("what", ["supplier", "warehouse", "product"])
def test_receipt_racing_an_archive_never_strands_stock(
    app, client, company, make_warehouse, make_product, what
):
    for _ in range(ROUNDS // 2):
        warehouse = make_warehouse(company)["id"]
        supplier = post(client, company, "/api/suppliers", {"name": "S"}, 201).json["id"]
        product = make_product(company)["id"]
        post(client, company, f"/api/products/{product}/suppliers", {"supplier_id": supplier}, 201)
        shop = {"supplier": supplier, "warehouse": warehouse}
        order = submitted(client, company, shop, lines=[{"product_id": product, "quantity": 5}])
        path = {
            "supplier": f"/api/suppliers/{supplier}",
            "warehouse": f"/api/warehouses/{warehouse}",
            "product": f"/api/products/{product}",
        }[what]
        receipt, archive = race(
            app,
            (
                "POST",
                f"/api/purchase-orders/{order['id']}/receipts",
                {"lines": [{"product_id": product, "quantity": 5}]},
                company.headers,
            ),
            ("DELETE", path, None, company.headers),
        )
        statuses = (receipt.status_code, archive.status_code)
        assert statuses in {(201, 204), (201, 409), (409, 204)}, [
            r.get_json() for r in (receipt, archive)
        ]
        if what != "supplier":
            # stock never lands in an archived product or warehouse
            assert statuses != (201, 204)
        if receipt.status_code == 409:
            assert receipt.json["type"].endswith(f"{what}-archived")
            assert level(app, product, warehouse) == 0


@pytest.mark.postgres
def test_on_order_and_lead_times_each_run_on_one_shard(database_url, client, company, shop):
    """With Citus told to refuse a statement that needs more than one shard (inert on
    plain PostgreSQL), the alerts' two hooks still answer."""
    order = submitted(client, company, shop)
    receive(client, company, order["id"], [(shop["bolt"], 1)], 201)
    options = engine_options(database_url)
    options["connect_args"]["options"] += " -c citus.multi_task_query_log_level=error"
    app = build_app(database_url, SQLALCHEMY_ENGINE_OPTIONS=options)
    with app.app_context():
        try:
            pairs = [(shop["bolt"], shop["warehouse"]), (shop["nut"], shop["warehouse"])]
            assert queries.on_order(company.id, pairs)[pairs[0]]["on_order"] == 99
            links = [(shop["supplier"], shop["bolt"])]
            assert queries.lead_times(company.id, links)[links[0]]["lead_time_days"] == 9
        finally:
            db.session.remove()
            db.engine.dispose()
