"""reorder rules and the ledger timeline index

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 21:25:29.478601
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reorder_rules",
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("warehouse_id", sa.Integer(), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("reorder_quantity", sa.Integer(), nullable=True),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "reorder_quantity IS NULL OR reorder_quantity > 0",
            name=op.f("ck_reorder_rules_reorder_quantity_positive"),
        ),
        sa.CheckConstraint("threshold >= 0", name=op.f("ck_reorder_rules_threshold_non_negative")),
        sa.ForeignKeyConstraint(
            ["company_id", "product_id"],
            ["products.company_id", "products.id"],
            name=op.f("fk_reorder_rules_company_id_product_id_products"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id", "warehouse_id"],
            ["warehouses.company_id", "warehouses.id"],
            name=op.f("fk_reorder_rules_company_id_warehouse_id_warehouses"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_reorder_rules_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "company_id", "product_id", "warehouse_id", name=op.f("pk_reorder_rules")
        ),
    )
    with op.batch_alter_table("inventory_ledger", schema=None) as batch_op:
        batch_op.create_index(
            "ix_inventory_ledger_company_timeline",
            ["company_id", "occurred_at", "id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("inventory_ledger", schema=None) as batch_op:
        batch_op.drop_index("ix_inventory_ledger_company_timeline")

    op.drop_table("reorder_rules")
