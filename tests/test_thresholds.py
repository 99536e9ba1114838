"""Low-stock thresholds per product type and reorder rules per product and warehouse."""

import datetime as dt
import threading

import pytest
import sqlalchemy as sa

from app import demo
from app.extensions import db
from app.models import Inventory, Product, ProductTypeThreshold, ReorderRule, Warehouse
from app.thresholds import queries
from tests.helpers import assert_problem

DEFAULTS = [
    {"product_type": "fast_moving", "low_stock_threshold": 20, "source": "default"},
    {"product_type": "regular", "low_stock_threshold": 10, "source": "default"},
    {"product_type": "slow_moving", "low_stock_threshold": 5, "source": "default"},
]


def archive(app, model, row_id):
    """Archive a row directly (the API has no archive endpoint for it yet)."""
    with app.app_context():
        db.session.execute(
            sa.update(model).where(model.id == row_id).values(archived_at=dt.datetime.now(dt.UTC))
        )
        db.session.commit()


def list_types(client, tenant):
    response = client.get("/api/product-types", headers=tenant.headers)
    assert response.status_code == 200, response.json
    return response.json


def rule_path(product, warehouse):
    return f"/api/products/{product['id']}/reorder-rules/{warehouse['id']}"


# product-type thresholds


def test_defaults_are_listed_when_nothing_is_set(client, company):
    assert list_types(client, company) == DEFAULTS


def test_setting_a_type_threshold_overrides_its_default(client, company, count_rows):
    response = client.put(
        "/api/product-types/regular", json={"low_stock_threshold": 3}, headers=company.headers
    )
    assert response.status_code == 200, response.json
    assert response.json == {
        "product_type": "regular",
        "low_stock_threshold": 3,
        "source": "company",
    }
    assert list_types(client, company)[1] == response.json
    assert count_rows(ProductTypeThreshold) == 1


def test_setting_a_threshold_again_replaces_it(client, company, count_rows):
    for value in (3, 0, 42):
        response = client.put(
            "/api/product-types/fast_moving",
            json={"low_stock_threshold": value},
            headers=company.headers,
        )
        assert response.status_code == 200, response.json
    assert list_types(client, company)[0] == {
        "product_type": "fast_moving",
        "low_stock_threshold": 42,
        "source": "company",
    }
    assert count_rows(ProductTypeThreshold) == 1


def test_a_threshold_for_a_new_type_adds_the_type_in_name_order(client, company):
    response = client.put(
        "/api/product-types/perishable", json={"low_stock_threshold": 15}, headers=company.headers
    )
    assert response.status_code == 200, response.json
    assert [row["product_type"] for row in list_types(client, company)] == [
        "fast_moving",
        "perishable",
        "regular",
        "slow_moving",
    ]


def test_deleting_a_type_threshold_restores_the_default(client, company, count_rows):
    client.put(
        "/api/product-types/slow_moving", json={"low_stock_threshold": 1}, headers=company.headers
    )
    client.put(
        "/api/product-types/perishable", json={"low_stock_threshold": 15}, headers=company.headers
    )
    for path in ("/api/product-types/slow_moving", "/api/product-types/perishable"):
        response = client.delete(path, headers=company.headers)
        assert response.status_code == 204
        assert response.data == b""
    # an unused custom type disappears with its threshold
    assert list_types(client, company) == DEFAULTS
    assert count_rows(ProductTypeThreshold) == 0


def test_deleting_an_unset_type_threshold_is_a_204(client, company):
    for _ in range(2):
        response = client.delete("/api/product-types/never-set", headers=company.headers)
        assert response.status_code == 204
    assert list_types(client, company) == DEFAULTS


def test_types_of_active_products_are_listed_with_the_default_10(
    app, client, company, make_product
):
    make_product(company, product_type="gadgets")
    archived = make_product(company, product_type="retired")
    archive(app, Product, archived["id"])
    rows = list_types(client, company)
    assert {"product_type": "gadgets", "low_stock_threshold": 10, "source": "default"} in rows
    assert "retired" not in {row["product_type"] for row in rows}


