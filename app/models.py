"""Every table of StockFlow, with the invariants the database enforces.

Tenancy is structural: every tenant-owned table carries ``company_id``, its
primary key starts with it (``(company_id, id)`` where the table has a surrogate
id) and every foreign key between tenant-owned tables includes it, so a row of one
company can never point at a row of another. The same layout lets the schema be
distributed by ``company_id`` on Citus (app/distribution.py): every unique key and
foreign key holds the distribution column, so each company's rows live in one
shard group. ``companies`` and ``api_keys`` are the exception: they are read
before the company is known (an API key finds its company), so on Citus they are
reference tables, copied to every node (``info={"distribution": "reference"}``).
"""

from __future__ import annotations

import datetime as dt
import decimal
import re

import sqlalchemy as sa
import sqlalchemy.ext.compiler
import sqlalchemy.orm as so
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles

from app.extensions import db

LEDGER_REASONS = (
    "initial",
    "receipt",
    "sale",
    "adjustment",
    "transfer_in",
    "transfer_out",
    "return",
)

TWO_PLACES = decimal.Decimal("0.01")


class UTCDateTime(sa.TypeDecorator):
    """A timezone-aware timestamp on every backend.

    PostgreSQL stores ``timestamptz``; SQLite has no time zones, so values are
    written in UTC and read back as UTC-aware datetimes.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        """Normalise to UTC before writing."""
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(dt.UTC)
            if dialect.name == "sqlite":
                value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        """Attach UTC to naive values (SQLite)."""
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value


class Money(sa.TypeDecorator):
    """``NUMERIC(12, 2)`` that is a ``Decimal`` in Python on every backend.

    SQLite has no decimal type and hands back floats; twelve significant digits
    survive a float round trip exactly, so quantizing restores the exact value.
    """

    impl = sa.Numeric(12, 2)
    cache_ok = True

    def load_dialect_impl(self, dialect):
        """Ask SQLite for floats (converted below) instead of SQLAlchemy's lossy warning path."""
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.Numeric(12, 2, asdecimal=False))
        return dialect.type_descriptor(sa.Numeric(12, 2))

    def process_bind_param(self, value, dialect):
        """Bind exact strings on SQLite so no float is ever built from user input."""
        if value is not None and dialect.name == "sqlite":
            return str(decimal.Decimal(value).quantize(TWO_PLACES, decimal.ROUND_HALF_UP))
        return value

    def process_result_value(self, value, dialect):
        """Return a Decimal with exactly two places."""
        if value is None:
            return None
        return decimal.Decimal(repr(value) if isinstance(value, float) else value).quantize(
            TWO_PLACES, decimal.ROUND_HALF_UP
        )


# ledger ids grow without bound; SQLite only auto-increments INTEGER PRIMARY KEY
BigIntId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class current_txid(sa.sql.expression.FunctionElement):  # noqa: N801 - a SQL function
    """The id of the writing transaction, as a BIGINT: ``pg_current_xact_id()`` (64
    bits, never wraps) on PostgreSQL; NULL on SQLite, where writers take turns."""

    type = sa.BigInteger()
    name = "current_txid"
    inherit_cache = True


@compiles(current_txid, "postgresql")
def _current_txid_postgresql(element, compiler, **kw):
    return "(pg_current_xact_id()::text::bigint)"


@compiles(current_txid)
def _current_txid_elsewhere(element, compiler, **kw):
    return "NULL"


class write_time(sa.sql.expression.FunctionElement):  # noqa: N801 - a SQL function
    """The database's clock when the statement that writes a row started (PostgreSQL's
    ``statement_timestamp()``, SQLite's ``'now'`` of the statement), so a row written
    after a lock was granted carries a time after that grant. Not ``now()``: that is
    the start of the transaction, which may be long before the lock."""

    type = sa.DateTime(timezone=True)
    name = "write_time"
    inherit_cache = True


@compiles(write_time, "postgresql")
def _write_time_postgresql(element, compiler, **kw):
    return "statement_timestamp()"


@compiles(write_time)
def _write_time_elsewhere(element, compiler, **kw):
    # SQLAlchemy's SQLite DATETIME text, microseconds included (SQLite's clock has ms)
    return "strftime('%Y-%m-%d %H:%M:%f000', 'now')"


class NextId(sa.sql.expression.ColumnElement):
    """The next id of a table whose primary key is ``(company_id, id)``.

    Ids stay unique across companies. PostgreSQL draws them from the table's
    sequence (the SERIAL the table was created with). SQLite auto-increments only a
    single ``INTEGER PRIMARY KEY``, so there the INSERT itself takes the largest id
    plus one: one statement, under SQLite's single-writer lock, so two inserts cannot
    draw the same id (multi-row VALUES would, which is why SQLite engines run with
    ``use_insertmanyvalues=False``; see app.config.engine_options). ``MAX(id)`` reads
    every id of the table (the primary key's index starts with ``company_id``): fine
    for the embedded single-user database, which is what SQLite is here.
    """

    inherit_cache = True
    _traverse_internals = [("table", sa.sql.visitors.InternalTraversal.dp_string)]
    type = sa.BigInteger()

    def __init__(self, table: str):
        self.table = table


