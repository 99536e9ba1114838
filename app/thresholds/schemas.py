"""Low-stock thresholds and reorder rules as the API reads and shows them."""

import marshmallow as ma
from marshmallow import validate

from app.errors import field_error
from app.schemas import ProductType, StrictInteger

_PRODUCT_TYPE = ProductType()


def product_type_from_path(value: str) -> str:
    """The ``<product_type>`` of a path, checked like the body field (else a 400 naming it)."""
    try:
        parsed = _PRODUCT_TYPE.deserialize(value)
    except ma.ValidationError as error:
        raise field_error("product_type", error.messages[0]) from error
    if parsed != value:
        # the body field trims; a path names one type exactly, so spaces are simply invalid
        raise field_error("product_type", _PRODUCT_TYPE.validators[0].error)
    return parsed


class TypeThresholdSetSchema(ma.Schema):
    """Body of PUT /api/product-types/<product_type>."""

    low_stock_threshold = StrictInteger(required=True)


class TypeThresholdSchema(ma.Schema):
    """A product type's low-stock threshold and where it comes from."""

    product_type = ma.fields.String()
    low_stock_threshold = ma.fields.Integer()
    source = ma.fields.String(
        validate=validate.OneOf(("company", "default")),
        metadata={"description": "`company` if the company set it, else `default`"},
    )


class ReorderRuleSetSchema(ma.Schema):
    """Body of PUT /api/products/<product_id>/reorder-rules/<warehouse_id>."""

    threshold = StrictInteger(
        required=True, metadata={"description": "Alert when the stock falls below this"}
    )
    reorder_quantity = StrictInteger(
        minimum=1,
        allow_none=True,
        load_default=None,
        metadata={"description": "Units to reorder when the stock is low; null if not set"},
    )


class ReorderRuleSchema(ma.Schema):
    """A product's low-stock threshold (and reorder quantity) in one warehouse."""

    product_id = ma.fields.Integer()
    warehouse_id = ma.fields.Integer()
    threshold = ma.fields.Integer()
    reorder_quantity = ma.fields.Integer(allow_none=True)
    updated_at = ma.fields.DateTime()
