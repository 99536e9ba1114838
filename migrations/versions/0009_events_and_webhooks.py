"""events (the transactional outbox), webhook endpoints, deliveries and attempts

``events`` is written in the transaction of the change that causes an event
(app/events/outbox.py); ``webhook_deliveries`` holds one row per event owed to an
endpoint, which the worker (``flask worker``) claims, attempts and finishes, each
HTTP attempt kept in ``webhook_attempts``. Endpoints store a salt, never their
signing secret (it is derived from the salt and ``STOCKFLOW_WEBHOOK_KEY``).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 12:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EVENT_TYPES = (
    "stock.low",
    "stock.out",
    "stock.recovered",
    "purchase_order.received",
    "alert.acknowledged",
    "ping",
)
DELIVERY_STATUSES = ("pending", "succeeded", "failed")


def _company_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["company_id"],
        ["companies.id"],
        name=op.f(f"fk_{table}_company_id_companies"),
        ondelete="CASCADE",
    )


def _tenant_fk(table: str, column: str, parent: str, name=None) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["company_id", column],
        [f"{parent}.company_id", f"{parent}.id"],
        name=op.f(name or f"fk_{table}_company_id_{column}_{parent}"),
        ondelete="CASCADE",
    )


def _id_column(big: bool = False) -> sa.Column:
    """The surrogate id: a (BIG)SERIAL on PostgreSQL (its sequence feeds
    ``models.NextId``); SQLite has no auto-increment in a composite primary key."""
    serial = op.get_context().dialect.name == "postgresql"
    type_ = sa.BigInteger().with_variant(sa.Integer(), "sqlite") if big else sa.Integer()
    return sa.Column("id", type_, autoincrement=serial, nullable=False)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def _created_at() -> sa.Column:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "events",
        _id_column(big=True),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=True),
        sa.Column("warehouse_id", sa.Integer(), nullable=True),
        sa.Column(
            "occurred_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.Column("payload", sa.Text(), nullable=False),
        _created_at(),
        sa.CheckConstraint(_in("type", EVENT_TYPES), name=op.f("ck_events_type_known")),
        _company_fk("events"),
        sa.PrimaryKeyConstraint("company_id", "id", name=op.f("pk_events")),
        sa.UniqueConstraint("company_id", "uid", name=op.f("uq_events_company_id_uid")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_events_created_at"), ["created_at"])

    op.create_table(
        "webhook_endpoints",
        _id_column(),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column("events", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("secret_salt", sa.String(length=64), nullable=False),
        sa.Column("disabled_reason", sa.Text(), nullable=True),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        _created_at(),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        _company_fk("webhook_endpoints"),
        sa.PrimaryKeyConstraint("company_id", "id", name=op.f("pk_webhook_endpoints")),
    )

    op.create_table(
        "webhook_deliveries",
        _id_column(big=True),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("endpoint_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("ordering_key", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        _created_at(),
        sa.CheckConstraint(
            _in("status", DELIVERY_STATUSES), name=op.f("ck_webhook_deliveries_status_known")
        ),
        _company_fk("webhook_deliveries"),
        _tenant_fk(
            "webhook_deliveries",
            "endpoint_id",
            "webhook_endpoints",
            "fk_webhook_deliveries_webhook_endpoints",
        ),
        _tenant_fk("webhook_deliveries", "event_id", "events"),
        sa.PrimaryKeyConstraint("company_id", "id", name=op.f("pk_webhook_deliveries")),
    )
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_webhook_deliveries_status_next_attempt_at"),
            ["status", "next_attempt_at"],
        )
        batch_op.create_index(
            batch_op.f("ix_webhook_deliveries_company_id_endpoint_id_id"),
            ["company_id", "endpoint_id", "id"],
        )
        # the worker's pruning: "no delivery left" for an event, and the foreign key's
        # check when an event is deleted
        batch_op.create_index(
            batch_op.f("ix_webhook_deliveries_company_id_event_id"), ["company_id", "event_id"]
        )
        batch_op.create_index(
            "ix_webhook_deliveries_pending_order",
            ["company_id", "endpoint_id", "ordering_key", "id"],
            postgresql_where=sa.text("status = 'pending'"),
            sqlite_where=sa.text("status = 'pending'"),
        )

    op.create_table(
        "webhook_attempts",
        _id_column(big=True),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.BigInteger(), nullable=False),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("next_retry_at", sa.DateTime(timezone=True), nullable=True),
        _company_fk("webhook_attempts"),
        _tenant_fk(
            "webhook_attempts",
            "delivery_id",
            "webhook_deliveries",
            "fk_webhook_attempts_webhook_deliveries",
        ),
        sa.PrimaryKeyConstraint("company_id", "id", name=op.f("pk_webhook_attempts")),
    )
    with op.batch_alter_table("webhook_attempts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_webhook_attempts_company_id_delivery_id_id"),
            ["company_id", "delivery_id", "id"],
        )


def downgrade() -> None:
    op.drop_table("webhook_attempts")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_endpoints")
    op.drop_table("events")
