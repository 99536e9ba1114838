"""Property: after any sequence of stock operations, every stock level equals the sum
of its ledger rows, is never negative, and matches a plain model of the rules."""

from collections import defaultdict

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.extensions import db
from app.models import Inventory, LedgerEntry

PRODUCTS = ("p0", "p1", "kit")  # kit = 2 x p0 + 1 x p1
WAREHOUSES = ("w0", "w1")
KIT = {"p0": 2, "p1": 1}

quantities = st.integers(min_value=1, max_value=12)
operations = st.one_of(
    st.tuples(
        st.sampled_from(["sales", "receipts", "returns"]),
        st.sampled_from(PRODUCTS),
        st.sampled_from(WAREHOUSES),
        quantities,
    ),
    st.tuples(
        st.just("transfers"), st.sampled_from(PRODUCTS), st.permutations(WAREHOUSES), quantities
    ),
    st.tuples(
        st.just("count"),
        st.sampled_from(PRODUCTS[:2]),
        st.sampled_from(WAREHOUSES),
        st.integers(min_value=0, max_value=30),
    ),
    st.tuples(
        st.just("delta"),
        st.sampled_from(PRODUCTS[:2]),
        st.sampled_from(WAREHOUSES),
        st.integers(min_value=-12, max_value=12).filter(bool),
    ),
)


def leaves(product):
    """What one unit of a product really moves."""
    return KIT if product == "kit" else {product: 1}


def expected_outcome(model, op):
    """Apply ``op`` to the model; return the status the API must answer."""
    kind, product, where, amount = op
    changes = defaultdict(int)
    if kind in ("sales", "receipts", "returns"):
        sign = -1 if kind == "sales" else 1
        for leaf, per in leaves(product).items():
            changes[(leaf, where)] += sign * per * amount
    elif kind == "transfers":
        source, target = where
        for leaf, per in leaves(product).items():
            changes[(leaf, source)] -= per * amount
            changes[(leaf, target)] += per * amount
    elif kind == "count":
        changes[(product, where)] = amount - model[(product, where)]
    else:
        changes[(product, where)] = amount
    if any(model[key] + delta < 0 for key, delta in changes.items()):
        return 409
    for key, delta in changes.items():
        model[key] += delta
    return 201


def request_body(op, ids):
    kind, product, where, amount = op
    body = {"product_id": ids[product]}
    if kind == "transfers":
        return "transfers", {
            **body,
            "from_warehouse_id": ids[where[0]],
            "to_warehouse_id": ids[where[1]],
            "quantity": amount,
        }
    body["warehouse_id"] = ids[where]
    if kind == "count":
        return "adjustments", {**body, "quantity": amount, "reason": "count"}
    if kind == "delta":
        return "adjustments", {**body, "delta": amount, "reason": "correction"}
    return kind, {**body, "quantity": amount}


def assert_ledger_is_the_truth(app, company_id, model, ids):
    with app.app_context():
        sums = db.session.execute(
            sa.select(
                LedgerEntry.product_id,
                LedgerEntry.warehouse_id,
                sa.func.sum(LedgerEntry.quantity_change),
            )
            .where(LedgerEntry.company_id == company_id)
            .group_by(LedgerEntry.product_id, LedgerEntry.warehouse_id)
        ).all()
        levels = db.session.execute(
            sa.select(Inventory.product_id, Inventory.warehouse_id, Inventory.quantity).where(
                Inventory.company_id == company_id
            )
        ).all()
    ledger = {(p, w): total for p, w, total in sums}
    for product_id, warehouse_id, quantity in levels:
        assert quantity >= 0
        assert quantity == ledger.get((product_id, warehouse_id), 0)
    by_id = {(p, w): q for p, w, q in levels}
    for (product, warehouse), quantity in model.items():
        assert by_id.get((ids[product], ids[warehouse]), 0) == quantity


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(operations, min_size=1, max_size=12))
def test_the_ledger_always_sums_to_the_stock_level(app, client, make_company, ops):
    company = make_company()
    ids = {}
    for name in WAREHOUSES:
        response = client.post("/api/warehouses", json={"name": name}, headers=company.headers)
        ids[name] = response.json["id"]
    for name in ("p0", "p1"):
        response = client.post(
            "/api/products",
            json={
                "name": name,
                "sku": name,
                "price": "1",
                "warehouse_id": ids["w0"],
                "initial_quantity": 10,
            },
            headers=company.headers,
        )
        ids[name] = response.json["id"]
    kit = client.post(
        "/api/products",
        json={"name": "kit", "sku": "kit", "price": "3", "is_bundle": True},
        headers=company.headers,
    ).json["id"]
    ids["kit"] = kit
    client.put(
        f"/api/products/{kit}/components",
        json=[{"product_id": ids[p], "quantity": q} for p, q in KIT.items()],
        headers=company.headers,
    )
    model = defaultdict(int, {("p0", "w0"): 10, ("p1", "w0"): 10})

    for op in ops:
        path, body = request_body(op, ids)
        response = client.post(f"/api/stock/{path}", json=body, headers=company.headers)
        assert response.status_code == expected_outcome(model, op), (op, response.json)
        assert_ledger_is_the_truth(app, company.id, model, ids)
