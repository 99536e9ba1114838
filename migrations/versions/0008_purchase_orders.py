"""purchase orders, their lines, lead-time observations, and the ledger's purchase order

``purchase_orders`` and ``purchase_order_lines`` hold the replenishment loop
(app/purchasing); ``lead_time_observations`` keeps, per purchase order line, how
many days the supplier took (ordered_at to the first receipt), from which the
observed lead time of a supplier-product link is learned. ``inventory_ledger``
gains a nullable ``purchase_order_id`` (a composite foreign key, like every key of
a tenant table) naming the purchase order a receipt was booked against.

Revision ID: 0008
Revises: 0006
Create Date: 2026-11-29 18:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = ("draft", "ordered", "partially_received", "received", "cancelled")


def _company_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["company_id"],
        ["companies.id"],
        name=op.f(f"fk_{table}_company_id_companies"),
        ondelete="CASCADE",
    )


def _tenant_fk(
    table: str, column: str, parent: str, ondelete=None, name=None
) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["company_id", column],
        [f"{parent}.company_id", f"{parent}.id"],
        name=op.f(name or f"fk_{table}_company_id_{column}_{parent}"),
        ondelete=ondelete,
    )


def _id_column() -> sa.Column:
    """The surrogate id: a SERIAL on PostgreSQL (its sequence feeds ``models.NextId``);
    SQLite has no auto-increment in a composite primary key (``NextId`` takes MAX + 1)."""
    serial = op.get_context().dialect.name == "postgresql"
    return sa.Column("id", sa.Integer(), autoincrement=serial, nullable=False)


def upgrade() -> None:
    op.create_table(
        "purchase_orders",
        _id_column(),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("supplier_id", sa.Integer(), nullable=False),
        sa.Column("warehouse_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), server_default="draft", nullable=False),
        sa.Column("reference", sa.String(length=255), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("expected_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("ordered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN (" + ", ".join(f"'{s}'" for s in STATUSES) + ")",
            name=op.f("ck_purchase_orders_status_known"),
        ),
        _company_fk("purchase_orders"),
        _tenant_fk("purchase_orders", "supplier_id", "suppliers"),
        _tenant_fk("purchase_orders", "warehouse_id", "warehouses"),
        sa.PrimaryKeyConstraint("company_id", "id", name=op.f("pk_purchase_orders")),
    )
    with op.batch_alter_table("purchase_orders", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_purchase_orders_company_id_status"), ["company_id", "status"]
        )
        batch_op.create_index(
            batch_op.f("ix_purchase_orders_company_id_supplier_id"), ["company_id", "supplier_id"]
        )
        batch_op.create_index(
            batch_op.f("ix_purchase_orders_company_id_warehouse_id_status"),
            ["company_id", "warehouse_id", "status"],
        )

    op.create_table(
        "purchase_order_lines",
        _id_column(),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("purchase_order_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("quantity_ordered", sa.Integer(), nullable=False),
        sa.Column("quantity_received", sa.Integer(), server_default="0", nullable=False),
        sa.Column("unit_cost", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.CheckConstraint(
            "quantity_ordered > 0", name=op.f("ck_purchase_order_lines_quantity_ordered_positive")
        ),
        sa.CheckConstraint(
            "quantity_received >= 0",
            name=op.f("ck_purchase_order_lines_quantity_received_non_negative"),
        ),
        sa.CheckConstraint(
            "unit_cost IS NULL OR unit_cost >= 0",
            name=op.f("ck_purchase_order_lines_unit_cost_non_negative"),
        ),
        _company_fk("purchase_order_lines"),
        _tenant_fk(
            "purchase_order_lines",
            "purchase_order_id",
            "purchase_orders",
            "CASCADE",
            "fk_purchase_order_lines_purchase_orders",
        ),
        _tenant_fk("purchase_order_lines", "product_id", "products"),
        sa.PrimaryKeyConstraint("company_id", "id", name=op.f("pk_purchase_order_lines")),
        sa.UniqueConstraint(
            "company_id",
            "purchase_order_id",
            "product_id",
            name=op.f("uq_purchase_order_lines_order_product"),
        ),
    )
    with op.batch_alter_table("purchase_order_lines", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_purchase_order_lines_company_id_product_id"),
            ["company_id", "product_id"],
        )

    op.create_table(
        "lead_time_observations",
        _id_column(),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("supplier_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("purchase_order_id", sa.Integer(), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("days >= 0", name=op.f("ck_lead_time_observations_days_non_negative")),
        _company_fk("lead_time_observations"),
        _tenant_fk("lead_time_observations", "supplier_id", "suppliers"),
        _tenant_fk("lead_time_observations", "product_id", "products"),
        _tenant_fk(
            "lead_time_observations",
            "purchase_order_id",
            "purchase_orders",
            "CASCADE",
            "fk_lead_time_observations_purchase_orders",
        ),
        sa.PrimaryKeyConstraint("company_id", "id", name=op.f("pk_lead_time_observations")),
        sa.UniqueConstraint(
            "company_id",
            "purchase_order_id",
            "product_id",
            name=op.f("uq_lead_time_observations_order_product"),
        ),
    )
    with op.batch_alter_table("lead_time_observations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_lead_time_observations_link"),
            ["company_id", "supplier_id", "product_id", "observed_at"],
        )

    with op.batch_alter_table("inventory_ledger", schema=None) as batch_op:
        batch_op.add_column(sa.Column("purchase_order_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_inventory_ledger_purchase_orders"),
            "purchase_orders",
            ["company_id", "purchase_order_id"],
            ["company_id", "id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("inventory_ledger", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_inventory_ledger_purchase_orders"),
            type_="foreignkey",
        )
        batch_op.drop_column("purchase_order_id")
    op.drop_table("lead_time_observations")
    op.drop_table("purchase_order_lines")
    op.drop_table("purchase_orders")
