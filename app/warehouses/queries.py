"""Warehouses of one company. Functions flush, never commit."""

import datetime as dt

import sqlalchemy as sa

from app.errors import conflict
from app.extensions import db
from app.models import Inventory, Warehouse
from app.search import name_contains
from app.tenancy import get_owned


def create_warehouse(company_id: int, data: dict) -> Warehouse:
    """A new warehouse for the company."""
    warehouse = Warehouse(company_id=company_id, **data)
    db.session.add(warehouse)
    db.session.flush()
    return warehouse


def warehouse_list(company_id: int, filters: dict) -> sa.Select:
    """The company's active warehouses (optionally by name substring), oldest first."""
    query = sa.select(Warehouse).where(
        Warehouse.company_id == company_id, Warehouse.archived_at.is_(None)
    )
    if "name" in filters:
        query = query.where(name_contains(Warehouse.name, filters["name"]))
    return query.order_by(Warehouse.id)


def get_warehouse(company_id: int, warehouse_id: int) -> Warehouse:
    """One of the company's active warehouses; another company's is a 404."""
    return get_owned(Warehouse, company_id, warehouse_id)


def update_warehouse(company_id: int, warehouse_id: int, changes: dict) -> Warehouse:
    """Rename or relocate a warehouse."""
    warehouse = get_owned(Warehouse, company_id, warehouse_id)
    for field, value in changes.items():
        setattr(warehouse, field, value)
    db.session.flush()
    return warehouse


def archive_warehouse(company_id: int, warehouse_id: int) -> None:
    """Delete a warehouse for the API while its ledger history stays; refused while
    it still holds stock."""
    warehouse = get_owned(Warehouse, company_id, warehouse_id, for_update=True)
    units, products = db.session.execute(
        sa.select(sa.func.coalesce(sa.func.sum(Inventory.quantity), 0), sa.func.count()).where(
            Inventory.company_id == company_id,
            Inventory.warehouse_id == warehouse_id,
            Inventory.quantity > 0,
        )
    ).one()
    if units:
        raise conflict(
            "warehouse-has-stock",
            f"Warehouse {warehouse_id} still holds {units} unit(s) of {products} product(s); "
            "transfer or adjust them to zero before deleting it.",
            quantity_on_hand=units,
        )
    warehouse.archived_at = dt.datetime.now(dt.UTC)
    db.session.flush()
