"""Purchase orders: the replenishment loop from draft to received."""

import datetime as dt

from flask import url_for
from flask.views import MethodView

from app import auth
from app.api import Blueprint, paginate, transactional
from app.purchasing import queries, service
from app.purchasing.schemas import (
    FromAlertsResultSchema,
    FromAlertsSchema,
    OrderCreateSchema,
    OrderQuerySchema,
    OrderReceiptSchema,
    OrderSchema,
    OrderUpdateSchema,
)

bp = Blueprint(
    "purchasing", __name__, url_prefix="/api", description="Purchase orders (replenishment)"
)


def _shown(order):
    return queries.order_view(auth.current_company_id(), order)


@bp.route("/purchase-orders")
class PurchaseOrders(MethodView):
    @bp.arguments(OrderQuerySchema, location="query")
    @bp.response(200, OrderSchema(many=True))
    @bp.paginate()
    def get(self, filters, pagination_parameters):
        """List purchase orders (filter by status, supplier, warehouse, product), newest first"""
        company_id = auth.current_company_id()
        page = paginate(queries.order_list(company_id, filters), pagination_parameters)
        return queries.order_views(company_id, page)

    @transactional
    @bp.arguments(OrderCreateSchema)
    @bp.response(201, OrderSchema)
    def post(self, data):
        """Create a draft purchase order

        Every line is a product the supplier supplies (a supplier link); a line
        without `unit_cost` takes the link's `cost_price`. Bundles are refused (a
        bundle holds no stock; order its components). Accepts an `Idempotency-Key`.
        """
        order = service.create_order(auth.current_company_id(), data)
        location = url_for("purchasing.PurchaseOrderItem", purchase_order_id=order.id)
        return _shown(order), {"Location": location}


@bp.route("/purchase-orders/<id:purchase_order_id>")
class PurchaseOrderItem(MethodView):
    @bp.response(200, OrderSchema)
    def get(self, purchase_order_id):
        """Get a purchase order with its lines and totals"""
        company_id = auth.current_company_id()
        order = service.get_order(company_id, purchase_order_id)
        return queries.order_view(company_id, order)

    @transactional
    @bp.arguments(OrderUpdateSchema(partial=True))
    @bp.response(200, OrderSchema)
    @bp.alt_response(409, description="The order is no longer a draft")
    def patch(self, changes, purchase_order_id):
        """Change a draft purchase order (`lines` replace all its lines at once)"""
        company_id = auth.current_company_id()
        return _shown(service.update_order(company_id, purchase_order_id, changes))


@bp.route("/purchase-orders/<id:purchase_order_id>/submit", methods=["POST"])
@transactional
@bp.response(200, OrderSchema)
@bp.alt_response(409, description="Not a draft, or its supplier, warehouse or a product is gone")
def submit(purchase_order_id):
    """Submit a draft to the supplier: `ordered`, stamped `ordered_at`"""
    return _shown(service.submit_order(auth.current_company_id(), purchase_order_id))


@bp.route("/purchase-orders/<id:purchase_order_id>/cancel", methods=["POST"])
@transactional
@bp.response(200, OrderSchema)
@bp.alt_response(409, description="Goods were received, or the order is closed")
def cancel(purchase_order_id):
    """Cancel a draft, or an ordered purchase order of which nothing was received"""
    return _shown(service.cancel_order(auth.current_company_id(), purchase_order_id))


@bp.route("/purchase-orders/<id:purchase_order_id>/receipts", methods=["POST"])
@transactional
@bp.arguments(OrderReceiptSchema)
@bp.response(201, OrderSchema)
@bp.alt_response(
    409,
    description="Over-receipt, the order is a draft or closed, or its supplier, warehouse "
    "or a product is gone",
)
def receipts(data, purchase_order_id):
    """Receive goods of a purchase order into its warehouse

    One transaction: `receipt` ledger rows naming the order, its supplier and each
    line's unit cost; the received quantities; the status (`partially_received`,
    then `received`); and the supplier's observed lead time for each product
    received for the first time. More than ordered is a 409 unless
    `allow_over_receipt` is true. Concurrent receipts of one order take turns.
    Accepts an `Idempotency-Key`.
    """
    return _shown(service.receive(auth.current_company_id(), purchase_order_id, data))


@bp.route("/purchase-orders/from-alerts", methods=["POST"])
@transactional
@bp.arguments(FromAlertsSchema, required=False)
@bp.response(201, FromAlertsResultSchema)
def from_alerts(data):
    """Draft purchase orders from the low-stock alerts

    One draft per (supplier, warehouse) of the current alerts (the most urgent
    1,000), each line the alert's suggested reorder quantity (rounded to the
    supplier's minimum order quantity and pack size) at the supplier's cost
    price. Alerts without a supplier are listed in `skipped`.
    """
    today = dt.datetime.now(dt.UTC).date()
    return service.orders_from_alerts(auth.current_company_id(), data, today)
