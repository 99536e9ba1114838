"""Security of every route: authentication, tenant isolation, API keys, production
config, response headers, the access log and CORS.

The route sweeps walk the app's real URL map, so a route added tomorrow without
authentication, or one that answers another company's key with data, fails here
without anyone remembering to list it; a route whose URL arguments or body this
module doesn't know fails loudly, asking for one.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import http.client
import json
import math
import os
import pathlib
import re
import secrets
import socket
import string
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field

import pytest
import sqlalchemy as sa

from app import create_app
from app.config import ConfigError
from app.extensions import db
from tests.conftest import ADMIN_TOKEN, ROOT, Tenant, build_app
from tests.helpers import assert_problem, free_port, stop_process

# Routes outside /api/ skip authentication (app.auth.authenticate), so each must be
# public on purpose; the OpenAPI document and its UI are public by design.
# the dashboard page and its files, the docs page's files, and /metrics (its own token)
PUBLIC_ENDPOINTS = {
    "health.health",
    "health.ready",
    "static",
    "dashboard.dashboard",
    "dashboard.static",
    "swagger-ui.asset",
    "metrics.metrics",
}
DOCS_ENDPOINTS = {"api-docs.openapi_json", "api-docs.openapi_swagger_ui"}
# the operator's routes: the admin token, never a company key
ADMIN_ROUTES = {("companies.Companies", "POST")}
WRITE_METHODS = {"POST", "PUT", "PATCH"}
# <converter(args):name> in a werkzeug rule
RULE_ARGUMENT = re.compile(r"<(?:(?P<converter>\w+)(?:\([^)]*\))?:)?(?P<name>\w+)>")
# converters whose argument names a row by id (another company's row must be a 404)
ID_CONVERTERS = {"id", "bigid", "int"}
URLSAFE = set(string.ascii_letters + string.digits + "-_")
FRESH_REQUEST_ID = re.compile(r"[0-9a-f]{32}")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# ---------------------------------------------------------------------------
# Company A's world: one real resource for every kind of URL argument
# ---------------------------------------------------------------------------


@dataclass
class World:
    """Company A with one of everything, company B, and A's keys in every state."""

    a: Tenant
    b: Tenant
    marker: str  # in every name, SKU, email, note and reference of A
    product_type: str  # A's own product type (a name in the URL, so a marker of its own)
    revoked_key: str
    ids: dict[str, int | str]  # URL argument name -> A's resource
    overrides: dict[tuple[str, str], int]  # (endpoint, argument) -> A's resource
    bodies: dict[tuple[str, str], object] = field(default_factory=dict)
    queries: dict[tuple[str, str], str] = field(default_factory=dict)

    @property
    def markers(self) -> list[str]:
        return [self.marker, self.product_type]


def post_ok(client, url, body, tenant, status=201):
    response = client.post(url, json=body, headers=tenant.headers)
    assert response.status_code == status, (url, response.json)
    return response.json


