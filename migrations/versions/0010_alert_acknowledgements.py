"""alert acknowledgements: a buyer's "seen it" on a low-stock alert

``alert_acknowledgements`` holds one acknowledgement per product and warehouse
(app/alerts/acknowledgements.py): who and when, an optional ``until`` and note,
and the level and stockout day at the time, against which the alerts decide
whether the situation got worse (then the alert shows again).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 12:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "alert_acknowledgements"


def _tenant_fk(column: str, parent: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["company_id", column],
        [f"{parent}.company_id", f"{parent}.id"],
        name=op.f(f"fk_{TABLE}_company_id_{column}_{parent}"),
    )


def upgrade() -> None:
    # the surrogate id: a SERIAL on PostgreSQL (its sequence feeds ``models.NextId``);
    # SQLite has no auto-increment in a composite primary key (``NextId`` takes MAX + 1)
    serial = op.get_context().dialect.name == "postgresql"
    op.create_table(
        TABLE,
        sa.Column("id", sa.Integer(), autoincrement=serial, nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("warehouse_id", sa.Integer(), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("api_key_id", sa.Integer(), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=100), nullable=False),
        sa.Column("level_at_ack", sa.Integer(), nullable=False),
        sa.Column("stockout_day_at_ack", sa.BigInteger(), nullable=True),
        sa.CheckConstraint("level_at_ack >= 0", name=op.f(f"ck_{TABLE}_level_at_ack_non_negative")),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f(f"fk_{TABLE}_company_id_companies"),
            ondelete="CASCADE",
        ),
        _tenant_fk("product_id", "products"),
        _tenant_fk("warehouse_id", "warehouses"),
        sa.PrimaryKeyConstraint("company_id", "id", name=op.f(f"pk_{TABLE}")),
        sa.UniqueConstraint(
            "company_id",
            "product_id",
            "warehouse_id",
            name=op.f(f"uq_{TABLE}_company_id_product_id_warehouse_id"),
        ),
    )
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.create_index(batch_op.f(f"ix_{TABLE}_company_id_until"), ["company_id", "until"])


def downgrade() -> None:
    op.drop_table(TABLE)
