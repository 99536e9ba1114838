"""Bundles through the API: their components, what they can make, and selling them."""

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import BundleComponent, Inventory, LedgerEntry
from tests.helpers import assert_problem


def components_path(product_id: int) -> str:
    """The components resource of a product."""
    return f"/api/products/{product_id}/components"


def put_components(client, tenant, bundle_id: int, rows):
    """PUT a bundle's components as ``tenant``."""
    return client.put(components_path(bundle_id), json=rows, headers=tenant.headers)


def get_components(client, tenant, bundle_id: int) -> list[dict]:
    """A bundle's components as ``(product_id, quantity)`` pairs (asserting a 200)."""
    response = client.get(components_path(bundle_id), headers=tenant.headers)
    assert response.status_code == 200, response.json
    return [(c["product_id"], c["quantity"]) for c in response.json]


def stock_op(client, tenant, path: str, body: dict):
    """POST one stock operation (``receipts``, ``sales``, ...) as ``tenant``."""
    return client.post(f"/api/stock/{path}", json=body, headers=tenant.headers)


def inventory_levels(app) -> dict[tuple[int, int], int]:
    """Every inventory row as ``(product_id, warehouse_id) -> quantity``."""
    with app.app_context():
        rows = db.session.execute(
            sa.select(Inventory.product_id, Inventory.warehouse_id, Inventory.quantity)
        )
        return {(p, w): q for p, w, q in rows}


def ledger_rows(app) -> list[tuple]:
    """Every ledger row as ``(product_id, warehouse_id, reason, change, after, bundle)``."""
    with app.app_context():
        rows = db.session.execute(
            sa.select(
                LedgerEntry.product_id,
                LedgerEntry.warehouse_id,
                LedgerEntry.reason,
                LedgerEntry.quantity_change,
                LedgerEntry.quantity_after,
                LedgerEntry.bundle_product_id,
            ).order_by(LedgerEntry.id)
        )
        return [tuple(row) for row in rows]


@pytest.fixture
def parts(company, make_product):
    """Three plain products and an empty bundle of the company."""

    class Parts:
        pass

    p = Parts()
    p.a = make_product(company, sku="A", name="Part A")
    p.b = make_product(company, sku="B", name="Part B")
    p.c = make_product(company, sku="C", name="Part C")
    p.kit = make_product(company, sku="KIT", name="Kit", is_bundle=True)
    return p


# -- PUT / GET components ------------------------------------------------------------------


def test_put_sets_the_components_and_returns_them_with_sku_and_name(client, company, parts):
    response = put_components(
        client,
        company,
        parts.kit["id"],
        [
            {"product_id": parts.b["id"], "quantity": 1},
            {"product_id": parts.a["id"], "quantity": 2},
        ],
    )
    assert response.status_code == 200, response.json
    assert response.json == [
        {
            "product_id": parts.a["id"],
            "sku": "A",
            "name": "Part A",
            "is_bundle": False,
            "quantity": 2,
        },
        {
            "product_id": parts.b["id"],
            "sku": "B",
            "name": "Part B",
            "is_bundle": False,
            "quantity": 1,
        },
    ]
    fetched = client.get(components_path(parts.kit["id"]), headers=company.headers)
    assert fetched.status_code == 200
    assert fetched.json == response.json


def test_a_new_bundle_has_no_components(client, company, parts):
    assert get_components(client, company, parts.kit["id"]) == []


def test_a_second_put_replaces_the_first_set_entirely(client, company, parts, count_rows):
    first = [
        {"product_id": parts.a["id"], "quantity": 2},
        {"product_id": parts.b["id"], "quantity": 1},
    ]
    assert put_components(client, company, parts.kit["id"], first).status_code == 200
    second = [
        {"product_id": parts.b["id"], "quantity": 5},
        {"product_id": parts.c["id"], "quantity": 3},
    ]
    response = put_components(client, company, parts.kit["id"], second)
    assert response.status_code == 200, response.json
    assert get_components(client, company, parts.kit["id"]) == [
        (parts.b["id"], 5),
        (parts.c["id"], 3),
    ]
    assert count_rows(BundleComponent) == 2


