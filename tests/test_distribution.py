"""Scale-out by company: keys that hold company_id, the migration that made them, and
the placement of every table on Citus (app/distribution.py)."""

import pytest
import sqlalchemy as sa
from alembic import command

from app.config import engine_options
from app.demo import seed
from app.distribution import DISTRIBUTED, REFERENCE, plan
from app.extensions import db
from app.models import ApiKey, Product, Warehouse, _quoted_constraint, _unsharded
from tests.conftest import ADMIN_TOKEN, ON_CITUS, alembic_config, build_app

TENANT_TABLES = {p.table for p in plan(db.metadata) if p.kind == DISTRIBUTED}


def test_every_table_with_company_id_is_distributed_except_the_auth_lookup_tables():
    placements = {p.table: p.kind for p in plan(db.metadata)}
    assert placements["companies"] == placements["api_keys"] == REFERENCE
    assert {t for t, kind in placements.items() if kind == DISTRIBUTED} == {
        name
        for name, table in db.metadata.tables.items()
        if "company_id" in table.c and name != "api_keys"
    }
    # referenced tables come first: Citus places a table only after those it points at
    order = [p.table for p in plan(db.metadata)]
    for table in db.metadata.sorted_tables:
        for fk in table.foreign_keys:
            assert order.index(fk.column.table.name) <= order.index(table.name)


@pytest.mark.parametrize("name", sorted(TENANT_TABLES))
def test_every_key_of_a_tenant_table_includes_company_id(name):
    """What Citus needs to distribute by company_id; a table added later must follow."""
    table = db.metadata.tables[name]
    assert table.primary_key.columns.keys()[0] == "company_id"
    for constraint in table.constraints:
        if isinstance(constraint, sa.UniqueConstraint):
            assert "company_id" in constraint.columns, constraint.name
    for index in table.indexes:
        if index.unique:
            assert "company_id" in index.columns, index.name
    for fk in table.foreign_key_constraints:
        if fk.referred_table.name in TENANT_TABLES:
            assert "company_id" in fk.column_keys, fk.name
            assert fk.elements[fk.column_keys.index("company_id")].column.name == "company_id"


def test_a_constraint_name_with_a_citus_shard_suffix_maps_to_the_constraint():
    message = (
        'duplicate key value violates unique constraint "uq_products_company_id_sku_102461"\n'
        "DETAIL:  Key (company_id, sku)=(1, DUP-1) already exists."
    )
    assert _unsharded(_quoted_constraint(message)) == "uq_products_company_id_sku"
    assert _unsharded("uq_products_company_id_sku") == "uq_products_company_id_sku"
    # a name that only looks sharded is left alone
    assert _unsharded("uq_nothing_we_know_12") == "uq_nothing_we_know_12"


def test_ids_stay_unique_across_companies(client, make_company, make_warehouse, make_product):
    tenants = [make_company(), make_company()]
    ids = []
    for _ in range(3):
        for tenant in tenants:
            warehouse = make_warehouse(tenant)
            product = make_product(tenant, warehouse_id=warehouse["id"], initial_quantity=5)
            ids.append(product["id"])
    assert len(set(ids)) == len(ids) and ids == sorted(ids)


def _columns(url: str) -> dict[str, list[str]]:
    """The columns of every table of the models that the database has."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            inspector = sa.inspect(connection)
            return {
                name: [c["name"] for c in inspector.get_columns(name)]
                for name in db.metadata.tables
                if inspector.has_table(name)
            }
    finally:
        engine.dispose()


def _snapshot(url: str, columns: dict[str, list[str]]) -> dict[str, list]:
    """Every row of these tables and columns, in a stable order."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            snapshot = {}
            for name, names in columns.items():
                rows = connection.execute(
                    sa.text(f"SELECT {', '.join(names)} FROM {name} ORDER BY {names[0]}")
                ).all()
                snapshot[name] = sorted(repr(tuple(row)) for row in rows)
            return snapshot
    finally:
        engine.dispose()


