"""Creating, finding, changing and archiving products. Functions flush, never commit."""

import datetime as dt
from types import SimpleNamespace

import sqlalchemy as sa

from app import auth, prepared
from app.errors import conflict, field_error
from app.extensions import db
from app.locks import THRESHOLDS, company_lock
from app.models import (
    BundleComponent,
    Inventory,
    Product,
    Warehouse,
    flush_or_conflict,
    violated_constraint,
)
from app.oneshot import NOT_ALONE, execute_alone
from app.search import name_contains
from app.stock import service as stock
from app.tenancy import get_owned, owned_ids
from app.thresholds import queries as thresholds


def _duplicate_sku(sku: str):
    """The 409 for a SKU the company already has."""
    detail = (
        f"A product with SKU '{sku}' already exists in this company "
        "(the SKUs of deleted products stay reserved)."
    )
    return conflict("duplicate-sku", detail)


def _flush_catching_duplicate_sku(sku: str) -> None:
    """Flush; the database's unique constraint, not a prior read, decides a duplicate SKU."""
    flush_or_conflict({"uq_products_company_id_sku": _duplicate_sku(sku)})


# PostgreSQL: a product without opening stock in one statement: the ORM's flush cost a
# product create more than its INSERT does. No change counter moves: a new product has
# no inventory row, so no alert, and the alerts' version (app.changes) is all the
# counters are for; a counter row bumped by every create was a hot row they all
# queued on, through each one's commit.
CREATED_COLUMNS = (
    "id",
    "name",
    "sku",
    "price",
    "product_type",
    "low_stock_threshold",
    "is_bundle",
    "created_at",
    "updated_at",
)
CREATE_POSTGRESQL = f"""
INSERT INTO products (
    id, company_id, name, sku, price, product_type, low_stock_threshold, is_bundle)
SELECT nextval('products_id_seq'), %(company)s, %(name)s, %(sku)s, %(price)s,
    %(product_type)s, %(low_stock_threshold)s, %(is_bundle)s
-- the request's API key, when the view confirms it here (app.auth.confirms_key)
WHERE %(key)s IS NULL OR EXISTS (
    SELECT FROM api_keys
    WHERE id = %(key)s AND company_id = %(company)s AND revoked_at IS NULL)
RETURNING {", ".join(CREATED_COLUMNS)}
"""


CREATE = prepared.Statement(
    "stockflow_create_product",
    CREATE_POSTGRESQL,
    {
        "company": "integer",
        "name": "text",
        "sku": "text",
        "price": "numeric",
        "product_type": "text",
        "low_stock_threshold": "integer",
        "is_bundle": "boolean",
        "key": "integer",
    },
)


def _create_in_one_statement(company_id: int, data: dict) -> SimpleNamespace:
    """The product as ``ProductSchema`` shows it; its own transaction when the request
    has none open (app.oneshot). The statement also confirms the request's API key when
    the view left that to it (``auth.confirms_key``): a revoked key writes nothing."""
    params = {
        "company": company_id,
        "name": data["name"],
        "sku": data["sku"],
        "price": data["price"],
        "product_type": data["product_type"],
        "low_stock_threshold": data.get("low_stock_threshold"),
        "is_bundle": data["is_bundle"],
        "key": auth.unconfirmed_key_id(),
    }
    try:
        row = execute_alone(db, CREATE, params)
        if row is NOT_ALONE:
            row = prepared.execute(db.session.connection(), CREATE, params).one_or_none()
    except sa.exc.IntegrityError as error:
        if violated_constraint(error) == "uq_products_company_id_sku":
            raise _duplicate_sku(data["sku"]) from error
        raise
    # no row: the key the statement confirmed was revoked (a 401), nothing written
    auth.key_confirmed(row is not None)
    return SimpleNamespace(**dict(zip(CREATED_COLUMNS, row, strict=True)), stock=[])