@sa.ext.compiler.compiles(NextId)
def _next_id_from_sequence(element, compiler, **kw):
    return f"nextval('{element.table}_id_seq')"


@sa.ext.compiler.compiles(NextId, "sqlite")
def _next_id_sqlite(element, compiler, **kw):
    return f"(SELECT COALESCE(MAX(id), 0) + 1 FROM {element.table})"


def surrogate_id(table: str, type_=sa.Integer) -> so.Mapped[int]:
    """A tenant table's own id, the second half of its primary key ``(company_id, id)``
    (declare ``sa.PrimaryKeyConstraint("company_id", "id")`` in ``__table_args__``)."""
    return so.mapped_column(type_, default=NextId(table), autoincrement=True)


def created_at_column() -> so.Mapped[dt.datetime]:
    """A creation timestamp set by the database."""
    return so.mapped_column(UTCDateTime(), server_default=sa.func.now(), nullable=False)


def tenant_fk(columns: list[str], table: str, ondelete: str | None = None, name: str | None = None):
    """A foreign key to ``table`` that includes ``company_id`` (see module docstring);
    ``name`` where the conventional one would pass PostgreSQL's 63 characters."""
    return sa.ForeignKeyConstraint(
        ["company_id", *columns],
        [f"{table}.company_id", f"{table}.id"],
        ondelete=ondelete,
        name=name,
    )


class Company(db.Model):
    """A tenant. Everything else belongs to exactly one company."""

    __tablename__ = "companies"
    __table_args__ = {"info": {"distribution": "reference"}}

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(255))
    created_at: so.Mapped[dt.datetime] = created_at_column()


class ApiKey(db.Model):
    """A company's API key, stored as a SHA-256 hash of the full key.

    The key looks like ``sf_<prefix>_<secret>``; ``prefix`` is not secret and finds
    the row, the hash is compared in constant time.
    """

    __tablename__ = "api_keys"
    # read to find the company of a request, before it is known: no fan-out on Citus
    __table_args__ = {"info": {"distribution": "reference"}}

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    company_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("companies.id", ondelete="CASCADE"), index=True
    )
    name: so.Mapped[str] = so.mapped_column(sa.String(100))
    prefix: so.Mapped[str] = so.mapped_column(sa.String(16), unique=True)
    key_hash: so.Mapped[str] = so.mapped_column(sa.String(64))
    created_at: so.Mapped[dt.datetime] = created_at_column()
    revoked_at: so.Mapped[dt.datetime | None] = so.mapped_column(UTCDateTime())


class Warehouse(db.Model):
    """A place where products are stocked."""

    __tablename__ = "warehouses"
    __table_args__ = (sa.PrimaryKeyConstraint("company_id", "id"),)

    id: so.Mapped[int] = surrogate_id("warehouses")
    company_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("companies.id", ondelete="CASCADE"))
    name: so.Mapped[str] = so.mapped_column(sa.String(255))
    location: so.Mapped[str | None] = so.mapped_column(sa.String(255))
    created_at: so.Mapped[dt.datetime] = created_at_column()
    archived_at: so.Mapped[dt.datetime | None] = so.mapped_column(UTCDateTime())


# products that never alert (archived, or bundles: they hold no stock)
PRODUCTS_NOT_ALERTING = "archived_at IS NOT NULL OR is_bundle"


class Product(db.Model):
    """A sellable item; SKU unique per company, price exact to the cent."""

    __tablename__ = "products"
    __table_args__ = (
        sa.PrimaryKeyConstraint("company_id", "id"),
        sa.UniqueConstraint("company_id", "sku"),
        sa.CheckConstraint("price >= 0", name="price_non_negative"),
        sa.CheckConstraint(
            "low_stock_threshold IS NULL OR low_stock_threshold >= 0",
            name="threshold_non_negative",
        ),
        sa.Index(None, "company_id", "product_type"),
        # the few products the alerts leave out: the alert count anti-joins them
        sa.Index(
            "ix_products_not_alerting",
            "company_id",
            "id",
            postgresql_where=sa.text(PRODUCTS_NOT_ALERTING),
            sqlite_where=sa.text(PRODUCTS_NOT_ALERTING),
        ),
    )

    id: so.Mapped[int] = surrogate_id("products")
    company_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("companies.id", ondelete="CASCADE"))
    name: so.Mapped[str] = so.mapped_column(sa.String(255))
    sku: so.Mapped[str] = so.mapped_column(sa.String(100))
    price: so.Mapped[decimal.Decimal] = so.mapped_column(Money())
    product_type: so.Mapped[str] = so.mapped_column(sa.String(50), server_default="regular")
    low_stock_threshold: so.Mapped[int | None]
    is_bundle: so.Mapped[bool] = so.mapped_column(server_default=sa.false())
    created_at: so.Mapped[dt.datetime] = created_at_column()
    updated_at: so.Mapped[dt.datetime] = so.mapped_column(
        UTCDateTime(), server_default=sa.func.now(), onupdate=sa.func.now()
    )
    archived_at: so.Mapped[dt.datetime | None] = so.mapped_column(UTCDateTime())