def test_a_used_type_keeps_its_company_threshold(client, company, make_product):
    make_product(company, product_type="gadgets")
    client.put(
        "/api/product-types/gadgets", json={"low_stock_threshold": 7}, headers=company.headers
    )
    rows = [row for row in list_types(client, company) if row["product_type"] == "gadgets"]
    assert rows == [{"product_type": "gadgets", "low_stock_threshold": 7, "source": "company"}]


@pytest.mark.parametrize(
    "body",
    [
        {"low_stock_threshold": -1},
        {"low_stock_threshold": 1.5},
        {"low_stock_threshold": 5.0},
        {"low_stock_threshold": "5"},
        {"low_stock_threshold": True},
        {"low_stock_threshold": None},
        {"low_stock_threshold": 2**31},
        {},
    ],
)
def test_bad_type_threshold_is_a_400_and_writes_nothing(client, company, count_rows, body):
    response = client.put("/api/product-types/regular", json=body, headers=company.headers)
    assert_problem(response, 400, "low_stock_threshold", slug="validation-error")
    assert count_rows(ProductTypeThreshold) == 0


def test_unknown_field_in_type_threshold_is_a_400_and_writes_nothing(client, company, count_rows):
    response = client.put(
        "/api/product-types/regular",
        json={"low_stock_threshold": 5, "warehouse_id": 1},
        headers=company.headers,
    )
    assert_problem(response, 400, "warehouse_id")
    assert count_rows(ProductTypeThreshold) == 0


@pytest.mark.parametrize(
    "name", ["bad%20type", "%20regular", "regular%20", "-lead", "semi;colon", "x" * 51, "caf%C3%A9"]
)
def test_bad_type_name_is_a_400_naming_product_type_and_writes_nothing(
    client, company, count_rows, name
):
    response = client.put(
        f"/api/product-types/{name}", json={"low_stock_threshold": 5}, headers=company.headers
    )
    assert_problem(response, 400, "product_type", slug="validation-error")
    assert_problem(
        client.delete(f"/api/product-types/{name}", headers=company.headers), 400, "product_type"
    )
    assert count_rows(ProductTypeThreshold) == 0


def test_type_names_of_50_allowed_characters_are_accepted(client, company):
    name = "A1_b-2.c" + "z" * 42
    response = client.put(
        f"/api/product-types/{name}", json={"low_stock_threshold": 5}, headers=company.headers
    )
    assert response.status_code == 200, response.json
    assert response.json["product_type"] == name


def test_companies_do_not_see_or_change_each_others_type_thresholds(client, company, other_company):
    client.put(
        "/api/product-types/perishable", json={"low_stock_threshold": 15}, headers=company.headers
    )
    client.put(
        "/api/product-types/regular", json={"low_stock_threshold": 2}, headers=company.headers
    )
    assert list_types(client, other_company) == DEFAULTS

    response = client.delete("/api/product-types/regular", headers=other_company.headers)
    assert response.status_code == 204
    assert {"product_type": "regular", "low_stock_threshold": 2, "source": "company"} in (
        list_types(client, company)
    )


def test_type_thresholds_need_an_api_key(client):
    assert_problem(client.get("/api/product-types"), 401)
    assert_problem(client.put("/api/product-types/regular", json={"low_stock_threshold": 1}), 401)


# reorder rules


def test_reorder_rule_create_201_replace_200_delete_204_then_404(
    client, company, make_product, make_warehouse, count_rows
):
    product, warehouse = make_product(company), make_warehouse(company)
    path = rule_path(product, warehouse)

    created = client.put(
        path, json={"threshold": 5, "reorder_quantity": 30}, headers=company.headers
    )
    assert created.status_code == 201, created.json
    body = created.json
    assert body["updated_at"]
    assert {k: v for k, v in body.items() if k != "updated_at"} == {
        "product_id": product["id"],
        "warehouse_id": warehouse["id"],
        "threshold": 5,
        "reorder_quantity": 30,
    }

    replaced = client.put(path, json={"threshold": 8}, headers=company.headers)
    assert replaced.status_code == 200, replaced.json
    # a PUT replaces the whole rule: the omitted reorder quantity is cleared
    assert replaced.json["threshold"] == 8 and replaced.json["reorder_quantity"] is None
    assert count_rows(ReorderRule) == 1

    listed = client.get(f"/api/products/{product['id']}/reorder-rules", headers=company.headers)
    assert listed.status_code == 200
    assert listed.json == [replaced.json]

    deleted = client.delete(path, headers=company.headers)
    assert deleted.status_code == 204 and deleted.data == b""
    assert_problem(client.delete(path, headers=company.headers), 404, slug="not-found")
    assert count_rows(ReorderRule) == 0


