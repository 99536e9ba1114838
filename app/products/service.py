"""Creating and reading products. Functions flush, never commit."""

import sqlalchemy as sa

from app.errors import conflict, field_error, not_found
from app.extensions import db
from app.models import Product, Warehouse, violated_constraint
from app.stock import service as stock


def create_product(company_id: int, data: dict) -> Product:
    """A new product with its opening stock and one ``initial`` ledger row per warehouse.

    The SKU's uniqueness is decided by the database's constraint, so two
    concurrent creates of one SKU cannot both succeed.
    """
    initial_stock = data.pop("initial_stock")
    _require_own_warehouses(company_id, initial_stock)

    product = Product(company_id=company_id, **data)
    db.session.add(product)
    try:
        db.session.flush()
    except sa.exc.IntegrityError as error:
        if violated_constraint(error) == "uq_products_company_id_sku":
            raise conflict(
                "duplicate-sku",
                f"A product with SKU '{data['sku']}' already exists.",
            ) from error
        raise

    stock.initial_stock(company_id, product.id, initial_stock)
    return product


def _require_own_warehouses(company_id: int, initial_stock: list[dict]) -> None:
    """Every warehouse named must be the company's and not archived (else 400 on its field)."""
    wanted = {row["warehouse_id"] for row in initial_stock}
    if not wanted:
        return
    found = set(
        db.session.scalars(
            sa.select(Warehouse.id).where(
                Warehouse.company_id == company_id,
                Warehouse.id.in_(wanted),
                Warehouse.archived_at.is_(None),
            )
        )
    )
    for row in initial_stock:
        if row["warehouse_id"] not in found:
            raise field_error(row["field"], "Unknown warehouse.")


def get_product(company_id: int, product_id: int) -> Product:
    """One of the company's products; another company's is a 404."""
    product = db.session.scalar(
        sa.select(Product).where(Product.company_id == company_id, Product.id == product_id)
    )
    if product is None:
        raise not_found("Product")
    return product
