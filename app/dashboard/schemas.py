"""The dashboard's sales read, as the API shows it."""

import marshmallow as ma
from marshmallow import validate

from app.dashboard.queries import MAX_DAYS, MAX_PRODUCTS
from app.schemas import QueryId, QueryInteger


class SalesDailyQuerySchema(ma.Schema):
    """Parameters of GET /api/dashboard/sales-daily."""

    days = QueryInteger(
        minimum=1,
        maximum=MAX_DAYS,
        load_default=30,
        metadata={"description": f"How many days, today included (1-{MAX_DAYS})"},
    )
    product_id = ma.fields.List(
        QueryId(),
        load_default=list,
        validate=validate.Length(max=MAX_PRODUCTS),
        metadata={
            "description": f"Repeat for each product (at most {MAX_PRODUCTS}); none, no series"
        },
    )
    warehouse_id = QueryId()


class SalesSeriesSchema(ma.Schema):
    """Units sold of one product in one warehouse, one number per day."""

    product_id = ma.fields.Integer()
    warehouse_id = ma.fields.Integer()
    units = ma.fields.List(ma.fields.Integer(), metadata={"description": "Oldest day first"})


class SalesDailySchema(ma.Schema):
    """Daily sales of the requested products."""

    days = ma.fields.Integer()
    first_day = ma.fields.Date()
    last_day = ma.fields.Date()
    series = ma.fields.List(ma.fields.Nested(SalesSeriesSchema))