# the default alert window (days) the inventory rows keep their sales for
STATE_DAYS = 30
# an inventory row in the default window's alert set, and its days until stockout
ALERTING = "quantity < alert_threshold AND window_sales > 0"
ALERT_SORT_KEY = f"((CAST(quantity AS BIGINT) * {STATE_DAYS}) / window_sales)"


def window_start(today: dt.date, days: int = STATE_DAYS) -> dt.datetime:
    """An alert window's start: the last ``days`` whole days (UTC) and today so far."""
    return dt.datetime.combine(today - dt.timedelta(days=days), dt.time(), dt.UTC)


class Inventory(db.Model):
    """The stock level of one product in one warehouse; never negative.

    The ledger is the record of truth: ``quantity`` always equals the sum of the
    product's ledger rows in that warehouse. ``alert_threshold`` copies the
    threshold that applies to the row, so the partial index
    ``ix_inventory_below_threshold`` holds exactly the rows that are low.
    """

    __tablename__ = "inventory"
    __table_args__ = (
        sa.PrimaryKeyConstraint("company_id", "id"),
        sa.UniqueConstraint("company_id", "product_id", "warehouse_id"),
        tenant_fk(["product_id"], "products"),
        tenant_fk(["warehouse_id"], "warehouses"),
        sa.CheckConstraint("quantity >= 0", name="quantity_non_negative"),
        sa.Index(None, "company_id", "warehouse_id"),
        # the rows that are low right now, and only those: where the alerts start
        sa.Index(
            "ix_inventory_below_threshold",
            "company_id",
            "product_id",
            "warehouse_id",
            postgresql_where=sa.text("quantity < alert_threshold"),
            sqlite_where=sa.text("quantity < alert_threshold"),
        ),
        # the alerts of the default window in their order: the first page is a range scan
        sa.Index(
            "ix_inventory_alert_order",
            "company_id",
            sa.text(ALERT_SORT_KEY),
            "quantity",
            "product_id",
            "warehouse_id",
            postgresql_where=sa.text(ALERTING),
            sqlite_where=sa.text(ALERTING),
        ),
    )

    id: so.Mapped[int] = surrogate_id("inventory")
    company_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("companies.id", ondelete="CASCADE"))
    product_id: so.Mapped[int]
    warehouse_id: so.Mapped[int]
    quantity: so.Mapped[int] = so.mapped_column(server_default="0")
    # the row's low-stock threshold (rule, product, type or default), kept current by
    # app.thresholds.queries so that the low rows can be found from an index
    alert_threshold: so.Mapped[int]
    # units sold (reason 'sale') since ``window_since``, the start of the default alert
    # window: kept by every stock change, moved daily by ``flask refresh-alert-state``
    # (app.alerts.state); NULL window_since: not computed yet
    window_sales: so.Mapped[int] = so.mapped_column(sa.BigInteger, server_default="0")
    window_since: so.Mapped[dt.datetime | None] = so.mapped_column(UTCDateTime())
    updated_at: so.Mapped[dt.datetime] = so.mapped_column(
        UTCDateTime(), server_default=sa.func.now(), onupdate=sa.func.now()
    )


class LedgerEntry(db.Model):
    """One stock change, append-only: signed quantity, why, and the level after it.

    ``occurred_at`` is when it happened (an import may backdate it; otherwise
    it is the database's clock when the row is written, after the inventory row's
    lock was granted, so the rows of one inventory row chain newest first);
    ``recorded_at`` is when StockFlow wrote it. Rows written by one operation
    share an ``operation_id``. ``txid`` is the writing transaction's id, the order
    of the sync cursor (``app.stock.queries.ledger_changes``).
    """

    __tablename__ = "inventory_ledger"
    __table_args__ = (
        sa.PrimaryKeyConstraint("company_id", "id"),
        # the company is checked through the product (whose key references it): no key
        # of its own to ``companies``, checked again per row (migration 0011); a deleted
        # company's products take their ledger rows with them
        tenant_fk(["product_id"], "products", ondelete="CASCADE"),
        tenant_fk(["warehouse_id"], "warehouses"),
        tenant_fk(["bundle_product_id"], "products"),
        tenant_fk(["supplier_id"], "suppliers"),
        tenant_fk(
            ["purchase_order_id"], "purchase_orders", name="fk_inventory_ledger_purchase_orders"
        ),
        sa.CheckConstraint(
            "reason IN (" + ", ".join(f"'{r}'" for r in LEDGER_REASONS) + ")",
            name="reason_known",
        ),
        sa.CheckConstraint("quantity_after >= 0", name="quantity_after_non_negative"),
        sa.CheckConstraint("unit_cost IS NULL OR unit_cost >= 0", name="unit_cost_non_negative"),
        # the ledger read, newest first, per company
        sa.Index("ix_inventory_ledger_company_timeline", "company_id", "occurred_at", "id"),
        # the sync cursor: the company's rows in the order their transactions wrote them
        sa.Index("ix_inventory_ledger_company_txid", "company_id", "txid", "id"),
        # the low-stock alert: sales of a product in a warehouse within a window
        # (PostgreSQL answers it from the index alone, thanks to the INCLUDE)
        sa.Index(
            "ix_inventory_ledger_product_movements",
            "company_id",
            "product_id",
            "warehouse_id",
            "reason",
            "occurred_at",
            postgresql_include=["quantity_change"],
        ),
    )

    id: so.Mapped[int] = surrogate_id("inventory_ledger", BigIntId)
    company_id: so.Mapped[int]
    product_id: so.Mapped[int]
    warehouse_id: so.Mapped[int]
    reason: so.Mapped[str] = so.mapped_column(sa.String(20))
    quantity_change: so.Mapped[int]
    quantity_after: so.Mapped[int]
    operation_id: so.Mapped[str] = so.mapped_column(sa.String(36))
    reference: so.Mapped[str | None] = so.mapped_column(sa.String(255))
    note: so.Mapped[str | None] = so.mapped_column(sa.Text())
    bundle_product_id: so.Mapped[int | None]
    supplier_id: so.Mapped[int | None]
    unit_cost: so.Mapped[decimal.Decimal | None] = so.mapped_column(Money())
    # a receipt against a purchase order names it
    purchase_order_id: so.Mapped[int | None]
    occurred_at: so.Mapped[dt.datetime] = so.mapped_column(
        UTCDateTime(), server_default=sa.func.now()
    )
    recorded_at: so.Mapped[dt.datetime] = created_at_column()
    txid: so.Mapped[int | None] = so.mapped_column(sa.BigInteger, server_default=current_txid())


