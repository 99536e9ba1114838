"""Stock operations and the ledger, through the API."""

import datetime as dt

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Inventory, LedgerEntry
from tests.helpers import assert_problem


@pytest.fixture
def stocked(client, company, make_warehouse, make_product):
    """A product with 10 units in warehouse ``a`` and none in ``b``."""
    a, b = make_warehouse(company, name="A"), make_warehouse(company, name="B")
    product = make_product(company, warehouse_id=a["id"], initial_quantity=10)

    class Stocked:
        pass

    s = Stocked()
    s.a, s.b, s.product = a["id"], b["id"], product["id"]
    return s


def post(client, tenant, path, body, **headers):
    return client.post(f"/api/stock/{path}", json=body, headers={**tenant.headers, **headers})


def level(app, product_id, warehouse_id):
    with app.app_context():
        return db.session.scalar(
            sa.select(Inventory.quantity).where(
                Inventory.product_id == product_id, Inventory.warehouse_id == warehouse_id
            )
        )


def ledger_sum(app, product_id, warehouse_id):
    with app.app_context():
        return db.session.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(LedgerEntry.quantity_change), 0)).where(
                LedgerEntry.product_id == product_id, LedgerEntry.warehouse_id == warehouse_id
            )
        )


def test_sale_removes_stock_and_returns_the_ledger_row_and_level(app, client, company, stocked):
    response = post(
        client,
        company,
        "sales",
        {
            "product_id": stocked.product,
            "warehouse_id": stocked.a,
            "quantity": 3,
            "reference": "SO-1",
        },
    )
    assert response.status_code == 201, response.json
    body = response.json
    (entry,) = body["entries"]
    assert entry["reason"] == "sale"
    assert entry["quantity_change"] == -3
    assert entry["quantity_after"] == 7
    assert entry["reference"] == "SO-1"
    assert entry["operation_id"] == body["operation_id"]
    assert body["stock"] == [
        {"product_id": stocked.product, "warehouse_id": stocked.a, "quantity": 7}
    ]
    assert (
        level(app, stocked.product, stocked.a) == 7 == ledger_sum(app, stocked.product, stocked.a)
    )


def test_sale_beyond_stock_returns_409_naming_the_available_quantity_and_writes_nothing(
    app, client, company, stocked, count_rows
):
    before = count_rows(LedgerEntry)
    response = post(
        client,
        company,
        "sales",
        {"product_id": stocked.product, "warehouse_id": stocked.a, "quantity": 11},
    )
    problem = assert_problem(response, 409)
    assert problem["type"].endswith("insufficient-stock")
    assert problem["available"] == 10 and problem["requested"] == 11
    assert "10" in problem["detail"]
    assert level(app, stocked.product, stocked.a) == 10
    assert count_rows(LedgerEntry) == before


def test_sale_in_a_warehouse_that_never_stocked_the_product_is_a_409_with_zero_available(
    client, company, stocked
):
    response = post(
        client,
        company,
        "sales",
        {"product_id": stocked.product, "warehouse_id": stocked.b, "quantity": 1},
    )
    assert assert_problem(response, 409)["available"] == 0


def test_selling_exactly_the_stock_leaves_zero(app, client, company, stocked):
    body = {"product_id": stocked.product, "warehouse_id": stocked.a, "quantity": 10}
    assert post(client, company, "sales", body).status_code == 201
    assert level(app, stocked.product, stocked.a) == 0


def test_receipt_adds_stock_creating_the_row_and_records_supplier_and_cost(
    app, client, company, stocked
):
    supplier = client.post(
        "/api/suppliers", json={"name": "Supplier Corp"}, headers=company.headers
    ).json
    response = post(
        client,
        company,
        "receipts",
        {
            "product_id": stocked.product,
            "warehouse_id": stocked.b,
            "quantity": 4,
            "supplier_id": supplier["id"],
            "unit_cost": "2.35",
        },
    )
    assert response.status_code == 201, response.json
    (entry,) = response.json["entries"]
    assert entry["reason"] == "receipt"
    assert entry["supplier_id"] == supplier["id"]
    assert entry["unit_cost"] == "2.35"
    assert level(app, stocked.product, stocked.b) == 4


def test_receipt_naming_another_companys_supplier_is_a_400(
    client, company, other_company, stocked, count_rows
):
    foreign = client.post("/api/suppliers", json={"name": "X"}, headers=other_company.headers).json
    before = count_rows(LedgerEntry)
    response = post(
        client,
        company,
        "receipts",
        {
            "product_id": stocked.product,
            "warehouse_id": stocked.a,
            "quantity": 1,
            "supplier_id": foreign["id"],
        },
    )
    assert_problem(response, 400, "supplier_id")
    assert count_rows(LedgerEntry) == before