@pytest.fixture
def world(client, make_company) -> World:
    m = uuid.uuid4().hex[:12]
    a = make_company(f"Acme {m}")
    b = make_company("Globex")
    ptype = f"t{uuid.uuid4().hex[:12]}"

    wh = post_ok(client, "/api/warehouses", {"name": f"Main {m}", "location": m}, a)["id"]
    wh2 = post_ok(client, "/api/warehouses", {"name": f"Second {m}"}, a)["id"]
    product = post_ok(
        client,
        "/api/products",
        {
            "name": f"Widget {m}",
            "sku": f"SKU-{m}",
            "price": "19.99",
            "product_type": ptype,
            "warehouse_id": wh,
            "initial_quantity": 10,
        },
        a,
    )["id"]
    bundle = post_ok(
        client,
        "/api/products",
        {"name": f"Bundle {m}", "sku": f"BND-{m}", "price": "29.99", "is_bundle": True},
        a,
    )["id"]
    response = client.put(
        f"/api/products/{bundle}/components",
        "/api/purchase-orders",
        json=[{"product_id": product, "quantity": 1}],
        headers=a.headers,
    )
    assert response.status_code == 200, response.json
    supplier = post_ok(
        client,
        "/api/suppliers",
        {"name": f"Supplier {m}", "contact_email": f"{m}@supplier.example", "notes": m},
        a,
    )["id"]
    spare_supplier = post_ok(client, "/api/suppliers", {"name": f"Spare {m}"}, a)["id"]
    post_ok(
        client,
        f"/api/products/{product}/suppliers",
        {
            "supplier_id": supplier,
            "supplier_sku": f"S-{m}",
            "cost_price": "4.20",
            "lead_time_days": 7,
            "is_preferred": True,
        },
        a,
    )
    response = client.put(
        f"/api/products/{product}/reorder-rules/{wh}",
        json={"threshold": 50, "reorder_quantity": 25},
        headers=a.headers,
    )
    assert response.status_code in (200, 201), response.json
    response = client.put(
        f"/api/product-types/{ptype}", json={"low_stock_threshold": 4}, headers=a.headers
    )
    assert response.status_code in (200, 201), response.json
    stock_op = {
        "product_id": product,
        "warehouse_id": wh,
        "quantity": 5,
        "reference": f"PO-{m}",
        "note": m,
    }
    post_ok(client, "/api/stock/receipts", stock_op, a)
    post_ok(client, "/api/stock/sales", {**stock_op, "quantity": 1}, a)

    revoked = post_ok(client, "/api/api-keys", {"name": f"revoked {m}"}, a)
    response = client.delete(f"/api/api-keys/{revoked['id']}", headers=a.headers)
    assert response.status_code == 204
    spare_key = post_ok(client, "/api/api-keys", {"name": f"spare {m}"}, a)["id"]

    order_body = {
        "supplier_id": supplier,
        "warehouse_id": wh,
        "lines": [{"product_id": product, "quantity": 100}],
        "reference": f"PO-{m}",
        "notes": m,
    }
    orders = {
        name: post_ok(client, "/api/purchase-orders", order_body, a)["id"]
        for name in ("item", "cancel", "submit", "receive")
    }
    post_ok(client, f"/api/purchase-orders/{orders['receive']}/submit", None, a, status=200)

    webhook = post_ok(
        client,
        "/api/webhooks",
        {"url": f"https://{m}.example/hook", "events": ["stock.low"], "description": m},
        a,
    )["id"]
    delivery = post_ok(client, f"/api/webhooks/{webhook}/test", None, a, status=202)
    delivery = delivery["delivery_id"]
    acknowledgement = post_ok(
        client,
        f"/api/companies/{a.id}/alerts/low-stock/acknowledgements",
        # of the row in the second warehouse: the alert in Main stays visible
        {"product_id": product, "warehouse_id": wh2, "note": m},
        a,
    )["id"]

    operation = {"product_id": product, "warehouse_id": wh, "quantity": 1}
    return World(
        a=a,
        b=b,
        marker=m,
        product_type=ptype,
        revoked_key=revoked["api_key"],
        ids={
            "company_id": a.id,
            "key_id": spare_key,
            "product_id": product,
            "warehouse_id": wh,
            "supplier_id": supplier,
            "product_type": ptype,
            "purchase_order_id": orders["item"],
            "webhook_id": webhook,
            "delivery_id": delivery,
            "acknowledgement_id": acknowledgement,
        },
        overrides={
            ("bundles.Components", "product_id"): bundle,
            ("purchasing.cancel", "purchase_order_id"): orders["cancel"],
            ("purchasing.submit", "purchase_order_id"): orders["submit"],
            ("purchasing.receipts", "purchase_order_id"): orders["receive"],
        },
        # plausible bodies: the owner's key gets a 2xx for each (see the control sweep),
        # so B's 404 can't be a validation error in disguise
        bodies={
            ("companies.Companies", "POST"): {"name": "Hijack Inc"},
            ("companies.ApiKeys", "POST"): {"name": "sweep"},
            ("warehouses.Warehouses", "POST"): {"name": "Sweep warehouse"},
            ("warehouses.WarehouseItem", "PATCH"): {"name": "Hijacked", "location": "x"},
            ("suppliers.Suppliers", "POST"): {"name": "Sweep supplier"},
            ("suppliers.SupplierItem", "PATCH"): {"name": "Hijacked"},
            ("products.Products", "POST"): {
                "name": "Sweep",
                "sku": "SWEEP-1",
                "price": "1.00",
                "warehouse_id": wh,
                "initial_quantity": 5,
            },
            ("products.ProductItem", "PATCH"): {"name": "Hijacked", "price": "0.01"},
            ("bundles.Components", "PUT"): [{"product_id": product, "quantity": 3}],
            ("suppliers.ProductSuppliers", "POST"): {
                "supplier_id": spare_supplier,
                "lead_time_days": 1,
            },
            ("suppliers.ProductSupplierItem", "PATCH"): {"lead_time_days": 99},
            ("thresholds.ProductTypeItem", "PUT"): {"low_stock_threshold": 99},
            ("thresholds.ReorderRuleItem", "PUT"): {"threshold": 99, "reorder_quantity": 7},
            ("stock.receipts", "POST"): operation,
            ("stock.sales", "POST"): operation,
            ("stock.returns", "POST"): operation,
            ("stock.transfers", "POST"): {
                "product_id": product,
                "from_warehouse_id": wh,
                "to_warehouse_id": wh2,
                "quantity": 1,
            },
            ("purchasing.PurchaseOrders", "POST"): order_body,
            ("purchasing.PurchaseOrderItem", "PATCH"): {"notes": "Hijacked"},
            ("purchasing.cancel", "POST"): {},
            ("purchasing.submit", "POST"): {},
            ("purchasing.receipts", "POST"): {"lines": [{"product_id": product, "quantity": 1}]},
            ("purchasing.from_alerts", "POST"): {"warehouse_id": wh},
            ("alerts.Acknowledgements", "POST"): {"product_id": product, "warehouse_id": wh2},
            ("stock.adjustments", "POST"): {
                "product_id": product,
                "warehouse_id": wh,
                "delta": -1,
                "reason": "sweep",
            },
            ("stock.post_batch", "POST"): {
                "operations": [{"type": "sale", **operation}, {"type": "return", **operation}]
            },
            ("webhooks.Webhooks", "POST"): {
                "url": "https://sweep.example/hook",
                "events": ["stock.out"],
            },
            ("webhooks.WebhookItem", "PATCH"): {"description": "Hijacked"},
            ("webhooks.rotate_secret", "POST"): {},
            ("webhooks.send_test", "POST"): {},
            ("webhooks.redeliver", "POST"): {},
            ("products.import_products", "POST"): {
                "products": [
                    {
                        "name": "Sweep",
                        "sku": "SWEEP-IMPORT",
                        "price": "1.00",
                        "warehouse_id": wh,
                        "initial_quantity": 5,
                    }
                ]
            },
        },
        queries={("stock.Ledger", "GET"): f"?product_id={product}&warehouse_id={wh}"},
    )


# ---------------------------------------------------------------------------
# The URL map, and a request for each of its routes
# ---------------------------------------------------------------------------


def rule_arguments(rule) -> list[tuple[str, str]]:
    """(converter, name) of each argument of a rule, in URL order."""
    found = [(m["converter"] or "default", m["name"]) for m in RULE_ARGUMENT.finditer(rule.rule)]
    assert {name for _, name in found} == set(rule.arguments), rule.rule
    return found


def api_routes(app) -> list[tuple[object, str]]:
    """(rule, method) for every credentialed route of the URL map."""
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in DOCS_ENDPOINTS or not rule.rule.startswith("/api/"):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            routes.append((rule, method))
    assert len(routes) >= 30, "the URL map looks empty; the sweep would prove nothing"
    return sorted(routes, key=lambda route: (route[0].rule, route[1]))


def names_a_resource(rule) -> bool:
    return any(converter in ID_CONVERTERS for converter, _ in rule_arguments(rule))


@dataclass
class RouteRequest:
    rule: object
    method: str
    url: str
    body: object

    def __str__(self) -> str:
        return f"{self.method} {self.url} ({self.rule.rule})"

    def send(self, client, headers=None):
        kwargs = {"json": self.body} if self.body is not None else {}
        return client.open(self.url, method=self.method, headers=headers or {}, **kwargs)


