"""Warehouses of the caller's company."""

from flask import url_for
from flask.views import MethodView

from app import auth
from app.api import Blueprint, paginate, transactional
from app.warehouses import queries
from app.warehouses.schemas import (
    WarehouseCreateSchema,
    WarehouseQuerySchema,
    WarehouseSchema,
    WarehouseUpdateSchema,
)

bp = Blueprint("warehouses", __name__, url_prefix="/api/warehouses", description="Warehouses")


@bp.route("")
class Warehouses(MethodView):
    @bp.arguments(WarehouseQuerySchema, location="query")
    @bp.response(200, WarehouseSchema(many=True))
    @bp.paginate()
    def get(self, filters, pagination_parameters):
        """List the company's warehouses (filter by name)"""
        query = queries.warehouse_list(auth.current_company_id(), filters)
        return paginate(query, pagination_parameters)

    @transactional
    @bp.arguments(WarehouseCreateSchema)
    @bp.response(201, WarehouseSchema)
    def post(self, data):
        """Create a warehouse"""
        warehouse = queries.create_warehouse(auth.current_company_id(), data)
        location = url_for("warehouses.WarehouseItem", warehouse_id=warehouse.id)
        return warehouse, {"Location": location}


@bp.route("/<id:warehouse_id>")
class WarehouseItem(MethodView):
    @bp.response(200, WarehouseSchema)
    def get(self, warehouse_id):
        """Get a warehouse"""
        return queries.get_warehouse(auth.current_company_id(), warehouse_id)

    @transactional
    @bp.arguments(WarehouseUpdateSchema)
    @bp.response(200, WarehouseSchema)
    def patch(self, changes, warehouse_id):
        """Rename or relocate a warehouse"""
        return queries.update_warehouse(auth.current_company_id(), warehouse_id, changes)

    @transactional
    @bp.response(204)
    @bp.alt_response(409, description="The warehouse still holds stock")
    def delete(self, warehouse_id):
        """Delete (archive) a warehouse; its ledger history stays

        Refused with a 409 while it still holds stock.
        """
        queries.archive_warehouse(auth.current_company_id(), warehouse_id)
