"""Warehouses of the caller's company."""

from flask import url_for
from flask.views import MethodView

from app import auth
from app.api import Blueprint, paginate, transactional
from app.warehouses import queries
from app.warehouses.schemas import WarehouseCreateSchema, WarehouseSchema

bp = Blueprint("warehouses", __name__, url_prefix="/api/warehouses", description="Warehouses")


@bp.route("")
class Warehouses(MethodView):
    @bp.response(200, WarehouseSchema(many=True))
    @bp.paginate()
    def get(self, pagination_parameters):
        """List the company's warehouses"""
        return paginate(queries.active_warehouses(auth.current_company_id()), pagination_parameters)

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
