"""Stock operations, stock levels and the ledger."""

from flask.views import MethodView

from app import auth, changes
from app.api import Blueprint, paginate, transactional
from app.models import Product, Warehouse
from app.stock import queries, service
from app.stock.schemas import (
    AdjustmentSchema,
    LedgerChangesQuerySchema,
    LedgerChangesSchema,
    LedgerPageSchema,
    LedgerQuerySchema,
    OperationResultSchema,
    OperationSchema,
    ProductStockSchema,
    ReceiptSchema,
    TransferSchema,
    WarehouseStockItemSchema,
)
from app.tenancy import get_owned

bp = Blueprint("stock", __name__, url_prefix="/api", description="Stock operations and levels")

OPERATION_DOC = (
    "One transaction: the ledger rows and the stock levels change together. "
    "Stock never goes below zero (409 naming the available quantity). Accepts "
    "an `Idempotency-Key` header."
)


def _result(entries):
    return {
        "operation_id": entries[0].operation_id,
        "entries": entries,
        "stock": service.resulting_levels(entries),
    }


def _operation(path: str, schema, operation, summary: str):
    """Register ``POST /api/stock/<path>`` running ``operation``."""

    @transactional
    @bp.arguments(schema)
    @bp.response(201, OperationResultSchema)
    @bp.alt_response(409, description="Not enough stock, or the stock changed")
    @bp.doc(summary=summary, description=OPERATION_DOC)
    def post(data):
        changes.only_stock()
        return _result(operation(auth.current_company_id(), data))

    post.__name__ = f"post_{path}"
    bp.route(f"/stock/{path}", methods=["POST"], endpoint=path)(post)


_operation("receipts", ReceiptSchema, service.receive, "Receive stock (goods in)")
_operation("sales", OperationSchema, service.sell, "Sell (ship) stock")
_operation("returns", OperationSchema, service.return_, "Take back returned stock")
_operation("transfers", TransferSchema, service.transfer, "Move stock between warehouses")
_operation("adjustments", AdjustmentSchema, service.adjust, "Adjust stock (count or delta)")


@bp.route("/stock/ledger")
class Ledger(MethodView):
    @bp.arguments(LedgerQuerySchema, location="query")
    @bp.response(200, LedgerPageSchema)
    def get(self, args):
        """Read the ledger, newest first, with cursor pagination

        Filter by `product_id`, `warehouse_id`, `reason` and `since` <= occurred_at
        < `until`. Pass the returned `next_cursor` as `cursor` for the next page.
        """
        return queries.ledger_page(auth.current_company_id(), args)


@bp.route("/stock/ledger/changes")
class LedgerChanges(MethodView):
    @bp.arguments(LedgerChangesQuerySchema, location="query")
    @bp.response(200, LedgerChangesSchema)
    def get(self, args):
        """Sync the ledger: every committed row exactly once, in the order written

        For integrations that copy the ledger. Start without `after`, then pass
        each answer's `next_cursor` as `after`; `has_more` says to ask again at
        once. The order is the order transactions wrote the rows (not
        `occurred_at`, which imports may backdate). Guarantee: a row that commits
        after you read past its place can never appear, so following the cursor
        never skips a committed row and never repeats one. A row shows only once
        every transaction that began writing before it has ended, so a write that
        waits on a lock (or any long transaction on the database server) holds
        the feed back until it ends.
        """
        return queries.ledger_changes(auth.current_company_id(), args)


@bp.route("/products/<id:product_id>/stock")
class ProductStock(MethodView):
    @bp.response(200, ProductStockSchema)
    def get(self, product_id):
        """Stock of a product per warehouse (bundles: what their components can make)"""
        company_id = auth.current_company_id()
        return queries.product_stock(company_id, get_owned(Product, company_id, product_id))


@bp.route("/warehouses/<id:warehouse_id>/stock")
class WarehouseStock(MethodView):
    @bp.response(200, WarehouseStockItemSchema(many=True))
    @bp.paginate()
    def get(self, warehouse_id, pagination_parameters):
        """Stock of every product in a warehouse (bundles included), by product id"""
        company_id = auth.current_company_id()
        get_owned(Warehouse, company_id, warehouse_id)
        products = queries.products_in_warehouse(company_id, warehouse_id)
        page = paginate(products, pagination_parameters)
        return queries.warehouse_stock(company_id, warehouse_id, page)