def test_return_adds_stock_with_reason_return(app, client, company, stocked):
    response = post(
        client,
        company,
        "returns",
        {"product_id": stocked.product, "warehouse_id": stocked.a, "quantity": 2},
    )
    assert response.status_code == 201
    assert response.json["entries"][0]["reason"] == "return"
    assert level(app, stocked.product, stocked.a) == 12


def test_transfer_moves_stock_with_two_ledger_rows_of_one_operation(app, client, company, stocked):
    response = post(
        client,
        company,
        "transfers",
        {
            "product_id": stocked.product,
            "from_warehouse_id": stocked.a,
            "to_warehouse_id": stocked.b,
            "quantity": 4,
        },
    )
    assert response.status_code == 201, response.json
    entries = {e["reason"]: e for e in response.json["entries"]}
    assert entries["transfer_out"]["quantity_change"] == -4
    assert entries["transfer_out"]["quantity_after"] == 6
    assert entries["transfer_in"]["quantity_change"] == 4
    assert entries["transfer_in"]["quantity_after"] == 4
    assert len({e["operation_id"] for e in response.json["entries"]}) == 1
    assert sorted(s["quantity"] for s in response.json["stock"]) == [4, 6]
    assert level(app, stocked.product, stocked.a) == 6
    assert level(app, stocked.product, stocked.b) == 4


def test_transfer_beyond_stock_is_a_409_and_moves_nothing(
    app, client, company, stocked, count_rows
):
    before = count_rows(LedgerEntry)
    response = post(
        client,
        company,
        "transfers",
        {
            "product_id": stocked.product,
            "from_warehouse_id": stocked.a,
            "to_warehouse_id": stocked.b,
            "quantity": 11,
        },
    )
    assert_problem(response, 409)
    assert level(app, stocked.product, stocked.a) == 10
    assert level(app, stocked.product, stocked.b) is None
    assert count_rows(LedgerEntry) == before


def test_transfer_to_the_same_warehouse_is_a_400(client, company, stocked):
    response = post(
        client,
        company,
        "transfers",
        {
            "product_id": stocked.product,
            "from_warehouse_id": stocked.a,
            "to_warehouse_id": stocked.a,
            "quantity": 1,
        },
    )
    assert_problem(response, 400, "to_warehouse_id")


def test_transfer_to_another_companys_warehouse_is_a_400_and_moves_nothing(
    app, client, company, other_company, make_warehouse, stocked
):
    foreign = make_warehouse(other_company)
    response = post(
        client,
        company,
        "transfers",
        {
            "product_id": stocked.product,
            "from_warehouse_id": stocked.a,
            "to_warehouse_id": foreign["id"],
            "quantity": 1,
        },
    )
    assert_problem(response, 400, "to_warehouse_id")
    assert level(app, stocked.product, stocked.a) == 10


def test_count_sets_the_level_and_the_ledger_records_the_difference(app, client, company, stocked):
    response = post(
        client,
        company,
        "adjustments",
        {
            "product_id": stocked.product,
            "warehouse_id": stocked.a,
            "quantity": 7,
            "reason": "cycle count",
        },
    )
    assert response.status_code == 201, response.json
    (entry,) = response.json["entries"]
    assert entry["reason"] == "adjustment"
    assert entry["quantity_change"] == -3
    assert entry["quantity_after"] == 7
    assert entry["note"] == "cycle count"
    assert (
        level(app, stocked.product, stocked.a) == 7 == ledger_sum(app, stocked.product, stocked.a)
    )


def test_count_in_a_new_warehouse_creates_the_row(app, client, company, stocked):
    body = {
        "product_id": stocked.product,
        "warehouse_id": stocked.b,
        "quantity": 5,
        "reason": "found",
    }
    assert post(client, company, "adjustments", body).status_code == 201
    assert (
        level(app, stocked.product, stocked.b) == 5 == ledger_sum(app, stocked.product, stocked.b)
    )


