"""Demo data: one company with about 90 days of believable stock history.

``flask --app wsgi seed-demo`` loads it once; later runs only issue a fresh API
key (and revoke the demo key issued before). Apart from the key (and
``recorded_at``, which the database sets), every value comes from
``random.Random(SEED)`` and the run date, so two empty databases seeded on the
same day hold the same data. Functions flush, never commit.

The history is simulated day by day for each product in each warehouse: daily
sales drawn around a per-product rate, purchase orders placed at a reorder point
and received after the supplier's lead time, now and then a spoilage write-off or
a cycle-count correction, and a few bundle sales booked as sales of their
components. A handful of rows are steered into trouble (a supplier on backorder,
an item nobody supplies) so the low-stock alerts have something to show.

The simulated purchase orders are real ones (``purchase_orders``): those that
arrived are ``received`` (their receipts name them, and each taught the supplier's
observed lead time), those still on their way are ``ordered``; one of those got a
first part delivered last night (``partially_received``), and the backordered
supplier's order was ``cancelled`` and a replacement left as a ``draft``, so every
state is there to look at.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import random
import uuid
from typing import NamedTuple

import sqlalchemy as sa

from app import auth
from app.alerts import state as alert_state
from app.companies.service import create_company
from app.extensions import db
from app.models import (
    ApiKey,
    BundleComponent,
    Company,
    Inventory,
    LeadTimeObservation,
    LedgerEntry,
    Product,
    ProductTypeThreshold,
    PurchaseOrder,
    PurchaseOrderLine,
    Supplier,
    SupplierProduct,
    Warehouse,
)
from app.thresholds.queries import DEFAULT_THRESHOLDS, FALLBACK_THRESHOLD, refresh_alert_thresholds

DEMO_COMPANY_NAME = "StockFlow Demo Co."
DEMO_KEY_NAME = "demo"
SEED = 42
HISTORY_DAYS = 90

# the low-stock thresholds the alerts fall back to when neither product nor type sets one
# live in app.thresholds.queries (DEFAULT_THRESHOLDS, imported above); this is the old name
DEFAULT_THRESHOLD = FALLBACK_THRESHOLD

CENTS = decimal.Decimal("0.01")


class _WarehouseSpec(NamedTuple):
    """A demo warehouse and how much of the demand it sees."""

    code: str
    name: str
    location: str
    demand_share: float  # this warehouse's share of a product's main-warehouse demand


class _SupplierSpec(NamedTuple):
    """A demo supplier and its prices relative to ours."""

    code: str
    name: str
    contact_email: str | None
    phone: str | None
    notes: str | None
    cost_ratio: str  # cost price as a share of our selling price


class _ProductSpec(NamedTuple):
    """A demo product: catalogue fields, demand and where it is stocked (warehouse codes)."""

    sku: str
    name: str
    price: str
    product_type: str
    daily_sales: float  # mean units a day in the central warehouse
    threshold: int | None = None
    warehouses: str = "CWD"


class _LinkSpec(NamedTuple):
    """A supplier's offer for a product (cost price derives from the supplier's ratio)."""

    supplier: str
    lead_time_days: int
    min_order_quantity: int
    pack_size: int
    preferred: bool


WAREHOUSES = (
    _WarehouseSpec("C", "Central Distribution Center", "Columbus, OH", 1.0),
    _WarehouseSpec("W", "West Coast Fulfillment", "Reno, NV", 0.7),
    _WarehouseSpec("D", "Downtown Showroom", "Chicago, IL", 0.4),
)

SUPPLIERS = (
    _SupplierSpec(
        "acme",
        "Acme Office Supply",
        "orders@acme-office.example.com",
        "+1 614 555 0101",
        "Net 30. Free freight over $500.",
        "0.55",
    ),
    _SupplierSpec(
        "northwind",
        "Northwind Traders",
        "purchasing@northwind.example.com",
        "+1 312 555 0188",
        None,
        "0.60",
    ),
    _SupplierSpec(
        "globex",
        "Globex Electronics",
        "sales@globex.example.com",
        None,
        "Ships from Sacramento; RMA within 30 days.",
        "0.66",
    ),
    # no email on purpose: the alerts must cope with a supplier reachable only by phone
    _SupplierSpec(
        "riverbend",
        "Riverbend Farms",
        None,
        "+1 614 555 0142",
        "Orders by phone only; delivers Tuesdays and Fridays.",
        "0.50",
    ),
)

PRODUCTS = (
    # fast movers: office and breakroom consumables
    _ProductSpec("PAP-A4-500", "Copy Paper A4, 500 sheets", "6.49", "fast_moving", 9),
    _ProductSpec("PEN-BLU-12", "Ballpoint Pens, Blue (12-pack)", "4.99", "fast_moving", 6),
    _ProductSpec("NTB-A5-RUL", "Notebook A5, Ruled", "3.25", "fast_moving", 7),
    _ProductSpec("COF-BEAN-1K", "Coffee Beans, House Blend 1 kg", "18.90", "fast_moving", 5, 40),
    _ProductSpec("TNR-HP-26A", "Toner Cartridge 26A", "79.00", "fast_moving", 2.5, 6),
    _ProductSpec("BAT-AA-24", "AA Batteries (24-pack)", "14.99", "fast_moving", 4),
    _ProductSpec("TAPE-PKG-6", "Packing Tape (6 rolls)", "11.50", "fast_moving", 5),
    _ProductSpec("CUP-PAP-50", "Paper Cups 8 oz (50)", "5.75", "fast_moving", 6),
    # regular lines
    _ProductSpec("STP-STD", "Stapler, Standard", "12.99", "regular", 1.2),
    _ProductSpec("STP-REF-5K", "Staples 26/6 (5000)", "3.49", "regular", 2),
    _ProductSpec("FLD-MAN-100", "Manila Folders (100)", "17.99", "regular", 1.5),
    _ProductSpec("ENV-C4-250", "Envelopes C4 (250)", "21.50", "regular", 1),
    _ProductSpec("MRK-WB-4", "Whiteboard Markers (4)", "6.99", "regular", 2),
    _ProductSpec("LBL-ADDR-1K", "Address Labels (1000)", "16.25", "regular", 0.8),
    _ProductSpec("CLP-BIN-48", "Binder Clips (48)", "5.49", "regular", 1.5),
    _ProductSpec("HDS-USB", "USB Headset", "39.00", "regular", 0.7, 4),
    _ProductSpec("MSE-WL", "Wireless Mouse", "24.99", "regular", 1),
    _ProductSpec("KBD-WL", "Wireless Keyboard", "44.99", "regular", 0.6),
    _ProductSpec("CLN-SPR-750", "Surface Cleaner Spray 750 ml", "4.29", "regular", 2),
    _ProductSpec("TEA-GRN-100", "Green Tea (100 bags)", "8.99", "regular", 1.5),
    # slow movers: furniture and equipment, not kept in the showroom's small stockroom
    _ProductSpec("CHR-ERG", "Ergonomic Office Chair", "289.00", "slow_moving", 0.15, 2, "CW"),
    _ProductSpec("DSK-STAND", "Standing Desk Frame", "449.00", "slow_moving", 0.08, None, "CW"),
    _ProductSpec("SHR-XC-12", "Cross-cut Shredder", "129.00", "slow_moving", 0.12),
    _ProductSpec("MON-27-4K", '27" 4K Monitor', "329.99", "slow_moving", 0.2, 3),
    _ProductSpec("LAM-A3", "A3 Laminator", "64.50", "slow_moving", 0.1),
    _ProductSpec("CAB-FIL-4D", "4-Drawer Filing Cabinet", "219.00", "slow_moving", 0.1, None, "CW"),
    # a custom type with its own threshold row; kept where there is a cold room
    _ProductSpec("MLK-OAT-1L", "Oat Milk 1 L", "2.79", "perishable", 4, None, "CD"),
    _ProductSpec("FRT-BOX-5K", "Fresh Fruit Box 5 kg", "24.00", "perishable", 1.2, None, "CD"),
    _ProductSpec("SNK-GRN-24", "Granola Bars (24)", "12.49", "perishable", 2.5, None, "CD"),
    _ProductSpec("JCE-ORG-1L", "Orange Juice 1 L", "3.19", "perishable", 3, None, "CD"),
)

PERISHABLE_THRESHOLD = ("perishable", 15)

# sku -> offers; the first preferred offer (else the cheapest) is the one we reorder from
LINKS = {
    "PAP-A4-500": (_LinkSpec("acme", 3, 10, 5, True), _LinkSpec("northwind", 6, 20, 10, False)),
    "PEN-BLU-12": (_LinkSpec("acme", 3, 10, 10, True),),
    "NTB-A5-RUL": (_LinkSpec("acme", 3, 20, 20, True), _LinkSpec("northwind", 5, 40, 20, False)),
    "COF-BEAN-1K": (_LinkSpec("northwind", 5, 12, 6, True),),
    "TNR-HP-26A": (_LinkSpec("globex", 7, 1, 1, True), _LinkSpec("acme", 4, 5, 1, False)),
    # two offers and no preference: the cheaper one gets the orders
    "BAT-AA-24": (_LinkSpec("globex", 7, 6, 6, False), _LinkSpec("acme", 4, 12, 6, False)),
    "TAPE-PKG-6": (_LinkSpec("acme", 3, 12, 12, True),),
    "CUP-PAP-50": (_LinkSpec("northwind", 5, 20, 20, True),),
    "STP-STD": (_LinkSpec("acme", 3, 5, 5, True),),
    "STP-REF-5K": (_LinkSpec("acme", 3, 10, 10, True),),
    "FLD-MAN-100": (_LinkSpec("acme", 4, 5, 5, False),),
    "ENV-C4-250": (_LinkSpec("acme", 4, 4, 4, True), _LinkSpec("northwind", 7, 8, 4, False)),
    "MRK-WB-4": (_LinkSpec("acme", 3, 10, 10, True),),
    "LBL-ADDR-1K": (_LinkSpec("acme", 5, 5, 5, True),),
    "CLP-BIN-48": (_LinkSpec("acme", 3, 12, 12, False),),
    "HDS-USB": (_LinkSpec("globex", 7, 5, 5, True),),
    "MSE-WL": (_LinkSpec("globex", 7, 10, 10, True), _LinkSpec("acme", 4, 10, 5, False)),
    "KBD-WL": (_LinkSpec("globex", 7, 5, 5, True),),
    "CLN-SPR-750": (_LinkSpec("northwind", 5, 12, 12, False),),
    "TEA-GRN-100": (_LinkSpec("northwind", 5, 10, 10, True),),
    "CHR-ERG": (_LinkSpec("acme", 21, 1, 1, True),),
    "DSK-STAND": (_LinkSpec("acme", 28, 1, 1, True),),
    "SHR-XC-12": (_LinkSpec("globex", 10, 2, 1, True),),
    "MON-27-4K": (_LinkSpec("globex", 10, 2, 2, True),),
    # LAM-A3 has no supplier at all: the alerts must show a product nobody supplies
    "CAB-FIL-4D": (_LinkSpec("acme", 21, 1, 1, False),),
    "MLK-OAT-1L": (_LinkSpec("riverbend", 2, 12, 12, True),),
    "FRT-BOX-5K": (_LinkSpec("riverbend", 2, 2, 1, True),),
    "SNK-GRN-24": (_LinkSpec("northwind", 5, 6, 6, True), _LinkSpec("riverbend", 3, 4, 2, False)),
    "JCE-ORG-1L": (_LinkSpec("riverbend", 2, 12, 12, True),),
}

# (sku, name, price, units a day in the central warehouse, {component sku: quantity})
BUNDLES = (
    (
        "BND-OFFICE-START",
        "Office Starter Kit",
        "29.99",
        0.12,
        {"PEN-BLU-12": 1, "NTB-A5-RUL": 2, "STP-STD": 1, "STP-REF-5K": 1},
    ),
    (
        "BND-BREAKROOM",
        "Breakroom Pack",
        "44.99",
        0.1,
        {"COF-BEAN-1K": 1, "CUP-PAP-50": 2, "TEA-GRN-100": 1},
    ),
)

# (sku, warehouse) -> days before today from which the supplier has it on backorder:
# no purchase order placed then arrives, so the stock runs down (some of it to zero)
BACKORDERED = {
    ("PAP-A4-500", "W"): 18,  # sold out a few days ago
    ("STP-REF-5K", "W"): 34,  # sold out weeks ago
    ("COF-BEAN-1K", "C"): 14,
    ("TNR-HP-26A", "D"): 30,
    ("KBD-WL", "D"): 30,
    ("MLK-OAT-1L", "D"): 16,
}

# days of demand a purchase order covers, by product type (perishables: a week at most)
ORDER_COVER_DAYS = {"fast_moving": 14, "regular": 30, "slow_moving": 60}
PERISHABLE_COVER_DAYS = 7

SPOILAGE_CHANCE = 0.015
CYCLE_COUNT_CHANCE = 0.002


def seed(*, today: dt.date | None = None, purchase_orders: bool = True) -> tuple[int, str, bool]:
    """Load the demo company once; return ``(company_id, plaintext_api_key, created)``.

    When the company already exists nothing is loaded again: a fresh API key named
    ``demo`` is issued and the earlier ``demo`` keys are revoked (every start of
    ``./dev.sh serve`` calls this; only key hashes are stored, so an old key can't be
    shown again, and rotating keeps one working demo key). Keys the company made
    itself are left alone. ``today`` (UTC, default the current date) anchors the 90
    days of history, which ends the day before. ``purchase_orders=False`` leaves the
    orders out (a schema from before migration 0008 has no table for them).
    """
    existing = db.session.scalar(
        sa.select(Company.id).where(Company.name == DEMO_COMPANY_NAME).order_by(Company.id).limit(1)
    )
    if existing is not None:
        key, plaintext = auth.new_api_key(existing, DEMO_KEY_NAME)
        db.session.execute(
            sa.update(ApiKey)
            .where(
                ApiKey.company_id == existing,
                ApiKey.name == DEMO_KEY_NAME,
                ApiKey.id != key.id,
                ApiKey.revoked_at.is_(None),
            )
            .values(revoked_at=dt.datetime.now(dt.UTC))
        )
        return existing, plaintext, False

    company, plaintext = create_company(DEMO_COMPANY_NAME, key_name=DEMO_KEY_NAME)
    load_demo_data(
        company.id, today or dt.datetime.now(dt.UTC).date(), purchase_orders=purchase_orders
    )
    return company.id, plaintext, True


def load_demo_data(company_id: int, today: dt.date, *, purchase_orders: bool = True) -> None:
    """Add the catalogue, suppliers and simulated stock history to an empty company."""
    warehouses = _add_warehouses(company_id)
    suppliers = _add_suppliers(company_id)
    products = _add_products(company_id)
    links = _add_supplier_links(company_id, products, suppliers)
    bundles = _add_bundles(company_id, products)
    db.session.add(
        ProductTypeThreshold(
            company_id=company_id,
            product_type=PERISHABLE_THRESHOLD[0],
            low_stock_threshold=PERISHABLE_THRESHOLD[1],
        )
    )

    simulation = _Simulation(
        company_id, warehouses, today, random.Random(SEED), purchase_orders=purchase_orders
    )
    for spec in PRODUCTS:
        for warehouse in WAREHOUSES:
            if warehouse.code in spec.warehouses:
                simulation.add_row(spec, products[spec.sku], warehouse, links)
    for sku, _, _, daily_sales, components in BUNDLES:
        simulation.add_bundle(bundles[sku], daily_sales, components, products)
    simulation.run()
    if purchase_orders:
        simulation.deliver_part_of_an_open_order()
        _add_purchase_orders(company_id, simulation, products, links)

    db.session.add_all(
        Inventory(
            company_id=company_id,
            product_id=row.product_id,
            warehouse_id=row.warehouse_id,
            quantity=row.quantity,
            alert_threshold=0,  # set below from the thresholds, as the API does
        )
        for row in simulation.rows
    )
    # ids then follow time, so "order by id" and "order by occurred_at" agree
    entries = sorted(simulation.entries, key=lambda entry: entry["occurred_at"])
    db.session.execute(sa.insert(LedgerEntry), entries)
    db.session.flush()
    refresh_alert_thresholds(company_id)
    # and the alerts' kept state, from the ledger just written (the stock operations
    # keep it for later writes)
    alert_state.compute_new_company(company_id, today)


def effective_threshold(spec: _ProductSpec) -> int:
    """The low-stock threshold the alerts will apply to a demo product."""
    if spec.threshold is not None:
        return spec.threshold
    if spec.product_type == PERISHABLE_THRESHOLD[0]:
        return PERISHABLE_THRESHOLD[1]
    return DEFAULT_THRESHOLDS.get(spec.product_type, DEFAULT_THRESHOLD)


def _add_warehouses(company_id: int) -> dict[str, int]:
    """The three warehouses, by code."""
    rows = {
        spec.code: Warehouse(company_id=company_id, name=spec.name, location=spec.location)
        for spec in WAREHOUSES
    }
    db.session.add_all(rows.values())
    db.session.flush()
    return {code: row.id for code, row in rows.items()}


def _add_suppliers(company_id: int) -> dict[str, Supplier]:
    """The four suppliers, by code."""
    rows = {
        spec.code: Supplier(
            company_id=company_id,
            name=spec.name,
            contact_email=spec.contact_email,
            phone=spec.phone,
            notes=spec.notes,
        )
        for spec in SUPPLIERS
    }
    db.session.add_all(rows.values())
    db.session.flush()
    return rows


def _add_products(company_id: int) -> dict[str, int]:
    """Every stocked product and both bundles, product ids by SKU."""
    rows = {
        spec.sku: Product(
            company_id=company_id,
            sku=spec.sku,
            name=spec.name,
            price=decimal.Decimal(spec.price),
            product_type=spec.product_type,
            low_stock_threshold=spec.threshold,
        )
        for spec in PRODUCTS
    }
    for sku, name, price, _, _ in BUNDLES:
        rows[sku] = Product(
            company_id=company_id,
            sku=sku,
            name=name,
            price=decimal.Decimal(price),
            product_type="regular",
            is_bundle=True,
        )
    db.session.add_all(rows.values())
    db.session.flush()
    return {sku: row.id for sku, row in rows.items()}


def _add_supplier_links(
    company_id: int, products: dict[str, int], suppliers: dict[str, Supplier]
) -> dict[str, SupplierProduct]:
    """Every supplier offer; returns the offer each product is reordered from."""
    ratios = {spec.code: decimal.Decimal(spec.cost_ratio) for spec in SUPPLIERS}
    prices = {spec.sku: decimal.Decimal(spec.price) for spec in PRODUCTS}
    chosen = {}
    for sku, offers in LINKS.items():
        rows = [
            SupplierProduct(
                company_id=company_id,
                product_id=products[sku],
                supplier_id=suppliers[offer.supplier].id,
                supplier_sku=f"{offer.supplier[:3].upper()}-{sku}",
                cost_price=(prices[sku] * ratios[offer.supplier]).quantize(CENTS),
                lead_time_days=offer.lead_time_days,
                min_order_quantity=offer.min_order_quantity,
                pack_size=offer.pack_size,
                is_preferred=offer.preferred,
            )
            for offer in offers
        ]
        db.session.add_all(rows)
        preferred = [row for row in rows if row.is_preferred]
        chosen[sku] = preferred[0] if preferred else min(rows, key=lambda row: row.cost_price)
    db.session.flush()
    return chosen


def _add_bundles(company_id: int, products: dict[str, int]) -> dict[str, int]:
    """The bundles' components; returns the bundle product ids by SKU."""
    for sku, _, _, _, components in BUNDLES:
        db.session.add_all(
            BundleComponent(
                company_id=company_id,
                bundle_product_id=products[sku],
                component_product_id=products[component],
                quantity=quantity,
            )
            for component, quantity in components.items()
        )
    db.session.flush()
    return {sku: products[sku] for sku, *_ in BUNDLES}


