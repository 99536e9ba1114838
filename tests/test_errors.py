"""The API's error shape, its documentation and its probes."""

import re

import pytest
import sqlalchemy as sa

from app import create_app
from app.extensions import db
from tests.helpers import assert_problem


def test_unknown_route_is_a_404_problem(client, company):
    assert_problem(client.get("/api/nothing-here", headers=company.headers), 404)
    assert_problem(client.get("/nothing"), 404)


def test_wrong_method_is_a_405_problem_with_allow(client, company):
    response = client.delete("/api/products", headers=company.headers)
    assert_problem(response, 405)
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
    assert_problem(response, 415)


def test_a_huge_body_is_a_413_problem(database_url, company):
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "MAX_CONTENT_LENGTH": 1000})
    response = app.test_client().post(
        "/api/products",
        data='{"name": "' + "x" * 2000 + '"}',
        headers={**company.headers, "Content-Type": "application/json"},
    )
    assert_problem(response, 413)
    with app.app_context():
        db.engine.dispose()


def test_an_unexpected_error_is_a_500_problem_without_internals(app, client, company, monkeypatch):
    from app.warehouses import queries

    def broken(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(queries, "get_warehouse", broken)
    response = client.get("/api/warehouses/1", headers=company.headers)
    body = assert_problem(response, 500)
    assert "secret" not in response.get_data(as_text=True)
    assert body["title"] == "Internal Server Error"


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