def test_stale_count_is_refused_with_409_so_sales_are_not_erased(app, client, company, stocked):
    # the counter saw 10, then a sale happened before the count was sent
    sale = {"product_id": stocked.product, "warehouse_id": stocked.a, "quantity": 2}
    assert post(client, company, "sales", sale).status_code == 201
    count = {
        "product_id": stocked.product,
        "warehouse_id": stocked.a,
        "quantity": 9,
        "expected_quantity": 10,
        "reason": "count",
    }
    problem = assert_problem(post(client, company, "adjustments", count), 409)
    assert problem["type"].endswith("stock-changed")
    assert problem["current_quantity"] == 8
    assert level(app, stocked.product, stocked.a) == 8
    count["expected_quantity"] = 8
    assert post(client, company, "adjustments", count).status_code == 201
    assert level(app, stocked.product, stocked.a) == 9


def test_delta_adjustment_applies_a_signed_change(app, client, company, stocked):
    body = {
        "product_id": stocked.product,
        "warehouse_id": stocked.a,
        "delta": -4,
        "reason": "damaged",
    }
    response = post(client, company, "adjustments", body)
    assert response.status_code == 201
    assert response.json["entries"][0]["quantity_change"] == -4
    body["delta"] = 2
    assert post(client, company, "adjustments", body).status_code == 201
    assert level(app, stocked.product, stocked.a) == 8


def test_negative_delta_beyond_stock_is_a_409(app, client, company, stocked):
    body = {
        "product_id": stocked.product,
        "warehouse_id": stocked.a,
        "delta": -11,
        "reason": "lost",
    }
    assert assert_problem(post(client, company, "adjustments", body), 409)["available"] == 10
    assert level(app, stocked.product, stocked.a) == 10


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"delta": 1}, "quantity"),  # both quantity and delta
        ({"quantity": None}, "quantity"),
        ({"reason": None}, "reason"),
        ({"reason": ""}, "reason"),
        ({"quantity": -1}, "quantity"),
        ({"delta": 0, "quantity": None}, "delta"),
        ({"expected_quantity": -1}, "expected_quantity"),
    ],
)
def test_invalid_adjustment_is_a_400(client, company, stocked, count_rows, change, field):
    body = {"product_id": stocked.product, "warehouse_id": stocked.a, "quantity": 3, "reason": "x"}
    body.update(change)
    body = {k: v for k, v in body.items() if v is not None}
    before = count_rows(LedgerEntry)
    assert_problem(post(client, company, "adjustments", body), 400, field)
    assert count_rows(LedgerEntry) == before


def test_expected_quantity_only_goes_with_a_count(client, company, stocked):
    body = {
        "product_id": stocked.product,
        "warehouse_id": stocked.a,
        "delta": 1,
        "expected_quantity": 10,
        "reason": "x",
    }
    assert_problem(post(client, company, "adjustments", body), 400, "expected_quantity")