class Supplier(db.Model):
    """A company that supplies products."""

    __tablename__ = "suppliers"
    __table_args__ = (sa.PrimaryKeyConstraint("company_id", "id"),)

    id: so.Mapped[int] = surrogate_id("suppliers")
    company_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("companies.id", ondelete="CASCADE"))
    name: so.Mapped[str] = so.mapped_column(sa.String(255))
    contact_email: so.Mapped[str | None] = so.mapped_column(sa.String(320))
    phone: so.Mapped[str | None] = so.mapped_column(sa.String(50))
    notes: so.Mapped[str | None] = so.mapped_column(sa.Text())
    created_at: so.Mapped[dt.datetime] = created_at_column()
    archived_at: so.Mapped[dt.datetime | None] = so.mapped_column(UTCDateTime())


class SupplierProduct(db.Model):
    """A supplier's offer for a product; at most one preferred supplier per product."""

    __tablename__ = "supplier_products"
    __table_args__ = (
        sa.PrimaryKeyConstraint("company_id", "id"),
        sa.UniqueConstraint("company_id", "product_id", "supplier_id"),
        tenant_fk(["product_id"], "products"),
        tenant_fk(["supplier_id"], "suppliers"),
        sa.CheckConstraint("cost_price IS NULL OR cost_price >= 0", name="cost_non_negative"),
        sa.CheckConstraint(
            "lead_time_days IS NULL OR lead_time_days >= 0", name="lead_time_non_negative"
        ),
        sa.CheckConstraint("min_order_quantity >= 1", name="min_order_positive"),
        sa.CheckConstraint("pack_size >= 1", name="pack_size_positive"),
        sa.Index(
            "uq_supplier_products_one_preferred",
            "company_id",
            "product_id",
            unique=True,
            postgresql_where=sa.text("is_preferred"),
            sqlite_where=sa.text("is_preferred"),
        ),
        sa.Index(None, "company_id", "supplier_id"),
    )

    id: so.Mapped[int] = surrogate_id("supplier_products")
    company_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("companies.id", ondelete="CASCADE"))
    product_id: so.Mapped[int]
    supplier_id: so.Mapped[int]
    supplier_sku: so.Mapped[str | None] = so.mapped_column(sa.String(100))
    cost_price: so.Mapped[decimal.Decimal | None] = so.mapped_column(Money())
    lead_time_days: so.Mapped[int | None]
    min_order_quantity: so.Mapped[int] = so.mapped_column(server_default="1")
    pack_size: so.Mapped[int] = so.mapped_column(server_default="1")
    is_preferred: so.Mapped[bool] = so.mapped_column(server_default=sa.false())
    created_at: so.Mapped[dt.datetime] = created_at_column()


class BundleComponent(db.Model):
    """``quantity`` units of ``component_product_id`` make one ``bundle_product_id``."""

    __tablename__ = "bundle_components"
    __table_args__ = (
        tenant_fk(["bundle_product_id"], "products", ondelete="CASCADE"),
        tenant_fk(["component_product_id"], "products"),
        sa.CheckConstraint("quantity > 0", name="quantity_positive"),
        sa.CheckConstraint("bundle_product_id <> component_product_id", name="not_self"),
        sa.Index("ix_bundle_components_component", "company_id", "component_product_id"),
    )

    company_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("companies.id", ondelete="CASCADE"), primary_key=True
    )
    bundle_product_id: so.Mapped[int] = so.mapped_column(primary_key=True)
    component_product_id: so.Mapped[int] = so.mapped_column(primary_key=True)
    quantity: so.Mapped[int]


