"""Products of the caller's company."""

from flask import url_for
from flask.views import MethodView

from app import auth
from app.api import Blueprint, paginate, transactional
from app.products import service
from app.products.schemas import (
    ProductCreateSchema,
    ProductQuerySchema,
    ProductSchema,
    ProductUpdateSchema,
)
from app.stock.queries import attach_stock

bp = Blueprint("products", __name__, url_prefix="/api/products", description="Products")


@bp.route("")
class Products(MethodView):
    @bp.arguments(ProductQuerySchema, location="query")
    @bp.response(200, ProductSchema(many=True))
    @bp.paginate()
    def get(self, filters, pagination_parameters):
        """List products (filter by sku, name, product_type, is_bundle), with stock"""
        company_id = auth.current_company_id()
        products = paginate(service.product_list(company_id, filters), pagination_parameters)
        return attach_stock(company_id, products)

    @transactional
    @bp.arguments(ProductCreateSchema)
    @bp.response(201, ProductSchema)
    @bp.alt_response(409, description="A product with this SKU already exists")
    def post(self, data):
        """Create a product, optionally with opening stock

        Accepts an `Idempotency-Key` header: a retry with the same key and body
        returns the first response without creating anything again.
        """
        company_id = auth.current_company_id()
        product = service.create_product(company_id, data)
        attach_stock(company_id, [product])
        return product, {"Location": url_for("products.ProductItem", product_id=product.id)}


@bp.route("/<id:product_id>")
class ProductItem(MethodView):
    @bp.response(200, ProductSchema)
    def get(self, product_id):
        """Get a product with its stock per warehouse"""
        company_id = auth.current_company_id()
        return attach_stock(company_id, [service.get_product(company_id, product_id)])[0]

    @transactional
    @bp.arguments(ProductUpdateSchema)
    @bp.response(200, ProductSchema)
    @bp.alt_response(409, description="Another product has this SKU")
    def patch(self, changes, product_id):
        """Change a product's name, SKU, price, type or threshold"""
        company_id = auth.current_company_id()
        product = service.update_product(company_id, product_id, changes)
        return attach_stock(company_id, [product])[0]

    @transactional
    @bp.response(204)
    @bp.alt_response(409, description="The product has stock, or is in a bundle")
    def delete(self, product_id):
        """Delete (archive) a product; its ledger history stays

        Refused with a 409 while the product has stock on hand or is a component
        of a bundle.
        """
        service.archive_product(auth.current_company_id(), product_id)
