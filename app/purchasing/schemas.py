"""Purchase orders as the API takes and shows them."""

import datetime as dt

import marshmallow as ma
from marshmallow import validate

from app.models import PURCHASE_ORDER_STATUSES
from app.schemas import (
    Id,
    Money,
    PatchSchema,
    QueryId,
    StrictBoolean,
    StrictInteger,
    Text,
    UtcDateTime,
)
from app.stock.schemas import OccurredAt

MAX_LINES = 500
MAX_ALERTS = 1000
MAX_EXPECTED_YEARS = 10


class ExpectedAt(UtcDateTime):
    """When the goods are expected: an ISO 8601 time (UTC if no offset), at most
    ten years ahead (further is a typo, not a plan)."""

    def _deserialize(self, value, attr, data, **kwargs):
        when = super()._deserialize(value, attr, data, **kwargs)
        if when > dt.datetime.now(dt.UTC) + dt.timedelta(days=365 * MAX_EXPECTED_YEARS):
            raise ma.ValidationError(f"Must be within {MAX_EXPECTED_YEARS} years from now.")
        return when


class OrderLineInSchema(ma.Schema):
    """A line of a purchase order as sent: a product, how many, at what cost."""

    product_id = Id(required=True)
    quantity = StrictInteger(required=True, minimum=1)
    unit_cost = Money(
        allow_none=True,
        metadata={"description": "Default: the supplier link's cost_price (may be null)"},
    )


class OrderCreateSchema(ma.Schema):
    """Body of POST /api/purchase-orders."""

    supplier_id = Id(required=True)
    warehouse_id = Id(required=True)
    lines = ma.fields.List(
        ma.fields.Nested(OrderLineInSchema),
        required=True,
        validate=validate.Length(min=1, max=MAX_LINES),
        metadata={"description": "One line per product (a product listed twice is a 400)"},
    )
    expected_at = ExpectedAt(
        allow_none=True, metadata={"description": "Expected delivery (within 10 years)"}
    )
    reference = Text(max_length=255, allow_none=True)
    notes = Text(max_length=5000, multiline=True, allow_none=True)


class OrderUpdateSchema(PatchSchema, OrderCreateSchema):
    """Body of PATCH /api/purchase-orders/<id> (drafts only): load it with
    ``partial=True``; ``lines``, when given, replace every line at once."""


class OrderQuerySchema(ma.Schema):
    """Filters of GET /api/purchase-orders."""

    status = ma.fields.String(validate=validate.OneOf(PURCHASE_ORDER_STATUSES))
    supplier_id = QueryId()
    warehouse_id = QueryId()
    product_id = QueryId(metadata={"description": "Orders with a line for this product"})


class ReceiptLineSchema(ma.Schema):
    """A product of the order that arrived, and how many."""

    product_id = Id(required=True)
    quantity = StrictInteger(required=True, minimum=1)


class OrderReceiptSchema(ma.Schema):
    """Body of POST /api/purchase-orders/<id>/receipts."""

    lines = ma.fields.List(
        ma.fields.Nested(ReceiptLineSchema),
        required=True,
        validate=validate.Length(min=1, max=MAX_LINES),
    )
    occurred_at = OccurredAt(
        metadata={"description": "When the goods arrived (not before the order was placed)"}
    )
    reference = Text(max_length=255, allow_none=True, metadata={"description": "E.g. the ASN"})
    allow_over_receipt = StrictBoolean(
        load_default=False,
        metadata={"description": "Accept more than ordered (else a 409 over-receipt)"},
    )


class FromAlertsSchema(ma.Schema):
    """Body of POST /api/purchase-orders/from-alerts."""

    warehouse_id = Id(allow_none=True)
    supplier_id = Id(allow_none=True)
    product_ids = ma.fields.List(Id(), validate=validate.Length(min=1, max=MAX_ALERTS))
    days = StrictInteger(
        minimum=1, maximum=365, load_default=30, metadata={"description": "The sales window"}
    )


class OrderLineSchema(ma.Schema):
    """A line of a purchase order."""

    product_id = ma.fields.Integer()
    sku = ma.fields.String()
    product_name = ma.fields.String()
    quantity = ma.fields.Integer(metadata={"description": "Ordered"})
    received_quantity = ma.fields.Integer()
    unit_cost = Money(dump_only=True, allow_none=True)
    line_total = Money(
        dump_only=True,
        allow_none=True,
        metadata={"description": "quantity x unit_cost (null without a unit cost)"},
    )


class OrderSchema(ma.Schema):
    """A purchase order with its lines and computed totals."""

    id = ma.fields.Integer()
    status = ma.fields.String(metadata={"enum": list(PURCHASE_ORDER_STATUSES)})
    supplier_id = ma.fields.Integer()
    warehouse_id = ma.fields.Integer()
    reference = ma.fields.String(allow_none=True)
    notes = ma.fields.String(allow_none=True)
    expected_at = ma.fields.DateTime(allow_none=True)
    lines = ma.fields.List(ma.fields.Nested(OrderLineSchema))
    total_quantity = ma.fields.Integer()
    total_received_quantity = ma.fields.Integer()
    total_cost = Money(
        dump_only=True,
        metadata={"description": "Sum of the line totals (lines without a unit cost count 0)"},
    )
    created_at = ma.fields.DateTime()
    updated_at = ma.fields.DateTime()
    ordered_at = ma.fields.DateTime(allow_none=True)
    received_at = ma.fields.DateTime(allow_none=True)
    cancelled_at = ma.fields.DateTime(allow_none=True)


class SkippedAlertSchema(ma.Schema):
    """An alert no order was made for, and why."""

    product_id = ma.fields.Integer()
    warehouse_id = ma.fields.Integer()
    reason = ma.fields.String(metadata={"enum": ["no_supplier", "supplier_archived", "on_order"]})


class FromAlertsResultSchema(ma.Schema):
    """The draft orders built from the low-stock alerts."""

    purchase_orders = ma.fields.List(ma.fields.Nested(OrderSchema))
    alerts_considered = ma.fields.Integer()
    skipped = ma.fields.List(ma.fields.Nested(SkippedAlertSchema))
    truncated = ma.fields.Boolean(
        metadata={"description": f"More than {MAX_ALERTS} alerts matched; the most urgent used"}
    )
