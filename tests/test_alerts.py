"""Low-stock alerts through the API: which rows alert, the figures, the order, the ETag."""

import csv
import datetime as dt
import io
import types

import pytest
import sqlalchemy as sa

from app.alerts import queries, state
from app.alerts import routes as alert_routes
from app.extensions import db
from app.models import AlertState, Inventory, window_start
from tests.helpers import assert_problem

# the keys and types the original clients parse (fixed by the contract)
CONTRACT_TYPES = {
    "product_id": int,
    "product_name": str,
    "sku": str,
    "warehouse_id": int,
    "warehouse_name": str,
    "current_stock": int,
    "threshold": int,
    "days_until_stockout": int,
}


def alerts_path(company_id: int) -> str:
    """The low-stock alerts of a company."""
    return f"/api/companies/{company_id}/alerts/low-stock"


def fetch(client, tenant, headers=None, **params):
    """GET the tenant's alerts with query ``params`` (the response, whatever its status)."""
    return client.get(
        alerts_path(tenant.id),
        query_string=params,
        headers={**tenant.headers, **(headers or {})},
    )


def get_alerts(client, tenant, **params) -> dict:
    """The tenant's alerts page (asserting a 200)."""
    response = fetch(client, tenant, **params)
    assert response.status_code == 200, response.json
    return response.json


def rows(body) -> list[tuple[int, int]]:
    """The alerts of a page as ``(product_id, warehouse_id)``, in order."""
    return [(a["product_id"], a["warehouse_id"]) for a in body["alerts"]]


def only_alert(body) -> dict:
    """The one alert of a page."""
    assert body["total_alerts"] == 1, body
    (alert,) = body["alerts"]
    return alert


def ago(days: float) -> str:
    """An ISO 8601 UTC time ``days`` days before now."""
    return (dt.datetime.now(dt.UTC) - dt.timedelta(days=days)).isoformat()


def stock_op(client, tenant, path: str, body: dict) -> dict:
    """POST one stock operation as ``tenant`` (asserting a 201)."""
    response = client.post(f"/api/stock/{path}", json=body, headers=tenant.headers)
    assert response.status_code == 201, response.json
    return response.json


def sell(client, tenant, product_id, warehouse_id, quantity, occurred_at=None):
    """Sell ``quantity`` units, two days ago unless told when (well inside any window)."""
    body = {
        "product_id": product_id,
        "warehouse_id": warehouse_id,
        "quantity": quantity,
        "occurred_at": occurred_at or ago(2),
    }
    return stock_op(client, tenant, "sales", body)


def link_supplier(client, tenant, product_id, supplier_id, **offer):
    """Link a supplier to a product (asserting a 201)."""
    response = client.post(
        f"/api/products/{product_id}/suppliers",
        json={"supplier_id": supplier_id, **offer},
        headers=tenant.headers,
    )
    assert response.status_code == 201, response.json
    return response.json


def put_ok(client, tenant, path: str, body):
    """PUT a configuration resource (asserting a 200 or 201)."""
    response = client.put(path, json=body, headers=tenant.headers)
    assert response.status_code in (200, 201), response.json
    return response.json


def delete_ok(client, tenant, path: str):
    """DELETE (archive) a resource (asserting a 204)."""
    response = client.delete(path, headers=tenant.headers)
    assert response.status_code == 204, response.json


@pytest.fixture
def warehouse(company, make_warehouse) -> dict:
    """The company's first warehouse."""
    return make_warehouse(company, name="Main")


@pytest.fixture
def make_selling(client, make_product):
    """A product left with ``stock`` units in a warehouse after selling ``sold`` there.

    The opening stock is ``stock + sold``, so the ledger stays consistent.
    """

    def make(tenant, warehouse_id, *, stock, sold, occurred_at=None, **overrides) -> dict:
        product = make_product(
            tenant, warehouse_id=warehouse_id, initial_quantity=stock + sold, **overrides
        )
        if sold:
            sell(client, tenant, product["id"], warehouse_id, sold, occurred_at)
        return product

    return make


@pytest.fixture
def make_supplier(client):
    """Create a supplier through the API."""

    def make(tenant, name="Supplier", **fields) -> dict:
        body = {"name": name, **fields}
        response = client.post("/api/suppliers", json=body, headers=tenant.headers)
        assert response.status_code == 201, response.json
        return response.json

    return make


class Clock:
    """The alerts' idea of now, fixed (and movable) so date assertions cannot race midnight."""

    def __init__(self):
        self.now = dt.datetime.now(dt.UTC)

    @property
    def today(self) -> dt.date:
        return self.now.date()

    def window_start(self, days: int) -> dt.datetime:
        """00:00 UTC ``days`` days before today."""
        return dt.datetime.combine(self.today - dt.timedelta(days=days), dt.time(), dt.UTC)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    """Freeze the clock the alert route reads (stock operations keep the real one)."""
    frozen = Clock()
    fake_datetime = types.SimpleNamespace(now=lambda tz=None: frozen.now.astimezone(tz))
    monkeypatch.setattr(
        alert_routes, "dt", types.SimpleNamespace(datetime=fake_datetime, UTC=dt.UTC)
    )
    return frozen


# -- nothing to report ---------------------------------------------------------------------


def test_company_without_warehouses_has_no_alerts(client, company):
    body = get_alerts(client, company)
    assert body["alerts"] == [] and body["total_alerts"] == 0


def test_warehouse_without_inventory_has_no_alerts(client, company, warehouse, make_product):
    make_product(company)  # no opening stock anywhere: no inventory row
    body = get_alerts(client, company)
    assert body["alerts"] == [] and body["total_alerts"] == 0


def test_stock_equal_to_the_threshold_does_not_alert(client, company, warehouse, make_selling):
    make_selling(company, warehouse["id"], stock=10, sold=5)  # regular: threshold 10
    assert get_alerts(client, company)["total_alerts"] == 0


def test_low_stock_without_sales_does_not_alert(client, company, warehouse, make_product):
    make_product(company, warehouse_id=warehouse["id"], initial_quantity=3)
    assert get_alerts(client, company)["total_alerts"] == 0


def test_recent_sales_without_low_stock_do_not_alert(client, company, warehouse, make_selling):
    make_selling(company, warehouse["id"], stock=50, sold=40)
    assert get_alerts(client, company)["total_alerts"] == 0


# -- what alerts ---------------------------------------------------------------------------


def test_stock_one_below_the_threshold_alerts_with_the_contract_keys_and_types(
    client, company, warehouse, make_selling
):
    product = make_selling(company, warehouse["id"], stock=9, sold=3, name="Widget A", sku="W-1")
    body = get_alerts(client, company)
    alert = only_alert(body)
    for key, kind in CONTRACT_TYPES.items():
        assert type(alert[key]) is kind, (key, alert[key])
    assert alert["supplier"] is None
    assert {
        k: alert[k]
        for k in (
            "product_id",
            "product_name",
            "sku",
            "warehouse_id",
            "warehouse_name",
            "current_stock",
            "threshold",
            "threshold_source",
            "days_until_stockout",
        )
    } == {
        "product_id": product["id"],
        "product_name": "Widget A",
        "sku": "W-1",
        "warehouse_id": warehouse["id"],
        "warehouse_name": "Main",
        "current_stock": 9,
        "threshold": 10,
        "threshold_source": "default",
        "days_until_stockout": 90,  # 9 / (3 / 30)
    }


