"""The dashboard page (``/dashboard``) and the daily sales its sparklines draw.

The page is a server-rendered shell; a small script signs in with an API key
(kept in ``sessionStorage``), then polls the alert API with ``If-None-Match``.
Everything it loads comes from this origin, so the Content-Security-Policy can
forbid inline script and style and every other origin.
"""

import datetime as dt

from flask import Blueprint as FlaskBlueprint
from flask import current_app, render_template

from app import auth
from app.api import Blueprint
from app.dashboard import queries
from app.dashboard.schemas import SalesDailyQuerySchema, SalesDailySchema

# nothing inline, nothing from elsewhere; the API is called on this origin only
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
)

page = FlaskBlueprint(
    "dashboard",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/dashboard/static",
)

bp = Blueprint(
    "dashboard-api",
    __name__,
    url_prefix="/api/dashboard",
    description="Reads the dashboard needs beyond the alerts",
)


@page.get("/dashboard")
def dashboard():
    """The low-stock dashboard."""
    return render_template(
        "dashboard/index.html",
        poll_ms=int(current_app.config["STOCKFLOW_DASHBOARD_POLL_S"] * 1000),
    )


@page.after_request
def page_headers(response):
    """A strict CSP, no framing, no referrer, and no stale shell after a deploy."""
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers.setdefault("Cache-Control", "no-cache")
    return response


@bp.get("/sales-daily")
@bp.arguments(SalesDailyQuerySchema, location="query")
@bp.response(200, SalesDailySchema)
def sales_daily(args):
    """Units sold per day of some products, per warehouse (for sparklines)

    One number per day for the last `days` days (UTC, today included, oldest
    first), for each product and warehouse that sold in that time. One grouped
    statement on the ledger index; at most 200 products and 90 days a request.
    """
    today = dt.datetime.now(dt.UTC).date()
    days = args["days"]
    product_ids = sorted(set(args["product_id"]))
    series = (
        queries.daily_sales(
            auth.current_company_id(), product_ids, days, today, args.get("warehouse_id")
        )
        if product_ids
        else []
    )
    return {
        "days": days,
        "first_day": today - dt.timedelta(days=days - 1),
        "last_day": today,
        "series": series,
    }
