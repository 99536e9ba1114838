"""Low-stock alerts, cheap to poll."""

import datetime as dt

from flask.views import MethodView

from app import auth, changes
from app.alerts import queries
from app.alerts.schemas import AlertPageSchema, AlertQuerySchema
from app.api import Blueprint
from app.errors import not_found

bp = Blueprint("alerts", __name__, url_prefix="/api/companies", description="Low-stock alerts")

CACHE_CONTROL = "private, no-cache"


@bp.route("/<id:company_id>/alerts/low-stock")
class LowStockAlerts(MethodView):
    @bp.etag
    @bp.arguments(AlertQuerySchema, location="query")
    @bp.response(200, AlertPageSchema, headers={"Cache-Control": {"schema": {"type": "string"}}})
    def get(self, args, company_id):
        """Products that will run out, when, and whom to reorder from

        One alert per inventory row whose stock is below its threshold and that
        sold in the last `days` days; most urgent first. Poll with
        `If-None-Match`: while nothing that affects the answer changed (stock,
        ledger, configuration, the date, the parameters), the answer is a 304
        decided without running the alert query.
        """
        if company_id != auth.current_company_id():
            raise not_found("Company")
        today = dt.datetime.now(dt.UTC).date()
        # raises 304 here, before the aggregation, when the client's copy is current
        bp.set_etag([company_id, changes.version(company_id), today.isoformat(), args])
        alerts, total = queries.low_stock_alerts(company_id, args, today)
        body = {
            "alerts": alerts,
            "total_alerts": total,
            "page": args["page"],
            "page_size": args["page_size"],
            "days": args["days"],
        }
        return body


@bp.after_request
def revalidate_every_time(response):
    """Dashboards may keep the answer but must ask (cheaply) before each use."""
    if response.status_code in (200, 304):
        response.headers["Cache-Control"] = CACHE_CONTROL
    return response
