"""change counters for cheap polling; the sales lookup index covers quantity_change

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 21:36:07.297546
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "change_counters",
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("slot", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("changes", sa.BigInteger(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_change_counters_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("company_id", "slot", name=op.f("pk_change_counters")),
    )
    # the low-stock alert sums sales per product and warehouse from this index alone
    _recreate_movements_index(include=["quantity_change"])


def downgrade() -> None:
    _recreate_movements_index(include=[])
    op.drop_table("change_counters")


def _recreate_movements_index(include: list[str]) -> None:
    """INCLUDE is PostgreSQL's; elsewhere the index is the same either way."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_inventory_ledger_product_movements", table_name="inventory_ledger")
    op.create_index(
        "ix_inventory_ledger_product_movements",
        "inventory_ledger",
        ["company_id", "product_id", "warehouse_id", "reason", "occurred_at"],
        postgresql_include=include,
    )
