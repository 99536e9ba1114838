"""Warehouses as the API shows them."""

import marshmallow as ma

from app.schemas import Text


class WarehouseCreateSchema(ma.Schema):
    """Body of POST /api/warehouses."""

    name = Text(required=True)
    location = Text(allow_none=True)


class WarehouseSchema(ma.Schema):
    """A warehouse."""

    id = ma.fields.Integer()
    name = ma.fields.String()
    location = ma.fields.String(allow_none=True)
    created_at = ma.fields.DateTime()