def test_put_of_an_empty_list_clears_the_components(client, company, parts, count_rows):
    rows = [{"product_id": parts.a["id"], "quantity": 2}]
    assert put_components(client, company, parts.kit["id"], rows).status_code == 200
    response = put_components(client, company, parts.kit["id"], [])
    assert response.status_code == 200, response.json
    assert response.json == []
    assert get_components(client, company, parts.kit["id"]) == []
    assert count_rows(BundleComponent) == 0


def test_a_bundle_may_contain_another_bundle(client, company, parts, make_product):
    inner = make_product(company, sku="INNER", is_bundle=True)
    response = put_components(
        client, company, parts.kit["id"], [{"product_id": inner["id"], "quantity": 2}]
    )
    assert response.status_code == 200, response.json
    assert response.json[0]["is_bundle"] is True


# -- rules: each refused as a 400 naming the item's field, the old components untouched ------


@pytest.fixture
def kit(client, company, parts):
    """``parts.kit`` made of 2 x A and 1 x B."""
    rows = [
        {"product_id": parts.a["id"], "quantity": 2},
        {"product_id": parts.b["id"], "quantity": 1},
    ]
    assert put_components(client, company, parts.kit["id"], rows).status_code == 200
    return parts


def assert_components_untouched(client, company, parts):
    """The kit is still 2 x A and 1 x B."""
    assert get_components(client, company, parts.kit["id"]) == [
        (parts.a["id"], 2),
        (parts.b["id"], 1),
    ]


@pytest.mark.parametrize("quantity", [0, -1, 1.5, 2.0, "2", True, None, 2**31])
def test_bad_component_quantity_is_a_400_naming_the_item(client, company, kit, quantity):
    rows = [
        {"product_id": kit.c["id"], "quantity": 1},
        {"product_id": kit.a["id"], "quantity": quantity},
    ]
    response = put_components(client, company, kit.kit["id"], rows)
    problem = assert_problem(response, 400, "1.quantity")
    assert problem["type"].endswith("validation-error")
    assert_components_untouched(client, company, kit)


def test_missing_item_fields_are_a_400_naming_them(client, company, kit):
    response = put_components(client, company, kit.kit["id"], [{}])
    assert_problem(response, 400, "0.product_id", "0.quantity")
    assert_components_untouched(client, company, kit)


def test_a_bundle_containing_itself_is_a_400(client, company, kit):
    rows = [{"product_id": kit.kit["id"], "quantity": 1}]
    response = put_components(client, company, kit.kit["id"], rows)
    assert_problem(response, 400, "0.product_id")
    assert_components_untouched(client, company, kit)


@pytest.mark.parametrize("product_id", [999999, 0, -3, "1"])
def test_an_unknown_component_is_a_400(client, company, kit, product_id):
    rows = [{"product_id": kit.c["id"], "quantity": 1}, {"product_id": product_id, "quantity": 1}]
    response = put_components(client, company, kit.kit["id"], rows)
    assert_problem(response, 400, "1.product_id")
    assert_components_untouched(client, company, kit)


def test_a_deleted_product_as_component_is_a_400(client, company, kit, make_product):
    gone = make_product(company)
    assert client.delete(f"/api/products/{gone['id']}", headers=company.headers).status_code == 204
    response = put_components(
        client, company, kit.kit["id"], [{"product_id": gone["id"], "quantity": 1}]
    )
    assert_problem(response, 400, "0.product_id")
    assert_components_untouched(client, company, kit)