def route_request(world: World, rule, method: str) -> RouteRequest:
    """The request for a route, every URL argument one of company A's real resources."""
    path = rule.rule
    for _, name in rule_arguments(rule):
        value = world.overrides.get((rule.endpoint, name), world.ids.get(name))
        if value is None:
            pytest.fail(
                f"{rule.rule}: company A has no resource for <{name}>; create one in the "
                "`world` fixture and add it to World.ids (or World.overrides)"
            )
        path = RULE_ARGUMENT.sub(
            lambda m, name=name, value=value: str(value) if m["name"] == name else m[0], path
        )
    body = world.bodies.get((rule.endpoint, method))
    if method in WRITE_METHODS and body is None:
        pytest.fail(
            f"{method} {rule.rule} ({rule.endpoint}): no plausible body for it; add one to "
            "World.bodies, so a validation error can't stand in for the authorization check"
        )
    return RouteRequest(rule, method, path + world.queries.get((rule.endpoint, method), ""), body)


def assert_unauthorized(response, request: RouteRequest, world: World):
    assert response.status_code == 401, (str(request), response.status_code, response.json)
    assert_problem(response, 401, slug="unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer"), str(request)
    assert_no_data_of_a(response, request, world)


def assert_no_data_of_a(response, request: RouteRequest, world: World):
    """Nothing of company A's in the response (beyond what the URL itself said)."""
    text = response.get_data(as_text=True)
    for marker in world.markers:
        if marker not in request.url:
            assert marker not in text, f"{request} leaked company A's data: {text[:500]}"


def snapshot_of_a(client, world: World) -> dict:
    """Everything company A can read about itself."""
    product, wh = world.ids["product_id"], world.ids["warehouse_id"]
    bundle = world.overrides[("bundles.Components", "product_id")]
    urls = [
        f"/api/companies/{world.a.id}",
        "/api/api-keys",
        "/api/warehouses",
        f"/api/warehouses/{wh}/stock",
        "/api/suppliers",
        "/api/products",
        f"/api/products/{product}/stock",
        f"/api/products/{product}/suppliers",
        f"/api/products/{product}/reorder-rules",
        f"/api/products/{bundle}/components",
        "/api/product-types",
        "/api/stock/ledger?limit=500",
        f"/api/companies/{world.a.id}/alerts/low-stock",
        "/api/webhooks",
        f"/api/webhooks/{world.ids['webhook_id']}/deliveries",
        "/api/events",
    ]
    state = {}
    for url in urls:
        response = client.get(url, headers=world.a.headers)
        assert response.status_code == 200, (url, response.json)
        state[url] = response.json
    assert state["/api/stock/ledger?limit=500"]["entries"], "A's ledger should not be empty"
    assert state[f"/api/companies/{world.a.id}/alerts/low-stock"]["alerts"]
    return state


# ---------------------------------------------------------------------------
# 1. Every route: no key, a bad key, another company's key
# ---------------------------------------------------------------------------


def test_every_route_outside_api_is_a_deliberately_public_one(app):
    # app.auth.authenticate guards /api/ only, so anything else must be on this list
    rules = list(app.url_map.iter_rules())
    outside = {rule.endpoint for rule in rules if not rule.rule.startswith("/api/")}
    assert outside <= PUBLIC_ENDPOINTS, f"unauthenticated routes outside /api/: {outside}"
    docs = {rule.endpoint: rule for rule in rules if rule.endpoint.startswith("api-docs.")}
    assert set(docs) == DOCS_ENDPOINTS
    for rule in docs.values():
        assert rule.methods - {"HEAD", "OPTIONS"} == {"GET"}, rule.rule


def test_the_admin_only_routes_are_exactly_the_known_ones(app):
    # a route newly marked admin_only must be added to ADMIN_ROUTES on purpose
    marked = set()
    for rule, method in api_routes(app):
        view = app.view_functions[rule.endpoint]
        view = getattr(getattr(view, "view_class", None), method.lower(), view)
        if getattr(view, "admin_only", False):
            marked.add((rule.endpoint, method))
    assert marked == ADMIN_ROUTES


def test_the_public_probes_and_api_docs_answer_without_a_key(client):
    for url in ("/health", "/ready", "/api/openapi.json", "/api/docs"):
        assert client.get(url).status_code == 200, url


@pytest.mark.parametrize(
    "credentials", ["no key", "revoked key", "tampered key", "admin token", "basic auth"]
)
def test_every_api_route_refuses_a_request_without_a_valid_company_key(
    app, client, world, credentials
):
    a_key = world.a.api_key
    headers = {
        "no key": {},
        "revoked key": bearer(world.revoked_key),
        "tampered key": bearer(a_key[:-1] + ("A" if a_key[-1] != "A" else "B")),
        "admin token": bearer(ADMIN_TOKEN),
        "basic auth": {"Authorization": f"Basic {a_key}"},
    }[credentials]
    before = snapshot_of_a(client, world)
    checked = 0
    for rule, method in api_routes(app):
        if credentials == "admin token" and (rule.endpoint, method) in ADMIN_ROUTES:
            continue  # the one place the admin token is the right credential
        request = route_request(world, rule, method)
        assert_unauthorized(request.send(client, headers), request, world)
        checked += 1
    assert checked >= 30
    assert snapshot_of_a(client, world) == before


def test_a_company_key_never_opens_an_admin_route(app, client, world):
    for rule, method in api_routes(app):
        if (rule.endpoint, method) not in ADMIN_ROUTES:
            continue
        request = route_request(world, rule, method)
        for tenant in (world.a, world.b):
            assert_unauthorized(request.send(client, tenant.headers), request, world)


