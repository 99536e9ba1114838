"""primary keys (company_id, id) on every tenant table, ready to distribute by company

Citus refuses to distribute a table by ``company_id`` while a primary key or
unique constraint leaves that column out. Every tenant table with a surrogate id
now has the primary key ``(company_id, id)``; ids keep their sequences (and stay
unique across companies). The ``(company_id, id)`` unique keys the composite
foreign keys pointed at are the primary keys themselves now, so the foreign keys
are re-pointed at them (PostgreSQL ties a foreign key to one index) and the
company-only indexes the primary keys cover are dropped. ``companies`` and
``api_keys`` keep theirs: they become reference tables (app/distribution.py).

On SQLite every changed table is rebuilt (batch mode); rows and ids are copied
as they are.

Revision ID: 0006
Revises: 0004
Create Date: 2026-11-29 17:20:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# the tables other tenant tables point at, through the (company_id, id) unique key
PARENTS = ("products", "warehouses", "suppliers")
# the other tables with a surrogate id
OTHERS = ("inventory", "inventory_ledger", "supplier_products", "idempotency_keys")
# company-only indexes that the new primary keys make redundant
COMPANY_INDEXES = ("warehouses", "suppliers")

# (table, column, parent, ondelete): every composite foreign key to a parent
FOREIGN_KEYS = (
    ("bundle_components", "bundle_product_id", "products", "CASCADE"),
    ("bundle_components", "component_product_id", "products", None),
    ("inventory", "product_id", "products", None),
    ("inventory", "warehouse_id", "warehouses", None),
    ("inventory_ledger", "bundle_product_id", "products", None),
    ("inventory_ledger", "product_id", "products", None),
    ("inventory_ledger", "supplier_id", "suppliers", None),
    ("inventory_ledger", "warehouse_id", "warehouses", None),
    ("reorder_rules", "product_id", "products", None),
    ("reorder_rules", "warehouse_id", "warehouses", None),
    ("supplier_products", "product_id", "products", None),
    ("supplier_products", "supplier_id", "suppliers", None),
)


def _fk_name(table: str, column: str, parent: str) -> str:
    return f"fk_{table}_company_id_{column}_{parent}"


def _drop_foreign_keys() -> None:
    """PostgreSQL: a foreign key depends on the unique index it was created against.
    (SQLite's name their columns only and need no change.)"""
    if op.get_bind().dialect.name == "sqlite":
        return
    for table, column, parent, _ in FOREIGN_KEYS:
        op.drop_constraint(_fk_name(table, column, parent), table, type_="foreignkey")


def _create_foreign_keys() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    for table, column, parent, ondelete in FOREIGN_KEYS:
        op.create_foreign_key(
            _fk_name(table, column, parent),
            table,
            parent,
            ["company_id", column],
            ["company_id", "id"],
            ondelete=ondelete,
        )


def upgrade() -> None:
    _drop_foreign_keys()
    for table in PARENTS + OTHERS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            if table in PARENTS:
                batch_op.drop_constraint(f"uq_{table}_company_id_id", type_="unique")
            if table in COMPANY_INDEXES:
                batch_op.drop_index(f"ix_{table}_company_id")
            batch_op.drop_constraint(f"pk_{table}", type_="primary")
            batch_op.create_primary_key(f"pk_{table}", ["company_id", "id"])
    _create_foreign_keys()


def downgrade() -> None:
    _refuse_if_distributed()
    _drop_foreign_keys()
    for table in PARENTS + OTHERS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(f"pk_{table}", type_="primary")
            batch_op.create_primary_key(f"pk_{table}", ["id"])
            if table in COMPANY_INDEXES:
                batch_op.create_index(f"ix_{table}_company_id", ["company_id"], unique=False)
            if table in PARENTS:
                batch_op.create_unique_constraint(f"uq_{table}_company_id_id", ["company_id", "id"])
    _create_foreign_keys()


def _refuse_if_distributed() -> None:
    """Citus cannot put a distributed table back on a primary key without company_id:
    say so before changing anything (undistribute_table() each table first)."""
    bind = op.get_bind()
    if bind.dialect.name != "postgresql" or op.get_context().as_sql:
        return
    if bind.exec_driver_sql("SELECT to_regclass('pg_dist_partition') IS NOT NULL").scalar():
        distributed = bind.exec_driver_sql(
            "SELECT count(*) FROM pg_dist_partition WHERE logicalrelid = 'products'::regclass"
        ).scalar()
        if distributed:
            raise RuntimeError(
                "the tables are distributed by Citus: run SELECT undistribute_table(...) "
                "on each before downgrading below 0006"
            )
