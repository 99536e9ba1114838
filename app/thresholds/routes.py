"""Low-stock thresholds: per product type, and per product in a warehouse (reorder rules)."""

from flask.views import MethodView

from app import auth
from app.api import Blueprint, transactional
from app.thresholds import queries
from app.thresholds.schemas import (
    ReorderRuleSchema,
    ReorderRuleSetSchema,
    TypeThresholdSchema,
    TypeThresholdSetSchema,
    product_type_from_path,
)

bp = Blueprint(
    "thresholds",
    __name__,
    url_prefix="/api",
    description="Low-stock thresholds per product type and reorder rules per warehouse",
)


@bp.route("/product-types")
class ProductTypes(MethodView):
    @bp.response(200, TypeThresholdSchema(many=True))
    def get(self):
        """List the product types with their low-stock thresholds"""
        return queries.type_thresholds(auth.current_company_id())


@bp.route("/product-types/<product_type:product_type>")
class ProductTypeItem(MethodView):
    @transactional
    @bp.arguments(TypeThresholdSetSchema)
    @bp.response(200, TypeThresholdSchema)
    def put(self, data, product_type):
        """Set the company's low-stock threshold for a product type"""
        return queries.set_type_threshold(
            auth.current_company_id(),
            product_type_from_path(product_type),
            data["low_stock_threshold"],
        )

    @transactional
    @bp.response(204)
    def delete(self, product_type):
        """Drop the company's threshold for a product type (back to the default)"""
        queries.delete_type_threshold(
            auth.current_company_id(), product_type_from_path(product_type)
        )


@bp.route("/products/<id:product_id>/reorder-rules")
class ReorderRules(MethodView):
    @bp.response(200, ReorderRuleSchema(many=True))
    def get(self, product_id):
        """List a product's reorder rules by warehouse"""
        return queries.reorder_rules(auth.current_company_id(), product_id)


@bp.route("/products/<id:product_id>/reorder-rules/<id:warehouse_id>")
class ReorderRuleItem(MethodView):
    @transactional
    @bp.arguments(ReorderRuleSetSchema)
    @bp.response(200, ReorderRuleSchema, description="The rule was replaced")
    @bp.alt_response(201, schema=ReorderRuleSchema, description="The rule was created")
    @bp.alt_response(409, description="The product is a bundle, or a concurrent create won")
    def put(self, data, product_id, warehouse_id):
        """Set a product's low-stock threshold and reorder quantity in a warehouse"""
        rule, created = queries.set_reorder_rule(
            auth.current_company_id(), product_id, warehouse_id, data
        )
        return rule, 201 if created else 200

    @transactional
    @bp.response(204)
    def delete(self, product_id, warehouse_id):
        """Remove a product's reorder rule in a warehouse"""
        queries.delete_reorder_rule(auth.current_company_id(), product_id, warehouse_id)
