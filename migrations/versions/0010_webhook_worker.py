"""an index on webhook deliveries by event, for pruning

The worker (app/events/worker.py) deletes events older than the retention period
that no delivery references any more. Both the "no delivery left" test and the
foreign key's check when an event is deleted look deliveries up by
``(company_id, event_id)``; without this index each deleted event would read every
delivery of its company.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 12:40:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_webhook_deliveries_company_id_event_id"), ["company_id", "event_id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webhook_deliveries_company_id_event_id"))