def test_another_companys_key_gets_404_for_every_route_naming_a_resource_and_never_data(
    app, client, world
):
    """B's key on every route of the URL map, each URL naming A's real resources.

    A route with an id in its path is a 404, exactly like a missing row. A route
    without one (a list, a create, a stock operation, a product type's name, which
    is a per-company namespace) may answer B about B, but never with A's data, and a
    body naming A's rows is a 400 naming those fields. Afterwards A's world is
    unchanged, and the owner's key gets a 2xx for the very same requests, so none of
    B's refusals was a validation error in disguise.
    """
    before = snapshot_of_a(client, world)
    requests = [route_request(world, rule, method) for rule, method in api_routes(app)]
    seen_404 = 0
    for request in requests:
        response = request.send(client, world.b.headers)
        key = (request.rule.endpoint, request.method)
        if key in ADMIN_ROUTES:
            assert_unauthorized(response, request, world)
            continue
        assert response.status_code < 500, (str(request), response.json)
        assert_no_data_of_a(response, request, world)
        if names_a_resource(request.rule):
            assert response.status_code == 404, (str(request), response.status_code)
            assert_problem(response, 404, slug="not-found")
            seen_404 += 1
            continue
        names_of_a = a_ids_in_body(request.body)
        if names_of_a:
            # a body naming A's rows: a 400 naming exactly (some of) those fields
            body = assert_problem(response, 400, slug="validation-error")
            assert body["errors"] and set(body["errors"]) <= names_of_a, (str(request), body)
        elif request.method == "GET":
            assert response.status_code == 200, (str(request), response.status_code)
        else:
            # B acting on B: allowed, as long as A is untouched (checked below)
            assert response.status_code in (200, 201, 204, 404), (str(request), response.json)
    assert seen_404 >= 20
    assert snapshot_of_a(client, world) == before, "company B's key changed company A's rows"

    control_with_the_owners_key(client, world, requests)


def a_ids_in_body(body, prefix: str = "") -> set[str]:
    """The body's fields that name one of company A's rows by id (dotted paths for the
    items of a batch or an import: ``operations.0.product_id``)."""
    id_fields = {
        "product_id",
        "warehouse_id",
        "from_warehouse_id",
        "to_warehouse_id",
        "supplier_id",
    }
    if isinstance(body, list) and prefix:
        return {p for i, item in enumerate(body) for p in a_ids_in_body(item, f"{prefix}{i}.")}
    if not isinstance(body, dict):
        return set()
    found = {prefix + name for name in body if name in id_fields}
    for name, value in body.items():
        if isinstance(value, list):
            found |= a_ids_in_body(value, f"{prefix}{name}.")
    return found


def control_with_the_owners_key(client, world: World, requests: list[RouteRequest]):
    """The same requests with A's key (the admin token on admin routes) succeed."""
    deletes = []
    for request in requests:
        if request.method == "DELETE":
            deletes.append(request)
            continue
        admin = (request.rule.endpoint, request.method) in ADMIN_ROUTES
        headers = bearer(ADMIN_TOKEN) if admin else world.a.headers
        response = request.send(client, headers)
        assert 200 <= response.status_code < 300, (str(request), response.json)
    # nested rows first, so a parent's archive doesn't hide them; a delete may be
    # refused for a business reason (stock on hand), never as "not found"
    for request in sorted(deletes, key=lambda r: -r.url.count("/")):
        response = request.send(client, world.a.headers)
        assert response.status_code in (204, 409), (str(request), response.json)


# ---------------------------------------------------------------------------
# 2. API keys
# ---------------------------------------------------------------------------

KEY_SHAPE = re.compile(r"sf_(?P<prefix>[0-9a-f]{12})_(?P<secret>[A-Za-z0-9_-]+)")


def split_key(plaintext: str) -> tuple[str, str]:
    match = KEY_SHAPE.fullmatch(plaintext)
    assert match, plaintext
    return match["prefix"], match["secret"]


def test_api_keys_carry_at_least_256_random_bits(client, company):
    keys = [company.api_key]
    for number in range(7):
        keys.append(post_ok(client, "/api/api-keys", {"name": f"k{number}"}, company)["api_key"])
    secrets_ = []
    for plaintext in keys:
        _, secret = split_key(plaintext)
        assert len(secret) >= 43 and set(secret) <= URLSAFE  # 43 x 6 bits >= 256
        secrets_.append(secret)
    assert len(set(secrets_)) == len(secrets_)
    assert len({split_key(k)[0] for k in keys}) == len(keys)
    # the characters look uniformly random over the url-safe alphabet, not a pattern
    counts = collections.Counter("".join(secrets_))
    total = sum(counts.values())
    entropy = -sum(n / total * math.log2(n / total) for n in counts.values())
    assert entropy > 5.0, entropy
    assert len(counts) > 40


def test_an_api_key_is_shown_once_and_stored_only_as_a_hash(app, client, company):
    created = post_ok(client, "/api/api-keys", {"name": "ci"}, company)
    assert set(created) == {"id", "name", "prefix", "created_at", "revoked_at", "api_key"}
    prefix, secret = split_key(created["api_key"])
    assert created["prefix"] == prefix

    listed = client.get("/api/api-keys", headers=company.headers)
    assert listed.status_code == 200
    assert {row["id"] for row in listed.json} >= {created["id"]}
    for row in listed.json:
        assert set(row) == {"id", "name", "prefix", "created_at", "revoked_at"}
    text = listed.get_data(as_text=True)
    plaintexts = {created["api_key"]: secret, company.api_key: split_key(company.api_key)[1]}
    for plaintext, key_secret in plaintexts.items():
        assert key_secret not in text and hashlib.sha256(plaintext.encode()).hexdigest() not in text

    with app.app_context():
        rows = db.session.execute(sa.text("SELECT * FROM api_keys")).mappings().all()
    assert len(rows) == 2
    for row in rows:
        stored = " ".join(str(value) for value in row.values())
        for plaintext, key_secret in plaintexts.items():
            assert key_secret not in stored and plaintext not in stored
    by_prefix = {row["prefix"]: row["key_hash"] for row in rows}
    for plaintext in plaintexts:
        expected = hashlib.sha256(plaintext.encode()).hexdigest()
        assert by_prefix[split_key(plaintext)[0]] == expected