def _add_purchase_orders(company_id, simulation, products, links) -> None:
    """The simulation's orders as purchase orders (received, ordered, one partly
    received), their receipts' ledger rows pointing at them and the lead times they
    taught; and for the first backordered row, the order the supplier could not
    fill (cancelled) and its replacement (a draft)."""
    ids = {}
    for number, simulated in sorted(simulation.orders.items()):
        row = simulated["row"]
        received = sum(quantity for _, quantity in simulated["receipts"])
        status = "ordered"
        if received >= simulated["quantity"]:
            status = "received"
        elif received:
            status = "partially_received"
        order = _add_order(
            company_id,
            row.link,
            row.product_id,
            simulated["quantity"],
            quantity_received=received,
            warehouse_id=row.warehouse_id,
            status=status,
            reference=number,
            expected_at=simulated["expected_at"],
            created_at=simulated["ordered_at"],
            ordered_at=simulated["ordered_at"],
            received_at=simulated["receipts"][-1][0] if status == "received" else None,
        )
        ids[number] = order.id
        if simulated["receipts"]:
            first = simulated["receipts"][0][0]
            db.session.add(
                LeadTimeObservation(
                    company_id=company_id,
                    supplier_id=row.link.supplier_id,
                    product_id=row.product_id,
                    purchase_order_id=order.id,
                    days=(first - simulated["ordered_at"]).days,
                    observed_at=first,
                )
            )
    for entry in simulation.entries:
        if entry["purchase_order_id"] is not None:
            entry["purchase_order_id"] = ids[entry["purchase_order_id"]]

    (sku, code), _ = sorted(BACKORDERED.items())[0]
    link = links[sku]
    warehouse_id = simulation.warehouse_ids[code]
    quantity = max(link.min_order_quantity, link.pack_size)
    placed = simulation.start + dt.timedelta(days=HISTORY_DAYS - BACKORDERED[(sku, code)])
    for status, notes in (
        ("cancelled", "The supplier is on backorder: cancelled."),
        ("draft", "Replaces the cancelled order; check another supplier."),
    ):
        _add_order(
            company_id,
            link,
            products[sku],
            quantity,
            warehouse_id=warehouse_id,
            status=status,
            notes=notes,
            created_at=placed,
            ordered_at=placed if status == "cancelled" else None,
            cancelled_at=placed + dt.timedelta(days=2) if status == "cancelled" else None,
        )
    _add_covering_order(company_id, simulation, products, links)
    db.session.flush()