def test_reorder_rules_are_listed_by_warehouse_id(client, company, make_product, make_warehouse):
    product = make_product(company)
    first, second, third = (make_warehouse(company) for _ in range(3))
    for warehouse, threshold in ((third, 3), (first, 1), (second, 2)):
        response = client.put(
            rule_path(product, warehouse), json={"threshold": threshold}, headers=company.headers
        )
        assert response.status_code == 201, response.json
    other = make_product(company)
    client.put(rule_path(other, first), json={"threshold": 9}, headers=company.headers)

    listed = client.get(f"/api/products/{product['id']}/reorder-rules", headers=company.headers)
    assert [(row["warehouse_id"], row["threshold"]) for row in listed.json] == [
        (first["id"], 1),
        (second["id"], 2),
        (third["id"], 3),
    ]


def test_a_product_without_rules_lists_none(client, company, make_product):
    product = make_product(company)
    response = client.get(f"/api/products/{product['id']}/reorder-rules", headers=company.headers)
    assert response.status_code == 200 and response.json == []


def test_another_companys_product_or_warehouse_is_a_404_and_writes_nothing(
    client, company, other_company, make_product, make_warehouse, count_rows
):
    theirs_product, theirs_warehouse = make_product(company), make_warehouse(company)
    mine_product, mine_warehouse = make_product(other_company), make_warehouse(other_company)
    client.put(
        rule_path(theirs_product, theirs_warehouse), json={"threshold": 4}, headers=company.headers
    )

    for path in (
        rule_path(theirs_product, mine_warehouse),
        rule_path(mine_product, theirs_warehouse),
        rule_path(theirs_product, theirs_warehouse),
    ):
        put = client.put(path, json={"threshold": 1}, headers=other_company.headers)
        assert_problem(put, 404, slug="not-found")
        assert_problem(client.delete(path, headers=other_company.headers), 404)
    assert_problem(
        client.get(
            f"/api/products/{theirs_product['id']}/reorder-rules", headers=other_company.headers
        ),
        404,
    )
    assert count_rows(ReorderRule) == 1
    listed = client.get(
        f"/api/products/{theirs_product['id']}/reorder-rules", headers=company.headers
    )
    assert [row["threshold"] for row in listed.json] == [4]


def test_archived_product_or_warehouse_is_a_404(
    app, client, company, make_product, make_warehouse, count_rows
):
    product, warehouse = make_product(company), make_warehouse(company)
    archived_product, archived_warehouse = make_product(company), make_warehouse(company)
    archive(app, Product, archived_product["id"])
    archive(app, Warehouse, archived_warehouse["id"])

    for path in (rule_path(archived_product, warehouse), rule_path(product, archived_warehouse)):
        assert_problem(client.put(path, json={"threshold": 1}, headers=company.headers), 404)
    assert count_rows(ReorderRule) == 0


def test_missing_product_or_warehouse_is_a_404(client, company, make_product, make_warehouse):
    product, warehouse = make_product(company), make_warehouse(company)
    for path in (
        rule_path({"id": product["id"] + 1000}, warehouse),
        rule_path(product, {"id": warehouse["id"] + 1000}),
    ):
        assert_problem(client.put(path, json={"threshold": 1}, headers=company.headers), 404)


def test_a_bundle_cannot_have_reorder_rules(
    client, company, make_product, make_warehouse, count_rows
):
    bundle, warehouse = make_product(company, is_bundle=True), make_warehouse(company)
    response = client.put(
        rule_path(bundle, warehouse), json={"threshold": 1}, headers=company.headers
    )
    assert_problem(response, 409, slug="bundle-has-no-stock")
    assert count_rows(ReorderRule) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"threshold": 5, "reorder_quantity": 0}, "reorder_quantity"),
        ({"threshold": 5, "reorder_quantity": -3}, "reorder_quantity"),
        ({"threshold": 5, "reorder_quantity": 2.5}, "reorder_quantity"),
        ({"threshold": 5, "reorder_quantity": "10"}, "reorder_quantity"),
        ({"threshold": -1}, "threshold"),
        ({"threshold": 1.5}, "threshold"),
        ({"threshold": "5"}, "threshold"),
        ({"threshold": None}, "threshold"),
        ({"threshold": 2**31}, "threshold"),
        ({"reorder_quantity": 10}, "threshold"),
        ({"threshold": 5, "warehouse_id": 1}, "warehouse_id"),
    ],
)
def test_bad_reorder_rule_is_a_400_and_writes_nothing(
    client, company, make_product, make_warehouse, count_rows, body, field
):
    path = rule_path(make_product(company), make_warehouse(company))
    assert_problem(client.put(path, json=body, headers=company.headers), 400, field)
    assert count_rows(ReorderRule) == 0


