"""Stock operations, stock levels and the ledger."""

from flask import Response, request, stream_with_context
from flask.views import MethodView

from app import auth, changes
from app.api import Blueprint, paginate, transactional
from app.models import Product, Warehouse
from app.schemas import plain_json
from app.stock import batch, export, fast, queries, service
from app.stock.schemas import (
    BATCH_ITEM_SCHEMAS,
    AdjustmentSchema,
    BatchProblemSchema,
    BatchSchema,
    LedgerChangesQuerySchema,
    LedgerChangesSchema,
    LedgerPageSchema,
    LedgerQuerySchema,
    LevelsQuerySchema,
    OperationResultSchema,
    OperationSchema,
    ProductStockSchema,
    ReceiptSchema,
    StockLevelRowSchema,
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


def _operation(path: str, schema, operation, summary: str, confirms_key: bool = False):
    """Register ``POST /api/stock/<path>`` running ``operation`` (which confirms the
    API key itself with ``confirms_key``: see ``fast.sell``)."""

    @transactional
    @bp.arguments(schema)
    @bp.response(201, OperationResultSchema)
    @bp.alt_response(409, description="Not enough stock, or the stock changed")
    @bp.doc(summary=summary, description=OPERATION_DOC)
    def post(data):
        changes.only_stock()
        result = _result(operation(auth.current_company_id(), data))
        if all(type(entry) is fast.Entry for entry in result["entries"]):
            # a one-statement sale's (app.stock.fast): LedgerEntrySchema's keys and types
            result["entries"] = [vars(entry) for entry in result["entries"]]
            return Response(plain_json(result), 201, mimetype="application/json")
        return result

    post.__name__ = f"post_{path}"
    if confirms_key:
        post = auth.confirms_key(post)
    bp.route(f"/stock/{path}", methods=["POST"], endpoint=path)(post)


_operation("receipts", ReceiptSchema, service.receive, "Receive stock (goods in)")
_operation("sales", OperationSchema, fast.sell, "Sell (ship) stock", confirms_key=True)
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


@bp.record_once
def _document_batch_items(_state):
    """Put each batch item's schema in the OpenAPI document (the items refer to them)."""
    from app.extensions import api

    for schema in BATCH_ITEM_SCHEMAS.values():
        api.spec.components.schema(schema.__name__.removesuffix("Schema"), schema=schema)


@bp.route("/stock/batch", methods=["POST"])
@transactional
@bp.arguments(BatchSchema)
@bp.response(201, OperationResultSchema)
@bp.alt_response(400, schema=BatchProblemSchema, description="An operation is invalid")
@bp.alt_response(
    409, schema=BatchProblemSchema, description="An operation was refused (e.g. not enough stock)"
)
def post_batch(data):
    """Apply up to 1,000 stock operations of any kind, all or nothing

    Each item is the body of its single-operation endpoint plus `type` (`receipt`,
    `sale`, `return`, `transfer`, `adjustment`); they apply in order (several items on
    one row chain their `quantity_after`) in one transaction, and every ledger row
    carries the batch's `operation_id`. A refused item refuses the whole batch and
    nothing is written: a 400 (bad input, e.g. an unknown product) or a 409 (`batch-refused`:
    not enough stock, past the largest level, a stale count) whose `errors` name each
    bad item's field (`operations.3.quantity`) and whose `items` give the facts
    (`index`, `problem`, `available`, ...). Accepts an `Idempotency-Key` header.
    """
    changes.only_stock()
    result = batch.apply(auth.current_company_id(), data["operations"])
    # serialized by hand (LedgerEntrySchema's dump of 1,000 rows costs more than the
    # SQL), and only once the transaction has committed (batch.JsonBody)
    return Response(batch.JsonBody(result), 201, mimetype="application/json")


@bp.route("/stock/levels")
class Levels(MethodView):
    @bp.arguments(LevelsQuerySchema, location="query")
    @bp.response(200, StockLevelRowSchema(many=True))
    @bp.doc(responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}})
    def get(self, query):
        """Every stock level (product, warehouse), as JSON or CSV (streamed)

        Filter by `product_id` and `warehouse_id`; choose the format with `?format=`
        or the Accept header (JSON by default). Bundles hold no stock of their own and
        are not listed.
        """
        company_id = auth.current_company_id()
        fmt = query.get("format") or (
            "csv"
            if request.accept_mimetypes.best_match(["application/json", "text/csv"]) == "text/csv"
            else "json"
        )
        if fmt == "csv":
            body, mimetype = export.levels_csv(company_id, query), "text/csv"
        else:
            body, mimetype = export.levels_json(company_id, query), "application/json"
        # the generator reads through the request's session: keep the context open
        return Response(stream_with_context(body), 200, mimetype=mimetype)