def test_a_revoked_key_is_refused_on_the_very_next_request(client, company):
    second = post_ok(client, "/api/api-keys", {"name": "second"}, company)
    third = post_ok(client, "/api/api-keys", {"name": "third"}, company)
    assert client.get("/api/products", headers=bearer(second["api_key"])).status_code == 200

    response = client.delete(f"/api/api-keys/{second['id']}", headers=company.headers)
    assert response.status_code == 204
    response = client.get("/api/products", headers=bearer(second["api_key"]))
    assert_problem(response, 401, slug="unauthorized")

    # a key may revoke itself; it is dead from the next request on
    response = client.delete(f"/api/api-keys/{third['id']}", headers=bearer(third["api_key"]))
    assert response.status_code == 204
    response = client.get("/api/products", headers=bearer(third["api_key"]))
    assert_problem(response, 401, slug="unauthorized")

    listed = {row["id"]: row for row in client.get("/api/api-keys", headers=company.headers).json}
    assert listed[second["id"]]["revoked_at"] and listed[third["id"]]["revoked_at"]
    assert client.get("/api/products", headers=company.headers).status_code == 200


@pytest.mark.parametrize(
    "query, etag, path_of, before",
    [
        ("", True, "own", 304),
        ("", False, "own", 200),
        ("?format=csv", False, "own", 200),
        ("?format=xml", False, "own", 400),
        ("", False, "other", 404),
    ],
    ids=["poll", "page", "csv", "bad-query", "other-company"],
)
def test_a_revoked_key_is_refused_by_the_alert_view_that_confirms_keys_in_its_statement(
    client, company, other_company, query, etag, path_of, before
):
    # the alerts view skips the key lookup for a key this process authenticated lately
    # and confirms it in its version statement (app.auth.confirms_key); whatever it
    # answers, a revoked key gets a 401 on the next request
    key = post_ok(client, "/api/api-keys", {"name": "poller"}, company)
    alerts = f"/api/companies/{company.id}/alerts/low-stock"
    first = client.get(alerts, headers=bearer(key["api_key"]))
    assert first.status_code == 200
    headers = bearer(key["api_key"]) | ({"If-None-Match": first.headers["ETag"]} if etag else {})
    tenant = company if path_of == "own" else other_company
    path = f"/api/companies/{tenant.id}/alerts/low-stock{query}"
    assert client.get(path, headers=headers).status_code == before

    response = client.delete(f"/api/api-keys/{key['id']}", headers=company.headers)
    assert response.status_code == 204
    assert_problem(client.get(path, headers=headers), 401, slug="unauthorized")
    # and from then on
    assert_problem(client.get(alerts, headers=bearer(key["api_key"])), 401, slug="unauthorized")
    assert client.get(alerts, headers=company.headers).status_code == 200


@pytest.mark.parametrize(
    "case", ["sale", "sale-past-the-stock", "replay", "bad-body", "other-company-product"]
)
def test_a_revoked_key_sells_nothing_though_the_sale_confirms_keys_in_its_statement(
    app, client, company, other_company, make_warehouse, make_product, case
):
    # a sale skips the key lookup for a key this process authenticated lately: its one
    # statement writes only if the key is unrevoked (app.stock.fast), and every other
    # answer looks the key up first
    warehouse = make_warehouse(company)["id"]
    product = make_product(company, initial_stock=[{"warehouse_id": warehouse, "quantity": 50}])
    key = post_ok(client, "/api/api-keys", {"name": "till"}, company)
    till = bearer(key["api_key"]) | {"Idempotency-Key": f"sale-{case}"}
    sale = {"product_id": product["id"], "warehouse_id": warehouse, "quantity": 1}
    assert client.post("/api/stock/sales", json=sale, headers=till).status_code == 201
    if case != "replay":
        till["Idempotency-Key"] = "another"
    body = {
        "sale": sale,
        "sale-past-the-stock": sale | {"quantity": 1000},
        "replay": sale,
        "bad-body": sale | {"quantity": -1},
        "other-company-product": sale | {"product_id": make_product(other_company)["id"]},
    }[case]

    response = client.delete(f"/api/api-keys/{key['id']}", headers=company.headers)
    assert response.status_code == 204
    assert_problem(client.post("/api/stock/sales", json=body, headers=till), 401)
    with app.app_context():
        rows = db.session.scalar(
            sa.text("SELECT count(*) FROM inventory_ledger WHERE company_id = :c"),
            {"c": company.id},
        )
    assert rows == 2  # the opening stock and the one sale before the revocation
    stock = client.get(f"/api/products/{product['id']}/stock", headers=company.headers).json
    assert [level["quantity"] for level in stock["warehouses"]] == [49]


@pytest.mark.parametrize(
    "case",
    ["create", "create-idempotent", "opening-stock", "replay", "bad-body", "duplicate-sku"],
)
def test_a_revoked_key_creates_nothing_though_the_create_confirms_keys_in_its_statement(
    app, client, company, make_warehouse, case
):
    # a product create skips the key lookup for a key this process authenticated
    # lately: its one statement inserts only if the key is unrevoked
    # (app.products.service), and every other answer looks the key up first
    warehouse = make_warehouse(company)["id"]
    key = post_ok(client, "/api/api-keys", {"name": "sync"}, company)
    sync = bearer(key["api_key"])
    if case in ("create-idempotent", "replay", "opening-stock"):
        sync |= {"Idempotency-Key": f"create-{case}"}
    first = {"sku": "SYNC-1", "name": "Synced", "price": "1.50"}
    assert client.post("/api/products", json=first, headers=sync).status_code == 201
    if case != "replay":
        sync = sync | ({"Idempotency-Key": "another"} if "Idempotency-Key" in sync else {})
    body = {
        "create": {**first, "sku": "SYNC-2"},
        "create-idempotent": {**first, "sku": "SYNC-2"},
        "opening-stock": {
            **first,
            "sku": "SYNC-2",
            "initial_stock": [{"warehouse_id": warehouse, "quantity": 5}],
        },
        "replay": first,
        "bad-body": {**first, "sku": "SYNC-2", "price": "-1"},
        "duplicate-sku": first,
    }[case]

    response = client.delete(f"/api/api-keys/{key['id']}", headers=company.headers)
    assert response.status_code == 204
    assert_problem(client.post("/api/products", json=body, headers=sync), 401)
    with app.app_context():
        skus = db.session.scalars(
            sa.text("SELECT sku FROM products WHERE company_id = :c"), {"c": company.id}
        ).all()
        ledger = db.session.scalar(
            sa.text("SELECT count(*) FROM inventory_ledger WHERE company_id = :c"),
            {"c": company.id},
        )
    assert skus == ["SYNC-1"] and ledger == 0