@pytest.mark.parametrize("path", ["sales", "receipts", "returns"])
@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"quantity": 0}, "quantity"),
        ({"quantity": -1}, "quantity"),
        ({"quantity": 1.5}, "quantity"),
        ({"quantity": "1"}, "quantity"),
        ({"quantity": True}, "quantity"),
        ({"quantity": 2**31}, "quantity"),
        ({"quantity": 10**30}, "quantity"),
        ({"product_id": None}, "product_id"),
        ({"product_id": 0}, "product_id"),
        ({"warehouse_id": "abc"}, "warehouse_id"),
        ({"occurred_at": "yesterday"}, "occurred_at"),
        ({"reference": "r" * 256}, "reference"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_invalid_operation_is_a_400_naming_the_field_and_writes_nothing(
    app, client, company, stocked, count_rows, path, change, field
):
    body = {"product_id": stocked.product, "warehouse_id": stocked.a, "quantity": 1, **change}
    body = {k: v for k, v in body.items() if v is not None}
    before = count_rows(LedgerEntry)
    assert_problem(post(client, company, path, body), 400, field)
    assert count_rows(LedgerEntry) == before
    assert level(app, stocked.product, stocked.a) == 10


def test_occurred_at_in_the_future_is_a_400(client, company, stocked):
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    body = {
        "product_id": stocked.product,
        "warehouse_id": stocked.a,
        "quantity": 1,
        "occurred_at": future,
    }
    assert_problem(post(client, company, "sales", body), 400, "occurred_at")


def test_backdated_sale_keeps_when_it_happened_and_when_it_was_recorded(client, company, stocked):
    body = {
        "product_id": stocked.product,
        "warehouse_id": stocked.a,
        "quantity": 1,
        "occurred_at": "2026-03-01T09:30:00+02:00",
    }
    (entry,) = post(client, company, "sales", body).json["entries"]
    assert dt.datetime.fromisoformat(entry["occurred_at"]) == dt.datetime(
        2026, 3, 1, 7, 30, tzinfo=dt.UTC
    )
    recorded = dt.datetime.fromisoformat(entry["recorded_at"])
    assert abs(recorded - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=5)


def test_occurred_at_without_offset_is_taken_as_utc(client, company, stocked):
    body = {
        "product_id": stocked.product,
        "warehouse_id": stocked.a,
        "quantity": 1,
        "occurred_at": "2026-03-01T09:30:00",
    }
    (entry,) = post(client, company, "sales", body).json["entries"]
    assert entry["occurred_at"].startswith("2026-03-01T09:30:00") and entry["occurred_at"].endswith(
        "+00:00"
    )


def test_operation_on_another_companys_product_is_a_400_and_changes_nothing(
    app, client, company, other_company, make_warehouse, stocked
):
    theirs = make_warehouse(other_company)
    body = {"product_id": stocked.product, "warehouse_id": theirs["id"], "quantity": 1}
    assert_problem(post(client, other_company, "receipts", body), 400, "product_id")
    assert level(app, stocked.product, stocked.a) == 10


def test_retried_sale_with_the_same_idempotency_key_sells_once(
    app, client, company, stocked, count_rows
):
    body = {"product_id": stocked.product, "warehouse_id": stocked.a, "quantity": 3}
    first = post(client, company, "sales", body, **{"Idempotency-Key": "sale-1"})
    second = post(client, company, "sales", body, **{"Idempotency-Key": "sale-1"})
    assert first.status_code == second.status_code == 201
    assert second.json == first.json
    assert level(app, stocked.product, stocked.a) == 7
    assert count_rows(LedgerEntry, LedgerEntry.reason == "sale") == 1


def test_same_idempotency_key_with_another_body_is_a_422_and_sells_nothing_more(
    app, client, company, stocked
):
    body = {"product_id": stocked.product, "warehouse_id": stocked.a, "quantity": 3}
    assert post(client, company, "sales", body, **{"Idempotency-Key": "k"}).status_code == 201
    body["quantity"] = 4
    assert_problem(post(client, company, "sales", body, **{"Idempotency-Key": "k"}), 422)
    assert level(app, stocked.product, stocked.a) == 7


def test_a_refused_sale_can_be_retried_with_its_key_once_stock_arrives(
    app, client, company, stocked
):
    body = {"product_id": stocked.product, "warehouse_id": stocked.a, "quantity": 12}
    assert post(client, company, "sales", body, **{"Idempotency-Key": "big"}).status_code == 409
    receipt = {"product_id": stocked.product, "warehouse_id": stocked.a, "quantity": 5}
    assert post(client, company, "receipts", receipt).status_code == 201
    assert post(client, company, "sales", body, **{"Idempotency-Key": "big"}).status_code == 201
    assert level(app, stocked.product, stocked.a) == 3


# -- reads ------------------------------------------------------------------------------


def test_product_stock_lists_each_warehouse_with_names_and_a_total(client, company, stocked):
    transfer = {
        "product_id": stocked.product,
        "from_warehouse_id": stocked.a,
        "to_warehouse_id": stocked.b,
        "quantity": 3,
    }
    post(client, company, "transfers", transfer)
    body = client.get(f"/api/products/{stocked.product}/stock", headers=company.headers).json
    assert body["total_quantity"] == 10
    assert body["warehouses"] == [
        {"warehouse_id": stocked.a, "warehouse_name": "A", "quantity": 7},
        {"warehouse_id": stocked.b, "warehouse_name": "B", "quantity": 3},
    ]


def test_warehouse_stock_lists_its_products(client, company, stocked, make_product):
    other = make_product(company, warehouse_id=stocked.a, initial_quantity=2)
    response = client.get(f"/api/warehouses/{stocked.a}/stock", headers=company.headers)
    assert response.status_code == 200
    assert [(i["product_id"], i["quantity"]) for i in response.json] == [
        (stocked.product, 10),
        (other["id"], 2),
    ]
    empty = client.get(f"/api/warehouses/{stocked.b}/stock", headers=company.headers)
    assert empty.json == []


def test_stock_reads_of_another_company_are_404s(client, other_company, stocked):
    for path in (f"/api/products/{stocked.product}/stock", f"/api/warehouses/{stocked.a}/stock"):
        assert_problem(client.get(path, headers=other_company.headers), 404)


@pytest.fixture
def history(client, company, stocked):
    """Seven operations on the stocked product, at known times."""
    base = {"product_id": stocked.product}
    for day, (path, extra) in enumerate(
        [
            ("sales", {"warehouse_id": stocked.a, "quantity": 1}),
            ("receipts", {"warehouse_id": stocked.b, "quantity": 5}),
            ("sales", {"warehouse_id": stocked.b, "quantity": 2}),
            ("returns", {"warehouse_id": stocked.a, "quantity": 1}),
            ("sales", {"warehouse_id": stocked.a, "quantity": 3}),
        ],
        start=1,
    ):
        occurred = f"2026-02-{day:02d}T12:00:00Z"
        response = post(client, company, path, {**base, **extra, "occurred_at": occurred})
        assert response.status_code == 201, response.json
    return stocked


def ledger(client, tenant, query=""):
    response = client.get(f"/api/stock/ledger{query}", headers=tenant.headers)
    assert response.status_code == 200, response.json
    return response.json


def test_ledger_is_newest_first_by_occurred_at(client, company, history):
    entries = ledger(client, company)["entries"]
    times = [(e["occurred_at"], e["id"]) for e in entries]
    assert times == sorted(times, reverse=True)
    assert len(entries) == 6  # 5 operations + the initial stock


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?reason=sale", 3),
        ("?reason=initial", 1),
        ("?since=2026-02-02T00:00:00Z&until=2026-02-04T00:00:00Z", 2),
        ("?since=2026-02-05T12:00:00Z", 2),  # the last sale, and the initial row (recorded now)
    ],
)
def test_ledger_filters(client, company, history, query, expected):
    assert len(ledger(client, company, query)["entries"]) == expected


