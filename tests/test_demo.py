"""The demo data behind ``flask seed-demo``: loaded once, consistent, worth looking at."""

import datetime as dt
from collections import defaultdict

import pytest
import sqlalchemy as sa

from app import demo
from app.extensions import db
from app.models import (
    ApiKey,
    BundleComponent,
    Company,
    Inventory,
    LedgerEntry,
    Product,
    ProductTypeThreshold,
    SupplierProduct,
)

TODAY = dt.date(2026, 3, 15)


@pytest.fixture
def seed(app):
    """Run the demo seed as the CLI does (seed, then commit); returns its result."""

    def run(**kwargs) -> tuple[int, str, bool]:
        with app.app_context():
            result = demo.seed(**kwargs)
            db.session.commit()
            return result

    return run


def test_seeding_twice_creates_one_company_and_only_a_fresh_key(seed, count_rows):
    company_id, first_key, created = seed(today=TODAY)
    counts = [count_rows(model) for model in (Product, Inventory, LedgerEntry, SupplierProduct)]

    again_id, second_key, created_again = seed(today=TODAY)

    assert created is True and created_again is False
    assert again_id == company_id and second_key != first_key
    assert count_rows(Company, Company.name == demo.DEMO_COMPANY_NAME) == 1
    assert [
        count_rows(model) for model in (Product, Inventory, LedgerEntry, SupplierProduct)
    ] == counts


def test_each_seed_rotates_the_demo_key_and_leaves_other_keys_alone(seed, client, count_rows):
    _, first_key, _ = seed()
    first = {"Authorization": f"Bearer {first_key}"}
    own = client.post("/api/api-keys", json={"name": "mine"}, headers=first).json["api_key"]
    _, second_key, _ = seed()
    _, third_key, _ = seed()

    def status(key):
        return client.get("/api/warehouses", headers={"Authorization": f"Bearer {key}"})

    # only the key the last seed printed is a demo key that works
    assert [status(k).status_code for k in (first_key, second_key)] == [401, 401]
    response = status(third_key)
    assert response.status_code == 200
    assert len(response.json) == 3
    assert all(warehouse["location"] for warehouse in response.json)
    # a key the company made itself is not the demo's to revoke
    assert status(own).status_code == 200
    assert count_rows(ApiKey, ApiKey.revoked_at.is_(None)) == 2


def test_seed_demo_prints_a_working_key_and_revokes_the_one_it_printed_before(app, client):
    outputs = [app.test_cli_runner().invoke(args=["seed-demo"]) for _ in range(2)]
    keys = []
    for result in outputs:
        assert result.exit_code == 0, result.output
        keys.append(dict(line.split("=", 1) for line in result.output.split() if "=" in line))
    assert keys[0]["company_id"] == keys[1]["company_id"]
    statuses = [
        client.get("/api/warehouses", headers={"Authorization": f"Bearer {k['api_key']}"})
        for k in keys
    ]
    assert [s.status_code for s in statuses] == [401, 200]


def test_ledger_sums_to_every_stock_level_and_never_goes_negative(app, seed):
    company_id, _, _ = seed(today=TODAY)
    start = dt.datetime.combine(TODAY, dt.time(), tzinfo=dt.UTC) - dt.timedelta(days=90)
    with app.app_context():
        stock = {
            (row.product_id, row.warehouse_id): row.quantity
            for row in db.session.scalars(
                sa.select(Inventory).where(Inventory.company_id == company_id)
            )
        }
        history = defaultdict(list)
        for entry in db.session.scalars(
            sa.select(LedgerEntry)
            .where(LedgerEntry.company_id == company_id)
            .order_by(LedgerEntry.occurred_at, LedgerEntry.id)
        ):
            history[(entry.product_id, entry.warehouse_id)].append(entry)

    assert history.keys() == stock.keys()
    for key, entries in history.items():
        assert entries[0].reason == "initial" and entries[0].occurred_at.date() == start.date()
        running = 0
        for entry in entries:
            running += entry.quantity_change
            assert entry.quantity_after == running >= 0, key
            assert start <= entry.occurred_at < start + dt.timedelta(days=90)
            assert entry.operation_id
        assert running == stock[key], key