def test_zero_stock_alerts_as_critical_with_zero_days_left(
    client, company, warehouse, make_selling, clock
):
    make_selling(company, warehouse["id"], stock=0, sold=4)
    alert = only_alert(get_alerts(client, company))
    assert alert["current_stock"] == 0
    assert alert["days_until_stockout"] == 0
    assert alert["stockout_date"] == clock.today.isoformat()
    assert alert["urgency"] == "critical"


def test_sales_older_than_the_window_do_not_count_until_a_longer_window_covers_them(
    client, company, warehouse, make_selling
):
    make_selling(company, warehouse["id"], stock=5, sold=5, occurred_at=ago(40))
    assert get_alerts(client, company, days=30)["total_alerts"] == 0
    alert = only_alert(get_alerts(client, company, days=60))
    assert alert["days_until_stockout"] == 60  # 5 / (5 / 60)


def test_window_starts_at_midnight_utc_days_before_today(
    client, company, warehouse, make_selling, clock
):
    start = clock.window_start(30)
    inside = make_selling(company, warehouse["id"], stock=5, sold=1, occurred_at=start.isoformat())
    before = (start - dt.timedelta(seconds=1)).isoformat()
    make_selling(company, warehouse["id"], stock=5, sold=1, occurred_at=before)
    assert rows(get_alerts(client, company, days=30)) == [(inside["id"], warehouse["id"])]


def test_window_boundary_is_in_utc_whatever_the_offset_of_occurred_at(
    client, company, warehouse, make_selling, clock
):
    start = clock.window_start(30)
    plus_two = dt.timezone(dt.timedelta(hours=2))
    minus_five = dt.timezone(dt.timedelta(hours=-5))
    # 01:00+02:00 on the first day of the window is 23:00 UTC the day before: outside
    outside = (start - dt.timedelta(hours=1)).astimezone(plus_two).isoformat()
    # 19:00-05:00 the day before the window is 00:00 UTC on its first day: inside
    inside_at = start.astimezone(minus_five).isoformat()
    make_selling(company, warehouse["id"], stock=5, sold=1, occurred_at=outside)
    inside = make_selling(company, warehouse["id"], stock=5, sold=1, occurred_at=inside_at)
    assert rows(get_alerts(client, company, days=30)) == [(inside["id"], warehouse["id"])]


def test_sales_in_another_warehouse_do_not_make_a_row_alert(
    client, company, warehouse, make_warehouse, make_product
):
    second = make_warehouse(company, name="Second")
    product = make_product(
        company,
        initial_stock=[
            {"warehouse_id": warehouse["id"], "quantity": 3},
            {"warehouse_id": second["id"], "quantity": 50},
        ],
    )
    sell(client, company, product["id"], second["id"], 20)
    # low in Main but never sold there; sold in Second but 30 units is not low
    assert get_alerts(client, company)["total_alerts"] == 0
    sell(client, company, product["id"], second["id"], 25)
    assert rows(get_alerts(client, company)) == [(product["id"], second["id"])]


@pytest.mark.parametrize("operation", ["transfers", "adjustments", "returns"])
def test_transfers_adjustments_and_returns_are_not_sales(
    client, company, warehouse, make_warehouse, make_product, operation
):
    other = make_warehouse(company, name="Other")
    # every row is low: only a sale could make it alert
    product = make_product(
        company, warehouse_id=warehouse["id"], initial_quantity=20, low_stock_threshold=100
    )
    body = {
        "transfers": {"from_warehouse_id": warehouse["id"], "to_warehouse_id": other["id"]},
        "adjustments": {"warehouse_id": warehouse["id"], "delta": -5, "reason": "damaged"},
        "returns": {"warehouse_id": warehouse["id"]},
    }[operation]
    if operation != "adjustments":
        body["quantity"] = 5
    stock_op(
        client,
        company,
        operation,
        {"product_id": product["id"], "occurred_at": ago(2), **body},
    )
    assert get_alerts(client, company)["total_alerts"] == 0


def test_returns_do_not_reduce_the_units_sold(client, company, warehouse, make_selling):
    product = make_selling(company, warehouse["id"], stock=4, sold=6)
    body = {"product_id": product["id"], "warehouse_id": warehouse["id"], "quantity": 2}
    stock_op(client, company, "returns", body)
    alert = only_alert(get_alerts(client, company))
    assert alert["current_stock"] == 6
    assert alert["days_until_stockout"] == 30  # 6 / (6 / 30): the return is not a negative sale


# -- threshold precedence ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("product_type", "threshold"),
    [("fast_moving", 20), ("regular", 10), ("slow_moving", 5), ("perishable", 10)],
)
def test_default_threshold_of_the_product_type_applies_and_unknown_types_use_10(
    client, company, warehouse, make_selling, product_type, threshold
):
    at = make_selling(company, warehouse["id"], stock=threshold, sold=2, product_type=product_type)
    below = make_selling(
        company, warehouse["id"], stock=threshold - 1, sold=2, product_type=product_type
    )
    alert = only_alert(get_alerts(client, company))
    assert alert["product_id"] == below["id"] != at["id"]
    assert alert["threshold"] == threshold
    assert alert["threshold_source"] == "default"


def test_company_type_threshold_wins_over_the_default(client, company, warehouse, make_selling):
    put_ok(client, company, "/api/product-types/regular", {"low_stock_threshold": 3})
    make_selling(company, warehouse["id"], stock=5, sold=2)  # below the default 10, not 3
    low = make_selling(company, warehouse["id"], stock=2, sold=2)
    alert = only_alert(get_alerts(client, company))
    assert alert["product_id"] == low["id"]
    assert (alert["threshold"], alert["threshold_source"]) == (3, "product_type")


def test_product_threshold_wins_over_the_company_type_threshold(
    client, company, warehouse, make_selling
):
    put_ok(client, company, "/api/product-types/regular", {"low_stock_threshold": 3})
    product = make_selling(company, warehouse["id"], stock=5, sold=2, low_stock_threshold=8)
    alert = only_alert(get_alerts(client, company))
    assert alert["product_id"] == product["id"]
    assert (alert["threshold"], alert["threshold_source"]) == (8, "product")


def test_product_threshold_of_zero_means_never_low(client, company, warehouse, make_selling):
    make_selling(company, warehouse["id"], stock=0, sold=2, low_stock_threshold=0)
    assert get_alerts(client, company)["total_alerts"] == 0


def test_reorder_rule_wins_over_the_product_threshold_in_its_warehouse_only(
    client, company, warehouse, make_warehouse, make_product
):
    second = make_warehouse(company, name="Second")
    product = make_product(
        company,
        low_stock_threshold=8,
        initial_stock=[
            {"warehouse_id": warehouse["id"], "quantity": 7},
            {"warehouse_id": second["id"], "quantity": 7},
        ],
    )
    sell(client, company, product["id"], warehouse["id"], 2)
    sell(client, company, product["id"], second["id"], 2)
    rule = f"/api/products/{product['id']}/reorder-rules/{warehouse['id']}"
    put_ok(client, company, rule, {"threshold": 4})  # 5 is not below 4 in Main
    alert = only_alert(get_alerts(client, company))
    assert (alert["warehouse_id"], alert["threshold"]) == (second["id"], 8)
    assert alert["threshold_source"] == "product"

    put_ok(client, company, rule, {"threshold": 6, "reorder_quantity": 40})
    body = get_alerts(client, company)
    by_warehouse = {a["warehouse_id"]: a for a in body["alerts"]}
    main = by_warehouse[warehouse["id"]]
    assert (main["threshold"], main["threshold_source"]) == (6, "warehouse_rule")
    assert main["reorder_quantity"] == 40
    assert by_warehouse[second["id"]]["threshold_source"] == "product"