def test_company_first_keys_upgrade_keeps_every_demo_row_and_old_keys_and_downgrade_too(
    scratch_database_url,
):
    config = alembic_config(scratch_database_url)
    # the demo is seeded by today's code (which writes tables of later revisions), then
    # taken down to the revision before company-first keys: the rows an old database has
    command.upgrade(config, "head")
    old_app = build_app(scratch_database_url)
    with old_app.app_context():
        # no purchase orders: 0005b has no table for them
        _, old_key, _ = seed(purchase_orders=False)
        db.session.commit()
        db.engine.dispose()
    command.downgrade(config, "0005b")
    old_columns = _columns(scratch_database_url)
    before = _snapshot(scratch_database_url, old_columns)
    assert len(before["inventory_ledger"]) > 1000 and before["products"]

    command.upgrade(config, "head")
    assert _snapshot(scratch_database_url, old_columns) == before
    app = build_app(scratch_database_url)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {old_key}"}
    products = client.get("/api/products?page_size=200", headers=headers).json
    assert len(products) == len(before["products"])
    # the app writes on the migrated schema, with ids after the copied ones
    warehouse = client.post("/api/warehouses", json={"name": "New"}, headers=headers).json
    with app.app_context():
        ids = db.session.scalars(sa.select(Warehouse.id)).all()
        db.engine.dispose()
    assert warehouse["id"] == max(ids) and len(ids) == len(before["warehouses"]) + 1

    command.downgrade(config, "0005b")
    after = _snapshot(scratch_database_url, old_columns)
    assert len(after["warehouses"]) == len(before["warehouses"]) + 1
    after["warehouses"] = [row for row in after["warehouses"] if "'New'" not in row]
    # the new warehouse bumped its company's configuration counter
    assert len(after.pop("change_counters")) == len(before.pop("change_counters")) + 1
    assert after == before


@pytest.mark.postgres
def test_distribute_tables_places_every_table_on_citus_and_refuses_a_plain_server(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["distribute-tables"])
    if not ON_CITUS:
        assert result.exit_code != 0
        assert "not a Citus coordinator" in result.output
        return
    # the suite distributed the schema; running it again changes nothing
    assert result.exit_code == 0, result.output
    assert all(line.split(": ")[1].startswith("already") for line in result.output.splitlines())
    with app.app_context():
        placed = dict(
            db.session.execute(
                sa.text("SELECT table_name::text, citus_table_type FROM citus_tables")
            ).all()
        )
        colocations = db.session.scalars(
            sa.text(
                "SELECT DISTINCT colocation_id FROM citus_tables "
                "WHERE citus_table_type = 'distributed' AND distribution_column = 'company_id'"
            )
        ).all()
    assert placed == {p.table: p.kind for p in plan(db.metadata)}
    assert len(colocations) == 1


@pytest.mark.postgres
def test_a_request_s_queries_go_to_one_shard_on_citus(app, client, company, make_product):
    """The key lookup reads a reference table (no fan-out); a company's query one shard."""
    if not ON_CITUS:
        return  # a plain server has no shards to count
    product = make_product(company)
    prefix = company.api_key.split("_")[1]
    with app.app_context():
        key_plan = _explain(
            sa.select(ApiKey.company_id, ApiKey.key_hash).where(ApiKey.prefix == prefix)
        )
        product_plan = _explain(
            sa.select(Product).where(Product.company_id == company.id, Product.id == product["id"])
        )
    assert "Task Count: 1" in key_plan and "Task Count: 1" in product_plan


def _explain(query) -> str:
    compiled = query.compile(db.engine, compile_kwargs={"literal_binds": True})
    rows = db.session.execute(sa.text(f"EXPLAIN {compiled}")).scalars()
    return "\n".join(rows)


@pytest.mark.postgres
def test_every_request_of_a_company_runs_on_one_shard(database_url):
    """With Citus told to refuse any statement that needs more than one shard, a
    company's whole working day still succeeds (on plain PostgreSQL the setting is
    an inert placeholder, and the same calls succeed)."""
    options = engine_options(database_url)
    options["connect_args"]["options"] += " -c citus.multi_task_query_log_level=error"
    app = build_app(database_url, SQLALCHEMY_ENGINE_OPTIONS=options)
    client = app.test_client()
    try:
        _a_working_day(client)
    finally:
        with app.app_context():
            db.engine.dispose()