def test_another_companys_product_as_component_is_a_400_like_an_unknown_one(
    client, company, other_company, kit, make_product
):
    foreign = make_product(other_company, sku="FOREIGN", name="Globex secret")
    response = put_components(
        client, company, kit.kit["id"], [{"product_id": foreign["id"], "quantity": 1}]
    )
    unknown = put_components(
        client, company, kit.kit["id"], [{"product_id": 999999, "quantity": 1}]
    )
    problem = assert_problem(response, 400, "0.product_id")
    assert problem == unknown.json
    assert "Globex" not in response.get_data(as_text=True)
    assert_components_untouched(client, company, kit)


def test_the_same_component_twice_is_a_400_naming_the_repeat(client, company, kit):
    rows = [
        {"product_id": kit.c["id"], "quantity": 1},
        {"product_id": kit.b["id"], "quantity": 1},
        {"product_id": kit.c["id"], "quantity": 2},
    ]
    response = put_components(client, company, kit.kit["id"], rows)
    assert_problem(response, 400, "2.product_id")
    assert_components_untouched(client, company, kit)


def test_a_cycle_through_a_nested_bundle_is_a_400(client, company, make_product, count_rows):
    outer = make_product(company, sku="OUTER", is_bundle=True)
    inner = make_product(company, sku="INNER", is_bundle=True)
    part = make_product(company, sku="PART")
    rows = [{"product_id": inner["id"], "quantity": 1}]
    assert put_components(client, company, outer["id"], rows).status_code == 200
    rows = [{"product_id": part["id"], "quantity": 3}]
    assert put_components(client, company, inner["id"], rows).status_code == 200

    rows = [{"product_id": part["id"], "quantity": 1}, {"product_id": outer["id"], "quantity": 1}]
    response = put_components(client, company, inner["id"], rows)
    assert_problem(response, 400, "1.product_id")
    assert get_components(client, company, inner["id"]) == [(part["id"], 3)]
    assert get_components(client, company, outer["id"]) == [(inner["id"], 1)]
    assert count_rows(BundleComponent) == 2


def test_a_cycle_two_levels_deep_is_a_400(client, company, make_product):
    first, second, third = (make_product(company, is_bundle=True) for _ in range(3))
    put_components(client, company, first["id"], [{"product_id": second["id"], "quantity": 1}])
    put_components(client, company, second["id"], [{"product_id": third["id"], "quantity": 1}])
    response = put_components(
        client, company, third["id"], [{"product_id": first["id"], "quantity": 1}]
    )
    assert_problem(response, 400, "0.product_id")
    assert get_components(client, company, third["id"]) == []


def test_an_unknown_field_in_an_item_is_a_400_naming_it(client, company, kit):
    rows = [{"product_id": kit.c["id"], "quantity": 1, "price": "1.00"}]
    response = put_components(client, company, kit.kit["id"], rows)
    assert_problem(response, 400, "0.price")
    assert_components_untouched(client, company, kit)


@pytest.mark.parametrize(
    "body",
    [
        {"product_id": 1, "quantity": 1},
        {"components": []},
        "text",
        42,
        [1, 2],
    ],
)
def test_a_body_that_is_not_a_list_of_objects_is_a_400(client, company, kit, body):
    response = put_components(client, company, kit.kit["id"], body)
    problem = assert_problem(response, 400)
    assert problem["errors"]
    assert_components_untouched(client, company, kit)


@pytest.mark.parametrize("body", [{"product_id": 1, "quantity": 1}, "text", 42])
def test_a_body_that_is_not_a_list_is_a_400_naming_the_body(client, company, kit, body):
    response = put_components(client, company, kit.kit["id"], body)
    assert_problem(response, 400, "_body")


def test_put_on_a_product_that_is_not_a_bundle_is_a_409(client, company, parts, count_rows):
    rows = [{"product_id": parts.b["id"], "quantity": 1}]
    response = put_components(client, company, parts.a["id"], rows)
    problem = assert_problem(response, 409)
    assert problem["type"].endswith("not-a-bundle")
    assert count_rows(BundleComponent) == 0


