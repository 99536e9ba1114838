"""POST /api/stock/batch: many stock operations in one transaction, all or nothing."""

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Inventory, LedgerEntry
from tests.helpers import assert_problem


@pytest.fixture
def setup(company, make_warehouse, make_product):
    a, b = make_warehouse(company, name="A")["id"], make_warehouse(company, name="B")["id"]
    p = make_product(company, warehouse_id=a, initial_quantity=10)["id"]
    q = make_product(company, warehouse_id=b, initial_quantity=5)["id"]
    return a, b, p, q


def batch(client, tenant, operations, **headers):
    return client.post(
        "/api/stock/batch", json={"operations": operations}, headers={**tenant.headers, **headers}
    )


def test_smoke(client, company, setup):
    a, b, p, q = setup
    r = batch(
        client,
        company,
        [
            {"type": "sale", "product_id": p, "warehouse_id": a, "quantity": 3},
            {"type": "transfer", "product_id": p, "from_warehouse_id": a, "to_warehouse_id": b, "quantity": 2},
            {"type": "receipt", "product_id": q, "warehouse_id": a, "quantity": 4, "reference": "x"},
            {"type": "adjustment", "product_id": q, "warehouse_id": b, "quantity": 1, "reason": "count"},
        ],
    )
    assert r.status_code == 201, r.json
    print(r.json)
