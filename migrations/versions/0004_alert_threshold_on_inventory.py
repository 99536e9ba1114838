"""inventory.alert_threshold and a partial index of the rows below it

The low-stock alerts start from the rows that are low; with the threshold that
applies to each row copied onto it, the index below holds exactly those rows.
The backfill spells out the threshold rule as it stands at this revision (rule,
else product, else company type threshold, else the type default).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 22:08:19.456005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# the rule at this revision (app.thresholds.queries.threshold_of keeps it current)
BACKFILL = """
UPDATE inventory SET alert_threshold = COALESCE(
    (SELECT r.threshold FROM reorder_rules r
     WHERE r.company_id = inventory.company_id AND r.product_id = inventory.product_id
       AND r.warehouse_id = inventory.warehouse_id),
    (SELECT COALESCE(p.low_stock_threshold, t.low_stock_threshold,
                     CASE p.product_type WHEN 'fast_moving' THEN 20 WHEN 'regular' THEN 10
                                         WHEN 'slow_moving' THEN 5 ELSE 10 END)
     FROM products p
     LEFT JOIN product_type_thresholds t
         ON t.company_id = p.company_id AND t.product_type = p.product_type
     WHERE p.company_id = inventory.company_id AND p.id = inventory.product_id))
"""


def upgrade() -> None:
    with op.batch_alter_table("inventory", schema=None) as batch_op:
        batch_op.add_column(sa.Column("alert_threshold", sa.Integer(), nullable=True))
    op.execute(BACKFILL)
    with op.batch_alter_table("inventory", schema=None) as batch_op:
        batch_op.alter_column("alert_threshold", existing_type=sa.Integer(), nullable=False)
        batch_op.create_index(
            "ix_inventory_below_threshold",
            ["company_id", "product_id", "warehouse_id"],
            unique=False,
            postgresql_where=sa.text("quantity < alert_threshold"),
            sqlite_where=sa.text("quantity < alert_threshold"),
        )


def downgrade() -> None:
    with op.batch_alter_table("inventory", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_inventory_below_threshold",
            postgresql_where=sa.text("quantity < alert_threshold"),
            sqlite_where=sa.text("quantity < alert_threshold"),
        )
        batch_op.drop_column("alert_threshold")
