"""the ledger checks its product, and no longer its company as well

Every ledger row's ``(company_id, product_id)`` references the company's product, whose
``company_id`` references ``companies``: the ledger's own foreign key to ``companies``
checked again what that key already holds, once per row written (about 3 ms of a
1,000-row batch's INSERT, while the batch holds its inventory rows; README, "Volume").
It goes. What it also did, delete a company's ledger with the company, moves to the
product key: ``ON DELETE CASCADE``, so deleting a company (which cascades to its
products) still deletes its ledger. A product is never deleted on its own while it
has stock history: its inventory rows refuse it (``inventory``'s key to it is not
cascading), as before.

PostgreSQL (and Citus, which propagates both statements) adds the new key NOT VALID
and then validates it: the validation scans the ledger, in this migration's
transaction. SQLite rebuilds the table (batch mode).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 19:40:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "inventory_ledger"
COMPANY_FK = "fk_inventory_ledger_company_id_companies"
PRODUCT_FK = "fk_inventory_ledger_company_id_product_id_products"


def _product_fk(ondelete: str | None) -> None:
    postgresql = op.get_context().dialect.name == "postgresql"
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.drop_constraint(PRODUCT_FK, type_="foreignkey")
        batch_op.create_foreign_key(
            PRODUCT_FK,
            "products",
            ["company_id", "product_id"],
            ["company_id", "id"],
            ondelete=ondelete,
            postgresql_not_valid=postgresql,
        )
    if postgresql:
        op.execute(f"ALTER TABLE {TABLE} VALIDATE CONSTRAINT {PRODUCT_FK}")


def upgrade() -> None:
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.drop_constraint(COMPANY_FK, type_="foreignkey")
    _product_fk("CASCADE")


def downgrade() -> None:
    # the key to ``companies`` first: on Citus it is a key to a reference table, which
    # Citus refuses to add after a parallel operation on the shards in the same
    # transaction (the product key's validation is one)
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.create_foreign_key(
            COMPANY_FK, "companies", ["company_id"], ["id"], ondelete="CASCADE"
        )
    _product_fk(None)