# -- the supplier to reorder from ----------------------------------------------------------


def test_alert_without_supplier_has_null_supplier_lead_time_cost_and_reorder_by(
    client, company, warehouse, make_selling
):
    make_selling(company, warehouse["id"], stock=5, sold=30)
    alert = only_alert(get_alerts(client, company))
    assert alert["supplier"] is None
    assert alert["lead_time_days"] is None
    assert alert["cost_price"] is None
    assert alert["reorder_by"] is None


def test_cheapest_supplier_is_chosen_with_its_offer(
    client, company, warehouse, make_selling, make_supplier
):
    product = make_selling(company, warehouse["id"], stock=5, sold=30)
    dear = make_supplier(company, "Dear", contact_email="dear@example.com")
    cheap = make_supplier(company, "Cheap", contact_email="orders@cheap.example")
    link_supplier(client, company, product["id"], dear["id"], cost_price="9.00", lead_time_days=1)
    link_supplier(client, company, product["id"], cheap["id"], cost_price="8.50", lead_time_days=3)
    alert = only_alert(get_alerts(client, company))
    assert alert["supplier"] == {
        "id": cheap["id"],
        "name": "Cheap",
        "contact_email": "orders@cheap.example",
    }
    assert alert["cost_price"] == "8.50"
    assert alert["lead_time_days"] == 3


def test_suppliers_at_the_same_cost_tie_to_the_lowest_id(
    client, company, warehouse, make_selling, make_supplier
):
    product = make_selling(company, warehouse["id"], stock=5, sold=30)
    first, second = make_supplier(company, "First"), make_supplier(company, "Second")
    # linked in the other order, so the link's age cannot be what decides
    link_supplier(client, company, product["id"], second["id"], cost_price="4.00")
    link_supplier(client, company, product["id"], first["id"], cost_price="4.00")
    assert only_alert(get_alerts(client, company))["supplier"]["id"] == first["id"]


def test_supplier_without_a_cost_loses_to_any_cost(
    client, company, warehouse, make_selling, make_supplier
):
    product = make_selling(company, warehouse["id"], stock=5, sold=30)
    unknown, priced = make_supplier(company, "Unknown"), make_supplier(company, "Priced")
    link_supplier(client, company, product["id"], unknown["id"])
    link_supplier(client, company, product["id"], priced["id"], cost_price="99.99")
    alert = only_alert(get_alerts(client, company))
    assert alert["supplier"]["id"] == priced["id"]
    assert alert["cost_price"] == "99.99"


def test_preferred_supplier_wins_over_a_cheaper_one(
    client, company, warehouse, make_selling, make_supplier
):
    product = make_selling(company, warehouse["id"], stock=5, sold=30)
    cheap, preferred = make_supplier(company, "Cheap"), make_supplier(company, "Preferred")
    link_supplier(client, company, product["id"], cheap["id"], cost_price="1.00")
    link_supplier(
        client, company, product["id"], preferred["id"], cost_price="5.00", is_preferred=True
    )
    alert = only_alert(get_alerts(client, company))
    assert alert["supplier"]["id"] == preferred["id"]
    assert alert["cost_price"] == "5.00"


def test_supplier_without_an_email_has_null_contact_email(
    client, company, warehouse, make_selling, make_supplier
):
    product = make_selling(company, warehouse["id"], stock=5, sold=30)
    supplier = make_supplier(company, "No Mail")
    link_supplier(client, company, product["id"], supplier["id"], cost_price="2.00")
    assert only_alert(get_alerts(client, company))["supplier"] == {
        "id": supplier["id"],
        "name": "No Mail",
        "contact_email": None,
    }


def test_archived_supplier_is_not_chosen(client, company, warehouse, make_selling, make_supplier):
    product = make_selling(company, warehouse["id"], stock=5, sold=30)
    preferred, other = make_supplier(company, "Preferred"), make_supplier(company, "Other")
    link_supplier(client, company, product["id"], preferred["id"], is_preferred=True)
    link_supplier(client, company, product["id"], other["id"], cost_price="3.00")
    delete_ok(client, company, f"/api/suppliers/{preferred['id']}")
    assert only_alert(get_alerts(client, company))["supplier"]["id"] == other["id"]
    delete_ok(client, company, f"/api/suppliers/{other['id']}")
    assert only_alert(get_alerts(client, company))["supplier"] is None


# -- bundles and archived rows -------------------------------------------------------------


def test_bundle_gets_no_alert_and_selling_it_makes_its_components_alert(
    client, company, warehouse, make_product
):
    part_a = make_product(company, sku="A", warehouse_id=warehouse["id"], initial_quantity=15)
    part_b = make_product(company, sku="B", warehouse_id=warehouse["id"], initial_quantity=9)
    kit = make_product(company, sku="KIT", is_bundle=True)
    components = [
        {"product_id": part_a["id"], "quantity": 2},
        {"product_id": part_b["id"], "quantity": 1},
    ]
    put_ok(client, company, f"/api/products/{kit['id']}/components", components)
    # both parts are low (B already), but nothing has sold yet
    assert get_alerts(client, company)["total_alerts"] == 0

    sell(client, company, kit["id"], warehouse["id"], 3)
    body = get_alerts(client, company)
    by_product = {a["product_id"]: a for a in body["alerts"]}
    assert set(by_product) == {part_a["id"], part_b["id"]}  # the kit itself never alerts
    assert by_product[part_a["id"]]["current_stock"] == 9
    assert by_product[part_a["id"]]["days_until_stockout"] == 45  # 9 / (6 / 30)
    assert by_product[part_b["id"]]["current_stock"] == 6
    assert by_product[part_b["id"]]["days_until_stockout"] == 60  # 6 / (3 / 30)


def test_archived_product_is_left_out(client, company, warehouse, make_selling):
    product = make_selling(company, warehouse["id"], stock=0, sold=4)
    assert get_alerts(client, company)["total_alerts"] == 1
    delete_ok(client, company, f"/api/products/{product['id']}")
    body = get_alerts(client, company)
    assert body["alerts"] == [] and body["total_alerts"] == 0


def test_archived_warehouse_is_left_out(client, company, warehouse, make_warehouse, make_product):
    second = make_warehouse(company, name="Second")
    product = make_product(
        company,
        initial_stock=[
            {"warehouse_id": warehouse["id"], "quantity": 3},
            {"warehouse_id": second["id"], "quantity": 5},
        ],
    )
    sell(client, company, product["id"], warehouse["id"], 3)
    sell(client, company, product["id"], second["id"], 1)
    assert get_alerts(client, company)["total_alerts"] == 2
    delete_ok(client, company, f"/api/warehouses/{warehouse['id']}")
    assert rows(get_alerts(client, company)) == [(product["id"], second["id"])]


# -- tenancy -------------------------------------------------------------------------------


