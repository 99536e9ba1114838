"""Low-stock alerts as the API shows them (the original keys are fixed: clients parse them)."""

import marshmallow as ma
from marshmallow import validate

from app.schemas import PRODUCT_TYPE_MAX_LENGTH, Money, QueryId, QueryInteger, QueryText


class AlertQuerySchema(ma.Schema):
    """Parameters of GET /api/companies/<id>/alerts/low-stock."""

    days = QueryInteger(
        minimum=1,
        maximum=365,
        load_default=30,
        metadata={"description": "The sales window in days (1-365)"},
    )
    warehouse_id = QueryId()
    product_type = QueryText(validate=validate.Length(min=1, max=PRODUCT_TYPE_MAX_LENGTH))
    supplier_id = QueryId(metadata={"description": "Only alerts whose reorder supplier is this"})
    page = QueryInteger(minimum=1, maximum=100_000, load_default=1)
    page_size = QueryInteger(minimum=1, maximum=1000, load_default=100)


class AlertSupplierSchema(ma.Schema):
    """Whom to reorder from."""

    id = ma.fields.Integer()
    name = ma.fields.String()
    contact_email = ma.fields.String(allow_none=True)


class AlertSchema(ma.Schema):
    """A product that will run out in a warehouse, and what to do about it."""

    product_id = ma.fields.Integer()
    product_name = ma.fields.String()
    sku = ma.fields.String()
    warehouse_id = ma.fields.Integer()
    warehouse_name = ma.fields.String()
    current_stock = ma.fields.Integer()
    threshold = ma.fields.Integer()
    days_until_stockout = ma.fields.Integer(
        metadata={
            "description": "floor(current_stock / average daily sales in the window); "
            "may pass 2^31 (a 64-bit integer)"
        }
    )
    supplier = ma.fields.Nested(AlertSupplierSchema, allow_none=True)
    threshold_source = ma.fields.String(
        metadata={"enum": ["warehouse_rule", "product", "product_type", "default"]}
    )
    product_type = ma.fields.String()
    units_sold_in_window = ma.fields.Integer(
        metadata={"description": "May pass 2^31: a 64-bit integer"}
    )
    avg_daily_sales = ma.fields.Decimal(as_string=True)
    stockout_date = ma.fields.Date(
        allow_none=True,
        metadata={
            "description": "today + days_until_stockout; null when that is past 9999-12-31 "
            "(a stockout millions of days away has no calendar date)"
        },
    )
    lead_time_days = ma.fields.Integer(allow_none=True)
    cost_price = Money(dump_only=True, allow_none=True)
    reorder_by = ma.fields.Date(
        allow_none=True,
        metadata={"description": "stockout_date minus the lead time; null when either is null"},
    )
    urgency = ma.fields.String(
        metadata={
            "enum": ["critical", "high", "normal"],
            "description": "critical: runs out before a reorder placed today arrives; "
            "high: less than a week of margin",
        }
    )
    suggested_reorder_quantity = ma.fields.Integer(
        metadata={
            "description": "Covers the lead time plus one window at the current rate, less "
            "the stock, rounded up to the minimum order and pack size; at most "
            "2147483647 (the largest receipt), even where that breaks the rounding"
        }
    )
    reorder_quantity = ma.fields.Integer(
        allow_none=True, metadata={"description": "The warehouse rule's reorder quantity, if set"}
    )


class AlertPageSchema(ma.Schema):
    """A page of alerts, most urgent first."""

    alerts = ma.fields.List(ma.fields.Nested(AlertSchema))
    total_alerts = ma.fields.Integer(metadata={"description": "All matching alerts"})
    page = ma.fields.Integer()
    page_size = ma.fields.Integer()
    days = ma.fields.Integer()
