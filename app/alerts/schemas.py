"""Low-stock alerts as the API shows them (the original keys are fixed: clients parse them)."""

import datetime as dt
import operator

import marshmallow as ma
from marshmallow import validate

from app.schemas import (
    PRODUCT_TYPE_MAX_LENGTH,
    Id,
    Money,
    QueryId,
    QueryInteger,
    QueryText,
    Text,
    UtcDateTime,
    plain_json,
)

MAX_NOTE_LENGTH = 500
MAX_UNTIL_DAYS = 366


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
    covered = ma.fields.Boolean(
        metadata={
            "description": "false: hide the alerts that open purchase orders cover; true: "
            "only those; absent (the default): every alert, each with its `covered` field"
        }
    )
    include_acknowledged = ma.fields.Boolean(
        load_default=False,
        metadata={
            "description": "true: also the alerts hidden by an acknowledgement that holds "
            "(each says so in `acknowledgement`); default false"
        },
    )
    page = QueryInteger(minimum=1, maximum=100_000, load_default=1)
    page_size = QueryInteger(minimum=1, maximum=1000, load_default=100)
    format = QueryText(
        validate=validate.OneOf(["json", "csv"]),
        metadata={
            "description": "csv: every matching alert (pages aside) as CSV; "
            "default: the Accept header, else JSON"
        },
    )


class AlertSupplierSchema(ma.Schema):
    """Whom to reorder from."""

    id = ma.fields.Integer()
    name = ma.fields.String()
    contact_email = ma.fields.String(allow_none=True)


class AlertAcknowledgementRefSchema(ma.Schema):
    """The acknowledgement that holds for an alert."""

    id = ma.fields.Integer()
    acknowledged_at = ma.fields.DateTime()
    acknowledged_by = ma.fields.String(metadata={"description": "The name of the API key"})
    until = ma.fields.DateTime(allow_none=True)
    note = ma.fields.String(allow_none=True)


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
    lead_time_days = ma.fields.Integer(
        allow_none=True,
        metadata={
            "description": "The lead time the alert uses (urgency, reorder_by, the suggestion): "
            "the link's observed one when it has one, else the configured one"
        },
    )
    lead_time_source = ma.fields.String(
        allow_none=True,
        metadata={
            "enum": ["observed", "configured", None],
            "description": "observed: the median of the link's last 10 delivery lead times "
            "(when it has at least 3); configured: the link's lead_time_days; null: no supplier",
        },
    )
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
            "the stock and what is on order, rounded up to the minimum order and pack "
            "size; 0 when the open orders already bring that much; at most "
            "2147483647 (the largest receipt), even where that breaks the rounding"
        }
    )
    reorder_quantity = ma.fields.Integer(
        allow_none=True, metadata={"description": "The warehouse rule's reorder quantity, if set"}
    )
    on_order = ma.fields.Integer(
        metadata={
            "description": "Units ordered and not yet received on open purchase orders "
            "(ordered, partially_received) for this product and warehouse"
        }
    )
    projected_quantity = ma.fields.Integer(metadata={"description": "current_stock + on_order"})
    next_delivery_at = ma.fields.DateTime(
        allow_none=True,
        metadata={
            "description": "The earliest expected_at of those open orders; null when none "
            "is open or none says"
        },
    )
    covered = ma.fields.Boolean(
        metadata={
            "description": "The open orders bring projected_quantity to the threshold or "
            "above and the next delivery is due on or before stockout_date (any time "
            "when stockout_date is null)"
        }
    )
    acknowledgement = ma.fields.Nested(
        AlertAcknowledgementRefSchema,
        allow_none=True,
        metadata={
            "description": "The acknowledgement that holds for this alert (only with "
            "include_acknowledged=true: otherwise the alert is hidden); null when none holds"
        },
    )


class AlertPageSchema(ma.Schema):
    """A page of alerts, most urgent first."""

    alerts = ma.fields.List(ma.fields.Nested(AlertSchema))
    total_alerts = ma.fields.Integer(metadata={"description": "All matching alerts"})
    page = ma.fields.Integer()
    page_size = ma.fields.Integer()
    days = ma.fields.Integer()


def page_json(page: dict) -> str:
    """A page of alerts (``queries.derive``'s dicts) as ``AlertPageSchema`` dumps it, by
    ``json.dumps``: the alert dicts already have the schema's keys and JSON's types
    but for dates and amounts. Marshmallow spent half of a first page's Python on
    dumping 100 alerts field by field (``tests/test_alerts_csv.py`` holds the two to
    each other on every kind of alert)."""
    return plain_json(page)


# the CSV export's columns: the alert's keys, the supplier's flattened
CSV_COLUMNS = [
    "product_id",
    "product_name",
    "sku",
    "warehouse_id",
    "warehouse_name",
    "current_stock",
    "threshold",
    "threshold_source",
    "product_type",
    "units_sold_in_window",
    "avg_daily_sales",
    "days_until_stockout",
    "stockout_date",
    "urgency",
    "supplier_id",
    "supplier_name",
    "supplier_contact_email",
    "lead_time_days",
    "cost_price",
    "reorder_by",
    "suggested_reorder_quantity",
    "reorder_quantity",
    "lead_time_source",
    "on_order",
    "projected_quantity",
    "next_delivery_at",
    "covered",
    "acknowledgement_id",
    "acknowledged_at",
    "acknowledged_by",
    "acknowledged_until",
    "acknowledgement_note",
]
# a cell a spreadsheet would run as a formula starts with one of these
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