def test_put_on_another_companys_bundle_is_a_404_and_changes_nothing(
    client, company, other_company, kit, make_product
):
    theirs = make_product(other_company)
    rows = [{"product_id": theirs["id"], "quantity": 1}]
    foreign = put_components(client, other_company, kit.kit["id"], rows)
    missing = put_components(client, other_company, 999999, rows)
    assert_problem(foreign, 404)
    assert foreign.json == missing.json
    assert_components_untouched(client, company, kit)


def test_get_components_of_another_companys_bundle_is_a_404(client, company, other_company, kit):
    response = client.get(components_path(kit.kit["id"]), headers=other_company.headers)
    assert_problem(response, 404)
    assert "Part A" not in response.get_data(as_text=True)


def test_put_on_a_deleted_bundle_is_a_404(client, company, kit):
    assert (
        client.delete(f"/api/products/{kit.kit['id']}", headers=company.headers).status_code == 204
    )
    response = put_components(client, company, kit.kit["id"], [])
    assert_problem(response, 404)


# -- availability --------------------------------------------------------------------------


@pytest.fixture
def stocked_kit(client, company, kit, make_warehouse):
    """The kit (2 x A + 1 x B) with A = 10 and B = 3 in warehouse ``w``."""
    kit.w = make_warehouse(company, name="W")
    for product, quantity in ((kit.a, 10), (kit.b, 3)):
        body = {"product_id": product["id"], "warehouse_id": kit.w["id"], "quantity": quantity}
        assert stock_op(client, company, "receipts", body).status_code == 201
    return kit


def test_bundle_stock_is_what_its_components_can_make(client, company, stocked_kit):
    response = client.get(f"/api/products/{stocked_kit.kit['id']}/stock", headers=company.headers)
    assert response.status_code == 200, response.json
    assert response.json == {
        "product_id": stocked_kit.kit["id"],
        "sku": "KIT",
        "is_bundle": True,
        "total_quantity": 3,
        "warehouses": [{"warehouse_id": stocked_kit.w["id"], "warehouse_name": "W", "quantity": 3}],
    }


def test_bundle_availability_shows_in_the_product(client, company, stocked_kit):
    response = client.get(f"/api/products/{stocked_kit.kit['id']}", headers=company.headers)
    assert response.json["stock"] == [{"warehouse_id": stocked_kit.w["id"], "quantity": 3}]


def test_bundle_availability_shows_in_the_product_list(client, company, stocked_kit):
    response = client.get("/api/products?is_bundle=true", headers=company.headers)
    assert [(p["sku"], p["stock"]) for p in response.json] == [
        ("KIT", [{"warehouse_id": stocked_kit.w["id"], "quantity": 3}])
    ]
    everything = client.get("/api/products", headers=company.headers)
    by_sku = {p["sku"]: p["stock"] for p in everything.json}
    assert by_sku["KIT"] == [{"warehouse_id": stocked_kit.w["id"], "quantity": 3}]
    assert by_sku["A"] == [{"warehouse_id": stocked_kit.w["id"], "quantity": 10}]


def test_bundle_availability_shows_in_the_warehouse_stock(client, company, stocked_kit):
    response = client.get(f"/api/warehouses/{stocked_kit.w['id']}/stock", headers=company.headers)
    assert response.status_code == 200, response.json
    assert {item["sku"]: item["quantity"] for item in response.json} == {"A": 10, "B": 3, "KIT": 3}


def test_a_component_missing_from_a_warehouse_makes_the_bundle_unavailable_there(
    client, company, stocked_kit, make_warehouse
):
    other = make_warehouse(company, name="Other")
    body = {"product_id": stocked_kit.a["id"], "warehouse_id": other["id"], "quantity": 50}
    assert stock_op(client, company, "receipts", body).status_code == 201
    kit_id = stocked_kit.kit["id"]
    stock = client.get(f"/api/products/{kit_id}/stock", headers=company.headers).json
    assert {w["warehouse_id"]: w["quantity"] for w in stock["warehouses"]} == {
        stocked_kit.w["id"]: 3,
        other["id"]: 0,
    }
    assert stock["total_quantity"] == 3
    there = client.get(f"/api/warehouses/{other['id']}/stock", headers=company.headers).json
    assert {item["sku"]: item["quantity"] for item in there} == {"A": 50, "KIT": 0}


