"""Finding a company's own rows: another company's row is never found.

Every lookup is scoped by ``company_id``, so a foreign id looks exactly like a
missing one (404 in a path, 400 naming the field in a body). Archived rows are
left out: for the API they are deleted, while the ledger keeps their history.
"""

from __future__ import annotations

import sqlalchemy as sa

from app.errors import field_error, not_found
from app.extensions import db

LABELS = {"products": "Product", "warehouses": "Warehouse", "suppliers": "Supplier"}


def _active(model, company_id: int):
    return sa.select(model).where(model.company_id == company_id, model.archived_at.is_(None))


def get_owned(model, company_id: int, row_id: int, *, for_update=False, share=False):
    """The company's active row with this id, else a 404.

    ``for_update`` locks the row (archiving takes it); ``share`` takes the
    key-share lock that keeps it from being archived until this transaction ends.
    """
    query = _active(model, company_id).where(model.id == row_id)
    if for_update:
        query = query.with_for_update()
    elif share:
        query = query.with_for_update(read=True, key_share=True)
    row = db.session.scalar(query)
    if row is None:
        raise not_found(LABELS.get(model.__tablename__, "Resource"))
    return row


def require_owned(model, company_id: int, row_id: int, field: str, *, share: bool = False):
    """The company's active row with this id named in a body field, else a 400 on that field.

    ``share`` takes a key-share row lock (PostgreSQL), so the row cannot be archived
    until this transaction ends; concurrent readers with ``share`` do not wait.
    """
    query = _active(model, company_id).where(model.id == row_id)
    if share:
        query = query.with_for_update(read=True, key_share=True)
    row = db.session.scalar(query)
    if row is None:
        raise field_error(field, f"Unknown {LABELS.get(model.__tablename__, 'resource').lower()}.")
    return row


def owned_ids(model, company_id: int, ids, *, share: bool = False) -> set[int]:
    """Which of ``ids`` are the company's active rows.

    ``share`` takes their key-share row locks (PostgreSQL), in id order, so none of
    them can be archived until this transaction ends; a row archived meanwhile is
    waited for and then left out.
    """
    ids = set(ids)
    if not ids:
        return set()
    query = sa.select(model.id).where(
        model.company_id == company_id, model.archived_at.is_(None), model.id.in_(ids)
    )
    if share:
        query = query.order_by(model.id).with_for_update(read=True, key_share=True)
    return set(db.session.scalars(query))