def test_another_companys_data_never_appears(
    client, company, other_company, warehouse, make_warehouse, make_selling, make_supplier
):
    mine = make_selling(company, warehouse["id"], stock=5, sold=5, sku="SAME-1")
    theirs_warehouse = make_warehouse(other_company, name="Theirs")
    theirs = make_selling(other_company, theirs_warehouse["id"], stock=1, sold=5, sku="SAME-1")
    make_selling(other_company, theirs_warehouse["id"], stock=0, sold=5, sku="SAME-2")
    their_supplier = make_supplier(other_company, "Theirs")
    link_supplier(client, other_company, theirs["id"], their_supplier["id"], cost_price="1.00")

    alert = only_alert(get_alerts(client, company))
    assert (alert["product_id"], alert["warehouse_id"]) == (mine["id"], warehouse["id"])
    assert alert["days_until_stockout"] == 30  # their sales of the same SKU do not count
    assert alert["supplier"] is None
    assert get_alerts(client, other_company)["total_alerts"] == 2


def test_another_companys_id_is_a_404(client, company, other_company, make_warehouse, make_selling):
    theirs = make_warehouse(other_company)
    make_selling(other_company, theirs["id"], stock=0, sold=1)
    response = client.get(alerts_path(other_company.id), headers=company.headers)
    assert_problem(response, 404, slug="not-found")
    assert_problem(client.get(alerts_path(999_999), headers=company.headers), 404)


def test_alerts_need_an_api_key(client, company):
    assert_problem(client.get(alerts_path(company.id)), 401)


# -- the days parameter --------------------------------------------------------------------


@pytest.mark.parametrize("days", ["0", "366", "-1", "abc", "1.5", ""])
def test_bad_days_is_a_400_naming_days(client, company, days):
    assert_problem(fetch(client, company, days=days), 400, "days", slug="validation-error")


@pytest.mark.parametrize(
    "params",
    [
        {"page": "0"},
        {"page_size": "0"},
        {"warehouse_id": "abc"},
        {"supplier_id": "0"},
        {"product_type": ""},
    ],
)
def test_bad_filter_or_page_is_a_400_naming_it(client, company, params):
    assert_problem(fetch(client, company, **params), 400, *params, slug="validation-error")


def test_days_1_counts_sales_since_yesterday_midnight(client, company, warehouse, make_product):
    product = make_product(company, warehouse_id=warehouse["id"], initial_quantity=15)
    body = {"product_id": product["id"], "warehouse_id": warehouse["id"], "quantity": 10}
    stock_op(client, company, "sales", body)  # now: inside any window
    alert = only_alert(get_alerts(client, company, days=1))
    assert alert["avg_daily_sales"] == "10.00"
    assert alert["days_until_stockout"] == 0  # floor(5 / 10)


def test_days_365_counts_sales_from_most_of_a_year_ago(client, company, warehouse, make_selling):
    make_selling(company, warehouse["id"], stock=5, sold=5, occurred_at=ago(300))
    assert get_alerts(client, company, days=300 - 2)["total_alerts"] == 0
    alert = only_alert(get_alerts(client, company, days=365))
    assert alert["days_until_stockout"] == 365
    assert get_alerts(client, company, days=365)["days"] == 365


def test_days_defaults_to_30(client, company, warehouse, make_selling):
    make_selling(company, warehouse["id"], stock=5, sold=5, occurred_at=ago(31))
    assert get_alerts(client, company)["total_alerts"] == 0
    make_selling(company, warehouse["id"], stock=5, sold=5, occurred_at=ago(29))
    assert get_alerts(client, company)["total_alerts"] == 1


# -- the figures ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stock", "sold", "days_left", "average"),
    [(5, 30, 5, "1.00"), (7, 4, 52, "0.13"), (1, 29, 1, "0.97"), (9, 1, 270, "0.03")],
)
def test_days_until_stockout_is_floored_and_the_average_has_two_places(
    client, company, warehouse, make_selling, stock, sold, days_left, average
):
    make_selling(company, warehouse["id"], stock=stock, sold=sold)
    alert = only_alert(get_alerts(client, company, days=30))
    assert alert["days_until_stockout"] == days_left
    assert alert["avg_daily_sales"] == average


def test_stockout_date_is_today_plus_days_left_and_reorder_by_subtracts_the_lead_time(
    client, company, warehouse, make_selling, make_supplier, clock
):
    product = make_selling(company, warehouse["id"], stock=5, sold=30)
    supplier = make_supplier(company)
    link_supplier(client, company, product["id"], supplier["id"], lead_time_days=3)
    alert = only_alert(get_alerts(client, company))
    assert alert["stockout_date"] == (clock.today + dt.timedelta(days=5)).isoformat()
    assert alert["reorder_by"] == (clock.today + dt.timedelta(days=2)).isoformat()


@pytest.mark.parametrize(
    ("stock", "lead_time", "urgency"),
    [
        (4, 5, "critical"),  # runs out a day before a reorder placed today arrives
        (5, 5, "high"),  # no margin, but it arrives in time
        (11, 5, "high"),  # six days of margin
        (12, 5, "normal"),  # a week of margin
        (0, 0, "critical"),  # out of stock already
    ],
)
def test_urgency_compares_days_left_with_the_lead_time(
    client, company, warehouse, make_selling, make_supplier, stock, lead_time, urgency
):
    # one unit a day, so days_until_stockout equals the stock
    product = make_selling(company, warehouse["id"], stock=stock, sold=30, low_stock_threshold=100)
    supplier = make_supplier(company)
    link_supplier(client, company, product["id"], supplier["id"], lead_time_days=lead_time)
    alert = only_alert(get_alerts(client, company))
    assert alert["days_until_stockout"] == stock
    assert alert["urgency"] == urgency


@pytest.mark.parametrize(
    ("stock", "sold", "offer", "suggested"),
    [
        (5, 30, {"lead_time_days": 5}, 30),  # ceil(30 * 35 / 30) - 5
        (3, 10, {"lead_time_days": 2}, 8),  # ceil(10 * 32 / 30) = 11, less 3
        (5, 30, {"lead_time_days": 5, "min_order_quantity": 40}, 40),
        (5, 30, {"lead_time_days": 5, "pack_size": 12}, 36),
        (5, 30, {"lead_time_days": 5, "min_order_quantity": 40, "pack_size": 12}, 48),
        (9, 1, {"lead_time_days": 0}, 1),  # the stock covers it: still at least one unit
    ],
)
def test_suggested_reorder_quantity_covers_lead_time_and_window_rounded_to_min_and_pack(
    client, company, warehouse, make_selling, make_supplier, stock, sold, offer, suggested
):
    product = make_selling(company, warehouse["id"], stock=stock, sold=sold)
    supplier = make_supplier(company)
    link_supplier(client, company, product["id"], supplier["id"], **offer)
    alert = only_alert(get_alerts(client, company, days=30))
    assert alert["suggested_reorder_quantity"] == suggested


def test_suggested_reorder_quantity_without_supplier_covers_one_window(
    client, company, warehouse, make_selling
):
    make_selling(company, warehouse["id"], stock=5, sold=30)
    assert only_alert(get_alerts(client, company))["suggested_reorder_quantity"] == 25


# -- order, pagination and filters ---------------------------------------------------------