class ProductTypeThreshold(db.Model):
    """A company's low-stock threshold for every product of one type."""

    __tablename__ = "product_type_thresholds"
    __table_args__ = (
        sa.CheckConstraint("low_stock_threshold >= 0", name="threshold_non_negative"),
    )

    company_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("companies.id", ondelete="CASCADE"), primary_key=True
    )
    product_type: so.Mapped[str] = so.mapped_column(sa.String(50), primary_key=True)
    low_stock_threshold: so.Mapped[int]


class ReorderRule(db.Model):
    """A warehouse-specific low-stock threshold (and reorder quantity) for a product."""

    __tablename__ = "reorder_rules"
    __table_args__ = (
        tenant_fk(["product_id"], "products"),
        tenant_fk(["warehouse_id"], "warehouses"),
        sa.CheckConstraint("threshold >= 0", name="threshold_non_negative"),
        sa.CheckConstraint(
            "reorder_quantity IS NULL OR reorder_quantity > 0", name="reorder_quantity_positive"
        ),
    )

    company_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("companies.id", ondelete="CASCADE"), primary_key=True
    )
    product_id: so.Mapped[int] = so.mapped_column(primary_key=True)
    warehouse_id: so.Mapped[int] = so.mapped_column(primary_key=True)
    threshold: so.Mapped[int]
    reorder_quantity: so.Mapped[int | None]
    updated_at: so.Mapped[dt.datetime] = so.mapped_column(
        UTCDateTime(), server_default=sa.func.now(), onupdate=sa.func.now()
    )


PURCHASE_ORDER_STATUSES = ("draft", "ordered", "partially_received", "received", "cancelled")


class PurchaseOrder(db.Model):
    """An order for goods from one supplier, delivered to one warehouse.

    ``draft`` -> ``ordered`` (submitted) -> ``partially_received`` -> ``received``;
    a draft, or an ordered one with nothing received, may be ``cancelled``. Totals
    are computed from the lines, never stored.
    """

    __tablename__ = "purchase_orders"
    __table_args__ = (
        sa.PrimaryKeyConstraint("company_id", "id"),
        tenant_fk(["supplier_id"], "suppliers"),
        tenant_fk(["warehouse_id"], "warehouses"),
        sa.CheckConstraint(
            "status IN (" + ", ".join(f"'{s}'" for s in PURCHASE_ORDER_STATUSES) + ")",
            name="status_known",
        ),
        sa.Index(None, "company_id", "status"),
        sa.Index(None, "company_id", "supplier_id"),
        sa.Index(None, "company_id", "warehouse_id", "status"),
    )

    id: so.Mapped[int] = surrogate_id("purchase_orders")
    company_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("companies.id", ondelete="CASCADE"))
    supplier_id: so.Mapped[int]
    warehouse_id: so.Mapped[int]
    status: so.Mapped[str] = so.mapped_column(sa.String(20), server_default="draft")
    reference: so.Mapped[str | None] = so.mapped_column(sa.String(255))
    notes: so.Mapped[str | None] = so.mapped_column(sa.Text())
    expected_at: so.Mapped[dt.datetime | None] = so.mapped_column(UTCDateTime())
    created_at: so.Mapped[dt.datetime] = created_at_column()
    updated_at: so.Mapped[dt.datetime] = so.mapped_column(
        UTCDateTime(), server_default=sa.func.now(), onupdate=sa.func.now()
    )
    ordered_at: so.Mapped[dt.datetime | None] = so.mapped_column(UTCDateTime())
    received_at: so.Mapped[dt.datetime | None] = so.mapped_column(UTCDateTime())
    cancelled_at: so.Mapped[dt.datetime | None] = so.mapped_column(UTCDateTime())


class PurchaseOrderLine(db.Model):
    """One product of a purchase order: how many were ordered, how many arrived."""

    __tablename__ = "purchase_order_lines"
    __table_args__ = (
        sa.PrimaryKeyConstraint("company_id", "id"),
        sa.UniqueConstraint(
            "company_id",
            "purchase_order_id",
            "product_id",
            name="uq_purchase_order_lines_order_product",
        ),
        tenant_fk(
            ["purchase_order_id"],
            "purchase_orders",
            ondelete="CASCADE",
            name="fk_purchase_order_lines_purchase_orders",
        ),
        tenant_fk(["product_id"], "products"),
        sa.CheckConstraint("quantity_ordered > 0", name="quantity_ordered_positive"),
        sa.CheckConstraint("quantity_received >= 0", name="quantity_received_non_negative"),
        sa.CheckConstraint("unit_cost IS NULL OR unit_cost >= 0", name="unit_cost_non_negative"),
        # what is on order for a product (app.purchasing.queries.on_order)
        sa.Index(None, "company_id", "product_id"),
    )

    id: so.Mapped[int] = surrogate_id("purchase_order_lines")
    company_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("companies.id", ondelete="CASCADE"))
    purchase_order_id: so.Mapped[int]
    product_id: so.Mapped[int]
    quantity_ordered: so.Mapped[int]
    quantity_received: so.Mapped[int] = so.mapped_column(server_default="0")
    unit_cost: so.Mapped[decimal.Decimal | None] = so.mapped_column(Money())


