"""inventory_ledger.txid: the writing transaction's id, for a sync cursor that never
skips a committed row

On PostgreSQL every new ledger row gets ``pg_current_xact_id()`` (64 bits, never
wraps) from the column default; rows that exist already get the id of the
transaction that runs this migration, so they come first, in id order. On SQLite
the column stays NULL: writers take turns there, so ids are already in commit
order. The index serves ``GET /api/stock/ledger/changes``.

Revision ID: 0005b
Revises: 0004
Create Date: 2026-11-29 17:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005b"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _txid_default() -> sa.TextClause:
    if op.get_context().dialect.name == "postgresql":
        return sa.text("(pg_current_xact_id()::text::bigint)")
    return sa.text("NULL")


def upgrade() -> None:
    with op.batch_alter_table("inventory_ledger", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("txid", sa.BigInteger(), server_default=_txid_default(), nullable=True)
        )
        batch_op.create_index(
            "ix_inventory_ledger_company_txid", ["company_id", "txid", "id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("inventory_ledger", schema=None) as batch_op:
        batch_op.drop_index("ix_inventory_ledger_company_txid")
        batch_op.drop_column("txid")
