"""Stock operations and reads as the API takes and shows them."""

import datetime as dt

import marshmallow as ma
from marshmallow import validate

from app.errors import ProblemSchema
from app.models import LEDGER_REASONS
from app.schemas import (
    Id,
    LeanList,
    LeanLoad,
    Money,
    QueryId,
    QueryInteger,
    QueryText,
    StrictInteger,
    Text,
    UtcDateTime,
)

MAX_QUANTITY = 2**31 - 1


class OccurredAt(UtcDateTime):
    """When the change happened: an ISO 8601 time, not in the future (UTC if no offset)."""

    def _deserialize(self, value, attr, data, **kwargs):
        when = super()._deserialize(value, attr, data, **kwargs)
        if when > dt.datetime.now(dt.UTC):
            raise ma.ValidationError("Must not be in the future.")
        return when


class OperationSchema(LeanLoad, ma.Schema):
    """What every single-warehouse operation takes."""

    LEAN_IDS = ("product_id", "warehouse_id", "quantity")
    LEAN_TEXTS = {"reference": 255, "note": 2000}

    product_id = Id(required=True)
    warehouse_id = Id(required=True)
    quantity = StrictInteger(required=True, minimum=1)
    occurred_at = OccurredAt()
    reference = Text(max_length=255, allow_none=True)
    note = Text(max_length=2000, multiline=True, allow_none=True)


class ReceiptSchema(OperationSchema):
    """Body of POST /api/stock/receipts."""

    supplier_id = Id(allow_none=True)
    unit_cost = Money(allow_none=True)


class TransferSchema(LeanLoad, ma.Schema):
    """Body of POST /api/stock/transfers."""

    LEAN_IDS = ("product_id", "from_warehouse_id", "to_warehouse_id", "quantity")
    LEAN_TEXTS = {"reference": 255, "note": 2000}

    product_id = Id(required=True)
    from_warehouse_id = Id(required=True)
    to_warehouse_id = Id(required=True)
    quantity = StrictInteger(required=True, minimum=1)
    occurred_at = OccurredAt()
    reference = Text(max_length=255, allow_none=True)
    note = Text(max_length=2000, multiline=True, allow_none=True)


class AdjustmentSchema(ma.Schema):
    """Body of POST /api/stock/adjustments: a counted ``quantity`` or a signed ``delta``."""

    OPENAPI_EXTRA = {
        "anyOf": [
            {"required": ["quantity"], "not": {"required": ["delta"]}},
            {
                "required": ["delta"],
                "not": {"anyOf": [{"required": ["quantity"]}, {"required": ["expected_quantity"]}]},
            },
        ]
    }

    product_id = Id(required=True)
    warehouse_id = Id(required=True)
    quantity = StrictInteger(metadata={"description": "The counted stock level"})
    delta = StrictInteger(
        minimum=-MAX_QUANTITY,
        metadata={
            "description": "A signed change, e.g. -3 for three damaged units",
            "not": {"enum": [0]},
        },
    )
    expected_quantity = StrictInteger(
        metadata={"description": "The level the count was based on; 409 if it changed since"}
    )
    reason = Text(required=True, max_length=255, metadata={"description": "Why, e.g. 'damaged'"})
    occurred_at = OccurredAt()
    reference = Text(max_length=255, allow_none=True)

    @ma.validates_schema
    def quantity_or_delta(self, data, **kwargs):
        """Exactly one of quantity and delta; expected_quantity only with a count."""
        if ("quantity" in data) == ("delta" in data):
            raise ma.ValidationError("Give exactly one of quantity and delta.", "quantity")
        if "delta" in data and data["delta"] == 0:
            raise ma.ValidationError("Must not be 0.", "delta")
        if "expected_quantity" in data and "delta" in data:
            raise ma.ValidationError("Only with quantity (a count).", "expected_quantity")


