"""Suppliers and which products they supply. Functions flush, never commit.

Deleting a supplier archives it: the ledger rows that name it keep pointing at
it, while the API treats it as gone. Links (a supplier's offer for a product)
are configuration, so deleting one removes the row.
"""

import datetime as dt

import sqlalchemy as sa

from app.errors import conflict, not_found
from app.extensions import db
from app.models import Product, Supplier, SupplierProduct, flush_or_conflict
from app.search import name_contains
from app.suppliers.queries import lead_times
from app.tenancy import get_owned, require_owned

DUPLICATE_LINK = "uq_supplier_products_company_id_product_id_supplier_id"
ONE_PREFERRED = "uq_supplier_products_one_preferred"


def create_supplier(company_id: int, data: dict) -> Supplier:
    """A new supplier for the company."""
    supplier = Supplier(company_id=company_id, **data)
    db.session.add(supplier)
    db.session.flush()
    return supplier


def supplier_list(company_id: int, filters: dict) -> sa.Select:
    """The company's active suppliers (optionally by name substring), oldest first."""
    query = sa.select(Supplier).where(
        Supplier.company_id == company_id, Supplier.archived_at.is_(None)
    )
    if "name" in filters:
        query = query.where(name_contains(Supplier.name, filters["name"]))
    return query.order_by(Supplier.id)


def get_supplier(company_id: int, supplier_id: int) -> Supplier:
    """One of the company's active suppliers; another company's is a 404."""
    return get_owned(Supplier, company_id, supplier_id)


def update_supplier(company_id: int, supplier_id: int, changes: dict) -> Supplier:
    """Change some of a supplier's fields."""
    supplier = get_owned(Supplier, company_id, supplier_id)
    for field, value in changes.items():
        setattr(supplier, field, value)
    db.session.flush()
    return supplier


def archive_supplier(company_id: int, supplier_id: int) -> None:
    """Delete a supplier for the API; ledger rows naming it keep their history.

    The row lock makes the archive wait for transactions that are inserting
    rows referencing the supplier (their foreign key check holds a key-share lock).
    """
    supplier = get_owned(Supplier, company_id, supplier_id, for_update=True)
    supplier.archived_at = dt.datetime.now(dt.UTC)
    db.session.flush()


def product_links(company_id: int, product_id: int) -> list[dict]:
    """A product's links to active suppliers: preferred first, then cheapest
    (unknown cost last), then by supplier id."""
    get_owned(Product, company_id, product_id)
    rows = db.session.execute(
        _links_with_suppliers(company_id, product_id).order_by(
            SupplierProduct.is_preferred.desc(),
            SupplierProduct.cost_price.asc().nulls_last(),
            SupplierProduct.supplier_id,
        )
    ).all()
    learned = lead_times(company_id, [(supplier.id, product_id) for _, supplier in rows])
    return [
        _as_link(link, supplier, learned.get((supplier.id, product_id))) for link, supplier in rows
    ]


def link_supplier(company_id: int, product_id: int, data: dict) -> dict:
    """Record that a supplier supplies a product.

    A second link to the same supplier is a 409 decided by the unique
    constraint, so two concurrent requests cannot both create one.
    """
    product = get_owned(Product, company_id, product_id)
    # a shared lock: the supplier cannot be archived under this new link
    supplier = require_owned(Supplier, company_id, data["supplier_id"], "supplier_id", share=True)
    if product.is_bundle:
        raise conflict(
            "bundle-has-no-suppliers",
            f"Product {product_id} is a bundle; bundles are bought as their components, "
            "so link suppliers to the components instead.",
        )
    if data["is_preferred"]:
        _demote_preferred(company_id, product_id)
    link = SupplierProduct(company_id=company_id, product_id=product_id, **data)
    db.session.add(link)
    _flush_catching_conflicts(product_id, supplier.id)
    return _as_link(link, supplier)


def update_link(company_id: int, product_id: int, supplier_id: int, changes: dict) -> dict:
    """Change some of a link's fields; making it preferred demotes the previous one."""
    link, supplier = _get_link(company_id, product_id, supplier_id)
    if changes.get("is_preferred") and not link.is_preferred:
        # the demotion runs (and is flushed) before this link becomes preferred, so
        # the one-preferred index never sees two
        _demote_preferred(company_id, product_id)
    for field, value in changes.items():
        setattr(link, field, value)
    _flush_catching_conflicts(product_id, supplier_id)
    learned = lead_times(company_id, [(supplier_id, product_id)])
    return _as_link(link, supplier, learned.get((supplier_id, product_id)))


def unlink_supplier(company_id: int, product_id: int, supplier_id: int) -> None:
    """Remove a supplier's link to a product."""
    link, _ = _get_link(company_id, product_id, supplier_id)
    db.session.delete(link)
    db.session.flush()


def _links_with_suppliers(company_id: int, product_id: int) -> sa.Select:
    return (
        sa.select(SupplierProduct, Supplier)
        .join(
            Supplier,
            sa.and_(
                Supplier.company_id == SupplierProduct.company_id,
                Supplier.id == SupplierProduct.supplier_id,
            ),
        )
        .where(
            SupplierProduct.company_id == company_id,
            SupplierProduct.product_id == product_id,
            Supplier.archived_at.is_(None),
        )
    )


def _get_link(
    company_id: int, product_id: int, supplier_id: int
) -> tuple[SupplierProduct, Supplier]:
    """The link of an active product to an active supplier, else a 404."""
    get_owned(Product, company_id, product_id)
    row = db.session.execute(
        _links_with_suppliers(company_id, product_id).where(
            SupplierProduct.supplier_id == supplier_id
        )
    ).first()
    if row is None:
        raise not_found("Supplier link")
    link, supplier = row
    return link, supplier


def _demote_preferred(company_id: int, product_id: int) -> None:
    """Make none of the product's links preferred (links to archived suppliers included)."""
    db.session.execute(
        sa.update(SupplierProduct)
        .where(
            SupplierProduct.company_id == company_id,
            SupplierProduct.product_id == product_id,
            SupplierProduct.is_preferred.is_(True),
        )
        .values(is_preferred=False)
    )


def _flush_catching_conflicts(product_id: int, supplier_id: int) -> None:
    """Flush; the database's unique indexes, not a prior read, decide the conflicts."""
    flush_or_conflict(
        {
            DUPLICATE_LINK: conflict(
                "duplicate-supplier-link",
                f"Supplier {supplier_id} is already linked to product {product_id}.",
                supplier_id=supplier_id,
            ),
            # only a concurrent request that made another supplier preferred gets here
            ONE_PREFERRED: conflict(
                "preferred-supplier-changed",
                f"Another supplier of product {product_id} was made preferred at the same "
                "time; reload the product's suppliers and retry.",
            ),
        }
    )


def _as_link(link: SupplierProduct, supplier: Supplier, learned: dict | None = None) -> dict:
    """A link as the API shows it, with its supplier's name and contact, and its
    lead time as learned from deliveries (``learned``: app.suppliers.queries)."""
    observed = learned["observed_lead_time_days"] if learned else None
    return {
        "product_id": link.product_id,
        "supplier_id": link.supplier_id,
        "supplier_name": supplier.name,
        "contact_email": supplier.contact_email,
        "supplier_sku": link.supplier_sku,
        "cost_price": link.cost_price,
        "lead_time_days": link.lead_time_days,
        "observed_lead_time_days": observed,
        "lead_time_source": "observed" if observed is not None else "configured",
        "min_order_quantity": link.min_order_quantity,
        "pack_size": link.pack_size,
        "is_preferred": link.is_preferred,
        "created_at": link.created_at,
    }
