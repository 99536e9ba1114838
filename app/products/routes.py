"""Products of the caller's company."""

import json
from types import SimpleNamespace

from flask import Response, current_app, request, stream_with_context, url_for
from flask.views import MethodView

from app import auth, changes
from app.api import CSV_BODIES, Blueprint, paginate, transactional
from app.products import importing, service
from app.products.schemas import (
    ExportQuerySchema,
    ImportQuerySchema,
    ImportResultSchema,
    ProductCreateSchema,
    ProductExportSchema,
    ProductImportSchema,
    ProductQuerySchema,
    ProductSchema,
    ProductUpdateSchema,
)
from app.schemas import plain_json
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

    @auth.confirms_key  # by its statement (products.service._create_in_one_statement)
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
        # no alert reads a new product until it sells: its opening stock (if any) moves
        # the stock versions, and nothing moves the configuration's
        changes.only_stock()
        product = service.create_product(company_id, data)
        headers = {"Location": url_for("products.ProductItem", product_id=product.id)}
        if isinstance(product, SimpleNamespace):
            # the one-statement create (service): ProductSchema's keys and types already
            return Response(plain_json(vars(product)), 201, mimetype="application/json"), headers
        return product, headers


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


@bp.before_request
def _import_body_limit():
    """The import takes up to 10,000 rows: a larger body than other routes."""
    if request.endpoint == "products.import_products":
        request.max_content_length = current_app.config["STOCKFLOW_MAX_IMPORT_BYTES"]


CSV_BODIES["products.import_products"] = importing.csv_to_products


@bp.route("/import", methods=["POST"])
@transactional
@bp.arguments(ImportQuerySchema, location="query")
@bp.arguments(ProductImportSchema)
@bp.response(200, ImportResultSchema)
@bp.alt_response(409, description="A SKU belongs to a deleted product")
def import_products(query, data):
    """Create or update (by SKU) up to 10,000 products, all or nothing

    The body is JSON, `{"products": [...]}` with each item a `POST /api/products` body,
    or `text/csv` with a header row: `sku`, `name`, `price`, `product_type`,
    `low_stock_threshold`, `is_bundle`, and opening stock as one `stock:<warehouse_id>`
    column per warehouse or a `warehouse_id` + `quantity` pair (an empty cell is a
    field not given). A product whose SKU exists gets the fields its row lists; a new
    one is created with its opening stock (an `initial` ledger row per warehouse).
    Opening stock for an existing SKU is ignored and counted in `stock_ignored`.
    `?dry_run=true` checks everything and writes nothing. A bad row refuses the
    import: a 400 (or a 409 for SKUs of deleted products) whose `errors` name
    `products.<row>.<field>` (row from 0; in a CSV, line = row + 2). Accepts an
    `Idempotency-Key` header; the body may be up to `STOCKFLOW_MAX_IMPORT_BYTES`.
    """
    if query["dry_run"]:
        changes.only_stock()  # and no stock either: a dry run changes no data version
    result = importing.import_products(
        auth.current_company_id(), data["products"], dry_run=query["dry_run"]
    )
    # by hand: ImportResultSchema's dump of 10,000 rows is slow and says the same
    return Response(json.dumps(result), 200, mimetype="application/json")


def wants_csv(query: dict) -> bool:
    """CSV if ``?format=csv``, or if the Accept header prefers text/csv to JSON."""
    if query.get("format"):
        return query["format"] == "csv"
    return request.accept_mimetypes.best_match(["application/json", "text/csv"]) == "text/csv"


CSV_RESPONSE = {200: {"content": {"text/csv": {"schema": {"type": "string"}}}}}


@bp.route("/export")
class ProductExport(MethodView):
    @bp.arguments(ExportQuerySchema, location="query")
    @bp.response(200, ProductExportSchema)
    @bp.doc(responses=CSV_RESPONSE)
    def get(self, query):
        """Export the catalog with its stock, as JSON or CSV (streamed)

        The import's format: JSON `{"products": [...]}` or CSV with one
        `stock:<warehouse_id>` column per active warehouse; choose with `?format=` or
        the Accept header (JSON by default). Importing it into the same company
        changes nothing.
        """
        company_id = auth.current_company_id()
        if wants_csv(query):
            body, mimetype = importing.export_csv(company_id), "text/csv"
        else:
            body, mimetype = importing.export_json(company_id), "application/json"
        # the generator reads through the request's session: keep the context open
        return Response(stream_with_context(body), 200, mimetype=mimetype)
