"""Products of the caller's company."""

from flask import url_for
from flask.views import MethodView

from app import auth
from app.api import Blueprint, transactional
from app.products import service
from app.products.schemas import ProductCreateSchema, ProductSchema

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
        product = service.create_product(auth.current_company_id(), data)
        return product, {"Location": url_for("products.ProductItem", product_id=product.id)}


@bp.route("/<id:product_id>")
class ProductItem(MethodView):
    @bp.response(200, ProductSchema)
    def get(self, product_id):
        """Get a product with its stock per warehouse"""
        return service.get_product(auth.current_company_id(), product_id)