# a low row whose supplier found stock again: ordered yesterday, due tomorrow, enough to
# lift it back to its threshold, so the demo shows an alert that is covered beside
# the ones that are not
COVERED = ("KBD-WL", "D")


def _add_covering_order(company_id, simulation, products, links) -> None:
    """An open order (``ordered``) that covers the ``COVERED`` row's alert."""
    sku, code = COVERED
    link = links[sku]
    today = simulation.start + dt.timedelta(days=HISTORY_DAYS)
    spec = next(spec for spec in PRODUCTS if spec.sku == sku)
    quantity = max(link.min_order_quantity, link.pack_size, 2 * effective_threshold(spec))
    _add_order(
        company_id,
        link,
        products[sku],
        quantity,
        warehouse_id=simulation.warehouse_ids[code],
        status="ordered",
        reference="PO-RESTOCK",
        notes="The supplier has stock again.",
        created_at=today - dt.timedelta(hours=12),
        ordered_at=today - dt.timedelta(hours=12),
        expected_at=today + dt.timedelta(days=1, hours=8),
    )


def _add_order(company_id, link, product_id, quantity, *, quantity_received=0, **fields):
    """A purchase order from ``link``'s supplier with one line of ``quantity`` units of
    the product at the link's cost; ``fields`` are the order's own (status, dates...)."""
    order = PurchaseOrder(company_id=company_id, supplier_id=link.supplier_id, **fields)
    db.session.add(order)
    db.session.flush()
    db.session.add(
        PurchaseOrderLine(
            company_id=company_id,
            purchase_order_id=order.id,
            product_id=product_id,
            quantity_ordered=quantity,
            quantity_received=quantity_received,
            unit_cost=link.cost_price,
        )
    )
    return order