class LeadTimeObservation(db.Model):
    """How many days a supplier took to deliver a product: a purchase order's
    ``ordered_at`` to the first receipt of that product on it (one per line)."""

    __tablename__ = "lead_time_observations"
    __table_args__ = (
        sa.PrimaryKeyConstraint("company_id", "id"),
        sa.UniqueConstraint(
            "company_id",
            "purchase_order_id",
            "product_id",
            name="uq_lead_time_observations_order_product",
        ),
        tenant_fk(["supplier_id"], "suppliers"),
        tenant_fk(["product_id"], "products"),
        tenant_fk(
            ["purchase_order_id"],
            "purchase_orders",
            ondelete="CASCADE",
            name="fk_lead_time_observations_purchase_orders",
        ),
        sa.CheckConstraint("days >= 0", name="days_non_negative"),
        # the last observations of a supplier-product link
        sa.Index(
            "ix_lead_time_observations_link",
            "company_id",
            "supplier_id",
            "product_id",
            "observed_at",
        ),
    )

    id: so.Mapped[int] = surrogate_id("lead_time_observations")
    company_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("companies.id", ondelete="CASCADE"))
    supplier_id: so.Mapped[int]
    product_id: so.Mapped[int]
    purchase_order_id: so.Mapped[int]
    days: so.Mapped[int]
    observed_at: so.Mapped[dt.datetime] = so.mapped_column(UTCDateTime())


EVENT_TYPES = (
    "stock.low",
    "stock.out",
    "stock.recovered",
    "purchase_order.received",
    "alert.acknowledged",
    "ping",
)
DELIVERY_STATUSES = ("pending", "succeeded", "failed")


class Event(db.Model):
    """The transactional outbox: one row per event, written in the transaction of the
    change that caused it (app/events/outbox.py), so a rolled-back change emits
    nothing and a committed one always does. ``payload`` is the JSON body exactly as
    it is delivered (and signed), so every attempt sends the same bytes."""

    __tablename__ = "events"
    __table_args__ = (
        sa.PrimaryKeyConstraint("company_id", "id"),
        sa.UniqueConstraint("company_id", "uid"),
        sa.CheckConstraint(
            "type IN (" + ", ".join(f"'{t}'" for t in EVENT_TYPES) + ")", name="type_known"
        ),
        # pruning (app/events/worker.py)
        sa.Index(None, "created_at"),
    )

    id: so.Mapped[int] = surrogate_id("events", BigIntId)
    company_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("companies.id", ondelete="CASCADE"))
    uid: so.Mapped[str] = so.mapped_column(sa.String(36))  # the public event id (a UUID)
    type: so.Mapped[str] = so.mapped_column(sa.String(40))
    product_id: so.Mapped[int | None]
    warehouse_id: so.Mapped[int | None]
    occurred_at: so.Mapped[dt.datetime] = so.mapped_column(
        UTCDateTime(), server_default=sa.func.now()
    )
    payload: so.Mapped[str] = so.mapped_column(sa.Text())
    created_at: so.Mapped[dt.datetime] = created_at_column()