def test_demo_gives_the_low_stock_alerts_something_to_show(app, seed):
    company_id, _, _ = seed()
    recently = dt.datetime.now(dt.UTC) - dt.timedelta(days=7)
    with app.app_context():
        products = {
            p.id: p
            for p in db.session.scalars(sa.select(Product).where(Product.company_id == company_id))
        }
        by_type = dict(
            db.session.execute(
                sa.select(
                    ProductTypeThreshold.product_type, ProductTypeThreshold.low_stock_threshold
                ).where(ProductTypeThreshold.company_id == company_id)
            ).all()
        )
        stock = db.session.scalars(
            sa.select(Inventory).where(Inventory.company_id == company_id)
        ).all()
        recent_sales = set(
            db.session.execute(
                sa.select(LedgerEntry.product_id, LedgerEntry.warehouse_id).where(
                    LedgerEntry.company_id == company_id,
                    LedgerEntry.reason == "sale",
                    LedgerEntry.occurred_at >= recently,
                )
            ).all()
        )
        bundle_sales = db.session.execute(
            sa.select(LedgerEntry.bundle_product_id, LedgerEntry.operation_id, LedgerEntry.reason)
            .where(LedgerEntry.company_id == company_id, LedgerEntry.bundle_product_id.is_not(None))
            .distinct()
        ).all()
        bundle_parts = db.session.scalar(sa.select(sa.func.count()).select_from(BundleComponent))

    def threshold(product: Product) -> int:
        if product.low_stock_threshold is not None:
            return product.low_stock_threshold
        if product.product_type in by_type:
            return by_type[product.product_type]
        return demo.DEFAULT_THRESHOLDS.get(product.product_type, demo.DEFAULT_THRESHOLD)

    low_and_selling = [
        row
        for row in stock
        if row.quantity < threshold(products[row.product_id])
        and (row.product_id, row.warehouse_id) in recent_sales
    ]
    assert len(low_and_selling) >= 3
    assert any(row.quantity == 0 for row in stock)
    assert {p.product_type for p in products.values()} >= {
        "fast_moving",
        "regular",
        "slow_moving",
        "perishable",
    }

    bundles = {p.id for p in products.values() if p.is_bundle}
    assert len(bundles) == 2 and bundle_parts >= 4
    assert not any(row.product_id in bundles for row in stock)
    assert {bundle for bundle, _, _ in bundle_sales} == bundles
    assert {reason for _, _, reason in bundle_sales} == {"sale"}


def test_demo_has_purchase_orders_in_every_state_and_learned_lead_times(app, client, seed):
    company_id, key, _ = seed()
    headers = {"Authorization": f"Bearer {key}"}
    statuses = set()
    page = 1
    while True:
        response = client.get(f"/api/purchase-orders?page={page}&page_size=200", headers=headers)
        assert response.status_code == 200
        statuses |= {order["status"] for order in response.json}
        if len(response.json) < 200:
            break
        page += 1
    assert statuses == {"draft", "ordered", "partially_received", "received", "cancelled"}
    with app.app_context():
        receipts = db.session.execute(
            sa.select(LedgerEntry.purchase_order_id).where(
                LedgerEntry.company_id == company_id, LedgerEntry.reason == "receipt"
            )
        ).all()
        assert receipts and all(purchase_order_id for (purchase_order_id,) in receipts)
        product_id = db.session.scalar(
            sa.select(LedgerEntry.product_id)
            .where(LedgerEntry.company_id == company_id, LedgerEntry.reason == "receipt")
            .group_by(LedgerEntry.product_id)
            .order_by(sa.func.count().desc(), LedgerEntry.product_id)
            .limit(1)
        )
    links = client.get(f"/api/products/{product_id}/suppliers", headers=headers).json
    assert any(link["lead_time_source"] == "observed" for link in links), links


def test_the_demo_alerts_from_the_kept_state_are_the_ledgers(app, seed):
    from app.alerts import queries

    company_id, _, _ = seed()
    today = dt.datetime.now(dt.UTC).date()
    args = {"days": 30, "page": 1, "page_size": 1000}
    with app.app_context():
        kept = queries.low_stock_alerts(company_id, args, today, maintained=True)
        computed = queries.low_stock_alerts(company_id, args, today)
    assert kept == computed and kept[1] > 0


def test_the_demo_shows_covered_and_uncovered_alerts(client, seed):
    company_id, key, _ = seed()
    alerts = client.get(
        f"/api/companies/{company_id}/alerts/low-stock",
        headers={"Authorization": f"Bearer {key}"},
    ).json["alerts"]
    covered = [alert for alert in alerts if alert["covered"]]
    assert covered and len(covered) < len(alerts)
    assert all(alert["on_order"] > 0 and alert["next_delivery_at"] for alert in covered)