class LedgerEntrySchema(ma.Schema):
    """One row of the stock ledger."""

    id = ma.fields.Integer()
    operation_id = ma.fields.String()
    product_id = ma.fields.Integer()
    warehouse_id = ma.fields.Integer()
    reason = ma.fields.String()
    quantity_change = ma.fields.Integer()
    quantity_after = ma.fields.Integer()
    reference = ma.fields.String(allow_none=True)
    note = ma.fields.String(allow_none=True)
    bundle_product_id = ma.fields.Integer(allow_none=True)
    supplier_id = ma.fields.Integer(allow_none=True)
    unit_cost = Money(dump_only=True, allow_none=True)
    purchase_order_id = ma.fields.Integer(
        allow_none=True, metadata={"description": "The purchase order a receipt was booked on"}
    )
    occurred_at = ma.fields.DateTime()
    recorded_at = ma.fields.DateTime()


class LevelSchema(ma.Schema):
    """The stock level an operation left a product at in a warehouse."""

    product_id = ma.fields.Integer()
    warehouse_id = ma.fields.Integer()
    quantity = ma.fields.Integer()


class OperationResultSchema(ma.Schema):
    """What an operation did: its ledger rows and the levels they left."""

    operation_id = ma.fields.String()
    entries = ma.fields.List(ma.fields.Nested(LedgerEntrySchema))
    stock = ma.fields.List(ma.fields.Nested(LevelSchema))


class LedgerQuerySchema(ma.Schema):
    """Filters of GET /api/stock/ledger."""

    product_id = QueryId()
    warehouse_id = QueryId()
    reason = ma.fields.String(validate=validate.OneOf(LEDGER_REASONS))
    since = UtcDateTime()
    until = UtcDateTime()
    cursor = QueryText(validate=validate.Length(max=200))
    limit = QueryInteger(minimum=1, maximum=500, load_default=50)


class LedgerPageSchema(ma.Schema):
    """A page of the ledger, newest first."""

    entries = ma.fields.List(ma.fields.Nested(LedgerEntrySchema))
    next_cursor = ma.fields.String(
        allow_none=True, metadata={"description": "Pass as ?cursor= for the next page"}
    )


class LedgerChangesQuerySchema(ma.Schema):
    """Parameters of GET /api/stock/ledger/changes."""

    after = QueryText(
        validate=validate.Length(max=200),
        metadata={"description": "The next_cursor of the previous answer; none: from the start"},
    )
    limit = QueryInteger(minimum=1, maximum=500, load_default=100)


class LedgerChangesSchema(ma.Schema):
    """The ledger rows written after a sync cursor, oldest write first."""

    entries = ma.fields.List(ma.fields.Nested(LedgerEntrySchema))
    next_cursor = ma.fields.String(
        metadata={
            "description": "Pass as ?after= to continue; the same cursor when nothing new "
            "is readable yet"
        }
    )
    has_more = ma.fields.Boolean(
        metadata={"description": "More rows are readable now: ask again without waiting"}
    )


class WarehouseLevelSchema(ma.Schema):
    """A product's stock in one warehouse."""

    warehouse_id = ma.fields.Integer()
    warehouse_name = ma.fields.String()
    quantity = ma.fields.Integer()


class ProductStockSchema(ma.Schema):
    """A product's stock across warehouses (a bundle's: what its components can make)."""

    product_id = ma.fields.Integer()
    sku = ma.fields.String()
    is_bundle = ma.fields.Boolean()
    total_quantity = ma.fields.Integer()
    warehouses = ma.fields.List(ma.fields.Nested(WarehouseLevelSchema))


class WarehouseStockItemSchema(ma.Schema):
    """One product's stock in a warehouse."""

    product_id = ma.fields.Integer()
    sku = ma.fields.String()
    name = ma.fields.String()
    is_bundle = ma.fields.Boolean()
    quantity = ma.fields.Integer()


# -- batches ----------------------------------------------------------------------------

MAX_BATCH_OPERATIONS = 1000


def _typed(base: type[ma.Schema], name: str) -> type[ma.Schema]:
    """``base`` (a single operation's body) plus ``type``: one item of a batch."""
    return type(
        f"Batch{name.capitalize()}Schema",
        (base,),
        {
            "type": ma.fields.String(required=True, validate=validate.OneOf([name])),
            "__doc__": f"A batch item: the body of POST /api/stock/{name}s-style operation "
            f"'{name}' plus its type.",
        },
    )


