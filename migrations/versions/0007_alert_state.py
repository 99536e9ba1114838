"""inventory.window_sales / window_since, their alert-order index, and alert_state

The low-stock alerts of the default window (30 days) are read from state kept on
each inventory row: the units sold since ``window_since``, kept by every stock
change and moved daily by ``flask refresh-alert-state``. ``alert_state`` says up to
which day a company's rows are current. Rows start uncomputed (``window_since``
NULL) and no company has a current day, so until the first
``flask --app wsgi refresh-alert-state`` the alerts are computed from the ledger,
exactly as before this revision.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 18:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# as in app.models at this revision
ALERTING = "quantity < alert_threshold AND window_sales > 0"
ALERT_SORT_KEY = "((CAST(quantity AS BIGINT) * 30) / window_sales)"
PRODUCTS_NOT_ALERTING = "archived_at IS NOT NULL OR is_bundle"


def upgrade() -> None:
    with op.batch_alter_table("inventory", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("window_sales", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("window_since", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_inventory_alert_order",
        "inventory",
        ["company_id", sa.text(ALERT_SORT_KEY), "quantity", "product_id", "warehouse_id"],
        unique=False,
        postgresql_where=sa.text(ALERTING),
        sqlite_where=sa.text(ALERTING),
    )
    op.create_index(
        "ix_products_not_alerting",
        "products",
        ["company_id", "id"],
        unique=False,
        postgresql_where=sa.text(PRODUCTS_NOT_ALERTING),
        sqlite_where=sa.text(PRODUCTS_NOT_ALERTING),
    )
    op.create_table(
        "alert_state",
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_alert_state_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("company_id", name=op.f("pk_alert_state")),
    )


def downgrade() -> None:
    op.drop_table("alert_state")
    op.drop_index("ix_products_not_alerting", table_name="products")
    op.drop_index("ix_inventory_alert_order", table_name="inventory")
    with op.batch_alter_table("inventory", schema=None) as batch_op:
        batch_op.drop_column("window_since")
        batch_op.drop_column("window_sales")
