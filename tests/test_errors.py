"""The API's error shape, its documentation and its probes."""

import re

import jsonschema_rs
import pytest
import sqlalchemy as sa

from app import create_app
from app.extensions import db
from tests.helpers import assert_problem


def test_unknown_route_is_a_404_problem(client, company):
    assert_problem(client.get("/api/nothing-here", headers=company.headers), 404, slug="not-found")
    assert_problem(client.get("/nothing"), 404, slug="not-found")


def test_wrong_method_is_a_405_problem_with_allow(client, company):
    response = client.delete("/api/products", headers=company.headers)
    assert_problem(response, 405, slug="method-not-allowed")
    assert "POST" in response.headers["Allow"]


def test_unparseable_json_is_a_400_problem(client, company):
    for raw in ("{bad", '{"name": NaN}', '{"price": Infinity}', "[" * 100000):
        response = client.post(
            "/api/products",
            data=raw,
            headers={**company.headers, "Content-Type": "application/json"},
        )
        body = assert_problem(response, 400)
        assert body["errors"] == {"_body": ["Invalid JSON body."]}


def test_a_body_that_is_not_json_is_a_415_problem(client, company):
    response = client.post(
        "/api/products",
        data="name=x",
        headers={**company.headers, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_problem(response, 415, slug="unsupported-media-type")


def test_a_huge_body_is_a_413_problem(database_url, company):
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "MAX_CONTENT_LENGTH": 1000})
    response = app.test_client().post(
        "/api/products",
        data='{"name": "' + "x" * 2000 + '"}',
        headers={**company.headers, "Content-Type": "application/json"},
    )
    assert_problem(response, 413, slug="payload-too-large")
    with app.app_context():
        db.engine.dispose()


def test_an_unexpected_error_is_a_500_problem_without_internals(app, client, company, monkeypatch):
    from app.warehouses import queries

    def broken(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(queries, "get_warehouse", broken)
    response = client.get("/api/warehouses/1", headers=company.headers)
    body = assert_problem(response, 500, slug="internal-error")
    assert "secret" not in response.get_data(as_text=True)
    assert body["title"] == "Internal Server Error"


def test_an_over_long_url_is_a_414_problem_before_anything_else(client, company, count_rows):
    from app.api import MAX_URL_BYTES
    from app.models import Warehouse

    # an unknown query parameter is ignored, so only the length matters
    under = "/api/warehouses?pad=" + "x" * (MAX_URL_BYTES - len("/api/warehouses?pad="))
    assert len(under) == MAX_URL_BYTES
    assert client.get(under, headers=company.headers).status_code == 200
    for url in (under + "x", "/api/" + "p" * MAX_URL_BYTES, "/" + "p" * 20_000):
        # with or without a key, on a route or not: the length is checked first
        for headers in (company.headers, {}):
            response = client.get(url, headers=headers)
            assert_problem(response, 414, slug="uri-too-long")
            assert response.headers["X-Request-ID"]
    long_query = "/api/warehouses?pad=" + "x" * MAX_URL_BYTES
    response = client.post(long_query, json={"name": "W"}, headers=company.headers)
    assert_problem(response, 414, slug="uri-too-long")
    assert count_rows(Warehouse) == 0


def test_responses_say_nosniff(client):
    assert client.get("/health").headers["X-Content-Type-Options"] == "nosniff"


def test_health_is_up(client):
    assert client.get("/health").json == {"status": "ok"}


def test_ready_when_the_database_answers(client):
    assert client.get("/ready").status_code == 200


def test_ready_is_a_503_problem_when_the_database_is_unreachable():
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg2://nobody@127.0.0.1:1/none",
            "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"connect_timeout": 2}},
        }
    )
    response = app.test_client().get("/ready")
    body = assert_problem(response, 503)
    assert body["type"].endswith("database-unavailable")


def test_openapi_document_lists_every_route_and_the_ui_is_served(app, client):
    spec = client.get("/api/openapi.json")
    assert spec.status_code == 200
    paths = spec.json["paths"]
    for rule in app.url_map.iter_rules():
        # pages and files for browsers, and /metrics for Prometheus, are not API operations
        if rule.endpoint.startswith(
            ("api-docs", "static", "dashboard.", "swagger-ui.", "metrics.")
        ):
            continue
        documented = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        assert documented in paths, rule.rule
    assert spec.json["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
    docs = client.get("/api/docs")
    assert docs.status_code == 200
    # swagger-ui comes from this server, at the pinned version, never from a CDN
    html = docs.get_data(as_text=True)
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets and all(url.startswith("/swagger-ui/") for url in assets), assets
    for url in assets:
        with client.get(url) as asset:
            assert asset.status_code == 200 and len(asset.data) > 1000, url
            assert "immutable" in asset.headers["Cache-Control"]
    assert client.get(assets[0].rsplit("/", 1)[0] + "/LICENSE").status_code == 404


@pytest.mark.parametrize("path", ["/api/products/1", "/api/warehouses", "/api/api-keys"])
def test_every_api_route_needs_a_key(client, path):
    assert_problem(client.get(path), 401)


def test_a_request_that_fails_rolls_back_its_transaction(app, client, company, count_rows):
    # the duplicate's insert fails at flush; the session must be usable afterwards
    client.post(
        "/api/products", json={"name": "a", "sku": "s", "price": 1}, headers=company.headers
    )
    client.post(
        "/api/products", json={"name": "a", "sku": "s", "price": 1}, headers=company.headers
    )
    with app.app_context():
        assert db.session.scalar(sa.text("SELECT count(*) FROM products")) == 1


def test_a_request_that_finds_no_free_pooled_connection_is_a_503(database_url, company):
    """Every pooled connection busy past the pool timeout: 503, not a 500 or a hang."""
    busy_app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": database_url,
            "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 1, "max_overflow": 0, "pool_timeout": 0.2},
        }
    )
    with busy_app.app_context():
        held = db.engine.connect()  # the pool's only connection
        try:
            response = busy_app.test_client().get("/api/products", headers=company.headers)
        finally:
            held.close()
            db.engine.dispose()
    body = assert_problem(response, 503, slug="database-unavailable")
    assert response.headers["Retry-After"] == "1"
    assert "Traceback" not in str(body)


