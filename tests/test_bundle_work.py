"""Bundle stock is computed in work linear in the bundle graph, whatever its depth and
fan-out, and no request may spend more than a fixed budget on it.

Performance is asserted on counted work (how often a bundle's component rows are
looked up, and the steps the computation counts), never on wall time."""

from __future__ import annotations

import random
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.bundles import queries as bundles
from app.extensions import db
from tests.conftest import build_app
from tests.helpers import assert_problem, post_ok


class CountingMap(dict):
    """A company's component map that counts lookups of a bundle's components, and
    stops a computation that looks up far more than there are bundles."""

    def __init__(self, data, budget: int):
        super().__init__(data)
        self.lookups = 0
        self.budget = budget

    def _count(self):
        self.lookups += 1
        if self.lookups > self.budget:
            raise AssertionError(f"more than {self.budget} bundle lookups: not linear")

    def get(self, key, default=None):
        self._count()
        return super().get(key, default)

    def __getitem__(self, key):
        self._count()
        return super().__getitem__(key)


class Lookups(list):
    """The counted component maps of the computations since ``start()``."""

    counting = False

    def start(self):
        self.clear()
        self.counting = True


@pytest.fixture
def lookups(monkeypatch):
    """Once started, count the component lookups of every computation (budget: 2 per
    bundle of the company)."""
    maps = Lookups()
    real = bundles.component_map

    def counting(company_id):
        components = real(company_id)
        if not maps.counting:
            return components
        counted = CountingMap(components, budget=2 * max(len(components), 1))
        maps.append(counted)
        return counted

    monkeypatch.setattr(bundles, "component_map", counting)
    return maps


def new_product(client, tenant, **fields) -> int:
    body = {"name": "P", "sku": uuid.uuid4().hex[:12], "price": "1", **fields}
    return post_ok(client, tenant, "/api/products", body)["id"]


def new_bundle(client, tenant, components: list[tuple[int, int]]) -> int:
    bundle = new_product(client, tenant, is_bundle=True)
    response = client.put(
        f"/api/products/{bundle}/components",
        json=[{"product_id": p, "quantity": q} for p, q in components],
        headers=tenant.headers,
    )
    assert response.status_code == 200, response.json
    return bundle


def layered(client, tenant, warehouse: int, fan_out: int, levels: int, stocks: list[int]):
    """``levels`` levels of ``fan_out`` bundles, each containing every bundle of the level
    below once; the lowest contain every leaf once. Every bundle of the top level then
    needs fan_out^(levels-1) of each leaf, through as many paths."""
    leaves = [
        new_product(client, tenant, warehouse_id=warehouse, initial_quantity=s) for s in stocks
    ]
    below = leaves
    for _ in range(levels):
        below = [new_bundle(client, tenant, [(p, 1) for p in below]) for _ in range(fan_out)]
    return below, leaves


def product_stock(client, tenant, product_id: int) -> dict:
    response = client.get(f"/api/products/{product_id}/stock", headers=tenant.headers)
    assert response.status_code == 200, response.json
    return response.json


def warehouse_stock(client, tenant, warehouse: int) -> dict[int, int]:
    response = client.get(
        f"/api/warehouses/{warehouse}/stock?page_size=200", headers=tenant.headers
    )
    assert response.status_code == 200, response.json
    return {row["product_id"]: row["quantity"] for row in response.json}


# -- deep and wide graphs: right answers, linear work -------------------------------------


