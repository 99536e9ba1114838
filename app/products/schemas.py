"""Products as the API reads and shows them."""

import re

import marshmallow as ma
from marshmallow import validate

from app.schemas import (
    PRODUCT_TYPE_MAX_LENGTH,
    PRODUCT_TYPE_PATTERN,
    Id,
    LeanList,
    Money,
    PatchSchema,
    ProductType,
    QueryText,
    StrictBoolean,
    StrictInteger,
    Text,
    lean_integer,
    lean_money,
    lean_text,
)

MAX_INITIAL_STOCK_ROWS = 1000


class InitialStockSchema(ma.Schema):
    """One warehouse's opening stock."""

    warehouse_id = Id(required=True)
    quantity = StrictInteger(required=True)


class ProductCreateSchema(ma.Schema):
    """Body of POST /api/products.

    Opening stock comes either as ``warehouse_id`` + ``initial_quantity`` (the
    original clients' shape) or as ``initial_stock`` for several warehouses;
    either way it leaves here as ``initial_stock``.
    """

    OPENAPI_EXTRA = {
        "allOf": [
            {"not": {"required": ["initial_stock", "warehouse_id"]}},
            {"not": {"required": ["initial_stock", "initial_quantity"]}},
            {
                "anyOf": [
                    {"not": {"required": ["initial_quantity"]}},
                    {"required": ["warehouse_id"]},
                ]
            },
        ]
    }

    name = Text(required=True, max_length=255)
    sku = Text(required=True, max_length=100)
    price = Money(required=True)
    product_type = ProductType(load_default="regular")
    low_stock_threshold = StrictInteger(allow_none=True)
    is_bundle = StrictBoolean(load_default=False)
    warehouse_id = Id()
    initial_quantity = StrictInteger()
    initial_stock = ma.fields.List(
        ma.fields.Nested(InitialStockSchema),
        validate=validate.Length(max=MAX_INITIAL_STOCK_ROWS),
    )

    @ma.validates_schema
    def one_shape_of_initial_stock(self, data, **kwargs):
        """Exactly one way to say the opening stock, each warehouse at most once."""
        if "initial_stock" in data and ("warehouse_id" in data or "initial_quantity" in data):
            raise ma.ValidationError(
                "Give either initial_stock or warehouse_id/initial_quantity, not both.",
                "initial_stock",
            )
        if "initial_quantity" in data and "warehouse_id" not in data:
            raise ma.ValidationError("Required when initial_quantity is given.", "warehouse_id")
        warehouse_ids = [row["warehouse_id"] for row in data.get("initial_stock", [])]
        if len(warehouse_ids) != len(set(warehouse_ids)):
            raise ma.ValidationError("Each warehouse may appear at most once.", "initial_stock")
        stocked = "warehouse_id" in data or warehouse_ids
        if data.get("is_bundle") and stocked:
            raise ma.ValidationError(
                "A bundle holds no stock of its own; stock its components instead.",
                "initial_stock" if warehouse_ids else "warehouse_id",
            )

    # what ``load`` gives a field a usual body leaves out (the fields' load_default)
    LEAN_DEFAULTS = {"product_type": "regular", "is_bundle": False}

    def load(self, data, *, many=None, partial=None, unknown=None):
        """A usual body (``lean_import_item``: text name and SKU, a decimal-string price,
        no opening stock or ``warehouse_id`` + ``initial_quantity``) checked in plain
        code; anything else by the fields, so every error is the fields' own. The
        marshmallow load was a tenth of a product create's Python."""
        if many is None and partial is None and unknown is None:
            loaded = lean_import_item(data)
            if loaded is not None:
                return self.LEAN_DEFAULTS | loaded
        return super().load(data, many=many, partial=partial, unknown=unknown)

    @ma.post_load
    def to_initial_stock(self, data, **kwargs):
        """Fold the original clients' shape into ``initial_stock`` (field paths kept for errors)."""
        if "warehouse_id" in data:
            data["initial_stock"] = [
                {
                    "warehouse_id": data.pop("warehouse_id"),
                    "quantity": data.pop("initial_quantity", 0),
                    "field": "warehouse_id",
                }
            ]
        else:
            data["initial_stock"] = [
                {**row, "field": f"initial_stock.{i}.warehouse_id"}
                for i, row in enumerate(data.get("initial_stock", []))
            ]
        return data


class StockLevelSchema(ma.Schema):
    """A product's stock in one warehouse."""

    warehouse_id = ma.fields.Integer()
    quantity = ma.fields.Integer()


class ProductSchema(ma.Schema):
    """A product with its stock per warehouse."""

    id = ma.fields.Integer()
    name = ma.fields.String()
    sku = ma.fields.String()
    price = Money(
        dump_only=True,
        metadata={"description": "Exact decimal, as a string", "example": "19.99"},
    )
    product_type = ma.fields.String()
    low_stock_threshold = ma.fields.Integer(allow_none=True)
    is_bundle = ma.fields.Boolean()
    created_at = ma.fields.DateTime()
    updated_at = ma.fields.DateTime()
    stock = ma.fields.List(
        ma.fields.Nested(StockLevelSchema),
        metadata={"description": "Per warehouse; for a bundle, what its components can make"},
    )


class ProductUpdateSchema(PatchSchema):
    """Body of PATCH /api/products/<id>: any of the catalog fields.

    ``is_bundle`` is fixed at creation (a product with stock cannot become a
    bundle, nor a bundle with components a product); stock changes go through
    the stock operations.
    """

    name = Text(max_length=255)
    sku = Text(max_length=100)
    price = Money()
    product_type = ProductType()
    low_stock_threshold = StrictInteger(allow_none=True)