@pytest.fixture
def five_alerts(client, company, warehouse, make_warehouse, make_selling, make_product):
    """Five alerts, created out of order; ``expected`` is their order, most urgent first."""
    second = make_warehouse(company, name="Second")
    slow = make_selling(company, warehouse["id"], stock=5, sold=30)  # 5 days
    bigger = make_selling(company, warehouse["id"], stock=4, sold=60)  # 2 days, stock 4
    both = make_product(
        company,
        initial_stock=[
            {"warehouse_id": warehouse["id"], "quantity": 32},
            {"warehouse_id": second["id"], "quantity": 32},
        ],
    )
    sell(client, company, both["id"], warehouse["id"], 30)  # 2 days, stock 2
    sell(client, company, both["id"], second["id"], 30)  # 2 days, stock 2
    later = make_selling(company, warehouse["id"], stock=2, sold=30)  # 2 days, stock 2
    main = warehouse["id"]
    return types.SimpleNamespace(
        main=main,
        second=second["id"],
        expected=[
            (both["id"], main),
            (both["id"], second["id"]),
            (later["id"], main),
            (bigger["id"], main),
            (slow["id"], main),
        ],
    )


def test_alerts_are_ordered_by_days_left_then_stock_then_product_then_warehouse(
    client, company, five_alerts
):
    body = get_alerts(client, company)
    assert rows(body) == five_alerts.expected
    assert body["total_alerts"] == 5


def test_pages_follow_the_order_and_total_alerts_counts_every_match(client, company, five_alerts):
    pages = [get_alerts(client, company, page=n, page_size=2) for n in (1, 2, 3)]
    assert [rows(p) for p in pages] == [
        five_alerts.expected[0:2],
        five_alerts.expected[2:4],
        five_alerts.expected[4:5],
    ]
    assert {p["total_alerts"] for p in pages} == {5}


def test_a_page_past_the_end_is_empty_with_the_total(client, company, five_alerts):
    body = get_alerts(client, company, page=4, page_size=2)
    assert body["alerts"] == [] and body["total_alerts"] == 5


def test_warehouse_filter_keeps_that_warehouses_alerts(client, company, five_alerts):
    body = get_alerts(client, company, warehouse_id=five_alerts.second)
    assert rows(body) == [five_alerts.expected[1]]
    assert body["total_alerts"] == 1


def test_product_type_filter_keeps_that_types_alerts(client, company, warehouse, make_selling):
    make_selling(company, warehouse["id"], stock=5, sold=5)
    fast = make_selling(company, warehouse["id"], stock=15, sold=5, product_type="fast_moving")
    body = get_alerts(client, company, product_type="fast_moving")
    assert rows(body) == [(fast["id"], warehouse["id"])]
    assert get_alerts(client, company, product_type="slow_moving")["total_alerts"] == 0


def test_supplier_filter_matches_the_chosen_supplier_only(
    client, company, warehouse, make_selling, make_supplier
):
    first = make_selling(company, warehouse["id"], stock=5, sold=5)
    second = make_selling(company, warehouse["id"], stock=6, sold=5)
    chosen, backup = make_supplier(company, "Chosen"), make_supplier(company, "Backup")
    link_supplier(client, company, first["id"], chosen["id"], is_preferred=True)
    link_supplier(client, company, first["id"], backup["id"], cost_price="1.00")
    link_supplier(client, company, second["id"], backup["id"], cost_price="1.00")
    assert rows(get_alerts(client, company, supplier_id=chosen["id"])) == [
        (first["id"], warehouse["id"])
    ]
    body = get_alerts(client, company, supplier_id=backup["id"])
    assert rows(body) == [(second["id"], warehouse["id"])]
    assert body["total_alerts"] == 1


# -- ETag and caching ----------------------------------------------------------------------


@pytest.fixture
def one_alert(company, warehouse, make_selling) -> dict:
    """A company with one alert."""
    return make_selling(company, warehouse["id"], stock=5, sold=5)


def revalidate(client, tenant, etag: str, **params):
    """GET with ``If-None-Match: etag``."""
    return fetch(client, tenant, headers={"If-None-Match": etag}, **params)


def test_matching_if_none_match_is_a_304_with_the_same_etag_and_no_body(client, company, one_alert):
    first = fetch(client, company)
    assert first.status_code == 200
    assert first.headers["Cache-Control"] == "private, no-cache"
    etag = first.headers["ETag"]
    assert etag

    again = revalidate(client, company, etag)
    assert again.status_code == 304
    assert again.data == b""
    assert again.headers["ETag"] == etag
    assert again.headers["Cache-Control"] == "private, no-cache"


def test_the_same_question_twice_has_the_same_etag(client, company, one_alert):
    assert fetch(client, company).headers["ETag"] == fetch(client, company).headers["ETag"]


def test_a_sale_gives_a_new_etag_and_the_new_answer(client, company, warehouse, one_alert):
    etag = fetch(client, company).headers["ETag"]
    sell(client, company, one_alert["id"], warehouse["id"], 1)
    response = revalidate(client, company, etag)
    assert response.status_code == 200
    assert response.headers["ETag"] != etag
    assert only_alert(response.json)["current_stock"] == 4


def test_a_sale_of_a_product_far_above_its_threshold_keeps_the_etag(
    client, company, warehouse, one_alert, make_selling
):
    other = make_selling(company, warehouse["id"], stock=100, sold=1)
    etag = fetch(client, company).headers["ETag"]
    for _ in range(3):
        sell(client, company, other["id"], warehouse["id"], 1)
    assert revalidate(client, company, etag).status_code == 304


def test_a_sale_of_another_low_product_gives_a_new_etag(
    client, company, warehouse, one_alert, make_selling
):
    other = make_selling(company, warehouse["id"], stock=3, sold=1)
    etag = fetch(client, company).headers["ETag"]
    sell(client, company, other["id"], warehouse["id"], 1)
    response = revalidate(client, company, etag)
    assert response.status_code == 200 and response.headers["ETag"] != etag
    assert {a["product_id"]: a["current_stock"] for a in response.json["alerts"]}[other["id"]] == 2


def test_a_warehouse_poll_keeps_its_304_while_low_products_sell_in_another_warehouse_group(
    client, company, warehouse, make_warehouse, make_selling
):
    # warehouses whose ids differ by 1 are in different groups (id % 4)
    other = make_warehouse(company, name="Other")
    assert other["id"] % 4 != warehouse["id"] % 4
    here = make_selling(company, warehouse["id"], stock=5, sold=1)
    there = make_selling(company, other["id"], stock=5, sold=1)
    etag = fetch(client, company, warehouse_id=warehouse["id"]).headers["ETag"]
    everywhere = fetch(client, company).headers["ETag"]
    sell(client, company, there["id"], other["id"], 1)
    assert revalidate(client, company, etag, warehouse_id=warehouse["id"]).status_code == 304
    assert revalidate(client, company, everywhere).status_code == 200
    sell(client, company, here["id"], warehouse["id"], 1)
    response = revalidate(client, company, etag, warehouse_id=warehouse["id"])
    assert response.status_code == 200
    assert [a["current_stock"] for a in response.json["alerts"]] == [4]


def test_a_warehouse_poll_gets_a_new_answer_when_configuration_changes(
    client, company, warehouse, make_selling
):
    product = make_selling(company, warehouse["id"], stock=5, sold=1)
    etag = fetch(client, company, warehouse_id=warehouse["id"]).headers["ETag"]
    put_ok(
        client,
        company,
        f"/api/products/{product['id']}/reorder-rules/{warehouse['id']}",
        {"threshold": 3},
    )
    response = revalidate(client, company, etag, warehouse_id=warehouse["id"])
    assert response.status_code == 200 and response.json["total_alerts"] == 0


