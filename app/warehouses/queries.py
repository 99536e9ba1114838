"""Warehouses of one company. Functions flush, never commit."""

import sqlalchemy as sa

from app.errors import not_found
from app.extensions import db
from app.models import Warehouse


def create_warehouse(company_id: int, data: dict) -> Warehouse:
    """A new warehouse for the company."""
    warehouse = Warehouse(company_id=company_id, **data)
    db.session.add(warehouse)
    db.session.flush()
    return warehouse


def active_warehouses(company_id: int) -> sa.Select:
    """The company's warehouses that are not archived, oldest first."""
    return (
        sa.select(Warehouse)
        .where(Warehouse.company_id == company_id, Warehouse.archived_at.is_(None))
        .order_by(Warehouse.id)
    )


def get_warehouse(company_id: int, warehouse_id: int) -> Warehouse:
    """One of the company's warehouses; another company's is a 404."""
    warehouse = db.session.scalar(
        sa.select(Warehouse).where(Warehouse.company_id == company_id, Warehouse.id == warehouse_id)
    )
    if warehouse is None:
        raise not_found("Warehouse")
    return warehouse