def test_a_key_is_only_valid_whole(client, company, other_company):
    prefix, secret = split_key(company.api_key)
    other_prefix, other_secret = split_key(other_company.api_key)
    for forged in (
        f"sf_{prefix}_{secret[:-1]}",
        f"sf_{prefix}_{secret}x",
        f"sf_{prefix}_{other_secret}",
        f"sf_{other_prefix}_{secret}",
        f"sf_{prefix}",
        f"xx_{prefix}_{secret}",
        prefix,
        secret,
    ):
        response = client.get("/api/warehouses", headers=bearer(forged))
        assert_problem(response, 401, slug="unauthorized")
    # the scheme is case-insensitive (RFC 7235); the key is not
    assert (
        client.get(
            "/api/warehouses", headers={"Authorization": f"bearer {company.api_key}"}
        ).status_code
        == 200
    )
    response = client.get("/api/warehouses", headers=bearer(company.api_key.upper()))
    assert_problem(response, 401, slug="unauthorized")


# ---------------------------------------------------------------------------
# 3. Production refuses to start without a strong admin token
# ---------------------------------------------------------------------------

POSTGRES_URL = "postgresql+psycopg2://stockflow@127.0.0.1:1/stockflow"  # never connected to


@pytest.fixture
def make_app(database_url):
    """Build apps with other settings on the suite's database; dispose them afterwards."""
    built = []

    def make(**overrides):
        application = build_app(database_url, STOCKFLOW_ENV="development", **overrides)
        built.append(application)
        return application

    yield make
    for application in built:
        with application.app_context():
            db.engine.dispose()


@pytest.mark.parametrize(
    "token", [None, "", "short", "x" * 23], ids=["unset", "empty", "short", "23-chars"]
)
def test_production_refuses_to_start_without_a_long_admin_token(token):
    with pytest.raises(ConfigError, match="STOCKFLOW_ADMIN_TOKEN"):
        create_app(
            {
                "STOCKFLOW_ENV": "production",
                "STOCKFLOW_ADMIN_TOKEN": token,
                "STOCKFLOW_WEBHOOK_KEY": secrets.token_urlsafe(48),
                "SQLALCHEMY_DATABASE_URI": POSTGRES_URL,
            }
        )


def test_production_refuses_to_start_on_sqlite(tmp_path):
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        create_app(
            {
                "STOCKFLOW_ENV": "production",
                "STOCKFLOW_ADMIN_TOKEN": secrets.token_urlsafe(32),
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'prod.sqlite3'}",
            }
        )


@pytest.mark.parametrize("key", [None, "x" * 31], ids=["unset", "31-chars"])
def test_production_refuses_to_start_without_a_long_webhook_key(key):
    with pytest.raises(ConfigError, match="STOCKFLOW_WEBHOOK_KEY"):
        create_app(
            {
                "STOCKFLOW_ENV": "production",
                "STOCKFLOW_ADMIN_TOKEN": secrets.token_urlsafe(32),
                "STOCKFLOW_WEBHOOK_KEY": key,
                "SQLALCHEMY_DATABASE_URI": POSTGRES_URL,
            }
        )


def test_production_starts_with_a_long_admin_token_on_postgresql():
    application = create_app(
        {
            "STOCKFLOW_ENV": "production",
            "STOCKFLOW_ADMIN_TOKEN": secrets.token_urlsafe(32),
            "STOCKFLOW_WEBHOOK_KEY": secrets.token_urlsafe(48),
            "SQLALCHEMY_DATABASE_URI": POSTGRES_URL,
        }
    )
    assert application.config["STOCKFLOW_ENV"] == "production"
    # nothing that needs the database: the probe of the process
    assert application.test_client().get("/health").status_code == 200
    with application.app_context():
        db.engine.dispose()


def test_development_without_an_admin_token_starts_but_refuses_company_creation(make_app):
    application = make_app(STOCKFLOW_ADMIN_TOKEN=None)
    client = application.test_client()
    for headers in ({}, bearer(ADMIN_TOKEN), bearer("")):
        response = client.post("/api/companies", json={"name": "Acme"}, headers=headers)
        assert_problem(response, 403, slug="admin-disabled")


def wsgi_env(**changes) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STOCKFLOW_", "GUNICORN_"))}
    env.pop("DATABASE_URL", None)
    env.update(changes)
    return env


