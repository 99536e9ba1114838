"""What a bundle is made of, down to the products that hold stock.

A bundle holds no stock. Its components may themselves be bundles (never in a
cycle), so every stock question about a bundle is asked of its *leaf* components:
the non-bundle products it is ultimately made of, with how many of each one
bundle needs.
"""

from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa

from app.extensions import db
from app.models import BundleComponent, Product

# nesting deeper than this is refused when components are set
MAX_DEPTH = 8


def component_map(company_id: int) -> dict[int, list[tuple[int, int]]]:
    """Every bundle of the company with its direct ``(component_id, quantity)`` pairs."""
    rows = db.session.execute(
        sa.select(
            BundleComponent.bundle_product_id,
            BundleComponent.component_product_id,
            BundleComponent.quantity,
        ).where(BundleComponent.company_id == company_id)
    )
    components: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for bundle_id, component_id, quantity in rows:
        components[bundle_id].append((component_id, quantity))
    return components


def explode(bundle_id: int, components: dict[int, list[tuple[int, int]]]) -> dict[int, int]:
    """The leaf products one ``bundle_id`` consumes, with quantities multiplied through."""
    leaves: dict[int, int] = defaultdict(int)

    def walk(product_id: int, multiplier: int, depth: int) -> None:
        if depth > MAX_DEPTH:  # pragma: no cover - refused when components are set
            raise RuntimeError("bundle nesting too deep")
        for component_id, quantity in components.get(product_id, []):
            if component_id in components:
                walk(component_id, multiplier * quantity, depth + 1)
            else:
                leaves[component_id] += multiplier * quantity

    walk(bundle_id, 1, 0)
    return dict(leaves)


def leaf_components(company_id: int, bundle_id: int) -> dict[int, int]:
    """The leaf products of one bundle (empty when it has no components)."""
    return explode(bundle_id, component_map(company_id))


def availability(leaves: dict[int, int], stock: dict[int, int]) -> int:
    """How many bundles ``stock`` (leaf product id -> quantity) can make."""
    if not leaves:
        return 0
    return min(stock.get(product_id, 0) // quantity for product_id, quantity in leaves.items())


def would_cycle(bundle_id: int, new_components: list[int], components) -> bool:
    """Whether giving ``bundle_id`` these components makes a bundle contain itself."""
    seen: set[int] = set()
    stack = list(new_components)
    while stack:
        product_id = stack.pop()
        if product_id == bundle_id:
            return True
        if product_id in seen:
            continue
        seen.add(product_id)
        stack.extend(component_id for component_id, _ in components.get(product_id, []))
    return False


def depth_of(bundle_id: int, components, memo=None) -> int:
    """How many levels of bundles sit under ``bundle_id`` (1 for a bundle of plain products)."""
    memo = {} if memo is None else memo
    if bundle_id not in memo:
        children = [c for c, _ in components.get(bundle_id, []) if c in components]
        memo[bundle_id] = 1 + max((depth_of(c, components, memo) for c in children), default=0)
    return memo[bundle_id]


def bundle_ids(company_id: int) -> set[int]:
    """The company's products flagged as bundles."""
    return set(
        db.session.scalars(
            sa.select(Product.id).where(Product.company_id == company_id, Product.is_bundle)
        )
    )
