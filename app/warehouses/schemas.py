"""Warehouses as the API shows them."""

import marshmallow as ma
from marshmallow import validate

from app.schemas import Text


class WarehouseCreateSchema(ma.Schema):
    """Body of POST /api/warehouses."""

    name = Text(required=True)
    location = Text(allow_none=True)


class WarehouseUpdateSchema(ma.Schema):
    """Body of PATCH /api/warehouses/<id>."""

    name = Text()
    location = Text(allow_none=True)

    @ma.validates_schema
    def something_to_change(self, data, **kwargs):
        """An empty PATCH is a client bug, not a no-op."""
        if not data:
            raise ma.ValidationError("Give at least one field to change.", "_body")


class WarehouseQuerySchema(ma.Schema):
    """Filters of GET /api/warehouses."""

    name = ma.fields.String(
        validate=validate.Length(min=1, max=255),
        metadata={"description": "Case-insensitive substring of the name"},
    )


class WarehouseSchema(ma.Schema):
    """A warehouse."""

    id = ma.fields.Integer()
    name = ma.fields.String()
    location = ma.fields.String(allow_none=True)
    created_at = ma.fields.DateTime()