def test_a_bundle_without_components_shows_no_stock(client, company, parts, make_warehouse):
    warehouse = make_warehouse(company)
    product = client.get(f"/api/products/{parts.kit['id']}", headers=company.headers).json
    assert product["stock"] == []
    stock = client.get(f"/api/products/{parts.kit['id']}/stock", headers=company.headers).json
    assert stock["total_quantity"] == 0 and stock["warehouses"] == []
    there = client.get(f"/api/warehouses/{warehouse['id']}/stock", headers=company.headers).json
    assert [(item["sku"], item["quantity"]) for item in there] == [("KIT", 0)]


def test_nested_bundle_availability_multiplies_through(
    client, company, make_product, make_warehouse
):
    warehouse = make_warehouse(company)
    a = make_product(company, sku="A", warehouse_id=warehouse["id"], initial_quantity=20)
    c = make_product(company, sku="C", warehouse_id=warehouse["id"], initial_quantity=5)
    inner = make_product(company, sku="INNER", is_bundle=True)
    outer = make_product(company, sku="OUTER", is_bundle=True)
    put_components(client, company, inner["id"], [{"product_id": a["id"], "quantity": 3}])
    put_components(
        client,
        company,
        outer["id"],
        [{"product_id": inner["id"], "quantity": 2}, {"product_id": c["id"], "quantity": 1}],
    )
    # inner: 20 // 3 = 6; outer needs 6 A and 1 C: min(20 // 6, 5 // 1) = 3
    levels = {
        p["sku"]: p["stock"] for p in client.get("/api/products", headers=company.headers).json
    }
    assert levels["INNER"] == [{"warehouse_id": warehouse["id"], "quantity": 6}]
    assert levels["OUTER"] == [{"warehouse_id": warehouse["id"], "quantity": 3}]
    stock = client.get(f"/api/products/{outer['id']}/stock", headers=company.headers).json
    assert stock["total_quantity"] == 3


# -- selling, receiving and adjusting bundles ----------------------------------------------


def test_selling_a_bundle_moves_every_component_in_one_operation(app, client, company, stocked_kit):
    kit, w = stocked_kit.kit["id"], stocked_kit.w["id"]
    a, b = stocked_kit.a["id"], stocked_kit.b["id"]
    response = stock_op(
        client, company, "sales", {"product_id": kit, "warehouse_id": w, "quantity": 2}
    )
    assert response.status_code == 201, response.json
    body = response.json
    entries = {e["product_id"]: e for e in body["entries"]}
    assert set(entries) == {a, b}
    assert (entries[a]["quantity_change"], entries[a]["quantity_after"]) == (-4, 6)
    assert (entries[b]["quantity_change"], entries[b]["quantity_after"]) == (-2, 1)
    assert {e["bundle_product_id"] for e in body["entries"]} == {kit}
    assert {e["reason"] for e in body["entries"]} == {"sale"}
    assert {e["operation_id"] for e in body["entries"]} == {body["operation_id"]}
    assert body["stock"] == [
        {"product_id": a, "warehouse_id": w, "quantity": 6},
        {"product_id": b, "warehouse_id": w, "quantity": 1},
    ]
    assert inventory_levels(app) == {(a, w): 6, (b, w): 1}
    # the ledger shows the same rows, each naming the bundle; the bundle itself holds nothing
    ledger = client.get("/api/stock/ledger?reason=sale", headers=company.headers).json["entries"]
    assert sorted((e["product_id"], e["bundle_product_id"]) for e in ledger) == [(a, kit), (b, kit)]
    kit_ledger = client.get(f"/api/stock/ledger?product_id={kit}", headers=company.headers).json
    assert kit_ledger["entries"] == []
    stock = client.get(f"/api/products/{kit}/stock", headers=company.headers).json
    assert stock["total_quantity"] == 1


