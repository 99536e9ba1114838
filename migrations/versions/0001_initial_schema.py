"""initial schema: tenants, catalog, inventory, ledger, suppliers, bundles, keys

Revision ID: 0001
Revises:
Create Date: 2026-11-21 21:17:03.839603
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "companies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_companies")),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_api_keys_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_keys_prefix")),
    )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_keys_company_id"), ["company_id"], unique=False)

    op.create_table(
        "idempotency_keys",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response_body", sa.Text(), nullable=True),
        sa.Column("response_headers", sa.Text(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_idempotency_keys_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_keys")),
        sa.UniqueConstraint("company_id", "key", name=op.f("uq_idempotency_keys_company_id_key")),
    )
    op.create_table(
        "product_type_thresholds",
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("product_type", sa.String(length=50), nullable=False),
        sa.Column("low_stock_threshold", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "low_stock_threshold >= 0",
            name=op.f("ck_product_type_thresholds_threshold_non_negative"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_product_type_thresholds_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "company_id", "product_type", name=op.f("pk_product_type_thresholds")
        ),
    )
    op.create_table(
        "products",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("sku", sa.String(length=100), nullable=False),
        sa.Column("price", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("product_type", sa.String(length=50), server_default="regular", nullable=False),
        sa.Column("low_stock_threshold", sa.Integer(), nullable=True),
        sa.Column("is_bundle", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "low_stock_threshold IS NULL OR low_stock_threshold >= 0",
            name=op.f("ck_products_threshold_non_negative"),
        ),
        sa.CheckConstraint("price >= 0", name=op.f("ck_products_price_non_negative")),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_products_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_products")),
        sa.UniqueConstraint("company_id", "id", name=op.f("uq_products_company_id_id")),
        sa.UniqueConstraint("company_id", "sku", name=op.f("uq_products_company_id_sku")),
    )
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_products_company_id_product_type"),
            ["company_id", "product_type"],
            unique=False,
        )

    op.create_table(
        "suppliers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("contact_email", sa.String(length=320), nullable=True),
        sa.Column("phone", sa.String(length=50), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_suppliers_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suppliers")),
        sa.UniqueConstraint("company_id", "id", name=op.f("uq_suppliers_company_id_id")),
    )
    with op.batch_alter_table("suppliers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_suppliers_company_id"), ["company_id"], unique=False)

    op.create_table(
        "warehouses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("location", sa.String(length=255), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_warehouses_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_warehouses")),
        sa.UniqueConstraint("company_id", "id", name=op.f("uq_warehouses_company_id_id")),
    )
    with op.batch_alter_table("warehouses", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_warehouses_company_id"), ["company_id"], unique=False)

    op.create_table(
        "bundle_components",
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("bundle_product_id", sa.Integer(), nullable=False),
        sa.Column("component_product_id", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "bundle_product_id <> component_product_id", name=op.f("ck_bundle_components_not_self")
        ),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_bundle_components_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["company_id", "bundle_product_id"],
            ["products.company_id", "products.id"],
            name=op.f("fk_bundle_components_company_id_bundle_product_id_products"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["company_id", "component_product_id"],
            ["products.company_id", "products.id"],
            name=op.f("fk_bundle_components_company_id_component_product_id_products"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_bundle_components_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "company_id",
            "bundle_product_id",
            "component_product_id",
            name=op.f("pk_bundle_components"),
        ),
    )
    with op.batch_alter_table("bundle_components", schema=None) as batch_op:
        batch_op.create_index(
            "ix_bundle_components_component", ["company_id", "component_product_id"], unique=False
        )

    op.create_table(
        "inventory",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("warehouse_id", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint("quantity >= 0", name=op.f("ck_inventory_quantity_non_negative")),
        sa.ForeignKeyConstraint(
            ["company_id", "product_id"],
            ["products.company_id", "products.id"],
            name=op.f("fk_inventory_company_id_product_id_products"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id", "warehouse_id"],
            ["warehouses.company_id", "warehouses.id"],
            name=op.f("fk_inventory_company_id_warehouse_id_warehouses"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_inventory_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inventory")),
        sa.UniqueConstraint(
            "company_id",
            "product_id",
            "warehouse_id",
            name=op.f("uq_inventory_company_id_product_id_warehouse_id"),
        ),
    )
    with op.batch_alter_table("inventory", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_inventory_company_id_warehouse_id"),
            ["company_id", "warehouse_id"],
            unique=False,
        )

    op.create_table(
        "inventory_ledger",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("warehouse_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("quantity_change", sa.Integer(), nullable=False),
        sa.Column("quantity_after", sa.Integer(), nullable=False),
        sa.Column("operation_id", sa.String(length=36), nullable=False),
        sa.Column("reference", sa.String(length=255), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("bundle_product_id", sa.Integer(), nullable=True),
        sa.Column("supplier_id", sa.Integer(), nullable=True),
        sa.Column("unit_cost", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column(
            "occurred_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "recorded_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "reason IN ('initial', 'receipt', 'sale', 'adjustment', 'transfer_in', 'transfer_out', 'return')",
            name=op.f("ck_inventory_ledger_reason_known"),
        ),
        sa.CheckConstraint(
            "quantity_after >= 0", name=op.f("ck_inventory_ledger_quantity_after_non_negative")
        ),
        sa.CheckConstraint(
            "unit_cost IS NULL OR unit_cost >= 0",
            name=op.f("ck_inventory_ledger_unit_cost_non_negative"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id", "bundle_product_id"],
            ["products.company_id", "products.id"],
            name=op.f("fk_inventory_ledger_company_id_bundle_product_id_products"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id", "product_id"],
            ["products.company_id", "products.id"],
            name=op.f("fk_inventory_ledger_company_id_product_id_products"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id", "supplier_id"],
            ["suppliers.company_id", "suppliers.id"],
            name=op.f("fk_inventory_ledger_company_id_supplier_id_suppliers"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id", "warehouse_id"],
            ["warehouses.company_id", "warehouses.id"],
            name=op.f("fk_inventory_ledger_company_id_warehouse_id_warehouses"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_inventory_ledger_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inventory_ledger")),
    )
    with op.batch_alter_table("inventory_ledger", schema=None) as batch_op:
        batch_op.create_index(
            "ix_inventory_ledger_product_movements",
            ["company_id", "product_id", "warehouse_id", "reason", "occurred_at"],
            unique=False,
        )

    op.create_table(
        "supplier_products",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("supplier_id", sa.Integer(), nullable=False),
        sa.Column("supplier_sku", sa.String(length=100), nullable=True),
        sa.Column("cost_price", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column("lead_time_days", sa.Integer(), nullable=True),
        sa.Column("min_order_quantity", sa.Integer(), server_default="1", nullable=False),
        sa.Column("pack_size", sa.Integer(), server_default="1", nullable=False),
        sa.Column("is_preferred", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "cost_price IS NULL OR cost_price >= 0",
            name=op.f("ck_supplier_products_cost_non_negative"),
        ),
        sa.CheckConstraint(
            "lead_time_days IS NULL OR lead_time_days >= 0",
            name=op.f("ck_supplier_products_lead_time_non_negative"),
        ),
        sa.CheckConstraint(
            "min_order_quantity >= 1", name=op.f("ck_supplier_products_min_order_positive")
        ),
        sa.CheckConstraint("pack_size >= 1", name=op.f("ck_supplier_products_pack_size_positive")),
        sa.ForeignKeyConstraint(
            ["company_id", "product_id"],
            ["products.company_id", "products.id"],
            name=op.f("fk_supplier_products_company_id_product_id_products"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id", "supplier_id"],
            ["suppliers.company_id", "suppliers.id"],
            name=op.f("fk_supplier_products_company_id_supplier_id_suppliers"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_supplier_products_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supplier_products")),
        sa.UniqueConstraint(
            "company_id",
            "product_id",
            "supplier_id",
            name=op.f("uq_supplier_products_company_id_product_id_supplier_id"),
        ),
    )
    with op.batch_alter_table("supplier_products", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_supplier_products_company_id_supplier_id"),
            ["company_id", "supplier_id"],
            unique=False,
        )
        batch_op.create_index(
            "uq_supplier_products_one_preferred",
            ["company_id", "product_id"],
            unique=True,
            postgresql_where=sa.text("is_preferred"),
            sqlite_where=sa.text("is_preferred"),
        )


def downgrade() -> None:
    with op.batch_alter_table("supplier_products", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_supplier_products_one_preferred",
            postgresql_where=sa.text("is_preferred"),
            sqlite_where=sa.text("is_preferred"),
        )
        batch_op.drop_index(batch_op.f("ix_supplier_products_company_id_supplier_id"))

    op.drop_table("supplier_products")
    with op.batch_alter_table("inventory_ledger", schema=None) as batch_op:
        batch_op.drop_index("ix_inventory_ledger_product_movements")

    op.drop_table("inventory_ledger")
    with op.batch_alter_table("inventory", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inventory_company_id_warehouse_id"))

    op.drop_table("inventory")
    with op.batch_alter_table("bundle_components", schema=None) as batch_op:
        batch_op.drop_index("ix_bundle_components_component")

    op.drop_table("bundle_components")
    with op.batch_alter_table("warehouses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_warehouses_company_id"))

    op.drop_table("warehouses")
    with op.batch_alter_table("suppliers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_suppliers_company_id"))

    op.drop_table("suppliers")
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_products_company_id_product_type"))

    op.drop_table("products")
    op.drop_table("product_type_thresholds")
    op.drop_table("idempotency_keys")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_keys_company_id"))

    op.drop_table("api_keys")
    op.drop_table("companies")
