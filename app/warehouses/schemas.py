"""Warehouses as the API shows them."""

import marshmallow as ma
from marshmallow import validate

from app.schemas import PatchSchema, QueryText, Text


class WarehouseCreateSchema(ma.Schema):
    """Body of POST /api/warehouses."""

    name = Text(required=True)
    location = Text(allow_none=True)


class WarehouseUpdateSchema(PatchSchema):
    """Body of PATCH /api/warehouses/<id>."""

    name = Text()
    location = Text(allow_none=True)


class WarehouseQuerySchema(ma.Schema):
    """Filters of GET /api/warehouses."""

    name = QueryText(
        validate=validate.Length(min=1, max=255),
        metadata={
            "description": "A substring of the name, ignoring case beyond ASCII (Σ/σ/ς, "
            "İ/I/ı/i and ß/ẞ/ss match alike; accents count)"
        },
    )


class WarehouseSchema(ma.Schema):
    """A warehouse."""

    id = ma.fields.Integer()
    name = ma.fields.String()
    location = ma.fields.String(allow_none=True)
    created_at = ma.fields.DateTime()