@pytest.mark.parametrize(("short", "quantity"), [("b", 4), ("a", 6)])
def test_selling_a_bundle_with_one_component_short_is_a_409_that_changes_nothing(
    app, client, company, stocked_kit, count_rows, short, quantity
):
    # 4 kits need 8 A (10 there) and 4 B (3 there); 6 kits need 12 A and 6 B: both short,
    # but with A short it is the first row in lock order, with B short the second
    before_levels, before_ledger = inventory_levels(app), ledger_rows(app)
    response = stock_op(
        client,
        company,
        "sales",
        {
            "product_id": stocked_kit.kit["id"],
            "warehouse_id": stocked_kit.w["id"],
            "quantity": quantity,
        },
    )
    problem = assert_problem(response, 409)
    assert problem["type"].endswith("insufficient-stock")
    assert problem["product_id"] == getattr(stocked_kit, short)["id"]
    assert inventory_levels(app) == before_levels
    assert ledger_rows(app) == before_ledger
    assert count_rows(LedgerEntry, LedgerEntry.reason == "sale") == 0


def test_selling_a_bundle_whose_later_component_is_short_rolls_back_the_earlier_one(
    app, client, company, stocked_kit
):
    # A (lower id) has enough for 4 kits and is decremented first; B is short
    a, w = stocked_kit.a["id"], stocked_kit.w["id"]
    response = stock_op(
        client,
        company,
        "sales",
        {"product_id": stocked_kit.kit["id"], "warehouse_id": w, "quantity": 4},
    )
    assert response.status_code == 409
    assert inventory_levels(app)[(a, w)] == 10
    stock = client.get(f"/api/products/{a}/stock", headers=company.headers).json
    assert stock["total_quantity"] == 10


def test_selling_a_nested_bundle_moves_its_leaf_components(
    app, client, company, make_product, make_warehouse
):
    warehouse = make_warehouse(company)
    a = make_product(company, warehouse_id=warehouse["id"], initial_quantity=20)
    c = make_product(company, warehouse_id=warehouse["id"], initial_quantity=5)
    inner = make_product(company, is_bundle=True)
    outer = make_product(company, is_bundle=True)
    put_components(client, company, inner["id"], [{"product_id": a["id"], "quantity": 3}])
    put_components(
        client,
        company,
        outer["id"],
        [{"product_id": inner["id"], "quantity": 2}, {"product_id": c["id"], "quantity": 1}],
    )
    response = stock_op(
        client,
        company,
        "sales",
        {"product_id": outer["id"], "warehouse_id": warehouse["id"], "quantity": 2},
    )
    assert response.status_code == 201, response.json
    assert sorted(
        (e["product_id"], e["quantity_change"], e["bundle_product_id"])
        for e in response.json["entries"]
    ) == [(a["id"], -12, outer["id"]), (c["id"], -2, outer["id"])]
    assert inventory_levels(app) == {(a["id"], warehouse["id"]): 8, (c["id"], warehouse["id"]): 3}


def test_receiving_a_bundle_adds_its_components(app, client, company, kit, make_warehouse):
    warehouse = make_warehouse(company)
    response = stock_op(
        client,
        company,
        "receipts",
        {"product_id": kit.kit["id"], "warehouse_id": warehouse["id"], "quantity": 3},
    )
    assert response.status_code == 201, response.json
    assert len({e["operation_id"] for e in response.json["entries"]}) == 1
    a, b, w = kit.a["id"], kit.b["id"], warehouse["id"]
    assert ledger_rows(app) == [
        (a, w, "receipt", 6, 6, kit.kit["id"]),
        (b, w, "receipt", 3, 3, kit.kit["id"]),
    ]
    assert inventory_levels(app) == {(a, w): 6, (b, w): 3}
    stock = client.get(f"/api/products/{kit.kit['id']}/stock", headers=company.headers).json
    assert stock["total_quantity"] == 3


