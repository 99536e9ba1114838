"""Products of the caller's company."""

from flask import url_for
from flask.views import MethodView

from app import auth
from app.api import Blueprint, transactional
from app.products import service
from app.products.schemas import ProductCreateSchema, ProductSchema
from app.stock.queries import attach_stock

bp = Blueprint("products", __name__, url_prefix="/api/products", description="Products")


@bp.route("")
class Products(MethodView):
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