def test_ledger_filters_by_product_and_warehouse(client, company, history, make_product):
    make_product(company, warehouse_id=history.b, initial_quantity=1)
    by_product = ledger(client, company, f"?product_id={history.product}")["entries"]
    assert {e["product_id"] for e in by_product} == {history.product}
    by_warehouse = ledger(client, company, f"?warehouse_id={history.b}")["entries"]
    assert {e["warehouse_id"] for e in by_warehouse} == {history.b}
    assert len(by_warehouse) == 3


def test_ledger_cursor_walks_every_row_once(client, company, history):
    everything = ledger(client, company)["entries"]
    seen, cursor = [], None
    while True:
        page = ledger(client, company, "?limit=2" + (f"&cursor={cursor}" if cursor else ""))
        assert len(page["entries"]) <= 2
        seen.extend(page["entries"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [e["id"] for e in seen] == [e["id"] for e in everything]


def test_ledger_cursor_keeps_its_place_when_rows_share_a_time(client, company, stocked):
    # five sales at the same instant: the id breaks the tie
    for _ in range(5):
        body = {
            "product_id": stocked.product,
            "warehouse_id": stocked.a,
            "quantity": 1,
            "occurred_at": "2026-02-01T00:00:00Z",
        }
        post(client, company, "sales", body)
    ids, cursor = [], None
    while True:
        page = ledger(
            client, company, "?reason=sale&limit=2" + (f"&cursor={cursor}" if cursor else "")
        )
        ids.extend(e["id"] for e in page["entries"])
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert ids == sorted(ids, reverse=True) and len(ids) == 5


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?cursor=not-a-cursor", "cursor"),
        ("?reason=theft", "reason"),
        ("?limit=0", "limit"),
        ("?limit=501", "limit"),
        ("?since=nope", "since"),
        ("?product_id=abc", "product_id"),
        ("?warehouse_id=0", "warehouse_id"),
    ],
)
def test_bad_ledger_query_is_a_400(client, company, query, field):
    assert_problem(client.get(f"/api/stock/ledger{query}", headers=company.headers), 400, field)


def test_ledger_never_shows_another_companys_rows(client, company, other_company, history):
    assert ledger(client, other_company)["entries"] == []
    assert ledger(client, other_company, f"?product_id={history.product}")["entries"] == []


def test_receipt_that_would_pass_the_largest_storable_level_is_a_409_and_writes_nothing(
    app, client, company, stocked, count_rows
):
    before = count_rows(LedgerEntry)
    body = {"product_id": stocked.product, "warehouse_id": stocked.a, "quantity": 2**31 - 1}
    problem = assert_problem(post(client, company, "receipts", body), 409)
    assert problem["type"].endswith("stock-limit")
    assert level(app, stocked.product, stocked.a) == 10
    assert count_rows(LedgerEntry) == before