def test_a_sale_that_takes_a_product_below_its_threshold_gives_a_new_etag(
    client, company, warehouse, one_alert, make_selling
):
    other = make_selling(company, warehouse["id"], stock=11, sold=1)  # threshold 10
    etag = fetch(client, company).headers["ETag"]
    sell(client, company, other["id"], warehouse["id"], 2)
    response = revalidate(client, company, etag)
    assert response.status_code == 200
    assert other["id"] in {a["product_id"] for a in response.json["alerts"]}


def test_the_first_sale_of_a_low_product_gives_a_new_etag(
    client, company, warehouse, one_alert, make_product
):
    other = make_product(company, warehouse_id=warehouse["id"], initial_quantity=5)
    etag = fetch(client, company).headers["ETag"]
    sell(client, company, other["id"], warehouse["id"], 1)
    response = revalidate(client, company, etag)
    assert response.status_code == 200
    assert other["id"] in {a["product_id"] for a in response.json["alerts"]}


def test_a_receipt_that_lifts_a_product_out_of_the_alerts_gives_a_new_etag(
    client, company, warehouse, one_alert
):
    etag = fetch(client, company).headers["ETag"]
    stock_op(
        client,
        company,
        "receipts",
        {"product_id": one_alert["id"], "warehouse_id": warehouse["id"], "quantity": 50},
    )
    response = revalidate(client, company, etag)
    assert response.status_code == 200 and response.json["total_alerts"] == 0


def test_a_longer_window_than_the_default_gets_a_new_etag_from_any_sale(
    client, company, warehouse, one_alert, make_selling
):
    # sales 31-60 days ago are not in the kept state: any sale may change this answer
    other = make_selling(company, warehouse["id"], stock=100, sold=1)
    etag = fetch(client, company, days=60).headers["ETag"]
    sell(client, company, other["id"], warehouse["id"], 1)
    assert revalidate(client, company, etag, days=60).status_code == 200


def test_a_threshold_change_of_a_product_that_is_not_alerting_gives_a_new_etag(
    client, company, warehouse, one_alert, make_selling
):
    other = make_selling(company, warehouse["id"], stock=100, sold=1)
    etag = fetch(client, company).headers["ETag"]
    put_ok(
        client,
        company,
        f"/api/products/{other['id']}/reorder-rules/{warehouse['id']}",
        {"threshold": 500},
    )
    response = revalidate(client, company, etag)
    assert response.status_code == 200
    assert other["id"] in {a["product_id"] for a in response.json["alerts"]}


def test_a_configuration_change_gives_a_new_etag(client, company, one_alert):
    etag = fetch(client, company).headers["ETag"]
    put_ok(client, company, "/api/product-types/regular", {"low_stock_threshold": 3})
    response = revalidate(client, company, etag)
    assert response.status_code == 200
    assert response.headers["ETag"] != etag
    assert response.json["total_alerts"] == 0


@pytest.mark.parametrize(
    "body",
    [{}, {"initial_quantity": 1}, {"is_bundle": True}, {"low_stock_threshold": 1000}],
    ids=["no-stock", "low-opening-stock", "bundle", "high-threshold"],
)
def test_a_new_product_keeps_the_etag_since_no_alert_shows_it_before_it_sells(
    client, company, warehouse, one_alert, make_product, body
):
    # the alerts' versions move only for what can change their answer (issue 12): a new
    # product has no sales in any window, so it shows in no alert, low stock or not
    if "initial_quantity" in body:
        body = {**body, "warehouse_id": warehouse["id"]}
    etag = fetch(client, company).headers["ETag"]
    for _ in range(2):  # on PostgreSQL the second create is one statement (app.oneshot)
        make_product(company, **body)
    assert revalidate(client, company, etag).status_code == 304
    assert get_alerts(client, company)["total_alerts"] == 1
    assert get_alerts(client, company, days=60)["total_alerts"] == 1


@pytest.mark.parametrize(
    "params",
    [{"days": 60}, {"page": 2}, {"page_size": 1}, {"product_type": "regular"}],
)
def test_other_parameters_give_another_etag(client, company, one_alert, params):
    etag = fetch(client, company).headers["ETag"]
    response = revalidate(client, company, etag, **params)
    assert response.status_code == 200
    assert response.headers["ETag"] != etag


def test_another_day_gives_another_etag(client, company, one_alert, clock):
    etag = fetch(client, company).headers["ETag"]
    clock.now += dt.timedelta(days=1)
    response = revalidate(client, company, etag)
    assert response.status_code == 200
    assert response.headers["ETag"] != etag


def test_a_refused_sale_keeps_the_etag(client, company, warehouse, one_alert):
    etag = fetch(client, company).headers["ETag"]
    body = {"product_id": one_alert["id"], "warehouse_id": warehouse["id"], "quantity": 99}
    response = client.post("/api/stock/sales", json=body, headers=company.headers)
    assert_problem(response, 409, slug="insufficient-stock")
    assert revalidate(client, company, etag).status_code == 304


def test_a_replayed_sale_keeps_the_etag(client, company, warehouse, one_alert):
    body = {"product_id": one_alert["id"], "warehouse_id": warehouse["id"], "quantity": 1}
    headers = {**company.headers, "Idempotency-Key": "sale-1"}
    assert client.post("/api/stock/sales", json=body, headers=headers).status_code == 201
    etag = fetch(client, company).headers["ETag"]
    replay = client.post("/api/stock/sales", json=body, headers=headers)
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert revalidate(client, company, etag).status_code == 304


def test_another_companys_changes_keep_the_etag(
    client, company, other_company, one_alert, make_warehouse, make_selling
):
    etag = fetch(client, company).headers["ETag"]
    theirs = make_warehouse(other_company)
    make_selling(other_company, theirs["id"], stock=0, sold=1)
    assert revalidate(client, company, etag).status_code == 304


def test_supplier_offer_change_gives_a_new_etag(client, company, one_alert, make_supplier):
    supplier = make_supplier(company)
    link_supplier(client, company, one_alert["id"], supplier["id"], cost_price="2.00")
    etag = fetch(client, company).headers["ETag"]
    response = client.patch(
        f"/api/products/{one_alert['id']}/suppliers/{supplier['id']}",
        json={"cost_price": "3.00"},
        headers=company.headers,
    )
    assert response.status_code == 200, response.json
    response = revalidate(client, company, etag)
    assert response.status_code == 200
    assert only_alert(response.json)["cost_price"] == "3.00"


def test_a_weak_form_of_the_current_etag_is_a_304(client, company, one_alert):
    etag = fetch(client, company).headers["ETag"]
    response = revalidate(client, company, f"W/{etag}")
    assert response.status_code == 304
    assert response.headers["ETag"] == etag


# -- far-off and huge figures: never a 500 ---------------------------------------------------

MAX_INT = 2**31 - 1


