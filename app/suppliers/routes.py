"""Suppliers of the caller's company, and which products they supply."""

from flask import url_for
from flask.views import MethodView

from app import auth
from app.api import Blueprint, paginate, transactional
from app.suppliers import service
from app.suppliers.schemas import (
    SupplierCreateSchema,
    SupplierLinkCreateSchema,
    SupplierLinkSchema,
    SupplierLinkUpdateSchema,
    SupplierQuerySchema,
    SupplierSchema,
    SupplierUpdateSchema,
)

bp = Blueprint("suppliers", __name__, url_prefix="/api", description="Suppliers")


@bp.route("/suppliers")
class Suppliers(MethodView):
    @bp.arguments(SupplierQuerySchema, location="query")
    @bp.response(200, SupplierSchema(many=True))
    @bp.paginate()
    def get(self, filters, pagination_parameters):
        """List the company's suppliers (filter by name), by id"""
        query = service.supplier_list(auth.current_company_id(), filters)
        return paginate(query, pagination_parameters)

    @transactional
    @bp.arguments(SupplierCreateSchema)
    @bp.response(201, SupplierSchema)
    def post(self, data):
        """Create a supplier"""
        supplier = service.create_supplier(auth.current_company_id(), data)
        location = url_for("suppliers.SupplierItem", supplier_id=supplier.id)
        return supplier, {"Location": location}


@bp.route("/suppliers/<id:supplier_id>")
class SupplierItem(MethodView):
    @bp.response(200, SupplierSchema)
    def get(self, supplier_id):
        """Get a supplier"""
        return service.get_supplier(auth.current_company_id(), supplier_id)

    @transactional
    @bp.arguments(SupplierUpdateSchema(partial=True))
    @bp.response(200, SupplierSchema)
    def patch(self, changes, supplier_id):
        """Change a supplier's name, contact email, phone or notes"""
        return service.update_supplier(auth.current_company_id(), supplier_id, changes)

    @transactional
    @bp.response(204)
    def delete(self, supplier_id):
        """Delete (archive) a supplier; ledger rows naming it keep their history"""
        service.archive_supplier(auth.current_company_id(), supplier_id)


@bp.route("/products/<id:product_id>/suppliers")
class ProductSuppliers(MethodView):
    @bp.response(200, SupplierLinkSchema(many=True))
    def get(self, product_id):
        """List a product's suppliers: preferred first, then by cost price"""
        return service.product_links(auth.current_company_id(), product_id)

    @transactional
    @bp.arguments(SupplierLinkCreateSchema)
    @bp.response(201, SupplierLinkSchema)
    @bp.alt_response(409, description="Already linked, or the product is a bundle")
    def post(self, data, product_id):
        """Link a supplier to a product (making it preferred demotes the previous one)"""
        return service.link_supplier(auth.current_company_id(), product_id, data)


@bp.route("/products/<id:product_id>/suppliers/<id:supplier_id>")
class ProductSupplierItem(MethodView):
    @transactional
    @bp.arguments(SupplierLinkUpdateSchema(partial=True))
    @bp.response(200, SupplierLinkSchema)
    @bp.alt_response(409, description="Another supplier was made preferred at the same time")
    def patch(self, changes, product_id, supplier_id):
        """Change a supplier's offer for a product (making it preferred demotes the previous one)"""
        company_id = auth.current_company_id()
        return service.update_link(company_id, product_id, supplier_id, changes)

    @transactional
    @bp.response(204)
    def delete(self, product_id, supplier_id):
        """Unlink a supplier from a product"""
        service.unlink_supplier(auth.current_company_id(), product_id, supplier_id)