class _Row:
    """One product in one warehouse while its history is simulated."""

    def __init__(self, spec, product_id, warehouse, warehouse_id, link, rng):
        """Derive the row's demand and reorder policy from its product and supplier."""
        self.product_id = product_id
        self.warehouse_id = warehouse_id
        # a stream per row, so retuning one row leaves every other row's history alone
        self.rng = rng
        self.demand = spec.daily_sales * warehouse.demand_share
        self.perishable = spec.product_type == PERISHABLE_THRESHOLD[0]
        self.link = link
        self.quantity = 0
        self.arrival: tuple[int, int, str] | None = None  # (day, quantity, po number)
        self.order_until = HISTORY_DAYS - BACKORDERED.get((spec.sku, warehouse.code), 0)

        threshold = effective_threshold(spec)
        lead = link.lead_time_days if link is not None else 0
        cover = ORDER_COVER_DAYS.get(spec.product_type, PERISHABLE_COVER_DAYS)
        # reorder early enough that the threshold is reached only when something goes wrong
        self.reorder_point = threshold + math.ceil(self.demand * (lead + 2))
        self.order_up_to = self.reorder_point + max(
            math.ceil(self.demand * cover), link.pack_size if link is not None else 1
        )

    def order_quantity(self) -> int:
        """Units to order now: up to the target, in whole packs, at least the minimum."""
        pack = self.link.pack_size
        packs = math.ceil(max(self.order_up_to - self.quantity, 1) / pack)
        return max(self.link.min_order_quantity, packs * pack)


