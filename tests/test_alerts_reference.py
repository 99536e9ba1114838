"""The alert endpoint against a plain per-row reference, on random data sets, and
its cost: a constant number of SQL statements whatever the data size."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.alerts import queries, state
from app.extensions import db
from tests.test_alerts_csv import assert_csv_is_the_derivation, assert_json_is_the_schema_dump

DEFAULTS = {"fast_moving": 20, "regular": 10, "slow_moving": 5}
TYPES = ["fast_moving", "regular", "slow_moving", "seasonal"]
HIGH = 20_000_000  # a threshold whose half, sold 1 a window, runs out after year 9999


# -- the reference: the original per-row algorithm, written plainly -------------------


@dataclass
class Spec:
    """A generated company: what exists, in plain Python."""

    warehouses: int
    products: list[dict]  # {type, threshold}
    stock: dict  # (p, w) -> {"final": int, "sales": [(days_ago, qty)]}
    suppliers: dict  # p -> [{cost, preferred, lead, moq, pack}] (supplier index = order)
    rules: dict  # (p, w) -> threshold
    type_thresholds: dict  # type -> threshold
    days: int
    ids: dict = field(default_factory=dict)
    archived: set = field(default_factory=set)  # products archived after the build
    # purchase orders: {p, w, quantity, received, status, expected_at (or None)}
    orders: list = field(default_factory=list)


OPEN_STATUSES = ("ordered", "partially_received")


def reference_supply(spec: Spec, p: int, w: int, stock: int, threshold: int, stockout):
    """What open purchase orders bring to a row, and whether they cover its alert,
    plainly: the remaining quantities of its open orders, the earliest expected date
    among them, and covered when they lift the level to the threshold in time."""
    open_orders = [
        order
        for order in spec.orders
        if (order["p"], order["w"]) == (p, w)
        and order["status"] in OPEN_STATUSES
        and order["quantity"] > order["received"]
    ]
    on_order = sum(order["quantity"] - order["received"] for order in open_orders)
    expected = [order["expected_at"] for order in open_orders if order["expected_at"]]
    next_delivery = min(expected) if expected else None
    covered = (
        on_order > 0
        and stock + on_order >= threshold
        and (stockout is None or (next_delivery is not None and next_delivery.date() <= stockout))
    )
    return {
        "on_order": on_order,
        "projected_quantity": stock + on_order,
        "next_delivery_at": next_delivery,
        "covered": covered,
    }


def reference_alerts(spec: Spec, now: dt.datetime, today: dt.date | None = None) -> list[dict]:
    """For each inventory row: its threshold, then its sales, then its supplier (sales
    were made relative to ``now``; the alerts are asked on ``today``, now's by default)."""
    today = today or now.date()
    last_day = (dt.date.max - today).days
    window_start = dt.datetime.combine(today - dt.timedelta(days=spec.days), dt.time(), dt.UTC)
    alerts = []
    for (p, w), row in spec.stock.items():
        product = spec.products[p]
        if p in spec.archived:
            continue
        if (p, w) in spec.rules:
            threshold, source = spec.rules[(p, w)], "warehouse_rule"
        elif product["threshold"] is not None:
            threshold, source = product["threshold"], "product"
        elif product["type"] in spec.type_thresholds:
            threshold, source = spec.type_thresholds[product["type"]], "product_type"
        else:
            threshold, source = DEFAULTS.get(product["type"], 10), "default"
        stock = row["final"]
        if stock >= threshold:
            continue
        sold = sum(
            q
            for days_ago, q in row["sales"]
            if now - dt.timedelta(days=days_ago, hours=1) >= window_start
        )
        if sold == 0:
            continue
        offers = spec.suppliers.get(p, [])
        supplier = None
        if offers:
            supplier = min(
                range(len(offers)),
                key=lambda i: (
                    not offers[i]["preferred"],
                    offers[i]["cost"] is None,
                    offers[i]["cost"] or 0,
                    i,
                ),
            )
        days_left = stock * spec.days // sold  # floor(stock / (sold / days)), exactly
        # a stockout past the last calendar date has no date (null, not an error)
        stockout = today + dt.timedelta(days=days_left) if days_left <= last_day else None
        alerts.append(
            {
                "product_id": spec.ids[("p", p)],
                "warehouse_id": spec.ids[("w", w)],
                "current_stock": stock,
                "threshold": threshold,
                "threshold_source": source,
                "days_until_stockout": days_left,
                "stockout_date": stockout and stockout.isoformat(),
                "supplier_id": None if supplier is None else spec.ids[("s", p, supplier)],
            }
            | reference_supply(spec, p, w, stock, threshold, stockout)
        )
    return sorted(
        alerts,
        key=lambda a: (
            a["days_until_stockout"],
            a["current_stock"],
            a["product_id"],
            a["warehouse_id"],
        ),
    )


# -- random companies ---------------------------------------------------------------


@st.composite
def specs(draw):
    warehouses = draw(st.integers(1, 2))
    n_products = draw(st.integers(1, 4))
    products = [
        {
            "type": draw(st.sampled_from(TYPES)),
            # sometimes a threshold so high that a large stock is low
            "threshold": draw(st.one_of(st.none(), st.integers(0, 15), st.just(HIGH))),
        }
        for _ in range(n_products)
    ]
    stock = {}
    for p in range(n_products):
        for w in range(warehouses):
            if draw(st.booleans()) or (p, w) == (0, 0):
                sales = draw(st.lists(st.tuples(st.integers(0, 70), st.integers(1, 5)), max_size=4))
                # sometimes so much stock that the stockout is past 9999-12-31
                final = draw(st.one_of(st.integers(0, 25), st.just(HIGH // 2)))
                stock[(p, w)] = {"final": final, "sales": sales}
    suppliers = {}
    for p in range(n_products):
        offers = draw(
            st.lists(
                st.fixed_dictionaries(
                    {
                        "cost": st.one_of(
                            st.none(), st.sampled_from(["1.00", "2.50", "2.50", "9.99"])
                        ),
                        "preferred": st.booleans(),
                        "lead": st.one_of(st.none(), st.integers(0, 20)),
                        "moq": st.integers(1, 10),
                        "pack": st.integers(1, 6),
                    }
                ),
                max_size=3,
            )
        )
        seen_preferred = False
        for offer in offers:  # at most one preferred per product
            offer["preferred"] = offer["preferred"] and not seen_preferred
            seen_preferred |= offer["preferred"]
        suppliers[p] = offers
    rules = {key: draw(st.integers(0, 15)) for key in stock if draw(st.booleans())}
    type_thresholds = {t: draw(st.integers(0, 15)) for t in TYPES if draw(st.booleans())}
    return Spec(
        warehouses,
        products,
        stock,
        suppliers,
        rules,
        type_thresholds,
        draw(st.sampled_from([1, 7, 30, 60])),
    )


def build(client, tenant, spec: Spec, now: dt.datetime) -> None:
    """Create the spec's company data through the API, remembering the ids."""
    headers = tenant.headers

    def call(method, path, body):
        response = getattr(client, method)(path, json=body, headers=headers)
        assert response.status_code in (200, 201), (path, body, response.json)
        return response.json

    for w in range(spec.warehouses):
        spec.ids[("w", w)] = call("post", "/api/warehouses", {"name": f"W{w}"})["id"]
    for p, product in enumerate(spec.products):
        opening = [
            {
                "warehouse_id": spec.ids[("w", w)],
                "quantity": row["final"] + sum(q for _, q in row["sales"]),
            }
            for (pp, w), row in spec.stock.items()
            if pp == p
        ]
        body = {
            "name": f"P{p}",
            "sku": f"P{p}",
            "price": "1",
            "product_type": product["type"],
            "low_stock_threshold": product["threshold"],
            "initial_stock": opening,
        }
        spec.ids[("p", p)] = call("post", "/api/products", body)["id"]
    for (p, w), row in spec.stock.items():
        for days_ago, quantity in row["sales"]:
            when = (now - dt.timedelta(days=days_ago, hours=1)).isoformat()
            call(
                "post",
                "/api/stock/sales",
                {
                    "product_id": spec.ids[("p", p)],
                    "warehouse_id": spec.ids[("w", w)],
                    "quantity": quantity,
                    "occurred_at": when,
                },
            )
    for p, offers in spec.suppliers.items():
        for i, offer in enumerate(offers):
            supplier = call("post", "/api/suppliers", {"name": f"S{p}-{i}"})["id"]
            spec.ids[("s", p, i)] = supplier
            call(
                "post",
                f"/api/products/{spec.ids[('p', p)]}/suppliers",
                {
                    "supplier_id": supplier,
                    "cost_price": offer["cost"],
                    "is_preferred": offer["preferred"],
                    "lead_time_days": offer["lead"],
                    "min_order_quantity": offer["moq"],
                    "pack_size": offer["pack"],
                },
            )
    for (p, w), threshold in spec.rules.items():
        call(
            "put",
            f"/api/products/{spec.ids[('p', p)]}/reorder-rules/{spec.ids[('w', w)]}",
            {"threshold": threshold},
        )
    for product_type, threshold in spec.type_thresholds.items():
        call("put", f"/api/product-types/{product_type}", {"low_stock_threshold": threshold})


def fetch_alerts(client, tenant, query=""):
    response = client.get(
        f"/api/companies/{tenant.id}/alerts/low-stock{query}", headers=tenant.headers
    )
    assert response.status_code == 200, response.json
    return response


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(spec=specs())
def test_endpoint_agrees_with_the_per_row_reference(client, make_company, spec):
    tenant = make_company()
    now = dt.datetime.now(dt.UTC)
    build(client, tenant, spec, now)
    body = fetch_alerts(client, tenant, f"?days={spec.days}").json
    got = [
        {
            key: alert[key]
            for key in (
                "product_id",
                "warehouse_id",
                "current_stock",
                "threshold",
                "threshold_source",
                "days_until_stockout",
                "stockout_date",
            )
        }
        | {"supplier_id": alert["supplier"] and alert["supplier"]["id"]}
        for alert in body["alerts"]
    ]
    expected = [
        {k: v for k, v in alert.items() if k not in SUPPLY_KEYS}
        for alert in reference_alerts(spec, now)
    ]
    assert got == expected
    assert body["total_alerts"] == len(got)


def project(alerts: list[dict]) -> list[dict]:
    """What the reference computes, of each alert."""
    return [
        {
            key: alert[key]
            for key in (
                "product_id",
                "warehouse_id",
                "current_stock",
                "threshold",
                "threshold_source",
                "days_until_stockout",
                "on_order",
                "projected_quantity",
                "next_delivery_at",
                "covered",
                "lead_time_days",
                "lead_time_source",
                "suggested_reorder_quantity",
            )
        }
        | {
            "stockout_date": alert["stockout_date"] and alert["stockout_date"].isoformat(),
            "supplier_id": alert["supplier"] and alert["supplier"]["id"],
        }
        for alert in alerts
    ]


# what both paths must agree on beyond the reference's keys: stock on order and lead times
SUPPLY_KEYS = (
    "on_order",
    "projected_quantity",
    "next_delivery_at",
    "covered",
    "lead_time_days",
    "lead_time_source",
    "suggested_reorder_quantity",
)


# the reference's keys about stock on order (lead times it does not compute)
REFERENCE_SUPPLY_KEYS = ("on_order", "projected_quantity", "next_delivery_at", "covered")


def core(alerts: list[dict]) -> list[dict]:
    """The reference's keys of each alert (stock on order and coverage included;
    the lead times and the suggestion, which use them, left out)."""
    for alert in alerts:
        assert alert["lead_time_source"] in (None, "configured", "observed")
    return [
        {k: v for k, v in alert.items() if k not in SUPPLY_KEYS or k in REFERENCE_SUPPLY_KEYS}
        for alert in alerts
    ]


def both_paths(
    company_id: int, today: dt.date, covered: bool | None = None, **filters
) -> tuple[list[dict], list[dict]]:
    """The default window's alerts from the kept state and from the ledger (only the
    covered, or uncovered, ones with ``covered``; ``filters``: other query arguments)."""
    args = {"days": 30, "page": 1, "page_size": 1000, "covered": covered, **filters}
    kept, kept_total = queries.low_stock_alerts(company_id, args, today, maintained=True)
    computed, computed_total = queries.low_stock_alerts(company_id, args, today)
    assert kept_total == len(kept) and computed_total == len(computed)
    return project(kept), project(computed)


def place_orders(client, tenant, spec: Spec, data, now: dt.datetime) -> None:
    """Purchase orders in every state for some stocked rows of products with a
    supplier, expected at random days around the stockouts (or not at all); receipts
    add to the rows' stock."""
    headers = tenant.headers

    def call(path, body=None, status=201):
        response = client.post(path, json=body, headers=headers)
        assert response.status_code == status, (path, body, response.json)
        return response.json

    for (p, w), row in spec.stock.items():
        offers = spec.suppliers.get(p)
        if p in spec.archived or not offers or not data.draw(st.booleans()):
            continue
        for _ in range(data.draw(st.integers(1, 2))):
            status = data.draw(st.sampled_from(["draft", *OPEN_STATUSES, "received", "cancelled"]))
            quantity = data.draw(st.integers(1, 30))
            if status == "partially_received" and quantity == 1:
                status = "ordered"
            in_days = data.draw(st.one_of(st.none(), st.integers(-3, 120)))
            expected = None if in_days is None else now + dt.timedelta(days=in_days)
            supplier = spec.ids[("s", p, data.draw(st.integers(0, len(offers) - 1)))]
            product = spec.ids[("p", p)]
            order = call(
                "/api/purchase-orders",
                {
                    "supplier_id": supplier,
                    "warehouse_id": spec.ids[("w", w)],
                    "lines": [{"product_id": product, "quantity": quantity}],
                    "expected_at": expected and expected.isoformat(),
                },
            )["id"]
            received = 0
            if status != "draft":
                call(f"/api/purchase-orders/{order}/submit", status=200)
            if status == "cancelled":
                call(f"/api/purchase-orders/{order}/cancel", status=200)
            elif status in ("partially_received", "received"):
                received = (
                    quantity if status == "received" else data.draw(st.integers(1, quantity - 1))
                )
                lines = [{"product_id": product, "quantity": received}]
                call(f"/api/purchase-orders/{order}/receipts", {"lines": lines})
                row["final"] += received
            spec.orders.append(
                {
                    "p": p,
                    "w": w,
                    "quantity": quantity,
                    "received": received,
                    "status": status,
                    "expected_at": expected,
                }
            )


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(spec=specs(), data=st.data())
def test_kept_state_ledger_and_reference_agree_today_after_a_day_and_after_a_rebuild(
    app, client, make_company, spec, data
):
    spec.days = 30
    tenant = make_company()
    now = dt.datetime.now(dt.UTC)
    build(client, tenant, spec, now)
    # then what is not a sale: returns, adjustments (up and down), an archived product
    for (p, w), row in spec.stock.items():
        kind = data.draw(st.sampled_from([None, "return", "adjustment"]))
        delta = data.draw(st.integers(1, 3)) if kind else 0
        if kind == "adjustment" and data.draw(st.booleans()):
            delta = -min(delta, row["final"])
        if not delta:
            continue
        body = {"product_id": spec.ids[("p", p)], "warehouse_id": spec.ids[("w", w)]}
        if kind == "return":
            response = client.post(
                "/api/stock/returns", json={**body, "quantity": delta}, headers=tenant.headers
            )
        else:
            response = client.post(
                "/api/stock/adjustments",
                json={**body, "delta": delta, "reason": "count"},
                headers=tenant.headers,
            )
        assert response.status_code == 201, response.json
        row["final"] += delta
    if len(spec.products) > 1 and data.draw(st.booleans()):
        p = data.draw(st.integers(0, len(spec.products) - 1))
        response = client.delete(f"/api/products/{spec.ids[('p', p)]}", headers=tenant.headers)
        if response.status_code == 204:  # refused while it holds stock
            spec.archived.add(p)
    place_orders(client, tenant, spec, data, now)
    today, tomorrow = now.date(), now.date() + dt.timedelta(days=1)
    with app.app_context():
        kept, computed = both_paths(tenant.id, today)
        assert kept == computed
        reference = reference_alerts(spec, now)
        assert core(kept) == reference
        # ?covered= is decided in the statement: both paths, against the reference
        for covered in (True, False):
            kept, computed = both_paths(tenant.id, today, covered)
            assert kept == computed
            assert core(kept) == [alert for alert in reference if alert["covered"] is covered]
        # the other filters, alone and together: on PostgreSQL each combination is a
        # prepared statement of its own (its absent filters folded away), the ledger's
        # statement is sent as text
        supplier = next((i for key, i in spec.ids.items() if key[0] == "s"), 1)
        filters = [
            {"warehouse_id": spec.ids[("w", 0)]},
            {"product_type": spec.products[0]["type"]},
            {"supplier_id": supplier},
            {"include_acknowledged": True},
            {"warehouse_id": spec.ids[("w", 0)], "product_type": spec.products[0]["type"]},
            {"supplier_id": supplier, "warehouse_id": spec.ids[("w", 0)], "covered": False},
        ]
        for chosen in filters:
            kept, computed = both_paths(tenant.id, today, **chosen)
            assert kept == computed, chosen
    # the CSV (on PostgreSQL written by the database: app.alerts.export) is the JSON's
    # derivation, cell for cell, on both paths and with the coverage filters; the
    # reference keys above were read from the same JSON
    queries_ = ["", "&covered=true", "&covered=false", "&include_acknowledged=true"]
    assert_csv_is_the_derivation(app, client, tenant, [*queries_, "&days=29"])
    # and the JSON page, written without marshmallow, is what its schema dumps
    assert_json_is_the_schema_dump(app, client, tenant, [*queries_, "&days=29"])
    with app.app_context():
        # a day later, once the refresh moved the rows: sales left the window
        state.refresh(tenant.id, tomorrow)
        kept, computed = both_paths(tenant.id, tomorrow)
        assert kept == computed
        assert core(kept) == reference_alerts(spec, now, tomorrow)
        state.refresh(tenant.id, tomorrow, rebuild=True)
        assert both_paths(tenant.id, tomorrow)[0] == kept


# -- cost: a constant number of statements -----------------------------------------------


@pytest.fixture
def count_statements(app):
    """Count the SQL statements sent while the block runs."""

    class Counter:
        statements: list[str] = []

        def __enter__(self):
            self.statements = []
            with app.app_context():
                self.engine = db.engine
            sa.event.listen(self.engine, "before_cursor_execute", self._record)
            return self

        def _record(self, conn, cursor, statement, *args):
            self.statements.append(statement)

        def __exit__(self, *exc):
            sa.event.remove(self.engine, "before_cursor_execute", self._record)

    return Counter()


def make_tenant_data(client, tenant, products: int, warehouses: int) -> None:
    """``products`` x ``warehouses`` low rows, each with a recent sale and a supplier."""
    warehouse_ids = [
        client.post("/api/warehouses", json={"name": f"W{i}"}, headers=tenant.headers).json["id"]
        for i in range(warehouses)
    ]
    supplier = client.post("/api/suppliers", json={"name": "S"}, headers=tenant.headers).json
    for i in range(products):
        product = client.post(
            "/api/products",
            json={
                "name": f"P{i}",
                "sku": f"P{i}",
                "price": "1",
                "initial_stock": [{"warehouse_id": w, "quantity": 5} for w in warehouse_ids],
            },
            headers=tenant.headers,
        ).json
        client.post(
            f"/api/products/{product['id']}/suppliers",
            json={"supplier_id": supplier["id"], "cost_price": "1.00"},
            headers=tenant.headers,
        )
        for w in warehouse_ids:
            client.post(
                "/api/stock/sales",
                json={"product_id": product["id"], "warehouse_id": w, "quantity": 1},
                headers=tenant.headers,
            )


def test_statement_count_does_not_grow_with_the_data(client, make_company, count_statements):
    small, large = make_company(), make_company()
    make_tenant_data(client, small, products=2, warehouses=2)
    make_tenant_data(client, large, products=20, warehouses=2)

    counts = {}
    for name, tenant in (("small", small), ("large", large)):
        with count_statements as counter:
            body = fetch_alerts(client, tenant).json
        counts[name] = len(counter.statements)
        assert body["total_alerts"] == (4 if name == "small" else 40)
    # the API key, the versions, the alert statement, then the page's stock on order
    # and its supplier links' lead times (one statement each)
    assert counts["small"] == counts["large"] <= 5


def test_a_current_poll_is_a_304_without_running_the_alert_query(
    app, client, make_company, count_statements, monkeypatch
):
    tenant = make_company()
    make_tenant_data(client, tenant, products=3, warehouses=1)
    fresh = client.post("/api/api-keys", json={"name": "fresh"}, headers=tenant.headers).json
    etag = fetch_alerts(client, tenant).headers["ETag"]
    # the pool's liveness pings (app.liveness, PostgreSQL), counted as they go through
    pings = []
    with app.app_context():
        dialect = db.engine.dialect
    ping = dialect.do_ping
    monkeypatch.setattr(dialect, "do_ping", lambda connection: pings.append(1) or ping(connection))
    with count_statements as counter:
        response = client.get(
            f"/api/companies/{tenant.id}/alerts/low-stock",
            headers={**tenant.headers, "If-None-Match": etag},
        )
    assert response.status_code == 304
    # one statement: the versions, which also confirm the key this process has seen
    # (app.auth.confirms_key), not a key lookup of its own (nor a ping: below)
    assert len(counter.statements) == 1
    assert "api_keys" in counter.statements[0] or "EXECUTE" in counter.statements[0]
    assert not any("inventory_ledger" in statement for statement in counter.statements)
    # a key the process has not seen yet is looked up first
    with count_statements as counter:
        response = client.get(
            f"/api/companies/{tenant.id}/alerts/low-stock",
            headers={"Authorization": f"Bearer {fresh['api_key']}", "If-None-Match": etag},
        )
    assert response.status_code == 304 and len(counter.statements) == 2
    # and no ping round trip either: the first statement, a read, checks the connection
    assert pings == []