def test_fan_out_10_over_8_levels_reads_each_bundle_once(
    app, client, company, make_warehouse, lookups
):
    warehouse = make_warehouse(company)["id"]
    stocks = [2_000_000_000 - j * 10_000_000 for j in range(10)]
    top, leaves = layered(client, company, warehouse, fan_out=10, levels=8, stocks=stocks)
    # 10^7 paths from a top bundle to each leaf: it needs 10^7 of each
    expected = min(stocks) // 10**7

    lookups.start()
    body = product_stock(client, company, top[0])
    assert body["total_quantity"] == expected == 191
    assert body["warehouses"][0]["quantity"] == expected
    (counted,) = lookups
    assert counted.lookups <= 80  # the 71 bundles under the top one, once each

    # selling one moves 10^7 of each leaf, computed the same way
    lookups.start()
    sold = post_ok(
        client,
        company,
        "/api/stock/sales",
        {"product_id": top[0], "warehouse_id": warehouse, "quantity": 1},
    )
    assert sorted(e["quantity_change"] for e in sold["entries"]) == [-(10**7)] * 10
    assert lookups[0].lookups <= 80

    # and the counted steps: about one per component row and leaf entry added up
    with app.app_context():
        explosion = bundles.Explosion(bundles.component_map(company.id))
        assert explosion.leaves(top[0]) == {leaf: 10**7 for leaf in leaves}
        assert explosion.steps <= 71 * (11 + 10 * 10)


def reference_leaves(graph: dict[int, list[tuple[int, int]]], product: int) -> dict[int, int]:
    """Brute force: walk every path from ``product`` down, multiplying quantities."""
    leaves: dict[int, int] = {}

    def walk(node, multiplier):
        for child, quantity in graph.get(node, []):
            if child in graph:
                walk(child, multiplier * quantity)
            else:
                leaves[child] = leaves.get(child, 0) + multiplier * quantity

    walk(product, 1)
    return leaves


def reference_quantity(graph, product, stock: dict[int, int]) -> int:
    leaves = reference_leaves(graph, product)
    return min((stock.get(p, 0) // q for p, q in leaves.items()), default=0)


def test_a_hundred_bundles_with_1100_component_rows_make_one_stock_page_in_linear_work(
    app, client, company, make_warehouse, lookups
):
    rng = random.Random(9)
    warehouse = make_warehouse(company)["id"]
    stock = {}
    leaves = []
    for _ in range(30):
        quantity = rng.randint(10**6, 2 * 10**9)
        leaf = new_product(client, company, warehouse_id=warehouse, initial_quantity=quantity)
        stock[leaf] = quantity
        leaves.append(leaf)
    # 100 bundles on 8 levels; each takes 11 components from the levels below
    graph: dict[int, list[tuple[int, int]]] = {}
    by_level: list[list[int]] = []
    for level in range(8):
        candidates = leaves + [b for lower in by_level for b in lower]
        made = []
        for _ in range(13 if level < 4 else 12):
            # one from the level just below keeps the graph 8 deep
            first = rng.choice(by_level[-1]) if by_level else rng.choice(leaves)
            chosen = [first, *rng.sample([c for c in candidates if c != first], 10)]
            components = [(p, rng.randint(1, 3)) for p in chosen]
            bundle = new_bundle(client, company, components)
            graph[bundle] = components
            made.append(bundle)
        by_level.append(made)
    assert len(graph) == 100 and sum(map(len, graph.values())) == 1100

    lookups.start()
    page = warehouse_stock(client, company, warehouse)
    (counted,) = lookups
    assert counted.lookups <= 100  # each bundle's rows once for the whole page
    for bundle in graph:
        assert page[bundle] == reference_quantity(graph, bundle, stock), bundle
    # replacing a top bundle's components checks cycles and depth in one pass too
    lookups.start()
    top = by_level[-1][0]
    rows = [{"product_id": p, "quantity": 1} for p in by_level[-2][:6] + leaves[:5]]
    response = client.put(f"/api/products/{top}/components", json=rows, headers=company.headers)
    assert response.status_code == 200, response.json
    assert lookups[0].lookups <= 200
    # and a bundle below it can never contain it
    below = by_level[0][0]
    response = client.put(
        f"/api/products/{below}/components",
        json=[{"product_id": top, "quantity": 1}],
        headers=company.headers,
    )
    assert_problem(response, 400, "0.product_id")
    graph[top] = [(row["product_id"], 1) for row in rows]

    with app.app_context():
        explosion = bundles.Explosion(bundles.component_map(company.id))
        for bundle in graph:
            explosion.leaves(bundle)
        # each row once, plus the leaf entries it adds up (at most 30 per bundle row)
        assert explosion.steps <= 100 + 1100 * (1 + 30)


# -- the answer equals brute force, on random small graphs --------------------------------


@st.composite
def graphs(draw):
    """Up to 4 leaves with stock in 2 warehouses, and up to 6 bundles, each made of
    leaves and earlier bundles (no cycles), some sharing components."""
    n_leaves = draw(st.integers(1, 4))
    stocks = [[draw(st.integers(0, 60)) for _ in range(2)] for _ in range(n_leaves)]
    bundles_ = []
    for b in range(draw(st.integers(1, 6))):
        pool = [("leaf", i) for i in range(n_leaves)] + [("bundle", i) for i in range(b)]
        chosen = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=4, unique=True))
        bundles_.append([(ref, draw(st.integers(1, 3))) for ref in chosen])
    return stocks, bundles_


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(spec=graphs())
def test_bundle_stock_equals_brute_force_over_every_path(
    client, make_company, make_warehouse, spec
):
    stocks, bundle_specs = spec
    tenant = make_company()
    warehouses = [make_warehouse(tenant)["id"] for _ in range(2)]
    leaves = [
        new_product(
            client,
            tenant,
            initial_stock=[
                {"warehouse_id": w, "quantity": q} for w, q in zip(warehouses, s, strict=True)
            ],
        )
        for s in stocks
    ]
    graph: dict[int, list[tuple[int, int]]] = {}
    made: list[int] = []
    for components in bundle_specs:
        rows = [(leaves[i] if kind == "leaf" else made[i], q) for (kind, i), q in components]
        bundle = new_bundle(client, tenant, rows)
        graph[bundle] = rows
        made.append(bundle)

    for index, warehouse in enumerate(warehouses):
        stock = {leaf: s[index] for leaf, s in zip(leaves, stocks, strict=True)}
        page = warehouse_stock(client, tenant, warehouse)
        for bundle in made:
            assert page[bundle] == reference_quantity(graph, bundle, stock)
    for bundle in made:
        per_warehouse = {
            level["warehouse_id"]: level["quantity"]
            for level in product_stock(client, tenant, bundle)["warehouses"]
        }
        for index, warehouse in enumerate(warehouses):
            stock = {leaf: s[index] for leaf, s in zip(leaves, stocks, strict=True)}
            assert per_warehouse.get(warehouse, 0) == reference_quantity(graph, bundle, stock)


