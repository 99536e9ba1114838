"""Suppliers and their offers for products, as the API reads and shows them."""

import marshmallow as ma
from marshmallow import validate

from app.schemas import Id, Money, PatchSchema, QueryText, StrictBoolean, StrictInteger, Text

MAX_LEAD_TIME_DAYS = 3650


class SupplierCreateSchema(ma.Schema):
    """Body of POST /api/suppliers."""

    name = Text(required=True, max_length=255)
    contact_email = Text(
        max_length=320,
        allow_none=True,
        validate=validate.Email(error="Not a valid email address."),
        metadata={
            "format": "email",
            "description": "An e-mail address a mail can reach: its domain ends in a "
            "top-level domain of 2 or more characters (not 'orders@acme.c').",
        },
    )
    phone = Text(max_length=50, allow_none=True)
    notes = Text(max_length=5000, multiline=True, allow_none=True)


class SupplierUpdateSchema(PatchSchema, SupplierCreateSchema):
    """Body of PATCH /api/suppliers/<id>: load it with ``partial=True``; at least one
    field, and the optional ones may be null."""


class SupplierQuerySchema(ma.Schema):
    """Filters of GET /api/suppliers."""

    name = QueryText(
        validate=validate.Length(min=1, max=255),
        metadata={
            "description": "A substring of the name, ignoring case beyond ASCII (Σ/σ/ς, "
            "İ/I/ı/i and ß/ẞ/ss match alike; accents count)"
        },
    )


class SupplierSchema(ma.Schema):
    """A supplier."""

    id = ma.fields.Integer()
    name = ma.fields.String()
    contact_email = ma.fields.String(allow_none=True)
    phone = ma.fields.String(allow_none=True)
    notes = ma.fields.String(allow_none=True)
    created_at = ma.fields.DateTime()


class SupplierLinkCreateSchema(ma.Schema):
    """Body of POST /api/products/<id>/suppliers."""

    supplier_id = Id(required=True)
    supplier_sku = Text(max_length=100, allow_none=True)
    cost_price = Money(allow_none=True)
    lead_time_days = StrictInteger(maximum=MAX_LEAD_TIME_DAYS, allow_none=True)
    min_order_quantity = StrictInteger(minimum=1, load_default=1)
    pack_size = StrictInteger(minimum=1, load_default=1)
    is_preferred = StrictBoolean(
        load_default=False,
        metadata={"description": "Making a supplier preferred demotes the previous one"},
    )


class SupplierLinkUpdateSchema(PatchSchema, SupplierLinkCreateSchema):
    """Body of PATCH /api/products/<id>/suppliers/<supplier_id>: load it with
    ``partial=True``; at least one field. The supplier of a link is fixed."""

    class Meta:
        exclude = ("supplier_id",)

    # no defaults: a field left out of a PATCH keeps its value
    min_order_quantity = StrictInteger(minimum=1)
    pack_size = StrictInteger(minimum=1)
    is_preferred = StrictBoolean()


class SupplierLinkSchema(ma.Schema):
    """A supplier's offer for a product, with the supplier's name and contact."""

    product_id = ma.fields.Integer()
    supplier_id = ma.fields.Integer()
    supplier_name = ma.fields.String()
    contact_email = ma.fields.String(allow_none=True)
    supplier_sku = ma.fields.String(allow_none=True)
    cost_price = Money(
        dump_only=True,
        allow_none=True,
        metadata={"description": "Exact decimal, as a string", "example": "12.50"},
    )
    lead_time_days = ma.fields.Integer(
        allow_none=True, metadata={"description": "As configured on the link"}
    )
    observed_lead_time_days = ma.fields.Integer(
        allow_none=True,
        metadata={
            "description": "Learned from purchase order receipts: the median of the last 10 "
            "observed lead times, rounded up to whole days; null until there are 3"
        },
    )
    lead_time_source = ma.fields.String(
        metadata={
            "enum": ["observed", "configured"],
            "description": "Which lead time planning uses: observed when known",
        }
    )
    min_order_quantity = ma.fields.Integer()
    pack_size = ma.fields.Integer()
    is_preferred = ma.fields.Boolean()
    created_at = ma.fields.DateTime()