class WebhookEndpoint(db.Model):
    """Where a company wants its events POSTed, and which ones.

    The signing secret is never stored: ``secret_salt`` and the server's key
    (``STOCKFLOW_WEBHOOK_KEY``) derive it (app/events/secrets.py), so a copy of the
    database alone cannot sign."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = (sa.PrimaryKeyConstraint("company_id", "id"),)

    id: so.Mapped[int] = surrogate_id("webhook_endpoints")
    company_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("companies.id", ondelete="CASCADE"))
    url: so.Mapped[str] = so.mapped_column(sa.String(2048))
    description: so.Mapped[str | None] = so.mapped_column(sa.String(500))
    events: so.Mapped[str] = so.mapped_column(sa.Text())  # a JSON array of event types
    enabled: so.Mapped[bool] = so.mapped_column(server_default=sa.true())
    secret_salt: so.Mapped[str] = so.mapped_column(sa.String(64))
    disabled_reason: so.Mapped[str | None] = so.mapped_column(sa.Text())
    disabled_at: so.Mapped[dt.datetime | None] = so.mapped_column(UTCDateTime())
    created_at: so.Mapped[dt.datetime] = created_at_column()
    updated_at: so.Mapped[dt.datetime] = so.mapped_column(
        UTCDateTime(), server_default=sa.func.now(), onupdate=sa.func.now()
    )


class WebhookDelivery(db.Model):
    """One event owed to one endpoint, until it is delivered or given up on.

    ``ordering_key`` (``product_id:warehouse_id``) keeps one row's events in order per
    endpoint: a delivery is not attempted while an earlier one of the same key and
    endpoint is pending. A claimed delivery's ``next_attempt_at`` is its lease: a
    worker that dies mid-delivery leaves it due again when the lease ends."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        sa.PrimaryKeyConstraint("company_id", "id"),
        tenant_fk(
            ["endpoint_id"],
            "webhook_endpoints",
            ondelete="CASCADE",
            name="fk_webhook_deliveries_webhook_endpoints",
        ),
        tenant_fk(["event_id"], "events", ondelete="CASCADE"),
        sa.CheckConstraint(
            "status IN (" + ", ".join(f"'{s}'" for s in DELIVERY_STATUSES) + ")",
            name="status_known",
        ),
        # the worker's due work, and an endpoint's listing
        sa.Index(None, "status", "next_attempt_at"),
        sa.Index(None, "company_id", "endpoint_id", "id"),
        # pruning: an event with no delivery left, and the foreign key's check
        sa.Index(None, "company_id", "event_id"),
        sa.Index(
            "ix_webhook_deliveries_pending_order",
            "company_id",
            "endpoint_id",
            "ordering_key",
            "id",
            postgresql_where=sa.text("status = 'pending'"),
            sqlite_where=sa.text("status = 'pending'"),
        ),
    )

    id: so.Mapped[int] = surrogate_id("webhook_deliveries", BigIntId)
    company_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("companies.id", ondelete="CASCADE"))
    endpoint_id: so.Mapped[int]
    event_id: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    ordering_key: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    status: so.Mapped[str] = so.mapped_column(sa.String(16), server_default="pending")
    attempts: so.Mapped[int] = so.mapped_column(server_default="0")
    next_attempt_at: so.Mapped[dt.datetime] = so.mapped_column(UTCDateTime())
    last_attempt_at: so.Mapped[dt.datetime | None] = so.mapped_column(UTCDateTime())
    last_status_code: so.Mapped[int | None]
    last_error: so.Mapped[str | None] = so.mapped_column(sa.Text())
    delivered_at: so.Mapped[dt.datetime | None] = so.mapped_column(UTCDateTime())
    created_at: so.Mapped[dt.datetime] = created_at_column()