def create_product(company_id: int, data: dict) -> Product:
    """A new product with its opening stock and one ``initial`` ledger row per warehouse,
    its ``stock`` set as ``attach_stock`` would.

    The SKU's uniqueness is decided by the database's constraint, so two
    concurrent creates of one SKU cannot both succeed. The warehouses are locked
    against archiving until the transaction ends.
    """
    initial_stock = data.pop("initial_stock")
    if not initial_stock and db.engine.dialect.name == "postgresql":
        return _create_in_one_statement(company_id, data)
    auth.ensure_key_confirmed()  # before anything is written (app.auth.confirms_key)
    if initial_stock:
        # the opening stock's inventory rows get threshold copies: hold the settings still
        company_lock(THRESHOLDS, company_id, shared=True)
    # key-share locks, as stock operations take them: archiving a warehouse waits for
    # this transaction and then sees the opening stock (or this one sees it archived)
    known = owned_ids(
        Warehouse, company_id, [row["warehouse_id"] for row in initial_stock], share=True
    )
    for row in initial_stock:
        if row["warehouse_id"] not in known:
            raise field_error(row["field"], "Unknown warehouse.")

    product = Product(company_id=company_id, **data)
    db.session.add(product)
    _flush_catching_duplicate_sku(data["sku"])
    entries = stock.initial_stock(company_id, product.id, initial_stock)
    # its stock is what the opening stock left (a new bundle has no components, so
    # none): what attach_stock would read back, without the query
    product.stock = [
        {"warehouse_id": level["warehouse_id"], "quantity": level["quantity"]}
        for level in stock.resulting_levels(entries)
    ]
    return product


def get_product(company_id: int, product_id: int) -> Product:
    """One of the company's active products; another company's is a 404."""
    return get_owned(Product, company_id, product_id)


def product_list(company_id: int, filters: dict) -> sa.Select:
    """The company's active products matching the filters, by id."""
    query = sa.select(Product).where(
        Product.company_id == company_id, Product.archived_at.is_(None)
    )
    if "sku" in filters:
        query = query.where(Product.sku == filters["sku"])
    if "q" in filters:
        query = query.where(name_contains(Product.name, filters["q"]))
    if "product_type" in filters:
        query = query.where(Product.product_type == filters["product_type"])
    if "is_bundle" in filters:
        query = query.where(Product.is_bundle == filters["is_bundle"])
    return query.order_by(Product.id)


def update_product(company_id: int, product_id: int, changes: dict) -> Product:
    """Change some of a product's fields (a new SKU must still be unique)."""
    threshold_changes = {"low_stock_threshold", "product_type"} & changes.keys()
    if threshold_changes:
        # its inventory rows' threshold copies are recomputed below
        company_lock(THRESHOLDS, company_id)
    product = get_owned(Product, company_id, product_id)
    for field, value in changes.items():
        setattr(product, field, value)
    _flush_catching_duplicate_sku(changes.get("sku", product.sku))
    if threshold_changes:
        thresholds.refresh_alert_thresholds(company_id, Inventory.product_id == product_id)
    return product


def archive_product(company_id: int, product_id: int) -> None:
    """Delete a product for the API while its ledger history stays.

    Refused while it has stock on hand (that stock would vanish from every
    report) or is a component of an active bundle (the bundle could no longer
    be sold).
    """
    product = get_owned(Product, company_id, product_id, for_update=True)
    on_hand = db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(Inventory.quantity), 0)).where(
            Inventory.company_id == company_id, Inventory.product_id == product_id
        )
    )
    if on_hand:
        raise conflict(
            "product-has-stock",
            f"Product {product_id} still has {on_hand} unit(s) in stock; sell, transfer or "
            "adjust them to zero before deleting it.",
            quantity_on_hand=on_hand,
        )
    bundles_using_it = list(
        db.session.scalars(
            sa.select(BundleComponent.bundle_product_id)
            .join(
                Product,
                sa.and_(
                    Product.company_id == BundleComponent.company_id,
                    Product.id == BundleComponent.bundle_product_id,
                ),
            )
            .where(
                BundleComponent.company_id == company_id,
                BundleComponent.component_product_id == product_id,
                Product.archived_at.is_(None),
            )
            .order_by(BundleComponent.bundle_product_id)
        )
    )
    if bundles_using_it:
        raise conflict(
            "product-in-bundle",
            f"Product {product_id} is a component of bundle(s) {bundles_using_it}; change "
            "their components first.",
            bundle_product_ids=bundles_using_it,
        )
    product.archived_at = dt.datetime.now(dt.UTC)
    db.session.flush()