def test_the_wsgi_module_exits_non_zero_in_production_without_an_admin_token():
    def import_wsgi(env):
        return subprocess.run(
            [sys.executable, "-c", "import wsgi"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    env = wsgi_env(
        STOCKFLOW_ENV="production",
        DATABASE_URL=POSTGRES_URL,
        STOCKFLOW_WEBHOOK_KEY=secrets.token_urlsafe(48),
    )
    result = import_wsgi(env)
    assert result.returncode != 0
    assert "ConfigError" in result.stderr and "STOCKFLOW_ADMIN_TOKEN" in result.stderr
    # the control: the same environment with a strong token imports fine
    env["STOCKFLOW_ADMIN_TOKEN"] = secrets.token_urlsafe(32)
    result = import_wsgi(env)
    assert result.returncode == 0, result.stderr


def gunicorn_command() -> list[str]:
    script = pathlib.Path(sys.executable).parent / "gunicorn"
    base = [str(script)] if script.exists() else [sys.executable, "-m", "gunicorn"]
    return [*base, "-c", "gunicorn.conf.py", "wsgi:app"]


def test_gunicorn_refuses_to_boot_in_production_without_an_admin_token(tmp_path):
    env = wsgi_env(
        STOCKFLOW_ENV="production",
        DATABASE_URL=POSTGRES_URL,
        STOCKFLOW_WEBHOOK_KEY=secrets.token_urlsafe(48),
        GUNICORN_BIND=f"127.0.0.1:{free_port()}",
        GUNICORN_WORKERS="1",
    )
    with open(tmp_path / "gunicorn.log", "wb") as log:
        process = subprocess.Popen(
            gunicorn_command(), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            returncode = process.wait(timeout=60)
        finally:
            stop_process(process)
    output = (tmp_path / "gunicorn.log").read_text(errors="replace")
    assert returncode != 0, output
    assert "STOCKFLOW_ADMIN_TOKEN" in output


# ---------------------------------------------------------------------------
# 4. Headers on every response, the request id, gunicorn and its access log
# ---------------------------------------------------------------------------


def test_every_kind_of_response_says_nosniff_and_carries_a_request_id(app, client, company):
    limit = app.config["MAX_CONTENT_LENGTH"]
    responses = {
        200: client.get("/api/products", headers=company.headers),
        201: client.post("/api/warehouses", json={"name": "W"}, headers=company.headers),
        400: client.post("/api/warehouses", json={"name": ""}, headers=company.headers),
        401: client.get("/api/products"),
        404: client.get("/api/products/999999", headers=company.headers),
        405: client.delete("/api/products", headers=company.headers),
        413: client.post(
            "/api/warehouses",
            data=b"x" * (limit + 1),
            content_type="application/json",
            headers=company.headers,
        ),
        415: client.post(
            "/api/warehouses", data="name=W", content_type="text/plain", headers=company.headers
        ),
    }
    responses["404 (no route)"] = client.get("/api/no-such-route", headers=company.headers)
    responses["200 (probe)"] = client.get("/health")
    responses["200 (docs)"] = client.get("/api/openapi.json")
    ids = set()
    for status, response in responses.items():
        assert response.status_code == int(str(status)[:3]), (status, response.get_data()[:200])
        assert response.headers.get("X-Content-Type-Options") == "nosniff", status
        assert FRESH_REQUEST_ID.fullmatch(response.headers.get("X-Request-ID", "")), status
        # the app names no server software; gunicorn's own header is checked below
        assert "Server" not in response.headers, status
        ids.add(response.headers["X-Request-ID"])
    assert len(ids) == len(responses), "each response gets its own request id"


@pytest.mark.parametrize("incoming", ["abc-123_x.y:z", "0", "A" * 128, str(uuid.uuid4())])
def test_a_sane_incoming_request_id_is_echoed(client, incoming):
    response = client.get("/health", headers={"X-Request-ID": incoming})
    assert response.headers["X-Request-ID"] == incoming
    response = client.get("/api/products", headers={"X-Request-ID": incoming})
    assert response.status_code == 401 and response.headers["X-Request-ID"] == incoming


@pytest.mark.parametrize(
    "incoming",
    [
        "A" * 129,
        "has space",
        "<script>",
        'id"quote',
        "café",
        "-leading-dash",
        ".",
        "a/b",
        "a;b",
        "a\tb",
    ],
)
def test_an_unsafe_incoming_request_id_is_replaced_by_a_fresh_one(client, incoming):
    seen = set()
    for url in ("/health", "/api/products"):
        response = client.get(url, headers={"X-Request-ID": incoming})
        fresh = response.headers["X-Request-ID"]
        assert fresh != incoming and FRESH_REQUEST_ID.fullmatch(fresh), fresh
        seen.add(fresh)
    assert len(seen) == 2


@dataclass
class Server:
    port: int
    process: subprocess.Popen
    stdout: pathlib.Path
    stderr: pathlib.Path

    def request(self, method, path, headers=None, body=None):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()


@pytest.fixture
def gunicorn_server(tmp_path):
    """gunicorn as production runs it, on a migrated SQLite file; killed at the end."""
    port = free_port()
    env = wsgi_env(
        DATABASE_URL=f"sqlite:///{tmp_path / 'gunicorn.sqlite3'}",
        STOCKFLOW_ENV="development",
        STOCKFLOW_ADMIN_TOKEN=ADMIN_TOKEN,
        GUNICORN_BIND=f"127.0.0.1:{port}",
        GUNICORN_WORKERS="1",
        GUNICORN_THREADS="2",
        PYTHONUNBUFFERED="1",
    )
    subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    stdout, stderr = tmp_path / "stdout.log", tmp_path / "stderr.log"
    with open(stdout, "wb") as out, open(stderr, "wb") as err:
        process = subprocess.Popen(gunicorn_command(), cwd=ROOT, env=env, stdout=out, stderr=err)
    server = Server(port, process, stdout, stderr)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, f"gunicorn exited: {stderr.read_text()}"
            with contextlib.suppress(OSError):
                if server.request("GET", "/health")[0] == 200:
                    break
            assert time.monotonic() < deadline, f"gunicorn did not start: {stderr.read_text()}"
            time.sleep(0.1)
        yield server
    finally:
        stop_process(process)


def test_gunicorn_hides_its_version_echoes_the_request_id_and_logs_json(gunicorn_server):
    server = gunicorn_server
    status, headers, _ = server.request("GET", "/health", {"X-Request-ID": "abc-123_x.y:z"})
    assert status == 200
    assert headers["X-Request-ID"] == "abc-123_x.y:z"
    assert headers["X-Content-Type-Options"] == "nosniff"
    # gunicorn names itself but not its version
    assert headers["Server"] and not re.search(r"[\d/]", headers["Server"]), headers["Server"]

    status, headers, body = server.request(
        "GET", "/api/products?page=1", {"X-Request-ID": "<script>alert(1)</script>"}
    )
    assert status == 401 and b"unauthorized" in body
    fresh = headers["X-Request-ID"]
    assert FRESH_REQUEST_ID.fullmatch(fresh)
    assert not re.search(r"[\d/]", headers.get("Server", ""))

    status, headers, _ = server.request(
        "POST",
        "/api/companies",
        {
            "X-Request-ID": "create-1",
            "Authorization": f"Bearer {ADMIN_TOKEN}",
            "Content-Type": "application/json",
        },
        json.dumps({"name": "Acme"}),
    )
    assert status == 201 and headers["X-Request-ID"] == "create-1"
    # a quote and a line break in the path can't break the log line
    status, _, _ = server.request("GET", "/api/no%22such%0Aroute", {"X-Request-ID": "odd-path"})
    assert status in (401, 404)

    stop_process(server.process)  # flushes and closes the log
    lines = [line for line in server.stdout.read_text().splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # every line on stdout is JSON
    by_id = {entry["request_id"]: entry for entry in entries}
    expected = {
        "abc-123_x.y:z": ("GET", "/health", 200),
        fresh: ("GET", "/api/products", 401),
        "create-1": ("POST", "/api/companies", 201),
    }
    for request_id, (method, path, status) in expected.items():
        entry = by_id[request_id]
        assert (entry["method"], entry["path"], entry["status"]) == (method, path, status)
        assert isinstance(entry["duration_ms"], int | float) and entry["duration_ms"] >= 0
    assert by_id[fresh]["query"] == "page=1"
    assert "<script>" not in server.stdout.read_text()
    assert by_id["odd-path"]["path"] == '/api/no"such\nroute'


def test_gunicorn_and_the_app_answer_an_over_long_url_with_a_problem(gunicorn_server):
    server = gunicorn_server

    def problem(status, headers, body, code, slug):
        assert status == code, body
        assert headers["Content-Type"] == "application/problem+json", body
        document = json.loads(body)
        assert document["type"] == f"urn:stockflow:problem:{slug}"
        assert document["status"] == code and document["detail"]

    # past the app's bound but within gunicorn's request line: the app answers
    status, headers, body = server.request("GET", "/api/products?q=" + "x" * 5000)
    problem(status, headers, body, 414, "uri-too-long")
    assert headers["X-Request-ID"]
    # past gunicorn's limit_request_line: gunicorn answers, in the same shape
    status, headers, body = server.request("GET", "/api/products?q=" + "x" * 9000)
    problem(status, headers, body, 414, "uri-too-long")
    # a request line gunicorn cannot parse, and headers past its limit
    with socket.create_connection(("127.0.0.1", server.port), timeout=15) as sock:
        sock.sendall(b"GET /health HTTP/1.1 nonsense\r\nHost: x\r\n\r\n")
        raw = b"".join(iter(lambda: sock.recv(65536), b""))
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"Content-Type: application/problem+json" in head, raw
    assert json.loads(body)["type"] == "urn:stockflow:problem:bad-request"
    status, headers, body = server.request("GET", "/health", {"X-Big": "y" * 9000})
    problem(status, headers, body, 431, "request-header-fields-too-large")


# ---------------------------------------------------------------------------
# 5. CORS: off unless the operator lists origins
# ---------------------------------------------------------------------------


def preflight(client, url, origin, method="POST"):
    return client.options(
        url,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization, content-type, idempotency-key",
        },
    )


def test_cors_is_off_by_default(make_app, make_company, monkeypatch):
    monkeypatch.delenv("STOCKFLOW_CORS_ORIGINS", raising=False)
    application = make_app()
    assert application.config["STOCKFLOW_CORS_ORIGINS"] == []
    client = application.test_client()
    tenant = make_company("Acme")
    for origin in ("https://evil.example", "https://dash.example", "null"):
        responses = [
            client.get("/api/products", headers={"Origin": origin, **tenant.headers}),
            client.get("/api/products", headers={"Origin": origin}),
            preflight(client, "/api/products", origin),
            preflight(client, "/api/stock/sales", origin),
        ]
        for response in responses:
            cors = [h for h in response.headers.keys() if h.lower().startswith("access-control")]
            assert not cors, (origin, response.status_code, cors)


def test_cors_allows_only_the_listed_origins(make_app, make_company):
    application = make_app(STOCKFLOW_CORS_ORIGINS=["https://dash.example"])
    client = application.test_client()
    tenant = make_company("Acme")

    response = client.get(
        "/api/products", headers={"Origin": "https://dash.example", **tenant.headers}
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "https://dash.example"
    assert "Access-Control-Allow-Credentials" not in response.headers  # bearer keys, no cookies
    exposed = response.headers.get("Access-Control-Expose-Headers", "").lower()
    assert "x-request-id" in exposed and "location" in exposed

    # the preflight carries no key and reaches no view
    response = preflight(client, "/api/stock/sales", "https://dash.example")
    assert response.status_code == 200 and response.get_data() == b""
    assert response.headers["Access-Control-Allow-Origin"] == "https://dash.example"
    allowed = {
        h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")
    }
    assert {"authorization", "idempotency-key", "content-type"} <= allowed
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    response = client.options(
        "/api/stock/sales",
        headers={
            "Origin": "https://dash.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-evil",
        },
    )
    assert "x-evil" not in response.headers.get("Access-Control-Allow-Headers", "").lower()

    # a 401 is readable by the dashboard (it can tell its user why), and says nothing else
    response = client.get("/api/products", headers={"Origin": "https://dash.example"})
    assert_problem(response, 401, slug="unauthorized")
    assert response.headers["Access-Control-Allow-Origin"] == "https://dash.example"

    for origin in ("https://evil.example", "https://dash.example.evil.example", "null"):
        for response in (
            client.get("/api/products", headers={"Origin": origin, **tenant.headers}),
            preflight(client, "/api/stock/sales", origin),
        ):
            assert "Access-Control-Allow-Origin" not in response.headers, origin
            assert "Access-Control-Allow-Headers" not in response.headers, origin


def test_cors_responses_vary_on_origin_so_caches_keep_origins_apart(make_app, make_company):
    """The answer depends on the request's Origin (ACAO for a listed one, none for
    another), so every such response must say ``Vary: Origin`` or a browser or proxy
    cache may replay one origin's answer to another (Fetch standard, "CORS protocol
    and HTTP caches"). flask-cors 6 leaves it out when exactly one origin is listed."""
    application = make_app(STOCKFLOW_CORS_ORIGINS=["https://dash.example"])
    client = application.test_client()
    tenant = make_company("Acme")
    for origin in ("https://dash.example", "https://evil.example"):
        for response in (
            client.get("/api/products", headers={"Origin": origin, **tenant.headers}),
            preflight(client, "/api/stock/sales", origin),
        ):
            assert "origin" in response.headers.get("Vary", "").lower(), (origin, response)