class WebhookAttempt(db.Model):
    """One HTTP attempt of a delivery: what came back, how long it took, what next."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (
        sa.PrimaryKeyConstraint("company_id", "id"),
        tenant_fk(
            ["delivery_id"],
            "webhook_deliveries",
            ondelete="CASCADE",
            name="fk_webhook_attempts_webhook_deliveries",
        ),
        sa.Index(None, "company_id", "delivery_id", "id"),
    )

    id: so.Mapped[int] = surrogate_id("webhook_attempts", BigIntId)
    company_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("companies.id", ondelete="CASCADE"))
    delivery_id: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    attempted_at: so.Mapped[dt.datetime] = so.mapped_column(UTCDateTime())
    status_code: so.Mapped[int | None]
    duration_ms: so.Mapped[int | None]
    error: so.Mapped[str | None] = so.mapped_column(sa.Text())
    next_retry_at: so.Mapped[dt.datetime | None] = so.mapped_column(UTCDateTime())


class ChangeCounter(db.Model):
    """How many committed writes touched a slice of a company's data.

    Every write bumps one counter in its own transaction: a stock change bumps
    the slot of each product it moved (``product_id % STOCK_SLOTS``), any other
    change the configuration slot; a stock change of a row that was or is in the
    default window's alert set also bumps that row's alert slot (by warehouse group
    and product: ``app.changes.alert_slot``), which with the configuration slot
    versions the alerts (all of them, or one warehouse group's). The
    sum over a company only grows, and grows with every committed change, so it
    versions whatever is derived from that data (the low-stock alerts' ETag)
    without a hot row that every write of the company would queue on.
    """

    __tablename__ = "change_counters"

    company_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("companies.id", ondelete="CASCADE"), primary_key=True
    )
    slot: so.Mapped[int] = so.mapped_column(primary_key=True, autoincrement=False)
    changes: so.Mapped[int] = so.mapped_column(sa.BigInteger, server_default="0")


class AlertState(db.Model):
    """Up to which day a company's ``inventory.window_sales`` are current.

    ``as_of`` is the UTC day whose default window every row of the company counts
    (set by ``flask refresh-alert-state`` once all rows are moved, and at company
    creation); on any other day the alerts are computed from the ledger instead.
    """

    __tablename__ = "alert_state"

    company_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("companies.id", ondelete="CASCADE"), primary_key=True
    )
    as_of: so.Mapped[dt.date]


class AlertAcknowledgement(db.Model):
    """A buyer's "seen it" on the low-stock alert of one product in one warehouse.

    The alert is hidden from the default list while the acknowledgement holds: until
    ``until`` (if set) passes, and while the situation is no worse than when it was
    acknowledged (``level_at_ack`` and ``stockout_day_at_ack``, the stockout as a day
    number, days since 1970-01-01, in the default window; NULL: no stockout then).
    One per product and warehouse: acknowledging again replaces it.
    """

    __tablename__ = "alert_acknowledgements"
    __table_args__ = (
        sa.PrimaryKeyConstraint("company_id", "id"),
        sa.UniqueConstraint("company_id", "product_id", "warehouse_id"),
        tenant_fk(["product_id"], "products"),
        tenant_fk(["warehouse_id"], "warehouses"),
        sa.CheckConstraint("level_at_ack >= 0", name="level_at_ack_non_negative"),
        # the earliest pending ``until`` of a company: part of the alerts' ETag
        sa.Index(None, "company_id", "until"),
    )

    id: so.Mapped[int] = surrogate_id("alert_acknowledgements")
    company_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("companies.id", ondelete="CASCADE"))
    product_id: so.Mapped[int]
    warehouse_id: so.Mapped[int]
    until: so.Mapped[dt.datetime | None] = so.mapped_column(UTCDateTime())
    note: so.Mapped[str | None] = so.mapped_column(sa.Text())
    acknowledged_at: so.Mapped[dt.datetime] = so.mapped_column(UTCDateTime())
    # who: the API key of the request (its id, and its name as it was then)
    api_key_id: so.Mapped[int | None]
    acknowledged_by: so.Mapped[str] = so.mapped_column(sa.String(100))
    level_at_ack: so.Mapped[int]
    stockout_day_at_ack: so.Mapped[int | None] = so.mapped_column(sa.BigInteger)


class IdempotencyKey(db.Model):
    """The stored outcome of a mutating request, replayed when a client retries it.

    Written in the same transaction as the request's effect, so a request either
    happened and is replayable, or did not happen at all.
    """

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        sa.PrimaryKeyConstraint("company_id", "id"),
        sa.UniqueConstraint("company_id", "key"),
    )

    id: so.Mapped[int] = surrogate_id("idempotency_keys", BigIntId)
    company_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("companies.id", ondelete="CASCADE"))
    key: so.Mapped[str] = so.mapped_column(sa.String(255))
    fingerprint: so.Mapped[str] = so.mapped_column(sa.String(64))
    status_code: so.Mapped[int | None]
    response_body: so.Mapped[str | None] = so.mapped_column(sa.Text())
    response_headers: so.Mapped[str | None] = so.mapped_column(sa.Text())
    created_at: so.Mapped[dt.datetime] = created_at_column()


def dialect_insert(model) -> postgresql.Insert | sqlite.Insert:
    """An INSERT for the session's database, with its ``ON CONFLICT`` clauses
    (PostgreSQL's and SQLite's have the same shape)."""
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(model)


def flush_or_conflict(conflicts: dict[str, Exception]) -> None:
    """Flush, letting the database's constraints decide: a violation of one named in
    ``conflicts`` raises its problem (a 409, say) instead of the IntegrityError.

    This is how uniqueness is enforced without a check-then-insert race.
    """
    try:
        db.session.flush()
    except sa.exc.IntegrityError as error:
        problem = conflicts.get(violated_constraint(error))
        if problem is None:
            raise
        raise problem from error


def violated_constraint(error: sa.exc.IntegrityError) -> str | None:
    """The name of the constraint an IntegrityError broke, on PostgreSQL and SQLite.

    PostgreSQL reports the name (a Citus coordinator: in the message, with the
    shard id appended); SQLite reports ``UNIQUE constraint failed:
    table.col, ...`` (or the name, for CHECK constraints), so the columns are
    matched against the metadata's unique constraints and indexes.
    """
    diag = getattr(error.orig, "diag", None)
    if diag is not None:
        # a Citus coordinator relays a worker's error without the constraint field
        name = getattr(diag, "constraint_name", None) or _quoted_constraint(str(error.orig))
        if name:
            return _unsharded(name)
    message = str(error.orig)
    head, _, tail = message.partition(" constraint failed: ")
    if not tail:
        return None
    if head != "UNIQUE":
        return tail.strip()
    columns = [part.strip() for part in tail.split(",")]
    table_name = columns[0].split(".")[0]
    names = {column.split(".", 1)[1] for column in columns}
    table = db.metadata.tables.get(table_name)
    if table is None:
        return None
    for constraint in [*table.constraints, *table.indexes]:
        is_unique = isinstance(constraint, sa.UniqueConstraint | sa.PrimaryKeyConstraint) or (
            isinstance(constraint, sa.Index) and constraint.unique
        )
        if is_unique and {c.name for c in constraint.columns} == names:
            return constraint.name
    return None


def _quoted_constraint(message: str) -> str | None:
    """The constraint named in a PostgreSQL message (``... violates unique constraint "x"``)."""
    match = re.search(r'violates (?:[a-z ]+ )?constraint "([^"]+)"', message)
    return match.group(1) if match else None


def _unsharded(name: str) -> str:
    """A constraint's name as the metadata knows it.

    On Citus the shard that refused the row reports its own copy of the constraint,
    named with the shard id appended (``uq_products_company_id_sku_102074``).
    """
    base, _, suffix = name.rpartition("_")
    if suffix.isdigit() and base in _constraint_names():
        return base
    return name


def _constraint_names() -> set[str]:
    return {
        item.name
        for table in db.metadata.tables.values()
        for item in [*table.constraints, *table.indexes]
        if item.name
    }
