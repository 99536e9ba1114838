"""A bundle's components."""

from flask.views import MethodView

from app import auth
from app.api import Blueprint, transactional
from app.bundles import service
from app.bundles.schemas import ComponentInSchema, ComponentSchema

bp = Blueprint("bundles", __name__, url_prefix="/api/products", description="Bundles")


@bp.route("/<id:product_id>/components")
class Components(MethodView):
    @bp.response(200, ComponentSchema(many=True))
    def get(self, product_id):
        """List a bundle's components"""
        return service.list_components(auth.current_company_id(), product_id)

    @transactional
    @bp.arguments(ComponentInSchema(many=True))
    @bp.response(200, ComponentSchema(many=True))
    @bp.alt_response(409, description="The product is not a bundle")
    def put(self, rows, product_id):
        """Replace a bundle's components (`[{product_id, quantity}]`), atomically

        Components are the company's products, each at most once; a bundle may
        contain other bundles but never itself, directly or through them.
        """
        return service.set_components(auth.current_company_id(), product_id, rows)