def test_transferring_a_bundle_moves_its_components(
    app, client, company, stocked_kit, make_warehouse
):
    target = make_warehouse(company)
    response = stock_op(
        client,
        company,
        "transfers",
        {
            "product_id": stocked_kit.kit["id"],
            "from_warehouse_id": stocked_kit.w["id"],
            "to_warehouse_id": target["id"],
            "quantity": 1,
        },
    )
    assert response.status_code == 201, response.json
    a, b, w, t = stocked_kit.a["id"], stocked_kit.b["id"], stocked_kit.w["id"], target["id"]
    assert inventory_levels(app) == {(a, w): 8, (b, w): 2, (a, t): 2, (b, t): 1}
    assert {e["bundle_product_id"] for e in response.json["entries"]} == {stocked_kit.kit["id"]}


def test_receiving_a_bundle_beyond_the_integer_range_is_refused_and_writes_nothing(
    client, company, kit, make_warehouse, count_rows
):
    warehouse = make_warehouse(company)
    # quantity itself is within the API's limit; 2 x A per kit takes A past 2**31 - 1
    response = stock_op(
        client,
        company,
        "receipts",
        {"product_id": kit.kit["id"], "warehouse_id": warehouse["id"], "quantity": 2**31 - 1},
    )
    assert response.status_code in (400, 409), response.json
    assert_problem(response, response.status_code)
    assert count_rows(LedgerEntry) == 0
    assert count_rows(Inventory) == 0


@pytest.mark.parametrize("path", ["sales", "receipts", "returns"])
def test_a_bundle_without_components_cannot_be_moved(
    client, company, parts, make_warehouse, count_rows, path
):
    warehouse = make_warehouse(company)
    response = stock_op(
        client,
        company,
        path,
        {"product_id": parts.kit["id"], "warehouse_id": warehouse["id"], "quantity": 1},
    )
    problem = assert_problem(response, 409)
    assert problem["type"].endswith("bundle-without-components")
    assert count_rows(LedgerEntry) == 0
    assert count_rows(Inventory) == 0


def test_a_bundle_containing_an_empty_bundle_cannot_be_sold(
    client, company, parts, make_product, make_warehouse, count_rows
):
    warehouse = make_warehouse(company)
    a = make_product(company, warehouse_id=warehouse["id"], initial_quantity=5)
    empty = make_product(company, is_bundle=True)
    put_components(
        client,
        company,
        parts.kit["id"],
        [{"product_id": a["id"], "quantity": 1}, {"product_id": empty["id"], "quantity": 1}],
    )
    response = stock_op(
        client,
        company,
        "sales",
        {"product_id": parts.kit["id"], "warehouse_id": warehouse["id"], "quantity": 1},
    )
    problem = assert_problem(response, 409)
    assert problem["type"].endswith("bundle-without-components")
    assert count_rows(LedgerEntry, LedgerEntry.reason == "sale") == 0


@pytest.mark.parametrize("change", [{"delta": 1}, {"delta": -1}, {"quantity": 5}, {"quantity": 0}])
def test_adjusting_a_bundle_is_a_400_naming_product_id(app, client, company, stocked_kit, change):
    before_levels, before_ledger = inventory_levels(app), ledger_rows(app)
    response = stock_op(
        client,
        company,
        "adjustments",
        {
            "product_id": stocked_kit.kit["id"],
            "warehouse_id": stocked_kit.w["id"],
            "reason": "count",
            **change,
        },
    )
    assert_problem(response, 400, "product_id")
    assert inventory_levels(app) == before_levels
    assert ledger_rows(app) == before_ledger