class ProductQuerySchema(ma.Schema):
    """Filters of GET /api/products."""

    sku = QueryText(validate=validate.Length(max=100))
    q = QueryText(
        validate=validate.Length(min=1, max=255),
        metadata={
            "description": "A substring of the name, ignoring case beyond ASCII (Σ/σ/ς, "
            "İ/I/ı/i and ß/ẞ/ss match alike; accents count)"
        },
    )
    product_type = QueryText(validate=validate.Length(max=PRODUCT_TYPE_MAX_LENGTH))
    is_bundle = ma.fields.Boolean()


# -- bulk import and export ---------------------------------------------------------------

MAX_IMPORT_ROWS = 10_000


class ProductImportItemSchema(ProductCreateSchema):
    """One row of an import: the body of POST /api/products. ``product_type`` and
    ``is_bundle`` have no default here: a row updates only the fields it lists (a new
    product still gets ``regular`` and ``false``)."""

    product_type = ProductType()
    is_bundle = StrictBoolean()
    LEAN_DEFAULTS = {}


_LEAN_IMPORT_KEYS = frozenset(
    {
        "name",
        "sku",
        "price",
        "product_type",
        "low_stock_threshold",
        "is_bundle",
        "warehouse_id",
        "initial_quantity",
    }
)
_PRODUCT_TYPE = re.compile(PRODUCT_TYPE_PATTERN)
_MISSING = object()


def lean_import_item(item) -> dict | None:
    """An import row as ``ProductImportItemSchema`` loads it, for the usual shape (a
    CSV row's: text name, SKU and type, a decimal-string price, opening stock as
    ``warehouse_id`` + ``initial_quantity``); None for anything else, which the schema
    then judges (``LeanList``)."""
    if type(item) is not dict or not item.keys() <= _LEAN_IMPORT_KEYS:
        return None
    name = lean_text(item.get("name"), 255)
    sku = lean_text(item.get("sku"), 100)
    price = lean_money(item.get("price"))
    if name is None or sku is None or price is None:
        return None
    loaded = {"name": name, "sku": sku, "price": price}
    product_type = item.get("product_type", _MISSING)
    if product_type is not _MISSING:
        product_type = lean_text(product_type, PRODUCT_TYPE_MAX_LENGTH)
        if product_type is None or not _PRODUCT_TYPE.match(product_type):
            return None
        loaded["product_type"] = product_type
    if "low_stock_threshold" in item:
        threshold = item["low_stock_threshold"]
        if threshold is not None and lean_integer(threshold) is None:
            return None
        loaded["low_stock_threshold"] = threshold
    if "is_bundle" in item:
        if type(item["is_bundle"]) is not bool:
            return None
        loaded["is_bundle"] = item["is_bundle"]
    if "warehouse_id" in item:
        warehouse_id = lean_integer(item["warehouse_id"], minimum=1)
        quantity = lean_integer(item.get("initial_quantity", 0))
        if warehouse_id is None or quantity is None or loaded.get("is_bundle"):
            return None
        stock = [{"warehouse_id": warehouse_id, "quantity": quantity, "field": "warehouse_id"}]
    elif "initial_quantity" in item:
        return None
    else:
        stock = []
    loaded["initial_stock"] = stock
    return loaded


class ProductImportSchema(ma.Schema):
    """Body of POST /api/products/import (JSON; CSV is read into the same shape)."""

    products = LeanList(
        ma.fields.Nested(ProductImportItemSchema),
        lean_import_item,
        required=True,
        validate=validate.Length(min=1, max=MAX_IMPORT_ROWS),
    )


class ImportQuerySchema(ma.Schema):
    """Query of POST /api/products/import."""

    dry_run = ma.fields.Boolean(
        load_default=False, metadata={"description": "Validate only; write nothing"}
    )


class ImportRowSchema(ma.Schema):
    """What one row of an import did."""

    row = ma.fields.Integer(metadata={"description": "Index in products (CSV: line - 2)"})
    sku = ma.fields.String()
    id = ma.fields.Integer(allow_none=True, metadata={"description": "null for a dry run's new"})
    action = ma.fields.String(metadata={"enum": ["created", "updated"]})
    stock_ignored = ma.fields.Boolean(
        metadata={"description": "Opening stock given for an existing product: not applied"}
    )


class ImportResultSchema(ma.Schema):
    """The result of an import."""

    dry_run = ma.fields.Boolean()
    created = ma.fields.Integer()
    updated = ma.fields.Integer()
    stock_ignored = ma.fields.Integer()
    products = ma.fields.List(ma.fields.Nested(ImportRowSchema))


class ExportQuerySchema(ma.Schema):
    """Query of GET /api/products/export."""

    format = ma.fields.String(
        validate=validate.OneOf(["json", "csv"]),
        metadata={"description": "Instead of the Accept header: json or csv"},
    )


class ExportedProductSchema(ma.Schema):
    """An exported product: a POST /api/products body (bundles without initial_stock)."""

    sku = ma.fields.String()
    name = ma.fields.String()
    price = Money()
    product_type = ma.fields.String()
    low_stock_threshold = ma.fields.Integer(allow_none=True)
    is_bundle = ma.fields.Boolean()
    initial_stock = ma.fields.List(ma.fields.Nested(StockLevelSchema))


class ProductExportSchema(ma.Schema):
    """The catalog, as POST /api/products/import takes it."""

    products = ma.fields.List(ma.fields.Nested(ExportedProductSchema))
