"""Low-stock alerts, cheap to poll, and as CSV for spreadsheets."""

import csv
import datetime as dt
import io

from flask import Response, request, stream_with_context
from flask.views import MethodView

from app import auth, changes
from app.alerts import acknowledgements, export, queries
from app.alerts.schemas import (
    CSV_COLUMNS,
    AcknowledgementCreateSchema,
    AcknowledgementSchema,
    AlertPageSchema,
    AlertQuerySchema,
    csv_row,
    page_json,
)
from app.api import Blueprint, transactional
from app.errors import not_found
from app.extensions import db
from app.models import STATE_DAYS

bp = Blueprint("alerts", __name__, url_prefix="/api/companies", description="Low-stock alerts")

CACHE_CONTROL = "private, no-cache"
CSV = "text/csv"


def wants_csv(args: dict) -> bool:
    """``?format=csv``, or ``Accept: text/csv`` preferred over JSON."""
    if "format" in args:
        return args["format"] == "csv"
    accepted = request.accept_mimetypes
    return accepted.quality(CSV) > accepted.quality("application/json")


def version(company_id: int, args: dict, now: dt.datetime) -> tuple[list, bool]:
    """What the ETag versions, and whether the maintained state answers.

    A window of at most the default one, on the day the state is current, depends
    only on configuration and on rows that are (or were) low and sold in the default
    window: those writes move the alert version, other sales do not. Any other
    window depends on any stock change: the company's whole data version. Either
    way, the next ``until`` of an acknowledgement is part of it (when it passes, an
    alert shows again), and acknowledging or un-acknowledging is a configuration
    change (it moves both versions).
    """
    today = now.date()
    warehouse_id = args.get("warehouse_id")
    data_version, alert_version, as_of, next_until, key_valid = changes.alert_versions(
        company_id, now, warehouse_id, auth.unconfirmed_key_id()
    )
    auth.key_confirmed(key_valid)
    lapse = next_until.isoformat() if next_until is not None else None
    if as_of == today and args["days"] <= STATE_DAYS:
        # scoped to the warehouse asked for: alerting writes elsewhere keep its 304s
        scope = (
            "alerts"
            if warehouse_id is None
            else f"alerts-of-group-{warehouse_id % changes.WAREHOUSE_GROUPS}"
        )
        return [scope, alert_version, lapse], queries.state_answers(args, as_of, today)
    return ["data", data_version, lapse], False


@bp.route("/<id:company_id>/alerts/low-stock")
class LowStockAlerts(MethodView):
    @auth.confirms_key
    @bp.etag
    @bp.arguments(AlertQuerySchema, location="query")
    @bp.response(
        200,
        AlertPageSchema,
        headers={"Cache-Control": {"schema": {"type": "string"}}},
        content_type="application/json",
    )
    @bp.alt_response(
        200,
        schema={"type": "string"},
        success=True,
        description="A page of alerts (JSON), or with format=csv every matching alert (CSV)",
        content_type=CSV,
    )
    def get(self, args, company_id):
        """Products that will run out, when, and whom to reorder from

        One alert per inventory row whose stock is below its threshold and that
        sold in the last `days` days; most urgent first. Poll with
        `If-None-Match`: while nothing that affects the answer changed (stock of
        low rows, configuration, the date, the parameters), the answer is a 304
        decided without running the alert query. `?format=csv` (or
        `Accept: text/csv`) streams every matching alert as CSV, pages aside.
        """
        own_company(company_id)
        now = dt.datetime.now(dt.UTC)
        today = now.date()
        as_csv = wants_csv(args)
        versioned, maintained = version(company_id, args, now)
        # raises 304 here, before the aggregation, when the client's copy is current
        bp.set_etag([company_id, *versioned, today.isoformat(), args, as_csv])
        if as_csv:
            if db.session.get_bind().dialect.name == "postgresql":
                chunks, size = export.every_alert_csv(company_id, args, today, maintained, now)
                return Response(chunks, mimetype=CSV, headers={"Content-Length": str(size)})
            alerts = queries.every_alert(company_id, args, today, maintained, now)
            return Response(stream_with_context(csv_lines(alerts)), mimetype=CSV)
        alerts, total = queries.low_stock_alerts(company_id, args, today, maintained, now)
        page = {
            "alerts": alerts,
            "total_alerts": total,
            "page": args["page"],
            "page_size": args["page_size"],
            "days": args["days"],
        }
        # AlertPageSchema's dump, written without marshmallow (page_json)
        return Response(page_json(page), mimetype="application/json")


def own_company(company_id: int) -> None:
    """Another company's path is a 404, as if it did not exist."""
    if company_id != auth.current_company_id():
        raise not_found("Company")


@bp.route("/<id:company_id>/alerts/low-stock/acknowledgements")
class Acknowledgements(MethodView):
    @bp.response(200, AcknowledgementSchema(many=True))
    def get(self, company_id):
        """List the company's alert acknowledgements

        Those whose `until` has not passed (expired ones are not shown), of active
        products and warehouses, oldest first. Whether each still hides its alert
        depends on the stock: the alerts say, with `include_acknowledged=true`.
        """
        own_company(company_id)
        return acknowledgements.acknowledgements(company_id, dt.datetime.now(dt.UTC))

    @transactional
    @bp.arguments(AcknowledgementCreateSchema)
    @bp.response(201, AcknowledgementSchema, description="The alert was acknowledged")
    @bp.alt_response(
        200,
        schema=AcknowledgementSchema,
        description="The acknowledgement of this product and warehouse was replaced",
    )
    @bp.alt_response(404, description="No such product or warehouse (active, of the company)")
    @bp.alt_response(409, description="The product is a bundle (bundles have no alerts)")
    def post(self, data, company_id):
        """Acknowledge a low-stock alert: hide it while the situation is no worse

        The alert of the product in the warehouse leaves the default alert list
        until `until` passes, the level reaches zero, or its stockout date moves
        earlier than it is now. One acknowledgement per product and warehouse:
        acknowledging again replaces it (200).
        """
        own_company(company_id)
        acknowledgement, created = acknowledgements.acknowledge(
            company_id, auth.current_api_key_id(), data, dt.datetime.now(dt.UTC)
        )
        return acknowledgement, 201 if created else 200


@bp.route("/<id:company_id>/alerts/low-stock/acknowledgements/<id:acknowledgement_id>")
class AcknowledgementItem(MethodView):
    @transactional
    @bp.response(204)
    @bp.alt_response(404, description="No such acknowledgement of the company")
    def delete(self, company_id, acknowledgement_id):
        """Un-acknowledge: the alert shows again"""
        own_company(company_id)
        acknowledgements.unacknowledge(company_id, acknowledgement_id)


def csv_lines(alerts):
    """The header, then one line per alert, written as the rows arrive (SQLite;
    PostgreSQL writes the CSV itself: ``export``). Lines end with a newline, as
    PostgreSQL's do."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for alert in alerts:
        writer.writerow(csv_row(alert))
        if buffer.tell() > 16_384:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


@bp.after_request
def revalidate_every_time(response):
    """Dashboards may keep the answer but must ask (cheaply) before each use."""
    if response.status_code in (200, 304):
        response.headers["Cache-Control"] = CACHE_CONTROL
    return response
