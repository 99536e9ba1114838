"""What a bundle is made of, down to the products that hold stock.

A bundle holds no stock. Its components may themselves be bundles (never in a
cycle), so every stock question about a bundle is asked of its *leaf* components:
the non-bundle products it is ultimately made of, with how many of each one
bundle needs.
"""

from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa
from flask import current_app

from app.config import DEFAULT_BUNDLE_WORK_LIMIT
from app.errors import Problem, problem_type_uri
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


class WorkLimitExceeded(Problem):
    """A 503: the bundle graph needs more work than one request may spend."""

    def __init__(self, limit: int):
        super().__init__(
            503,
            f"The bundle graph is too large to compute within one request ({limit} steps); "
            "ask for fewer products per page, or flatten the bundles.",
            type_=problem_type_uri("work-limit-exceeded"),
        )


class Explosion:
    """The leaf components of bundles, each bundle worked out once (memoised), within
    a work budget.

    A bundle's leaves are the sum over its components of quantity x (the component's
    leaves, or the component itself when it holds stock), so once every bundle below
    is known, a bundle costs one step per component row plus one per leaf entry it
    adds up. Walking every path instead is exponential in the nesting depth (ten
    components of ten components ... eight levels down is 10^8 paths). One instance
    serves a whole request (every bundle of a page), and ``steps`` counts its work;
    past ``limit`` it raises :class:`WorkLimitExceeded` instead of running on.
    """

    def __init__(self, components: dict[int, list[tuple[int, int]]], limit: int | None = None):
        self.components = components
        self.limit = limit if limit is not None else work_limit()
        self.steps = 0
        self._memo: dict[int, dict[int, int]] = {}

    def spend(self, steps: int) -> None:
        """Count ``steps`` of work; past the budget the request ends with a 503."""
        self.steps += steps
        if self.steps > self.limit:
            raise WorkLimitExceeded(self.limit)

    def leaves(self, bundle_id: int) -> dict[int, int]:
        """The leaf products one ``bundle_id`` consumes, with quantities multiplied through."""
        # iterative depth-first post-order: no recursion limit, and a cycle (which the
        # API refuses, but a direct database write could make) is an error, not a hang
        stack, rows_of = [bundle_id], {}
        while stack:
            current = stack[-1]
            if current in self._memo:
                stack.pop()
                continue
            if current not in rows_of:
                # first visit: read its component rows (once), then its bundles first
                rows_of[current] = self.components.get(current, ())
                below = [c for c, _ in rows_of[current] if c in self.components]
                if any(c in rows_of and c not in self._memo for c in below):
                    raise RuntimeError(f"bundle {current} is part of a cycle")  # pragma: no cover
                stack.extend(c for c in below if c not in self._memo)
                continue
            stack.pop()
            self._memo[current] = self._combine(rows_of.pop(current))
        return self._memo[bundle_id]

    def _combine(self, rows) -> dict[int, int]:
        """One bundle's leaves from its component rows (every bundle among them known)."""
        leaves: dict[int, int] = defaultdict(int)
        self.spend(len(rows) + 1)
        for component_id, quantity in rows:
            below = self._memo.get(component_id)
            if below is None:
                leaves[component_id] += quantity
                continue
            self.spend(len(below))
            for leaf_id, per_component in below.items():
                leaves[leaf_id] += quantity * per_component
        return dict(leaves)


def work_limit() -> int:
    """The steps one request may spend on bundle graphs (``STOCKFLOW_BUNDLE_WORK_LIMIT``)."""
    return current_app.config.get("STOCKFLOW_BUNDLE_WORK_LIMIT", DEFAULT_BUNDLE_WORK_LIMIT)


def explode(bundle_id: int, components: dict[int, list[tuple[int, int]]]) -> dict[int, int]:
    """The leaf products one ``bundle_id`` consumes, with quantities multiplied through."""
    return Explosion(components).leaves(bundle_id)


def leaf_components(company_id: int, bundle_id: int) -> dict[int, int]:
    """The leaf products of one bundle (empty when it has no components)."""
    return explode(bundle_id, component_map(company_id))


def availability(leaves: dict[int, int], stock: dict[int, int]) -> int:
    """How many bundles ``stock`` (leaf product id -> quantity) can make."""
    if not leaves:
        return 0
    return min(stock.get(product_id, 0) // quantity for product_id, quantity in leaves.items())


def bundles_containing(bundle_id: int, components) -> set[int]:
    """Every bundle that contains ``bundle_id``, directly or through other bundles.

    Giving ``bundle_id`` one of these as a component would make a cycle. One walk up
    the graph answers it for every new component at once (a walk down from each new
    component would read the graph once per component).
    """
    parents: dict[int, list[int]] = defaultdict(list)
    for parent_id, rows in components.items():
        for component_id, _ in rows:
            parents[component_id].append(parent_id)
    found: set[int] = set()
    stack = [bundle_id]
    while stack:
        for parent_id in parents.get(stack.pop(), ()):
            if parent_id not in found:
                found.add(parent_id)
                stack.append(parent_id)
    return found


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