# -- the budget: a request that would work too long ends ---------------------------------------


def test_a_graph_beyond_the_work_budget_is_a_503_problem_and_sells_nothing(
    database_url, client, company, make_warehouse, count_rows
):
    from app.models import LedgerEntry

    warehouse = make_warehouse(company)["id"]
    top, _ = layered(client, company, warehouse, fan_out=3, levels=3, stocks=[100, 100, 100])
    small = build_app(database_url, STOCKFLOW_BUNDLE_WORK_LIMIT=20)
    try:
        limited = small.test_client()
        body = assert_problem(
            limited.get(f"/api/products/{top[0]}/stock", headers=company.headers),
            503,
            slug="work-limit-exceeded",
        )
        assert "too large" in body["detail"]
        assert_problem(
            limited.get(f"/api/warehouses/{warehouse}/stock", headers=company.headers),
            503,
            slug="work-limit-exceeded",
        )
        rows = count_rows(LedgerEntry)
        assert_problem(
            limited.post(
                "/api/stock/sales",
                json={"product_id": top[0], "warehouse_id": warehouse, "quantity": 1},
                headers=company.headers,
            ),
            503,
            slug="work-limit-exceeded",
        )
        assert count_rows(LedgerEntry) == rows
        # the default budget answers it
        assert product_stock(client, company, top[0])["total_quantity"] == 100 // 9
    finally:
        with small.app_context():
            db.engine.dispose()