class _Bundle(NamedTuple):
    """A bundle as the simulation sells it."""

    product_id: int
    daily_sales: float
    parts: dict[int, int]  # component product id -> units per bundle
    rng: random.Random


class _Simulation:
    """Day-by-day stock history of every row, as ledger dicts ready for a bulk insert."""

    def __init__(
        self,
        company_id: int,
        warehouse_ids: dict[str, int],
        today: dt.date,
        rng: random.Random,
        *,
        purchase_orders: bool = False,
    ):
        """Anchor day 0 (the ``initial`` rows) ``HISTORY_DAYS`` before ``today``."""
        self.company_id = company_id
        self.purchase_orders = purchase_orders
        # the simulated purchase orders by number: what was ordered, when, what arrived
        self.orders: dict[str, dict] = {}
        self.warehouse_ids = warehouse_ids
        self.start = dt.datetime.combine(
            today - dt.timedelta(days=HISTORY_DAYS), dt.time(), tzinfo=dt.UTC
        )
        self.rng = rng
        # ids have a stream of their own, so they never shift the quantities drawn
        self.id_rng = random.Random(f"{SEED}-operations")
        self.rows: list[_Row] = []
        self.by_key: dict[tuple[int, int], _Row] = {}
        self.bundles: list[_Bundle] = []
        self.entries: list[dict] = []
        self.sale_number = 0
        self.order_number = 0

    def add_row(self, spec, product_id, warehouse, links) -> None:
        """Track a product in a warehouse (its opening stock is set when the run starts)."""
        warehouse_id = self.warehouse_ids[warehouse.code]
        row = _Row(
            spec, product_id, warehouse, warehouse_id, links.get(spec.sku), self._substream()
        )
        self.rows.append(row)
        self.by_key[(product_id, warehouse_id)] = row

    def add_bundle(self, bundle_id, daily_sales, components, products) -> None:
        """Sell a bundle now and then, as its components."""
        parts = {products[sku]: quantity for sku, quantity in components.items()}
        self.bundles.append(_Bundle(bundle_id, daily_sales, parts, self._substream()))

    def run(self) -> None:
        """Simulate every day from the opening stock to yesterday."""
        for row in self.rows:
            opening = max(1, round(row.order_up_to * row.rng.uniform(0.8, 1.0)))
            self._book(row, "initial", opening, self._at(0, 6, 0), self._operation_id())
        for day in range(1, HISTORY_DAYS):
            # the order of the steps is the order of their times of day (see ``_at`` calls)
            for row in self.rows:
                self._receive(row, day)
            for row in self.rows:
                self._sell(row, day)
            for bundle in self.bundles:
                self._sell_bundle(bundle, day)
            for row in self.rows:
                self._adjust(row, day)
            for row in self.rows:
                self._reorder(row, day)

    def _receive(self, row: _Row, day: int) -> None:
        """Book the purchase order due today (07:00-09:00)."""
        if row.arrival is None or row.arrival[0] != day:
            return
        _, quantity, po_number = row.arrival
        row.arrival = None
        when = self._at(day, 7, row.rng.randrange(120))
        self._book(
            row,
            "receipt",
            quantity,
            when,
            self._operation_id(),
            reference=po_number,
            supplier_id=row.link.supplier_id,
            unit_cost=row.link.cost_price,
            purchase_order=po_number,
        )
        self.orders[po_number]["receipts"].append((when, quantity))

    def _sell(self, row: _Row, day: int) -> None:
        """Book the day's sales (12:00-18:00), never more than is on the shelf."""
        quantity = min(_poisson(row.rng, row.demand), row.quantity)
        if quantity == 0:
            return
        self._book(
            row,
            "sale",
            -quantity,
            self._at(day, 12, row.rng.randrange(360)),
            self._operation_id(),
            reference=self._next_sale(),
        )

    def _sell_bundle(self, bundle: _Bundle, day: int) -> None:
        """Sell bundles (18:00-20:00): all components in one operation, or nothing."""
        for warehouse in WAREHOUSES:
            count = _poisson(bundle.rng, bundle.daily_sales * warehouse.demand_share)
            if count == 0:
                continue
            warehouse_id = self.warehouse_ids[warehouse.code]
            rows = [(self.by_key.get((part, warehouse_id)), n) for part, n in bundle.parts.items()]
            # a bundle sells only when every component is on the shelf, like the real endpoint
            if any(row is None or row.quantity < count * n for row, n in rows):
                continue
            when = self._at(day, 18, bundle.rng.randrange(120))
            operation_id = self._operation_id()
            reference = self._next_sale()
            for row, n in rows:
                self._book(
                    row,
                    "sale",
                    -count * n,
                    when,
                    operation_id,
                    reference=reference,
                    bundle_product_id=bundle.product_id,
                )

    def _adjust(self, row: _Row, day: int) -> None:
        """Rarely (20:00-22:00): perishables spoil; a count finds a unit or two off."""
        if row.perishable and row.rng.random() < SPOILAGE_CHANCE:
            change, note = -row.rng.randint(1, 3), "Spoiled; written off."
        elif row.rng.random() < CYCLE_COUNT_CHANCE:
            change, note = row.rng.choice((-2, -1, 1, 2)), "Cycle count correction."
        else:
            return
        change = max(change, -row.quantity)
        if change == 0:
            return
        when = self._at(day, 20, row.rng.randrange(120))
        self._book(row, "adjustment", change, when, self._operation_id(), note=note)

    def _reorder(self, row: _Row, day: int) -> None:
        """At the end of the day, order from the supplier when stock is at the reorder point."""
        if row.link is None or row.arrival is not None or day >= row.order_until:
            return
        if row.quantity > row.reorder_point:
            return
        self.order_number += 1
        arrival = day + max(1, row.link.lead_time_days)
        number = f"PO-{10000 + self.order_number}"
        row.arrival = (arrival, row.order_quantity(), number)
        self.orders[number] = {
            "row": row,
            "quantity": row.arrival[1],
            "ordered_at": self._at(day, 22, 0),
            "expected_at": self._at(arrival, 8, 0),
            "receipts": [],
        }

    def deliver_part_of_an_open_order(self) -> None:
        """Half of the first order still on its way arrived last night, after every
        other change of its row (so its row's ledger still chains)."""
        pending = sorted(
            (number for number, order in self.orders.items() if not order["receipts"]),
            key=lambda number: (self.orders[number]["ordered_at"], number),
        )
        for number in pending:
            order = self.orders[number]
            row = order["row"]
            part = order["quantity"] // 2
            if part == 0:
                continue
            when = self._at(HISTORY_DAYS - 1, 23, 0)
            self._book(
                row,
                "receipt",
                part,
                when,
                self._operation_id(),
                reference=number,
                supplier_id=row.link.supplier_id,
                unit_cost=row.link.cost_price,
                purchase_order=number,
            )
            order["receipts"].append((when, part))
            return

    def _book(self, row, reason, change, when, operation_id, **extra) -> None:
        """Apply a change to the row and record it with the level it leaves."""
        row.quantity += change
        if row.quantity < 0:
            raise AssertionError("demo simulation drove stock below zero")
        self.entries.append(
            {
                "company_id": self.company_id,
                "product_id": row.product_id,
                "warehouse_id": row.warehouse_id,
                "reason": reason,
                "quantity_change": change,
                "quantity_after": row.quantity,
                "operation_id": operation_id,
                "reference": extra.get("reference"),
                "note": extra.get("note"),
                "bundle_product_id": extra.get("bundle_product_id"),
                "supplier_id": extra.get("supplier_id"),
                "unit_cost": extra.get("unit_cost"),
                "occurred_at": when,
            }
        )
        if self.purchase_orders:
            # the order's number for now: its id once the orders are written
            self.entries[-1]["purchase_order_id"] = extra.get("purchase_order")

    def _at(self, day: int, hour: int, minutes: int) -> dt.datetime:
        """``day`` days after the start, at ``hour`` plus ``minutes``, in UTC."""
        return self.start + dt.timedelta(days=day, hours=hour, minutes=minutes)

    def _substream(self) -> random.Random:
        """A generator of its own, seeded from the main one in a fixed order."""
        return random.Random(self.rng.getrandbits(64))

    def _operation_id(self) -> str:
        """A UUID4-shaped id drawn from a seeded stream, so reruns are reproducible."""
        return str(uuid.UUID(int=self.id_rng.getrandbits(128), version=4))

    def _next_sale(self) -> str:
        """The next sales order number."""
        self.sale_number += 1
        return f"SO-{100000 + self.sale_number}"


def _poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth's method; the means here are small)."""
    limit = math.exp(-mean)
    count, product = 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count
