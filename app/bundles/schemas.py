"""Bundle components as the API takes and shows them."""

import marshmallow as ma

from app.schemas import Id, StrictInteger


class ComponentInSchema(ma.Schema):
    """One component of a bundle: how many units of which product one bundle holds."""

    product_id = Id(required=True)
    quantity = StrictInteger(required=True, minimum=1)


class ComponentSchema(ma.Schema):
    """A bundle's component."""

    product_id = ma.fields.Integer()
    sku = ma.fields.String()
    name = ma.fields.String()
    is_bundle = ma.fields.Boolean()
    quantity = ma.fields.Integer()