def test_a_stockout_past_year_9999_has_null_dates_and_the_other_alerts_still_show(
    client, company, warehouse, make_selling, make_supplier, clock
):
    # 100,000 on hand and one unit sold in 30 days: 3,000,000 days, past 9999-12-31
    far = make_selling(company, warehouse["id"], stock=100_000, sold=1, low_stock_threshold=200_000)
    supplier = make_supplier(company)
    link_supplier(client, company, far["id"], supplier["id"], lead_time_days=5)
    near = make_selling(company, warehouse["id"], stock=5, sold=30)
    body = get_alerts(client, company)
    assert rows(body) == [(near["id"], warehouse["id"]), (far["id"], warehouse["id"])]
    alert = body["alerts"][1]
    assert alert["days_until_stockout"] == 3_000_000
    assert alert["stockout_date"] is None
    assert alert["reorder_by"] is None
    assert alert["urgency"] == "normal"
    assert body["alerts"][0]["stockout_date"] == (clock.today + dt.timedelta(days=5)).isoformat()


@pytest.mark.parametrize("beyond", [0, 1])
def test_stockout_date_is_shown_up_to_9999_12_31_and_null_after(
    client, company, warehouse, make_selling, clock, beyond
):
    # a window of one day and one unit sold in it: days_until_stockout equals the stock
    days_left = (dt.date.max - clock.today).days + beyond
    make_selling(
        company,
        warehouse["id"],
        stock=days_left,
        sold=1,
        occurred_at=ago(0.4),
        low_stock_threshold=days_left + 1,
    )
    alert = only_alert(get_alerts(client, company, days=1))
    assert alert["days_until_stockout"] == days_left
    assert alert["stockout_date"] == (None if beyond else "9999-12-31")


def test_suggested_reorder_quantity_is_capped_at_the_largest_receipt(
    client, company, warehouse, make_selling, make_supplier
):
    # a minimum order of 2^31-1 rounded up to packs of 2^31-2 would be two packs
    product = make_selling(company, warehouse["id"], stock=5, sold=30)
    supplier = make_supplier(company)
    link_supplier(
        client,
        company,
        product["id"],
        supplier["id"],
        min_order_quantity=MAX_INT,
        pack_size=MAX_INT - 1,
    )
    assert only_alert(get_alerts(client, company))["suggested_reorder_quantity"] == MAX_INT


def test_units_sold_beyond_32_bits_give_exact_figures(
    client, company, warehouse, make_product, make_supplier
):
    # three sales of 2^31-1 units each: the sum of the window passes 2^32
    product = make_product(
        company, warehouse_id=warehouse["id"], initial_quantity=MAX_INT, low_stock_threshold=10
    )
    for _ in range(3):
        if _:
            stock_op(
                client,
                company,
                "receipts",
                {"product_id": product["id"], "warehouse_id": warehouse["id"], "quantity": MAX_INT},
            )
        sell(client, company, product["id"], warehouse["id"], MAX_INT, ago(0.4))
    stock_op(
        client,
        company,
        "receipts",
        {"product_id": product["id"], "warehouse_id": warehouse["id"], "quantity": 5},
    )
    supplier = make_supplier(company)
    link_supplier(client, company, product["id"], supplier["id"], lead_time_days=3650)
    alert = only_alert(get_alerts(client, company, days=1))
    assert alert["units_sold_in_window"] == 3 * MAX_INT
    assert alert["days_until_stockout"] == 0
    assert alert["suggested_reorder_quantity"] == MAX_INT


# -- the kept state: the days move, a rebuild, a missed refresh ------------------------------


def refresh_state(app, company, today: dt.date, rebuild=False) -> None:
    """Run what ``flask refresh-alert-state`` runs, for ``today``."""
    with app.app_context():
        state.refresh(company.id, today, rebuild=rebuild)


def as_of(app, company) -> dt.date | None:
    """The day the company's alert state is current for."""
    with app.app_context():
        return db.session.get(AlertState, company.id).as_of


def test_a_new_company_answers_from_the_kept_state_today(app, client, company):
    assert as_of(app, company) == dt.datetime.now(dt.UTC).date()


def test_a_missed_refresh_computes_from_the_ledger_and_never_shows_a_sale_gone_from_the_window(
    app, client, company, warehouse, make_selling, clock
):
    # sold at the first instant of today's window: out of tomorrow's
    edge = make_selling(
        company, warehouse["id"], stock=5, sold=1, occurred_at=clock.window_start(30).isoformat()
    )
    inside = make_selling(company, warehouse["id"], stock=5, sold=1, occurred_at=ago(1))
    assert {a["product_id"] for a in get_alerts(client, company)["alerts"]} == {
        edge["id"],
        inside["id"],
    }
    clock.now += dt.timedelta(days=1)
    # no refresh ran: the state is yesterday's, so the ledger answers
    assert rows(get_alerts(client, company)) == [(inside["id"], warehouse["id"])]
    refresh_state(app, company, clock.today)
    assert as_of(app, company) == clock.today
    assert rows(get_alerts(client, company)) == [(inside["id"], warehouse["id"])]


def test_after_the_daily_refresh_sales_keep_counting_into_the_moved_window(
    app, client, company, warehouse, make_selling
):
    tomorrow = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)
    product = make_selling(company, warehouse["id"], stock=9, sold=2)
    refresh_state(app, company, tomorrow)
    # a sale before the moved window's start counts nowhere; one inside counts
    old = dt.datetime.combine(tomorrow - dt.timedelta(days=31), dt.time(12), dt.UTC)
    sell(client, company, product["id"], warehouse["id"], 1, old.isoformat())
    sell(client, company, product["id"], warehouse["id"], 1)
    with app.app_context():
        row = db.session.scalar(
            sa.select(Inventory).where(
                Inventory.company_id == company.id, Inventory.product_id == product["id"]
            )
        )
        assert row.window_sales == 3 and row.window_since == window_start(tomorrow)


def test_a_rebuild_from_the_ledger_gives_the_same_answers(
    app, client, company, five_alerts, make_selling, warehouse
):
    make_selling(company, warehouse["id"], stock=1, sold=3, occurred_at=ago(45))
    before = [get_alerts(client, company, **q) for q in ({}, {"page_size": 2}, {"days": 60})]
    with app.app_context():
        # a damaged state (a restore, a bug): the rebuild puts it back from the ledger
        db.session.execute(
            sa.update(Inventory)
            .where(Inventory.company_id == company.id)
            .values(window_sales=Inventory.window_sales + 7)
        )
        db.session.commit()
    assert get_alerts(client, company) != before[0]
    refresh_state(app, company, dt.datetime.now(dt.UTC).date(), rebuild=True)
    after = [get_alerts(client, company, **q) for q in ({}, {"page_size": 2}, {"days": 60})]
    assert after == before


def test_the_refresh_command_moves_every_company_and_says_so(app, company, other_company):
    result = app.test_cli_runner().invoke(args=["refresh-alert-state"])
    assert result.exit_code == 0, result.output
    today = dt.datetime.now(dt.UTC).date().isoformat()
    assert f"company_id={company.id} as_of={today}" in result.output
    assert f"company_id={other_company.id} as_of={today}" in result.output
    rebuilt = app.test_cli_runner().invoke(
        args=["refresh-alert-state", "--company", str(company.id), "--rebuild"]
    )
    assert rebuilt.exit_code == 0 and other_company.name not in rebuilt.output
    missing = app.test_cli_runner().invoke(args=["refresh-alert-state", "--company", "999999"])
    assert missing.exit_code != 0 and "No company 999999" in missing.output