# how the cells are written, by column: as the JSON writes the values (amounts as
# their decimal string, dates ISO 8601, booleans true/false), empty for null; the
# csv module writes integers, amounts and null (as "") itself
TEXT_COLUMNS = [
    i
    for i, c in enumerate(CSV_COLUMNS)
    if c
    in {
        "product_name",
        "sku",
        "warehouse_name",
        "threshold_source",
        "product_type",
        "urgency",
        "supplier_name",
        "supplier_contact_email",
        "lead_time_source",
        "acknowledged_by",
        "acknowledgement_note",
    }
]
TIME_COLUMNS = [
    i
    for i, c in enumerate(CSV_COLUMNS)
    if c
    in {"stockout_date", "reorder_by", "next_delivery_at", "acknowledged_at", "acknowledged_until"}
]
FLAG_COLUMNS = [i for i, c in enumerate(CSV_COLUMNS) if c == "covered"]
_VALUES = operator.itemgetter(*CSV_COLUMNS)
NO_SUPPLIER = {"supplier_id": None, "supplier_name": None, "supplier_contact_email": None}
NO_ACKNOWLEDGEMENT = {
    "acknowledgement_id": None,
    "acknowledged_at": None,
    "acknowledged_by": None,
    "acknowledged_until": None,
    "acknowledgement_note": None,
}


def csv_row(alert: dict) -> list:
    """An alert (``app.alerts.queries.derive``) as one CSV line, the supplier's and the
    acknowledgement's fields in columns of their own. Written by hand, column types
    known in advance, not through ``AlertSchema``: a marshmallow dump (or a
    conversion per cell) per row was most of the export's time. Text that a
    spreadsheet would take for a formula (a product named "=HYPERLINK(...)") gets a
    leading apostrophe."""
    flat = dict(alert)
    supplier = alert["supplier"]
    if supplier is None:
        flat.update(NO_SUPPLIER)
    else:
        flat["supplier_id"] = supplier["id"]
        flat["supplier_name"] = supplier["name"]
        flat["supplier_contact_email"] = supplier["contact_email"]
    acknowledgement = alert["acknowledgement"]
    if acknowledgement is None:
        flat.update(NO_ACKNOWLEDGEMENT)
    else:
        flat["acknowledgement_id"] = acknowledgement["id"]
        flat["acknowledged_at"] = acknowledgement["acknowledged_at"]
        flat["acknowledged_by"] = acknowledgement["acknowledged_by"]
        flat["acknowledged_until"] = acknowledgement["until"]
        flat["acknowledgement_note"] = acknowledgement["note"]
    cells = list(_VALUES(flat))
    for i in TEXT_COLUMNS:
        text = cells[i]
        if text and text.startswith(FORMULA_STARTS):
            cells[i] = "'" + text
    for i in TIME_COLUMNS:
        if cells[i] is not None:
            cells[i] = cells[i].isoformat()
    for i in FLAG_COLUMNS:
        cells[i] = "true" if cells[i] else "false"
    return cells


class AcknowledgedUntil(UtcDateTime):
    """When an acknowledgement ends at the latest: a time in the future, at most a year
    ahead (further is a typo: leave ``until`` out for no end)."""

    def _deserialize(self, value, attr, data, **kwargs):
        when = super()._deserialize(value, attr, data, **kwargs)
        now = dt.datetime.now(dt.UTC)
        if when <= now:
            raise ma.ValidationError("Must be in the future.")
        if when > now + dt.timedelta(days=MAX_UNTIL_DAYS):
            raise ma.ValidationError(f"Must be within {MAX_UNTIL_DAYS} days from now.")
        return when


class AcknowledgementCreateSchema(ma.Schema):
    """Body of POST /api/companies/<id>/alerts/low-stock/acknowledgements."""

    product_id = Id(required=True)
    warehouse_id = Id(required=True)
    until = AcknowledgedUntil(
        allow_none=True,
        load_default=None,
        metadata={
            "description": "Hide the alert until then at most (ISO 8601, in the future, "
            f"within {MAX_UNTIL_DAYS} days); null or absent: until the situation worsens "
            "or the acknowledgement is deleted"
        },
    )
    note = Text(
        max_length=MAX_NOTE_LENGTH,
        multiline=True,
        allow_none=True,
        load_default=None,
        metadata={"description": f"Up to {MAX_NOTE_LENGTH} characters"},
    )


class AcknowledgementSchema(ma.Schema):
    """A buyer's acknowledgement of the alert of a product in a warehouse."""

    id = ma.fields.Integer()
    product_id = ma.fields.Integer()
    warehouse_id = ma.fields.Integer()
    until = ma.fields.DateTime(allow_none=True)
    note = ma.fields.String(allow_none=True)
    acknowledged_at = ma.fields.DateTime()
    acknowledged_by = ma.fields.String(
        metadata={"description": "The name of the API key that acknowledged"}
    )
