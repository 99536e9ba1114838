"""Setting a bundle's components. Functions flush, never commit."""

import sqlalchemy as sa

from app.bundles import queries
from app.errors import Problem, conflict, problem_type_uri
from app.extensions import db
from app.locks import BUNDLE_GRAPH, company_lock
from app.models import BundleComponent, Product
from app.tenancy import get_owned, owned_ids


def _invalid(errors: dict[str, list[str]]) -> Problem:
    return Problem(
        400,
        "The components are invalid: " + ", ".join(sorted(errors)) + ".",
        type_=problem_type_uri("validation-error"),
        title="Invalid request",
        errors=errors,
    )


def set_components(company_id: int, bundle_id: int, rows: list[dict]) -> list[dict]:
    """Replace a bundle's components atomically.

    Components must be the company's active products, each at most once, never
    the bundle itself nor a bundle that (through its own components) contains
    it. Component changes of one company are serialized on the company's bundle
    graph lock, so two concurrent edits cannot together build a cycle; the
    components are locked against archiving until the transaction ends.
    """
    company_lock(BUNDLE_GRAPH, company_id)
    bundle = get_owned(Product, company_id, bundle_id)
    if not bundle.is_bundle:
        raise conflict(
            "not-a-bundle",
            f"Product {bundle_id} is not a bundle; only bundles have components.",
        )
    # key-share locks in id order: archiving a component waits for this edit and then
    # sees it in the bundle (409); a component archived first is unknown here (400)
    known = owned_ids(Product, company_id, [row["product_id"] for row in rows], share=True)
    graph = queries.component_map(company_id)
    graph.pop(bundle_id, None)
    containing = queries.bundles_containing(bundle_id, graph)
    errors: dict[str, list[str]] = {}
    seen: set[int] = set()
    for i, row in enumerate(rows):
        product_id = row["product_id"]
        if product_id == bundle_id:
            errors[f"{i}.product_id"] = ["A bundle cannot contain itself."]
        elif product_id not in known:
            errors[f"{i}.product_id"] = ["Unknown product."]
        elif product_id in seen:
            errors[f"{i}.product_id"] = ["Listed more than once."]
        elif product_id in containing:
            errors[f"{i}.product_id"] = ["That bundle contains this one: it would be a cycle."]
        seen.add(product_id)
    if errors:
        raise _invalid(errors)

    graph[bundle_id] = [(row["product_id"], row["quantity"]) for row in rows]
    memo: dict[int, int] = {}
    if max(queries.depth_of(b, graph, memo) for b in graph) > queries.MAX_DEPTH:
        raise _invalid({"_body": [f"Bundles may nest at most {queries.MAX_DEPTH} levels deep."]})

    db.session.execute(
        sa.delete(BundleComponent).where(
            BundleComponent.company_id == company_id,
            BundleComponent.bundle_product_id == bundle_id,
        )
    )
    db.session.add_all(
        BundleComponent(
            company_id=company_id,
            bundle_product_id=bundle_id,
            component_product_id=row["product_id"],
            quantity=row["quantity"],
        )
        for row in rows
    )
    db.session.flush()
    return list_components(company_id, bundle_id)


def list_components(company_id: int, bundle_id: int) -> list[dict]:
    """A bundle's direct components with their SKUs and names."""
    get_owned(Product, company_id, bundle_id)
    rows = db.session.execute(
        sa.select(Product, BundleComponent.quantity)
        .join(
            BundleComponent,
            sa.and_(
                BundleComponent.company_id == Product.company_id,
                BundleComponent.component_product_id == Product.id,
            ),
        )
        .where(
            BundleComponent.company_id == company_id,
            BundleComponent.bundle_product_id == bundle_id,
        )
        .order_by(Product.id)
    )
    return [
        {
            "product_id": product.id,
            "sku": product.sku,
            "name": product.name,
            "is_bundle": product.is_bundle,
            "quantity": quantity,
        }
        for product, quantity in rows
    ]