# -- CSV --------------------------------------------------------------------------------------


def csv_rows(response) -> list[dict]:
    """The CSV body as dicts by column."""
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


@pytest.mark.parametrize(
    "how", [{"params": {"format": "csv"}}, {"headers": {"Accept": "text/csv"}}]
)
def test_csv_streams_every_alert_in_order_with_the_json_values(
    client, company, five_alerts, how, make_supplier
):
    supplier = make_supplier(company, contact_email="buy@example.com")
    for product_id in {a["product_id"] for a in get_alerts(client, company)["alerts"][:2]}:
        link_supplier(
            client, company, product_id, supplier["id"], cost_price="4.20", lead_time_days=3
        )
    response = fetch(client, company, headers=how.get("headers"), **how.get("params", {}))
    assert response.status_code == 200
    assert response.mimetype == "text/csv" and response.is_streamed
    lines = csv_rows(response)
    alerts = get_alerts(client, company)["alerts"]
    assert [(int(r["product_id"]), int(r["warehouse_id"])) for r in lines] == [
        (a["product_id"], a["warehouse_id"]) for a in alerts
    ]
    first, alert = lines[0], alerts[0]
    assert first["avg_daily_sales"] == alert["avg_daily_sales"]
    assert first["days_until_stockout"] == str(alert["days_until_stockout"])
    assert first["stockout_date"] == (alert["stockout_date"] or "")
    assert first["urgency"] == alert["urgency"]
    for line, shown in zip(lines, alerts, strict=True):
        assert line["cost_price"] == (shown["cost_price"] or "")
        assert line["reorder_by"] == (shown["reorder_by"] or "")
        assert line["supplier_id"] == str((shown["supplier"] or {}).get("id") or "")


def test_csv_ignores_pages_and_keeps_filters(client, company, five_alerts, warehouse):
    lines = csv_rows(
        fetch(client, company, format="csv", page_size=1, warehouse_id=warehouse["id"])
    )
    expected = get_alerts(client, company, warehouse_id=warehouse["id"])
    assert len(lines) == expected["total_alerts"] > 1


def test_csv_quotes_text_a_spreadsheet_would_run_as_a_formula(
    client, company, warehouse, make_selling, make_supplier
):
    product = make_selling(company, warehouse["id"], stock=1, sold=1, name="=HYPERLINK(1)")
    supplier = make_supplier(company, name="@SUM(A1)", contact_email=None)
    link_supplier(client, company, product["id"], supplier["id"], cost_price="1.00")
    (line,) = csv_rows(fetch(client, company, format="csv"))
    assert line["product_name"] == "'=HYPERLINK(1)"
    assert line["supplier_name"] == "'@SUM(A1)"
    assert line["supplier_contact_email"] == "" and line["lead_time_days"] == ""


def test_csv_and_json_have_their_own_etags_and_csv_polls_get_a_304(client, company, one_alert):
    json_etag = fetch(client, company).headers["ETag"]
    csv_etag = fetch(client, company, format="csv").headers["ETag"]
    assert csv_etag != json_etag
    assert revalidate(client, company, csv_etag, format="csv").status_code == 304


def test_an_unknown_format_is_a_400_naming_format(client, company):
    assert_problem(fetch(client, company, format="xml"), 400, "format")


# -- the batch and the import keep the state too ----------------------------------------------


def batch_ok(client, tenant, operations) -> dict:
    """POST /api/stock/batch (asserting a 201)."""
    response = client.post(
        "/api/stock/batch", json={"operations": operations}, headers=tenant.headers
    )
    assert response.status_code == 201, response.json
    return response.json


def kept_equals_ledger(app, company) -> None:
    """The kept state's answer is the ledger's, row for row."""
    today = dt.datetime.now(dt.UTC).date()
    args = {"days": 30, "page": 1, "page_size": 1000}
    with app.app_context():
        kept = queries.low_stock_alerts(company.id, args, today, maintained=True)
        computed = queries.low_stock_alerts(company.id, args, today)
    assert kept == computed


def test_a_batch_counts_its_sales_into_the_window_and_moves_the_etag_only_for_low_rows(
    app, client, company, warehouse, one_alert, make_selling
):
    far = make_selling(company, warehouse["id"], stock=100, sold=1)
    etag = fetch(client, company).headers["ETag"]
    sale = {"type": "sale", "warehouse_id": warehouse["id"], "quantity": 1}
    batch_ok(client, company, [{**sale, "product_id": far["id"]}] * 2)
    assert revalidate(client, company, etag).status_code == 304
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=45)
    batch_ok(
        client,
        company,
        [
            {**sale, "product_id": one_alert["id"]},
            {**sale, "product_id": one_alert["id"], "occurred_at": ago(3)},
            # backdated before the window: a sale, but not in the window
            {**sale, "product_id": one_alert["id"], "occurred_at": old.isoformat()},
            {**sale, "product_id": far["id"]},
        ],
    )
    response = revalidate(client, company, etag)
    assert response.status_code == 200
    alert = only_alert(response.json)
    assert (alert["current_stock"], alert["units_sold_in_window"]) == (2, 7)
    kept_equals_ledger(app, company)


def test_a_batch_that_creates_rows_and_receives_keeps_the_state_right(
    app, client, company, warehouse, make_warehouse, one_alert, make_product
):
    other = make_warehouse(company, name="Other")
    fresh = make_product(company)
    batch_ok(
        client,
        company,
        [
            {
                "type": "receipt",
                "product_id": fresh["id"],
                "warehouse_id": other["id"],
                "quantity": 3,
            },
            {"type": "sale", "product_id": fresh["id"], "warehouse_id": other["id"], "quantity": 1},
            {
                "type": "receipt",
                "product_id": one_alert["id"],
                "warehouse_id": warehouse["id"],
                "quantity": 1,
            },
        ],
    )
    body = get_alerts(client, company)
    assert {(a["product_id"], a["units_sold_in_window"]) for a in body["alerts"]} == {
        (fresh["id"], 1),
        (one_alert["id"], 5),
    }
    kept_equals_ledger(app, company)


def test_imported_products_start_a_window_and_count_their_first_sales(
    app, client, company, warehouse
):
    response = client.post(
        "/api/products/import",
        json={
            "products": [
                {
                    "name": "Imported",
                    "sku": "IMP-1",
                    "price": "1.00",
                    "initial_stock": [{"warehouse_id": warehouse["id"], "quantity": 4}],
                }
            ]
        },
        headers=company.headers,
    )
    assert response.status_code in (200, 201), response.json
    with app.app_context():
        row = db.session.scalar(sa.select(Inventory).where(Inventory.company_id == company.id))
        product_id = row.product_id
        assert row.window_since == window_start(dt.datetime.now(dt.UTC).date())
    sell(client, company, product_id, warehouse["id"], 1)
    assert only_alert(get_alerts(client, company))["units_sold_in_window"] == 1
    kept_equals_ledger(app, company)


def test_a_refresh_with_nothing_to_move_keeps_the_etag_and_a_rebuild_moves_it(
    app, client, company, one_alert
):
    etag = fetch(client, company).headers["ETag"]
    today = dt.datetime.now(dt.UTC).date()
    refresh_state(app, company, today)
    assert revalidate(client, company, etag).status_code == 304
    refresh_state(app, company, today, rebuild=True)
    assert revalidate(client, company, etag).status_code == 200