def _spec_schemas(client) -> dict:
    return client.get("/api/openapi.json").json["components"]["schemas"]


def test_the_members_409_problems_carry_are_documented(
    client, company, make_warehouse, make_product
):
    """A client generated from the document must accept every problem we send:
    each extension member is a documented property of the problem schema."""
    headers = company.headers
    warehouse = make_warehouse(company)["id"]
    product = make_product(company, warehouse_id=warehouse, initial_quantity=5)["id"]
    spare = make_product(company)["id"]
    bundle = make_product(company, is_bundle=True)["id"]
    components = [{"product_id": spare, "quantity": 1}]
    put = client.put(f"/api/products/{bundle}/components", json=components, headers=headers)
    assert put.status_code == 200, put.json
    supplier = client.post("/api/suppliers", json={"name": "S"}, headers=headers).json["id"]
    link = {"supplier_id": supplier}
    linked = client.post(f"/api/products/{product}/suppliers", json=link, headers=headers)
    assert linked.status_code == 201, linked.json
    at = {"product_id": product, "warehouse_id": warehouse}
    order = {"supplier_id": supplier, "warehouse_id": warehouse, "lines": [{**at, "quantity": 1}]}
    del order["lines"][0]["warehouse_id"]
    draft, ordered = (
        client.post("/api/purchase-orders", json=order, headers=headers).json["id"]
        for _ in range(2)
    )
    submitted = client.post(f"/api/purchase-orders/{ordered}/submit", headers=headers)
    assert submitted.status_code == 200, submitted.json
    receipt = {"lines": [{"product_id": product, "quantity": 2}]}
    provoked = {
        "over-receipt": client.post(
            f"/api/purchase-orders/{ordered}/receipts", json=receipt, headers=headers
        ),
        "purchase-order-not-ordered": client.post(
            f"/api/purchase-orders/{draft}/receipts", json=receipt, headers=headers
        ),
        "purchase-order-not-draft": client.patch(
            f"/api/purchase-orders/{ordered}", json={"notes": "x"}, headers=headers
        ),
        "insufficient-stock": client.post(
            "/api/stock/sales", json={**at, "quantity": 10}, headers=headers
        ),
        "stock-changed": client.post(
            "/api/stock/adjustments",
            json={**at, "quantity": 3, "expected_quantity": 4, "reason": "count"},
            headers=headers,
        ),
        "product-has-stock": client.delete(f"/api/products/{product}", headers=headers),
        "warehouse-has-stock": client.delete(f"/api/warehouses/{warehouse}", headers=headers),
        "product-in-bundle": client.delete(f"/api/products/{spare}", headers=headers),
        "duplicate-supplier-link": client.post(
            f"/api/products/{product}/suppliers", json=link, headers=headers
        ),
    }
    problem = _spec_schemas(client)["Problem"]
    validator = jsonschema_rs.validator_for(problem)
    assert problem.get("additionalProperties", True) is not False  # RFC 9457 extensions
    for slug, response in provoked.items():
        body = assert_problem(response, 409, slug=slug)
        assert set(body) - {"type", "title", "status", "detail"}, (slug, body)
        assert not set(body) - set(problem["properties"]), (slug, body)
        assert validator.is_valid(body), (slug, body)


MONEY_INPUTS = [
    ("ProductCreate", "price"),
    ("ProductUpdate", "price"),
    ("SupplierLinkCreate", "cost_price"),
    ("SupplierLinkUpdate", "cost_price"),
    ("Receipt", "unit_cost"),
]
MONEY_OUTPUTS = [
    ("Product", "price"),
    ("SupplierLink", "cost_price"),
    ("LedgerEntry", "unit_cost"),
    ("Alert", "cost_price"),
]
DOCUMENTED_MONEY = ["19.99", "0", "7.5", "9999999999.99", 19.99, 0, 7.5, 9999999999.99, 1e2]
UNDOCUMENTED_MONEY = ["19.999", "-1", "+1", ".5", "5.", "1e2", " 1", 19.999, -1, 1e10, True]


def test_amounts_are_documented_as_the_strings_and_numbers_the_api_accepts(client, company):
    schemas = _spec_schemas(client)
    for name, field_ in MONEY_OUTPUTS:
        assert schemas[name]["properties"][field_]["type"] == "string", name
    for name, field_ in MONEY_INPUTS:
        documented = schemas[name]["properties"][field_]
        assert sorted(b["type"] for b in documented["anyOf"]) == ["number", "string"], name
    price = jsonschema_rs.validator_for(schemas["ProductCreate"]["properties"]["price"])
    for n, amount in enumerate(DOCUMENTED_MONEY + UNDOCUMENTED_MONEY):
        body = {"name": "P", "sku": f"SKU-{n}", "price": amount}
        response = client.post("/api/products", json=body, headers=company.headers)
        assert response.status_code == (201 if price.is_valid(amount) else 400), (amount,)
        assert price.is_valid(amount) == (amount in DOCUMENTED_MONEY), amount