def test_a_zero_threshold_and_a_null_reorder_quantity_are_accepted(
    client, company, make_product, make_warehouse
):
    path = rule_path(make_product(company), make_warehouse(company))
    response = client.put(
        path, json={"threshold": 0, "reorder_quantity": None}, headers=company.headers
    )
    assert response.status_code == 201, response.json
    assert response.json["threshold"] == 0 and response.json["reorder_quantity"] is None


def test_a_concurrent_create_of_the_same_rule_is_a_409_not_a_500(
    client, company, make_product, make_warehouse, count_rows, monkeypatch
):
    path = rule_path(make_product(company), make_warehouse(company))
    assert client.put(path, json={"threshold": 1}, headers=company.headers).status_code == 201
    # as if another request inserted the row between this one's select and its insert
    monkeypatch.setattr(queries, "_find_rule", lambda *ids: None)

    response = client.put(path, json={"threshold": 2}, headers=company.headers)
    assert_problem(response, 409, slug="concurrent-update")
    assert count_rows(ReorderRule, ReorderRule.threshold == 1) == 1


@pytest.mark.postgres
def test_two_concurrent_creates_of_one_rule_leave_one_row_and_no_500(
    app, company, make_product, make_warehouse, count_rows
):
    path = rule_path(make_product(company), make_warehouse(company))
    barrier = threading.Barrier(2)
    statuses = []

    def put(threshold):
        client = app.test_client()
        barrier.wait()
        response = client.put(path, json={"threshold": threshold}, headers=company.headers)
        statuses.append(response.status_code)

    threads = [threading.Thread(target=put, args=(n,)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # the loser either saw the winner's row (a replace) or collided with its insert
    assert sorted(statuses) in ([200, 201], [201, 409])
    assert count_rows(ReorderRule) == 1


def test_a_concurrent_create_of_the_same_type_threshold_is_a_409_not_a_500(
    client, company, count_rows, monkeypatch
):
    path = "/api/product-types/perishable"
    client.put(path, json={"low_stock_threshold": 1}, headers=company.headers)
    monkeypatch.setattr(queries, "_find_type_threshold", lambda *key: None)

    response = client.put(path, json={"low_stock_threshold": 2}, headers=company.headers)
    assert_problem(response, 409, slug="concurrent-update")
    assert count_rows(ProductTypeThreshold, ProductTypeThreshold.low_stock_threshold == 1) == 1


def test_defaults_have_one_source():
    assert demo.DEFAULT_THRESHOLDS is queries.DEFAULT_THRESHOLDS
    assert queries.default_threshold("fast_moving") == 20
    assert queries.default_threshold("slow_moving") == 5
    assert queries.default_threshold("anything-else") == queries.FALLBACK_THRESHOLD == 10


def test_inventory_alert_threshold_follows_every_threshold_change(
    app, client, company, make_warehouse, make_product
):
    """The copy the alerts search by must always equal the threshold that applies."""
    a, b = make_warehouse(company)["id"], make_warehouse(company)["id"]
    product = make_product(company, product_type="seasonal", warehouse_id=a, initial_quantity=3)
    pid = product["id"]
    headers = company.headers

    def copies_agree():
        with app.app_context():
            rows = db.session.execute(
                sa.select(
                    Inventory.alert_threshold,
                    queries.threshold_of(
                        Inventory.company_id, Inventory.product_id, Inventory.warehouse_id
                    ),
                ).where(Inventory.company_id == company.id)
            ).all()
        assert rows and all(copy == actual for copy, actual in rows), rows
        return {copy for copy, _ in rows}

    assert copies_agree() == {10}  # an unknown type's default
    steps = [
        ("put", "/api/product-types/seasonal", {"low_stock_threshold": 4}),
        ("post", "/api/stock/receipts", {"product_id": pid, "warehouse_id": b, "quantity": 1}),
        ("put", f"/api/products/{pid}/reorder-rules/{b}", {"threshold": 7}),
        ("patch", f"/api/products/{pid}", {"low_stock_threshold": 2}),
        ("patch", f"/api/products/{pid}", {"product_type": "fast_moving"}),
        ("patch", f"/api/products/{pid}", {"low_stock_threshold": None}),
        ("delete", f"/api/products/{pid}/reorder-rules/{b}", None),
        ("delete", "/api/product-types/seasonal", None),
    ]
    for method, path, body in steps:
        response = getattr(client, method)(path, json=body, headers=headers)
        assert response.status_code < 300, (path, response.json)
        copies_agree()
    assert copies_agree() == {20}


def _low_selling_product(client, tenant, warehouse_id) -> int:
    """A product with 29 units, one sold today and a threshold of 50: it alerts."""
    product = client.post(
        "/api/products",
        json={
            "name": "Widget",
            "sku": f"LOW-{warehouse_id}",
            "price": "1.00",
            "low_stock_threshold": 50,
            "warehouse_id": warehouse_id,
            "initial_quantity": 30,
        },
        headers=tenant.headers,
    ).json["id"]
    sale = {"product_id": product, "warehouse_id": warehouse_id, "quantity": 1}
    assert client.post("/api/stock/sales", json=sale, headers=tenant.headers).status_code == 201
    return product


def _alerted_products(client, tenant) -> tuple[list[int], str]:
    response = client.get(f"/api/companies/{tenant.id}/alerts/low-stock", headers=tenant.headers)
    assert response.status_code == 200, response.json
    return [a["product_id"] for a in response.json["alerts"]], response.headers["ETag"]


def _corrupt_copies(app, company_id) -> None:
    """What an import or restore straight into the database may leave: wrong copies."""
    with app.app_context():
        db.session.execute(
            sa.update(Inventory).where(Inventory.company_id == company_id).values(alert_threshold=0)
        )
        db.session.commit()


def test_recompute_thresholds_command_repairs_corrupted_copies_and_the_alerts_return(
    app, client, company, other_company, make_warehouse
):
    warehouse = make_warehouse(company)["id"]
    product = _low_selling_product(client, company, warehouse)
    other_warehouse = make_warehouse(other_company)["id"]
    other_product = _low_selling_product(client, other_company, other_warehouse)
    assert _alerted_products(client, company)[0] == [product]
    _corrupt_copies(app, company.id)
    _corrupt_copies(app, other_company.id)
    hidden, etag = _alerted_products(client, company)
    assert hidden == []  # the worst failure: a low row that never alerts

    result = app.test_cli_runner().invoke(
        args=["recompute-thresholds", "--company", str(company.id)]
    )
    assert result.exit_code == 0, result.output
    assert result.output == f"company_id={company.id} repaired=1\n"
    assert _alerted_products(client, company)[0] == [product]
    # the repair is a change: a poller holding the old ETag gets the alerts, not a 304
    polled = client.get(
        f"/api/companies/{company.id}/alerts/low-stock",
        headers={**company.headers, "If-None-Match": etag},
    )
    assert polled.status_code == 200
    # only that company was repaired
    assert _alerted_products(client, other_company)[0] == []

    again = app.test_cli_runner().invoke(args=["recompute-thresholds", "--all-companies"])
    assert again.exit_code == 0, again.output
    assert again.output == (
        f"company_id={company.id} repaired=0\ncompany_id={other_company.id} repaired=1\n"
    )
    assert _alerted_products(client, other_company)[0] == [other_product]


@pytest.mark.parametrize(
    "args", [[], ["--company", "1", "--all-companies"], ["--company", "999999"]]
)
def test_recompute_thresholds_command_needs_exactly_one_existing_company_or_all(app, args):
    result = app.test_cli_runner().invoke(args=["recompute-thresholds", *args])
    assert result.exit_code != 0
    assert "--company" in result.output or "No company 999999" in result.output
