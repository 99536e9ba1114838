"""Lead times of supplier-product links: configured, and learned from deliveries.

Every receipt of a purchase order writes, for each product received on it for
the first time, how many days passed since the order was placed
(``LeadTimeObservation``, app.purchasing.service). The observed lead time of a
link is the median of its last ``OBSERVATIONS`` observations, rounded up to whole
days (a buyer plans on the slower side), once there are ``MIN_OBSERVATIONS``;
until then the configured ``lead_time_days`` stands.
"""

from __future__ import annotations

import math
import statistics

import sqlalchemy as sa

from app.extensions import db
from app.models import LeadTimeObservation, SupplierProduct

OBSERVATIONS = 10
MIN_OBSERVATIONS = 3


def observed_lead_time(days: list[int]) -> int | None:
    """The observed lead time of a link from its latest observations (newest first)."""
    latest = days[:OBSERVATIONS]
    if len(latest) < MIN_OBSERVATIONS:
        return None
    return math.ceil(statistics.median(latest))


def lead_times(company_id: int, pairs) -> dict[tuple[int, int], dict]:
    """For each ``(supplier_id, product_id)`` link: ``lead_time_days`` (configured),
    ``observed_lead_time_days`` (or None), ``lead_time_source`` (``observed`` or
    ``configured``) and ``effective_lead_time_days``. One statement; pairs that are
    not links are left out."""
    pairs = sorted(set(pairs))
    if not pairs:
        return {}
    ranked = (
        sa.select(
            LeadTimeObservation.supplier_id,
            LeadTimeObservation.product_id,
            LeadTimeObservation.days,
            sa.func.row_number()
            .over(
                partition_by=(LeadTimeObservation.supplier_id, LeadTimeObservation.product_id),
                order_by=(LeadTimeObservation.observed_at.desc(), LeadTimeObservation.id.desc()),
            )
            .label("position"),
        )
        .where(
            LeadTimeObservation.company_id == company_id,
            sa.tuple_(LeadTimeObservation.supplier_id, LeadTimeObservation.product_id).in_(pairs),
        )
        .cte("ranked")
    )
    rows = db.session.execute(
        sa.select(
            SupplierProduct.supplier_id,
            SupplierProduct.product_id,
            SupplierProduct.lead_time_days,
            ranked.c.days,
        )
        .outerjoin(
            ranked,
            sa.and_(
                ranked.c.supplier_id == SupplierProduct.supplier_id,
                ranked.c.product_id == SupplierProduct.product_id,
                ranked.c.position <= OBSERVATIONS,
            ),
        )
        .where(
            SupplierProduct.company_id == company_id,
            sa.tuple_(SupplierProduct.supplier_id, SupplierProduct.product_id).in_(pairs),
        )
        .order_by(SupplierProduct.supplier_id, SupplierProduct.product_id, ranked.c.position)
    )
    configured: dict[tuple[int, int], int | None] = {}
    observed: dict[tuple[int, int], list[int]] = {}
    for supplier_id, product_id, lead_time_days, days in rows:
        key = (supplier_id, product_id)
        configured[key] = lead_time_days
        if days is not None:
            observed.setdefault(key, []).append(days)
    result = {}
    for key, lead_time_days in configured.items():
        learned = observed_lead_time(observed.get(key, []))
        result[key] = {
            "lead_time_days": lead_time_days,
            "observed_lead_time_days": learned,
            "lead_time_source": "observed" if learned is not None else "configured",
            "effective_lead_time_days": learned if learned is not None else lead_time_days,
        }
    return result