# each item takes the fields of its single-operation endpoint, plus ``type``
OPERATION_SCHEMAS = {
    "receipt": ReceiptSchema,
    "sale": OperationSchema,
    "return": OperationSchema,
    "transfer": TransferSchema,
    "adjustment": AdjustmentSchema,
}
BATCH_ITEM_SCHEMAS = {name: _typed(base, name) for name, base in OPERATION_SCHEMAS.items()}
# the common shapes, checked without marshmallow (1,000 schema loads cost more than the
# SQL of a batch) by the schemas' own plain code (``LeanLoad``); anything else goes
# through the operation's schema
_LEAN_SCHEMAS = {
    name: schema() for name, schema in OPERATION_SCHEMAS.items() if issubclass(schema, LeanLoad)
}


def lean_operation(item) -> dict | None:
    """A batch item of a common shape as ``BatchOperation`` loads it, else None
    (``LeanList``: the whole list then goes through ``BatchOperation``)."""
    if type(item) is not dict:
        return None
    kind = item.get("type")
    schema = _LEAN_SCHEMAS.get(kind) if type(kind) is str else None
    loaded = schema._lean(item, passed="type") if schema else None
    if loaded is not None:
        loaded["type"] = kind
    return loaded


class BatchOperation(ma.fields.Field):
    """One batch item: validated by the schema of its ``type``'s single endpoint."""

    def __init__(self, **kwargs):
        refs = [
            {"$ref": f"#/components/schemas/{schema.__name__.removesuffix('Schema')}"}
            for schema in BATCH_ITEM_SCHEMAS.values()
        ]
        kwargs["metadata"] = {"type": "object", "oneOf": refs, **kwargs.get("metadata", {})}
        super().__init__(**kwargs)
        self._schemas = {name: schema() for name, schema in OPERATION_SCHEMAS.items()}

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, dict):
            raise ma.ValidationError("Not a valid object.")
        kind = value.get("type")
        if not isinstance(kind, str) or kind not in self._schemas:
            raise ma.ValidationError({"type": [f"Must be one of: {', '.join(OPERATION_SCHEMAS)}."]})
        # the schema's load checks a common shape in plain code itself (LeanLoad)
        loaded = self._schemas[kind].load({k: v for k, v in value.items() if k != "type"})
        loaded["type"] = kind
        return loaded


class BatchSchema(ma.Schema):
    """Body of POST /api/stock/batch."""

    operations = LeanList(
        BatchOperation(),
        lean_operation,
        required=True,
        validate=validate.Length(min=1, max=MAX_BATCH_OPERATIONS),
        metadata={"description": "Applied in this order; each item as its single endpoint"},
    )


class LevelsQuerySchema(ma.Schema):
    """Filters of GET /api/stock/levels."""

    product_id = QueryId()
    warehouse_id = QueryId()
    format = ma.fields.String(
        validate=validate.OneOf(["json", "csv"]),
        metadata={"description": "Instead of the Accept header: json or csv"},
    )


class StockLevelRowSchema(ma.Schema):
    """One stock level: a product (by id and SKU) in a warehouse."""

    product_id = ma.fields.Integer()
    sku = ma.fields.String()
    warehouse_id = ma.fields.Integer()
    quantity = ma.fields.Integer()


class RefusedItemSchema(ma.Schema):
    """Why one item of a batch was refused, with the facts a client needs to act."""

    index = ma.fields.Integer(metadata={"description": "The item's position in operations"})
    field = ma.fields.String()
    problem = ma.fields.String(
        metadata={"description": "validation-error, insufficient-stock, stock-limit, ..."}
    )
    product_id = ma.fields.Integer()
    warehouse_id = ma.fields.Integer()
    available = ma.fields.Integer()
    requested = ma.fields.Integer()
    current_quantity = ma.fields.Integer()
    expected_quantity = ma.fields.Integer()


class BatchProblemSchema(ProblemSchema):
    """A refused batch: the problem, plus each refused item."""

    items = ma.fields.List(ma.fields.Nested(RefusedItemSchema))