def _a_working_day(client) -> None:
    """Every kind of call a company makes, each asserted to succeed."""

    def call(method, path, body=None, status=200, headers=None):
        response = client.open(path, method=method, json=body, headers=headers or key)
        body = response.get_json(silent=True)
        assert response.status_code == status, (method, path, body)
        return body

    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    tenant = call("POST", "/api/companies", {"name": "Acme"}, 201, headers=admin)
    call("POST", "/api/companies", {"name": "Globex"}, 201, headers=admin)
    key = {"Authorization": f"Bearer {tenant['api_key']}"}
    call("GET", f"/api/companies/{tenant['id']}")
    extra = call("POST", "/api/api-keys", {"name": "second"}, 201)
    call("GET", "/api/api-keys")
    call("DELETE", f"/api/api-keys/{extra['id']}", status=204)
    w1 = call("POST", "/api/warehouses", {"name": "Main"}, 201)["id"]
    w2 = call("POST", "/api/warehouses", {"name": "Second"}, 201)["id"]
    call("PATCH", f"/api/warehouses/{w2}", {"location": "Berlin"})
    call("GET", "/api/warehouses?name=Main")
    supplier = call("POST", "/api/suppliers", {"name": "Supplier Corp"}, 201)["id"]
    products = []
    for i in range(3):
        body = {
            "name": f"Widget {i}",
            "sku": f"W-{i}",
            "price": "9.99",
            "product_type": "fast_moving",
        }
        body |= {"warehouse_id": w1, "initial_quantity": 40}
        products.append(call("POST", "/api/products", body, 201)["id"])
    call("POST", "/api/products", {"name": "Dup", "sku": "W-0", "price": "1"}, 409)
    bundle = call(
        "POST",
        "/api/products",
        {"name": "Kit", "sku": "KIT", "price": "20", "is_bundle": True},
        201,
    )["id"]
    components = [
        {"product_id": products[0], "quantity": 2},
        {"product_id": products[1], "quantity": 1},
    ]
    call("PUT", f"/api/products/{bundle}/components", components)
    call("GET", f"/api/products/{bundle}/components")
    call(
        "POST",
        f"/api/products/{products[0]}/suppliers",
        {"supplier_id": supplier, "is_preferred": True, "lead_time_days": 3},
        201,
    )
    call("PATCH", f"/api/products/{products[0]}/suppliers/{supplier}", {"cost_price": "4.20"})
    call("GET", f"/api/products/{products[0]}/suppliers")
    call(
        "PUT",
        f"/api/products/{products[1]}/reorder-rules/{w1}",
        {"threshold": 50, "reorder_quantity": 10},
        201,
    )
    call("GET", f"/api/products/{products[1]}/reorder-rules")
    call("PUT", "/api/product-types/fast_moving", {"low_stock_threshold": 35})
    call("GET", "/api/product-types")
    sale = {"product_id": products[0], "warehouse_id": w1, "quantity": 5}
    call("POST", "/api/stock/sales", sale, 201, headers={**key, "Idempotency-Key": "sale-1"})
    call("POST", "/api/stock/sales", sale, 201, headers={**key, "Idempotency-Key": "sale-1"})
    call("POST", "/api/stock/sales", {**sale, "quantity": 500}, 409)
    call("POST", "/api/stock/receipts", {**sale, "supplier_id": supplier, "unit_cost": "4.00"}, 201)
    call("POST", "/api/stock/returns", {**sale, "quantity": 1}, 201)
    transfer = {
        "product_id": products[2],
        "from_warehouse_id": w1,
        "to_warehouse_id": w2,
        "quantity": 3,
    }
    call("POST", "/api/stock/transfers", transfer, 201)
    call("POST", "/api/stock/adjustments", {**sale, "quantity": 30, "reason": "count"}, 201)
    where = {"product_id": products[0], "warehouse_id": w1}
    call("POST", "/api/stock/adjustments", {**where, "delta": -2, "reason": "broken"}, 201)
    call("POST", "/api/stock/sales", {"product_id": bundle, "warehouse_id": w1, "quantity": 2}, 201)
    call("GET", f"/api/products/{products[0]}")
    call("GET", f"/api/products/{products[0]}/stock")
    call("GET", f"/api/warehouses/{w1}/stock")
    call("GET", "/api/products?product_type=fast_moving&q=Widget")
    call("GET", f"/api/stock/ledger?product_id={products[0]}&limit=2")
    alerts = call("GET", f"/api/companies/{tenant['id']}/alerts/low-stock")
    assert alerts["total_alerts"] >= 1
    drafts = call("POST", "/api/purchase-orders/from-alerts", {"warehouse_id": w1}, 201)
    assert drafts["purchase_orders"]
    order_body = {
        "supplier_id": supplier,
        "warehouse_id": w1,
        "lines": [{"product_id": products[0], "quantity": 10}],
    }
    order = call("POST", "/api/purchase-orders", order_body, 201)["id"]
    call("PATCH", f"/api/purchase-orders/{order}", {"notes": "rush", "expected_at": None})
    call("POST", f"/api/purchase-orders/{order}/submit")
    receipt = {"lines": [{"product_id": products[0], "quantity": 4}], "reference": "ASN-1"}
    call("POST", f"/api/purchase-orders/{order}/receipts", receipt, 201)
    call(
        "POST",
        f"/api/purchase-orders/{order}/receipts",
        {**receipt, "lines": [{"product_id": products[0], "quantity": 7}]},
        409,
    )
    call("GET", f"/api/purchase-orders?status=partially_received&product_id={products[0]}")
    call("GET", f"/api/purchase-orders/{order}")
    call("POST", f"/api/purchase-orders/{drafts['purchase_orders'][0]['id']}/cancel")
    call("DELETE", f"/api/products/{products[1]}/reorder-rules/{w1}", status=204)
    call("DELETE", "/api/product-types/fast_moving", status=204)
    call("DELETE", f"/api/products/{products[0]}/suppliers/{supplier}", status=204)
    call("DELETE", f"/api/suppliers/{supplier}", status=204)
