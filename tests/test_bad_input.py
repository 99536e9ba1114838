"""Targeted bad input, route by route: what a fuzzer may not think of.

The routes, their body fields and their query parameters come from the app's URL
map and the schemas flask-smorest attached to the views, so a new route or field
is covered without editing this file; a new JSON route only needs a valid example
body in ``VALID_BODIES`` (a test fails until it has one). Every refusal must be an
RFC 9457 problem (4xx, naming the field for bad input) that changes nothing in the
database; a 500 is a bug.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import io
import itertools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import marshmallow as ma
import pytest
import sqlalchemy as sa

from app import create_app
from app.config import DEFAULT_MAX_BODY_BYTES
from app.extensions import db
from app.models import IdempotencyKey, Warehouse
from app.schemas import Money, StrictBoolean, StrictInteger, Text
from app.stock.schemas import BatchOperation
from tests.conftest import ADMIN_TOKEN, build_app
from tests.helpers import assert_problem

JSON = "application/json"
RAW = "@@raw-json@@"  # placeholder for a token json.dumps can't write (1e3, NaN, ...)


# ---------------------------------------------------------------------------
# The routes, from the URL map and the schemas on the views


@dataclass(frozen=True)
class Route:
    """One method of one URL rule, with the schemas its view parses."""

    method: str
    path: str  # OpenAPI style: /api/products/{product_id}
    body: ma.Schema | None = None
    query: ma.Schema | None = None
    paginated: bool = False

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def _instance(schema) -> ma.Schema:
    return schema() if isinstance(schema, type) else schema


def _discover() -> list[Route]:
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    routes = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/") or rule.endpoint.startswith("api-docs"):
            continue
        view = app.view_functions[rule.endpoint]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            handler = getattr(getattr(view, "view_class", None), method.lower(), view)
            apidoc = getattr(handler, "_apidoc", {})
            schemas = {
                argument["in"]: _instance(argument["schema"])
                for argument in apidoc.get("arguments", {}).get("parameters", [])
            }
            routes.append(
                Route(
                    method,
                    re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule),
                    body=schemas.get("json"),
                    query=schemas.get("query"),
                    paginated="pagination" in apidoc,
                )
            )
    with app.app_context():
        db.engine.dispose()
    return sorted(routes, key=str)


ROUTES = _discover()
JSON_ROUTES = [r for r in ROUTES if r.body is not None]
MUTATING_ROUTES = [r for r in ROUTES if r.method in ("POST", "PUT", "PATCH", "DELETE")]
# reads (the import's ?dry_run= has its own tests in test_import_export.py)
QUERY_ROUTES = [r for r in ROUTES if (r.query is not None or r.paginated) and r.method == "GET"]
ID_ROUTES = [r for r in ROUTES if "_id}" in r.path]


def body_fields(schema: ma.Schema) -> dict[str, ma.fields.Field]:
    """Every leaf field of a body by dotted path (``initial_stock.0.quantity``)."""

    def walk(schema: ma.Schema, prefix: str):
        for name, field_ in schema.load_fields.items():
            path = prefix + (field_.data_key or name)
            if isinstance(field_, ma.fields.List) and isinstance(field_.inner, ma.fields.Nested):
                yield from walk(field_.inner.schema, f"{path}.0.")
            elif isinstance(field_, ma.fields.List):
                # a list of values (its first item), or batch items (one of several schemas)
                yield f"{path}.0", field_.inner
            elif isinstance(field_, ma.fields.Nested):
                yield from walk(field_.schema, f"{path}.")
            else:
                yield path, field_

    return dict(walk(schema, "0." if schema.many else ""))


TEXT_ROUTES = [
    r for r in JSON_ROUTES if any(isinstance(f, Text) for f in body_fields(r.body).values())
]


def query_fields(route: Route) -> dict[str, ma.fields.Field]:
    """Every query parameter a route reads, pagination included."""
    fields = {}
    if route.query is not None:
        fields = {f.data_key or name: f for name, f in route.query.load_fields.items()}
    if route.paginated:
        fields |= {"page": ma.fields.Integer(), "page_size": ma.fields.Integer()}
    return fields


def is_free_text(field_: ma.fields.Field) -> bool:
    """A Text field that takes any text (no pattern, no e-mail check)."""
    return isinstance(field_, Text) and not field_.validators


# ---------------------------------------------------------------------------
# A company whose rows are made when first needed, and a valid body for every JSON route


class World:
    """The caller's company, its rows (created on first use) and how to address them."""

    def __init__(self, app, client, tenant):
        self.app = app
        self.client = client
        self.headers = tenant.headers
        self.company_id = tenant.id
        self.counter = itertools.count(1)

    def unique(self, prefix: str) -> str:
        return f"{prefix}-{next(self.counter)}"

    def create(self, path: str, body: dict) -> dict:
        response = self.client.post(path, json=body, headers=self.headers)
        assert response.status_code == 201, response.json
        return response.json

    def new_supplier(self) -> int:
        return self.create("/api/suppliers", {"name": self.unique("Supplier")})["id"]

    @cached_property
    def warehouse(self) -> int:
        return self.create("/api/warehouses", {"name": "Main"})["id"]

    @cached_property
    def warehouse2(self) -> int:
        return self.create("/api/warehouses", {"name": "Overflow"})["id"]

    @cached_property
    def product(self) -> int:
        body = {"name": "Widget", "sku": "W-1", "price": "9.99"}
        return self.create(
            "/api/products", {**body, "warehouse_id": self.warehouse, "initial_quantity": 1000}
        )["id"]

    @cached_property
    def bundle(self) -> int:
        body = {"name": "Kit", "sku": "KIT-1", "price": "19.99", "is_bundle": True}
        return self.create("/api/products", body)["id"]

    @cached_property
    def supplier(self) -> int:
        """A supplier linked to ``product``."""
        supplier = self.new_supplier()
        self.create(f"/api/products/{self.product}/suppliers", {"supplier_id": supplier})
        return supplier

    def new_order(self, *, submit: bool = False) -> int:
        """A purchase order of ``product`` from ``supplier``: a draft, or submitted."""
        body = {
            "supplier_id": self.supplier,
            "warehouse_id": self.warehouse,
            "lines": [{"product_id": self.product, "quantity": 1_000_000}],
        }
        order = self.create("/api/purchase-orders", body)["id"]
        if submit:
            response = self.client.post(
                f"/api/purchase-orders/{order}/submit", headers=self.headers
            )
            assert response.status_code == 200, response.json
        return order

    @cached_property
    def purchase_order(self) -> int:
        """A draft purchase order (it can be changed)."""
        return self.new_order()

    @cached_property
    def ordered_purchase_order(self) -> int:
        """A submitted purchase order (it takes receipts)."""
        return self.new_order(submit=True)

    @cached_property
    def webhook(self) -> int:
        """A webhook endpoint (its url may be changed)."""
        body = {"url": "https://hooks.example.com/in", "events": ["stock.low"]}
        return self.create("/api/webhooks", body)["id"]

    @cached_property
    def delivery(self) -> int:
        """A delivery of ``webhook`` (a queued ping)."""
        response = self.client.post(f"/api/webhooks/{self.webhook}/test", headers=self.headers)
        assert response.status_code == 202, response.json
        return response.json["delivery_id"]

    @cached_property
    def acknowledgement(self) -> int:
        """An acknowledgement of ``product``'s alert in ``warehouse``."""
        body = {"product_id": self.product, "warehouse_id": self.warehouse}
        return self.create(
            f"/api/companies/{self.company_id}/alerts/low-stock/acknowledgements", body
        )["id"]

    @cached_property
    def key(self) -> int:
        return self.client.get("/api/api-keys", headers=self.headers).json[0]["id"]

    def param(self, name: str, route: Route):
        if name == "product_id" and route.path.endswith("/components"):
            return self.bundle  # only a bundle has components
        if name == "product_type":
            return "regular"
        if name == "company_id":
            return self.company_id
        if name == "purchase_order_id" and route.path.endswith("/receipts"):
            return self.ordered_purchase_order
        if name == "purchase_order_id" and route.path.endswith(("/submit", "/cancel")):
            return self.new_order()
        return getattr(self, name.removesuffix("_id"))

    def url(self, route: Route) -> str:
        return re.sub(r"\{(\w+)\}", lambda m: str(self.param(m.group(1), route)), route.path)

    def headers_for(self, route: Route) -> dict:
        if route.path == "/api/companies":
            return {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        return dict(self.headers)


def _operation(w: World) -> dict:
    return {
        "product_id": w.product,
        "warehouse_id": w.warehouse,
        "quantity": 1,
        "occurred_at": "2024-05-01T12:00:00Z",
        "reference": "PO-1",
        "note": "first line",
    }


SUPPLIER = {"name": "Supplier", "contact_email": "orders@example.com", "phone": "+1 555 0100"}
LINK = {"supplier_sku": "SUP-1", "cost_price": "4.20", "lead_time_days": 7}
LINK_MORE = {"min_order_quantity": 10, "pack_size": 5}

VALID_BODIES: dict[str, Callable[[World], object]] = {
    "POST /api/companies": lambda w: {"name": w.unique("Company")},
    "POST /api/api-keys": lambda w: {"name": "ci key"},
    "POST /api/warehouses": lambda w: {"name": "North", "location": "Oslo"},
    "PATCH /api/warehouses/{warehouse_id}": lambda w: {"name": "North", "location": "Oslo"},
    "POST /api/products": lambda w: {
        "name": "Widget",
        "sku": w.unique("SKU"),
        "price": "9.99",
        "product_type": "regular",
        "low_stock_threshold": 3,
        "is_bundle": False,
        "initial_stock": [{"warehouse_id": w.warehouse2, "quantity": 5}],
    },
    "PATCH /api/products/{product_id}": lambda w: {
        "name": "Widget",
        "sku": w.unique("SKU"),
        "price": "9.99",
        "product_type": "regular",
        "low_stock_threshold": 3,
    },
    "PUT /api/products/{product_id}/components": lambda w: [
        {"product_id": w.product, "quantity": 2}
    ],
    "POST /api/suppliers": lambda w: {**SUPPLIER, "notes": "Ring twice"},
    "PATCH /api/suppliers/{supplier_id}": lambda w: {**SUPPLIER, "notes": "Ring twice"},
    "POST /api/products/{product_id}/suppliers": lambda w: {
        "supplier_id": w.new_supplier(),
        **LINK,
        **LINK_MORE,
        "is_preferred": False,
    },
    "PATCH /api/products/{product_id}/suppliers/{supplier_id}": lambda w: {
        **LINK,
        **LINK_MORE,
        "is_preferred": True,
    },
    "PUT /api/product-types/{product_type}": lambda w: {"low_stock_threshold": 4},
    "PUT /api/products/{product_id}/reorder-rules/{warehouse_id}": lambda w: {
        "threshold": 5,
        "reorder_quantity": 20,
    },
    "POST /api/stock/receipts": lambda w: {
        **_operation(w),
        "supplier_id": w.supplier,
        "unit_cost": "1.50",
    },
    "POST /api/purchase-orders": lambda w: {
        "supplier_id": w.supplier,
        "warehouse_id": w.warehouse,
        "lines": [{"product_id": w.product, "quantity": 5, "unit_cost": "1.25"}],
        "expected_at": "2030-01-01T00:00:00Z",
        "reference": "PO-7",
        "notes": "Deliver to\ndock 2",
    },
    "PATCH /api/purchase-orders/{purchase_order_id}": lambda w: {
        "supplier_id": w.supplier,
        "warehouse_id": w.warehouse,
        "lines": [{"product_id": w.product, "quantity": 6, "unit_cost": "1.30"}],
        "expected_at": "2030-01-02T00:00:00Z",
        "reference": "PO-8",
        "notes": "Deliver to\ndock 3",
    },
    "POST /api/purchase-orders/{purchase_order_id}/receipts": lambda w: {
        "lines": [{"product_id": w.product, "quantity": 1}],
        "reference": "ASN-1",
        "allow_over_receipt": False,
    },
    "POST /api/purchase-orders/from-alerts": lambda w: {
        "warehouse_id": w.warehouse,
        "supplier_id": w.supplier,
        "product_ids": [w.product],
        "days": 30,
    },
    "POST /api/companies/{company_id}/alerts/low-stock/acknowledgements": lambda w: {
        "product_id": w.product,
        "warehouse_id": w.warehouse2,
        "until": (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).isoformat(),
        "note": "Reordered\nby phone",
    },
    "POST /api/stock/sales": _operation,
    "POST /api/stock/returns": _operation,
    "POST /api/stock/transfers": lambda w: {
        "product_id": w.product,
        "from_warehouse_id": w.warehouse,
        "to_warehouse_id": w.warehouse2,
        "quantity": 1,
        "occurred_at": "2024-05-01T12:00:00Z",
        "reference": "MOVE-1",
        "note": "rebalance",
    },
    "POST /api/stock/batch": lambda w: {
        "operations": [
            {"type": "sale", **_operation(w)},
            {
                "type": "transfer",
                "product_id": w.product,
                "from_warehouse_id": w.warehouse,
                "to_warehouse_id": w.warehouse2,
                "quantity": 1,
            },
        ]
    },
    "POST /api/products/import": lambda w: {
        "products": [
            {
                "name": "Widget",
                "sku": w.unique("SKU"),
                "price": "9.99",
                "product_type": "regular",
                "low_stock_threshold": 3,
                "is_bundle": False,
                "initial_stock": [{"warehouse_id": w.warehouse2, "quantity": 5}],
            }
        ]
    },
    "POST /api/webhooks": lambda w: {
        "url": "https://hooks.example.com/stockflow?source=erp",
        "events": ["stock.low", "stock.out"],
        "description": "ERP",
    },
    "PATCH /api/webhooks/{webhook_id}": lambda w: {
        "url": "https://erp.example.com/in",
        "events": ["stock.recovered"],
        "description": "ERP",
        "enabled": True,
    },
    "POST /api/stock/adjustments": lambda w: {
        "product_id": w.product,
        "warehouse_id": w.warehouse,
        "delta": -1,
        "reason": "damaged",
        "occurred_at": "2024-05-01T12:00:00Z",
        "reference": "COUNT-1",
    },
}

# where a route's writes can be read back, when it has no Location and no GET of its own
READ_BACK = {
    "POST /api/api-keys": "/api/api-keys",
    "POST /api/products/{product_id}/suppliers": "/api/products/{product_id}/suppliers",
    "PATCH /api/products/{product_id}/suppliers/{supplier_id}": (
        "/api/products/{product_id}/suppliers"
    ),
    "POST /api/purchase-orders/{purchase_order_id}/receipts": "/api/stock/ledger?limit=500",
    **{
        f"POST /api/stock/{name}": "/api/stock/ledger?limit=500"
        for name in ("receipts", "sales", "returns", "transfers", "adjustments", "batch")
    },
    "POST /api/products/import": "/api/products?page_size=200",
}


def valid_body(w: World, route: Route):
    """A body the route accepts (made before any snapshot: it may create rows)."""
    assert str(route) in VALID_BODIES, f"add a valid example body for {route} to VALID_BODIES"
    return VALID_BODIES[str(route)](w)


@pytest.fixture
def world(app, client, company) -> World:
    return World(app, client, company)


# ---------------------------------------------------------------------------
# Helpers


def snapshot(app) -> dict[str, list]:
    """Every row of every table: a refused request must leave this unchanged."""
    with app.app_context():
        return {
            table.name: sorted(
                (tuple(row) for row in db.session.execute(sa.select(table))), key=repr
            )
            for table in db.metadata.sorted_tables
        }


def set_path(body, path: str, value):
    """A copy of ``body`` with the field at a dotted path set."""
    body = copy.deepcopy(body)
    *parents, last = path.split(".")
    node = body
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return body


def with_raw(body, path: str, token: str) -> str:
    """``body`` as JSON text with the field at ``path`` set to a raw JSON token."""
    text = json.dumps(set_path(body, path, RAW))
    assert text.count(json.dumps(RAW)) == 1
    return text.replace(json.dumps(RAW), token)


def send(w: World, route: Route, data, content_type: str | None = JSON, *, url=None, **kw):
    """``route`` with ``data`` as its body (``client=`` another app's test client)."""
    headers = w.headers_for(route)
    if content_type is not None:
        headers["Content-Type"] = content_type
    client = kw.pop("client", None) or w.client
    return client.open(url or w.url(route), method=route.method, data=data, headers=headers, **kw)


def strings_in(document) -> set[str]:
    """Every string value anywhere in a JSON document."""
    if isinstance(document, dict):
        return set().union(*(strings_in(v) for v in document.values()))
    if isinstance(document, list):
        return set().union(*(strings_in(v) for v in document))
    return {document} if isinstance(document, str) else set()


def read_back(w: World, route: Route, response) -> set[str]:
    """The strings the API shows after a write: at its Location, at its own path, or
    where READ_BACK says."""
    headers = dict(w.headers)
    if route.path == "/api/companies":  # a new company: only its own key reads it
        headers = {"Authorization": f"Bearer {response.json['api_key']}"}
        path = f"/api/companies/{response.json['id']}"
    elif "Location" in response.headers:
        path = response.headers["Location"]
    elif str(route) in READ_BACK:
        path = w.url(Route("GET", READ_BACK[str(route)]))
    else:
        assert any(r.method == "GET" and r.path == route.path for r in ROUTES), (
            f"say in READ_BACK where {route} can be read back"
        )
        path = w.url(route)
    shown = w.client.get(path, headers=headers)
    assert shown.status_code == 200, shown.json
    return strings_in(shown.json)


def assert_stored_verbatim_or_refused(w: World, route: Route, samples: list[str]):
    """Each sample in each text field is kept exactly (free text), or refused with a
    400 naming the field (a type name, an e-mail address); never a 500. A sample
    starts with a number of its own, so that unique fields (SKUs) never collide."""
    for path, field_ in body_fields(route.body).items():
        if not isinstance(field_, Text):
            continue
        for sample in samples:
            if len(sample) > field_.max_length or ("\n" in sample and not field_.multiline):
                continue
            sample = f"{next(w.counter)}{sample}"[: field_.max_length]
            response = send(w, route, json.dumps(set_path(valid_body(w, route), path, sample)))
            if response.status_code >= 400 and not is_free_text(field_):
                assert_problem(response, 400, path)
                continue
            assert response.status_code in (200, 201), (path, sample, response.json)
            assert sample in read_back(w, route, response), (path, sample)


def assert_each_is_a_400_naming(w: World, route: Route, path: str, tokens: list[str]):
    """Each raw JSON token in the field at ``path`` is a 400 naming it; nothing changes."""
    valid = valid_body(w, route)
    url = w.url(route)
    before = snapshot(w.app)
    for token in tokens:
        response = send(w, route, with_raw(valid, path, token), url=url)
        assert response.status_code == 400, (str(route), path, token, response.json)
        assert_problem(response, 400, path)
    assert snapshot(w.app) == before, (str(route), path)


# ---------------------------------------------------------------------------
# The example bodies, and the rule that every body field is a strict shared type


def test_every_json_route_has_a_valid_example_body_that_succeeds(world):
    for route in JSON_ROUTES:
        response = send(world, route, json.dumps(valid_body(world, route)))
        assert response.status_code in (200, 201), (str(route), response.json)


def test_every_body_field_is_a_strict_shared_type():
    # plain marshmallow fields take "5" for 5, 1 for true, untrimmed control characters
    # a batch item is loaded by its single endpoint's schema, whose fields are checked here
    strict = (Text, StrictInteger, Money, StrictBoolean, ma.fields.AwareDateTime, BatchOperation)
    loose = {
        f"{route} {path}": type(field_).__name__
        for route in JSON_ROUTES
        for path, field_ in body_fields(route.body).items()
        if not isinstance(field_, strict)
    }
    assert not loose


# ---------------------------------------------------------------------------
# Body size

LIMIT = 4096


@pytest.fixture(scope="module")
def limited_app(database_url):
    """An app whose body limit comes from STOCKFLOW_MAX_BODY_BYTES (as in production)."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("STOCKFLOW_MAX_BODY_BYTES", str(LIMIT))
        app = build_app(database_url)
    yield app
    with app.app_context():
        db.engine.dispose()


def padded(body, size: int) -> bytes:
    """``body`` as JSON followed by white space (still valid JSON) to ``size`` bytes."""
    raw = json.dumps(body).encode()
    assert len(raw) <= size
    return raw + b" " * (size - len(raw))


def streamed(data: bytes) -> dict:
    """environ for a body without Content-Length (chunked), as gunicorn passes it."""
    return {"wsgi.input": io.BytesIO(data), "wsgi.input_terminated": True, "CONTENT_TYPE": JSON}


def test_the_body_limit_comes_from_the_environment_and_holds_on_every_json_route(
    world, limited_app
):
    assert limited_app.config["MAX_CONTENT_LENGTH"] == LIMIT
    client = limited_app.test_client()
    # the import takes a larger body (STOCKFLOW_MAX_IMPORT_BYTES; test_import_export.py)
    for route in (r for r in JSON_ROUTES if r.path != "/api/products/import"):
        at_limit = send(world, route, padded(valid_body(world, route), LIMIT), client=client)
        assert at_limit.status_code in (200, 201), (str(route), at_limit.json)
        body = padded(valid_body(world, route), LIMIT)
        streamed_at_limit = send(
            world, route, None, client=client, environ_overrides=streamed(body)
        )
        assert streamed_at_limit.status_code in (200, 201), (str(route), streamed_at_limit.json)

        body, url = valid_body(world, route), world.url(route)
        before = snapshot(world.app)
        over = send(world, route, padded(body, LIMIT + 1), client=client, url=url)
        assert_problem(over, 413)
        # a chunked body has no Content-Length to refuse up front; what is read of it
        # up to the limit is valid JSON here, and must not pass for the whole body
        streamed_over = send(
            world,
            route,
            None,
            client=client,
            url=url,
            environ_overrides=streamed(padded(body, 50 * LIMIT)),
        )
        assert_problem(streamed_over, 413)
        not_json = send(world, route, b"x" * (LIMIT + 1), "text/plain", client=client, url=url)
        assert_problem(not_json, 413)
        assert snapshot(world.app) == before, str(route)


def test_the_default_body_limit_is_one_mebibyte(app, world):
    assert app.config["MAX_CONTENT_LENGTH"] == DEFAULT_MAX_BODY_BYTES == 1024 * 1024
    route = next(r for r in JSON_ROUTES if str(r) == "POST /api/warehouses")
    fits = send(world, route, padded({"name": "Big"}, DEFAULT_MAX_BODY_BYTES))
    assert fits.status_code == 201, fits.json
    before = snapshot(app)
    too_big = send(world, route, padded({"name": "Bigger"}, DEFAULT_MAX_BODY_BYTES + 1))
    assert_problem(too_big, 413)
    assert snapshot(app) == before


# ---------------------------------------------------------------------------
# JSON shape and encoding

DEPTH = 100_000
MALFORMED = [
    b"{",
    b'{"name": "x",}',
    b"{'name': 'x'}",
    b'{"a": NaN}',
    b'{"a": -Infinity}',
    b'{"a": 1} {"b": 2}',
    b'{"a": "unterminated}',
    b'{"a": "\\x"}',
    b'{"a": 1' + b"9" * 5000 + b"}",  # beyond Python's int-parsing limit
    b'{"name": "\xff\xfe"}',  # not UTF-8
    b'{"name": "\xc0\xaf"}',  # an overlong encoding
    b'{"name": "caf\xe9"}',  # Latin-1
    b"[" * DEPTH,
    b"[" * DEPTH + b"]" * DEPTH,
    b'{"a":' * DEPTH + b"1" + b"}" * DEPTH,
]


def test_a_body_that_is_not_a_json_object_is_a_400_problem_on_every_json_route(world):
    prepared = [(r, world.url(r), valid_body(world, r)) for r in JSON_ROUTES]
    before = snapshot(world.app)
    for route, url, valid in prepared:
        wrong_shapes = ['"text"', "42", "4.2", "true", "false", "null"]
        wrong_shapes += ["{}"] if route.body.many else ["[]", json.dumps([valid])]
        for raw in wrong_shapes:
            response = send(world, route, raw, url=url)
            body = assert_problem(response, 400, "_body")
            assert body["type"] == "urn:stockflow:problem:validation-error", raw
    assert snapshot(world.app) == before


def test_malformed_json_deep_nesting_and_invalid_utf8_are_400_problems_on_every_json_route(
    world,
):
    urls = {route: world.url(route) for route in JSON_ROUTES}
    before = snapshot(world.app)
    for route, url in urls.items():
        for raw in MALFORMED:
            body = assert_problem(send(world, route, raw, url=url), 400, "_body")
            assert body["errors"] == {"_body": ["Invalid JSON body."]}, (str(route), raw[:20])
        latin1 = send(world, route, b'{"name": "caf\xe9"}', f"{JSON}; charset=latin-1", url=url)
        assert_problem(latin1, 400, "_body")
        # Python's decoder lets an encoded surrogate through; a field then refuses it
        surrogate = assert_problem(send(world, route, b'{"name": "\xed\xa0\x80"}', url=url), 400)
        assert ("_body" if route.body.many else "name") in surrogate["errors"]
    assert snapshot(world.app) == before


def test_json_nesting_that_parses_is_a_wrong_type_for_every_field(world):
    nested = json.loads("[" * 500 + "]" * 500)
    for route in JSON_ROUTES:
        valid, url = valid_body(world, route), world.url(route)
        before = snapshot(world.app)
        for path in body_fields(route.body):
            response = send(world, route, json.dumps(set_path(valid, path, nested)), url=url)
            assert_problem(response, 400, path)
        assert snapshot(world.app) == before, str(route)


def test_a_body_that_is_not_json_is_a_415_problem_on_every_json_route(world):
    prepared = [(r, world.url(r), json.dumps(valid_body(world, r))) for r in JSON_ROUTES]
    before = snapshot(world.app)
    for route, url, text in prepared:
        for content_type in (
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/xml",
            "application/jsonp",
            None,  # no Content-Type at all
        ):
            response = send(world, route, text.encode(), content_type, url=url)
            body = assert_problem(response, 415)
            assert "application/json" in body["detail"]
    assert snapshot(world.app) == before


# ---------------------------------------------------------------------------
# Text: unicode, control characters, SQL metacharacters

ENGLAND = "🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f"  # emoji tags
UNICODE = [
    f"Café Ærøskøbing Straße 日本語 仓库 📦👩‍👩‍👧 𝔘𝔫𝔦 {ENGLAND}",  # Latin, CJK, ZWJ, astral
    # right to left with the marks mixed-direction text needs; joiners scripts need
    "מחסן ראשי 3\u200f مستودع \u061c می\u200cخواهم",
    "e\u0301 a\u00a0b\u3000c \ufe0f",  # NFD kept as sent; inner odd spaces kept
]

SQL_METACHARACTERS = [
    "O'Reilly \"quoted\"; DROP TABLE products; -- ' OR '1'='1",
    "100% _off_ \\ back\\slash \\' /* c */ $1 ? :name @v `t` [b]",
]


def test_unicode_and_sql_metacharacters_round_trip_exactly_in_every_text_field(world):
    for route in TEXT_ROUTES:
        fields = body_fields(route.body).values()
        longest = sorted({"💥" * f.max_length for f in fields if is_free_text(f)})
        multiline = ["line one\nline two\r\n\ttabbed"]
        samples = UNICODE + SQL_METACHARACTERS + longest + multiline
        assert_stored_verbatim_or_refused(world, route, samples)
    assert world.client.get("/api/products", headers=world.headers).status_code == 200


CONTROL = ["a\x00b", "\x00", "a\x1fb", "a\x7fb", "a\x85b", "a\ud800b", "\udfff"]
# invisible or line-breaking, also at either end (str.strip would have eaten some)
INVISIBLE = [
    "a\x1c",
    "a\x1f",
    "\x1ea",
    "a\x85",
    "a\u200bb",
    "\ufeffa",
    "a\u2028b",
    "a\u2029",
    "a\u202eb",
    "a\u2066b\u2069",
    "a\u00adb",
    "a\u2060b",
]
SINGLE_LINE_ONLY = ["a\nb", "a\rb", "a\tb", "a\t", "\na"]
BLANK = ["", "   ", "\t\n", "\u3000\u00a0"]


def test_control_invisible_and_line_separator_characters_and_blank_text_are_400s(world):
    prepared = [(r, world.url(r), valid_body(world, r)) for r in TEXT_ROUTES]
    before = snapshot(world.app)
    for route, url, valid in prepared:
        for path, field_ in body_fields(route.body).items():
            if not isinstance(field_, Text):
                continue
            for value in (
                CONTROL + INVISIBLE + BLANK + ([] if field_.multiline else SINGLE_LINE_ONLY)
            ):
                # json.dumps writes a lone surrogate as the escape "\ud800", as clients do
                response = send(world, route, json.dumps(set_path(valid, path, value)), url=url)
                assert response.status_code == 400, (str(route), path, value, response.json)
                assert_problem(response, 400, path)
    assert snapshot(world.app) == before


def test_an_email_address_with_sql_metacharacters_is_stored_verbatim(world):
    for email in ("o'brien@example.com", "100%_off+x@example.com", "a/*b*/c@example.com"):
        response = world.client.post(
            "/api/suppliers", json={"name": "S", "contact_email": email}, headers=world.headers
        )
        assert response.status_code == 201, response.json
        shown = world.client.get(response.headers["Location"], headers=world.headers)
        assert shown.json["contact_email"] == email


def test_skus_that_differ_only_in_case_or_normalization_are_different_products(world):
    skus = ["café", "CAFÉ", "cafe\u0301", "Café"]
    for sku in skus:
        response = world.client.post(
            "/api/products", json={"name": "P", "sku": sku, "price": 1}, headers=world.headers
        )
        assert response.status_code == 201, response.json
    for sku in skus:
        found = world.client.get("/api/products", query_string={"sku": sku}, headers=world.headers)
        assert [p["sku"] for p in found.json] == [sku]
    again = world.client.post(
        "/api/products", json={"name": "P", "sku": "cafe\u0301", "price": 1}, headers=world.headers
    )
    assert_problem(again, 409, slug="duplicate-sku")


def test_the_documented_text_pattern_refuses_exactly_what_validation_refuses():
    """Every character of the basic plane, in the middle and at the end of a value:
    the OpenAPI pattern of a text field accepts it exactly when the API does."""
    for multiline in (False, True):
        field_ = Text(multiline=multiline)
        pattern = re.compile(field_.metadata["pattern"])
        disagree = []
        for code in range(0x10000):
            if 0xD800 <= code <= 0xDFFF:
                continue  # lone surrogates: no JSON text the document describes holds one
            for value in (f"a{chr(code)}b", f"a{chr(code)}"):
                try:
                    field_.deserialize(value)
                    accepted = True
                except ma.ValidationError:
                    accepted = False
                # fullmatch: a JSON-schema "$" is the end of the text, not of a line
                if accepted != bool(pattern.fullmatch(value)):
                    disagree.append((multiline, hex(code), value))
        assert not disagree, disagree[:20]


def test_text_is_trimmed_but_otherwise_kept(world):
    response = world.client.post(
        "/api/warehouses", json={"name": "  \u3000Main\u00a0Hall \u2003"}, headers=world.headers
    )
    assert response.status_code == 201, response.json
    assert response.json["name"] == "Main\u00a0Hall"


# ---------------------------------------------------------------------------
# Numbers, booleans, times

BAD_INTEGERS = [
    "2147483648",  # 2**31
    "-2147483649",  # -2**31 - 1
    "9223372036854775808",  # 2**63
    "-1" + "0" * 30,
    "1" + "0" * 30,
    "1.5",
    "1.0",
    "1e3",
    "true",
    '"7"',
    "[7]",
]

BAD_MONEY = [
    "1e20",
    '"1e20"',
    "12345678901",
    '"12345678901.00"',
    "0.001",
    '"9.999"',
    '"NaN"',
    '"sNaN"',
    '"Infinity"',
    '"-Infinity"',
    "-0.01",
    '"-1"',
    "1e999999999",
    '"1e-999999999"',
    "1" + "0" * 400,
    "true",
    '""',
    '"1,50"',
    '"1_000"',
    '" 1.50 "',
    '"١٢"',  # Arabic-Indic digits
    '"$1.50"',
    "{}",
    # strings are plain digits with up to two decimals, as the document says
    '"+1"',
    '".5"',
    '"5."',
    '"1e2"',
    '"19.990"',
]

BAD_BOOLEANS = ["1", "0", '"true"', '"yes"', "null", "[]"]

BAD_TIMESTAMPS = [
    '"not a time"',
    '"2024-13-01T00:00:00Z"',
    '"2024-02-30T00:00:00Z"',
    '"2999-01-01T00:00:00Z"',  # the future
    "1700000000",
    '"\\u0000"',
    "[]",
]

BAD_VALUES = [
    (ma.fields.Integer, BAD_INTEGERS),
    (Money, BAD_MONEY),
    (ma.fields.Boolean, BAD_BOOLEANS),
    (ma.fields.DateTime, BAD_TIMESTAMPS),
]
TYPED_ROUTES = [
    r
    for r in JSON_ROUTES
    if any(isinstance(f, kind) for f in body_fields(r.body).values() for kind, _ in BAD_VALUES)
]


def test_numbers_beyond_their_range_and_values_of_the_wrong_type_are_400_naming_the_field(
    world,
):
    """Integers beyond 32 bits, floats, booleans and strings for integers; amounts
    too big, too precise, negative or not decimal numbers; anything but true/false
    for booleans; anything but a past ISO 8601 time for times."""
    for route in TYPED_ROUTES:
        for path, field_ in body_fields(route.body).items():
            for kind, tokens in BAD_VALUES:
                if isinstance(field_, kind):
                    assert_each_is_a_400_naming(world, route, path, tokens)


def test_times_whose_utc_form_leaves_the_calendar_are_400_naming_the_field(world):
    for route in JSON_ROUTES:
        for path, field_ in body_fields(route.body).items():
            if isinstance(field_, ma.fields.DateTime):
                tokens = ['"0001-01-01T00:00:00+14:00"', '"9999-12-31T23:59:59-14:00"']
                assert_each_is_a_400_naming(world, route, path, tokens)


def test_an_amount_is_stored_exactly_as_given(world):
    for given, stored in (("0", "0.00"), ("9999999999.99", "9999999999.99"), ("1.5", "1.50")):
        response = world.client.post(
            "/api/products",
            data=f'{{"name": "P", "sku": "{given}", "price": {given}}}',
            headers={**world.headers, "Content-Type": JSON},
        )
        assert response.status_code == 201, response.json
        assert response.json["price"] == stored


# ---------------------------------------------------------------------------
# Query parameters

BAD_QUERY_INTEGERS = [
    "2147483648",
    "-2147483649",
    "9223372036854775808",
    "1" + "0" * 30,
    "1.5",
    "1e3",
    "0x10",
    "true",
    "",
    "1;DROP TABLE products",
]
CONTROL_IN_QUERY = ["\x00", "a\x00b", "\x1f", "\x7f", "a\nb"]


def get(w: World, url: str, **query):
    # buffered: a streamed export keeps its request context until it is read
    return w.client.get(url, query_string=query, headers=w.headers, buffered=True)


def _query_parameters(w: World):
    for route in QUERY_ROUTES:
        url = w.url(route)
        for name, field_ in query_fields(route).items():
            yield route, url, name, field_


def test_query_parameters_refuse_control_characters_and_out_of_range_numbers(world):
    for route, url, name, field_ in _query_parameters(world):
        bad = list(CONTROL_IN_QUERY)
        if isinstance(field_, ma.fields.Integer):
            bad += BAD_QUERY_INTEGERS
        elif isinstance(field_, ma.fields.Boolean | ma.fields.DateTime):
            bad += ["maybe", "2024-13-01", "' OR '1'='1", "%"]
        for value in bad:
            response = get(world, url, **{name: value})
            if name == "page" and response.status_code == 200:
                assert response.json == [], value  # a page past the end is empty
                continue
            assert response.status_code == 400, (str(route), name, value, response.json)
            assert_problem(response, 400, name)


def test_sql_metacharacters_and_unicode_in_string_query_parameters_never_fail(world):
    # (the longest within the URL bound: a longer URL is a 414, test_errors.py)
    values = SQL_METACHARACTERS + UNICODE + ["%", "_", "\\", "' OR 1=1 --", "x" * 3_000]
    for route, url, name, field_ in _query_parameters(world):
        if not isinstance(field_, ma.fields.String):
            continue
        for value in values:
            response = get(world, url, **{name: value})
            if response.status_code != 200:  # a cursor, a reason, a length: named
                assert response.status_code == 400, (str(route), name, value, response.json)
                assert_problem(response, 400, name)


@pytest.mark.parametrize("name", ["since", "until"])
def test_ledger_times_whose_utc_form_leaves_the_calendar_are_400s(world, name):
    for value in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"):
        assert_problem(get(world, "/api/stock/ledger", **{name: value}), 400, name)


def _cursor(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def test_a_forged_ledger_cursor_is_refused_naming_it(world):
    for raw in (
        "2024-01-01T00:00:00+00:00|1\x00",
        "2024-01-01T00:00:00+00:00|x",
        "2024-01-01T00:00:00|1",  # no offset
        "nonsense",
        "|",
    ):
        assert_problem(get(world, "/api/stock/ledger", cursor=_cursor(raw)), 400, "cursor")


@pytest.mark.parametrize(
    "raw",
    [
        "2024-01-01T00:00:00+00:00|" + "9" * 30,
        "0001-01-01T00:00:00+14:00|1",
    ],
)
def test_a_forged_ledger_cursor_out_of_range_is_refused_or_reads_nothing(world, raw):
    response = get(world, "/api/stock/ledger", cursor=_cursor(raw))
    if response.status_code != 200:
        assert_problem(response, 400, "cursor")


NAMES = ["50% off", "5_0 pack", "back\\slash", "O'Reilly", "plain"]


def test_name_searches_match_sql_wildcards_literally(world):
    expectations = {
        "%": {"50% off"},
        "_": {"5_0 pack"},
        "\\": {"back\\slash"},
        "'": {"O'Reilly"},
        "' OR '1'='1": set(),
        "%' --": set(),
        "_0 P": {"5_0 pack"},  # case-insensitive, and _ matches only itself
    }
    for collection, param in (("products", "q"), ("warehouses", "name"), ("suppliers", "name")):
        for name in NAMES:
            body = {"name": name}
            if collection == "products":
                body |= {"sku": world.unique("SKU"), "price": "1"}
            world.create(f"/api/{collection}", body)
        for needle, expected in expectations.items():
            found = get(world, f"/api/{collection}", **{param: needle, "page_size": 200})
            assert found.status_code == 200, found.json
            assert {row["name"] for row in found.json} == expected, (collection, needle)


def test_sku_and_type_filters_are_exact_matches_not_patterns(world):
    for sku in ("%", "_", "A%B", "a_b"):
        world.create("/api/products", {"name": "P", "sku": sku, "price": "1"})
    for sku in ("%", "_", "A%B", "a_b"):
        assert [p["sku"] for p in get(world, "/api/products", sku=sku).json] == [sku]
    for product_type in ("%", "_", "regula_", "' OR '1'='1"):
        found = get(world, "/api/products", product_type=product_type)
        assert found.status_code == 200 and found.json == [], product_type


# ---------------------------------------------------------------------------
# Paths

BAD_IDS = [str(2**31), str(2**63), "1" + "0" * 30, "0", "-1", "1e3", "%00"]


def test_ids_in_paths_that_are_not_positive_32_bit_integers_are_404_problems(world):
    prepared = []
    for route in ID_ROUTES:
        body = json.dumps(valid_body(world, route)) if route.body is not None else None
        for name in re.findall(r"\{(\w+_id)\}", route.path):
            for bad in BAD_IDS:
                url = world.url(Route(route.method, route.path.replace(f"{{{name}}}", bad)))
                prepared.append((route, url, body))
    before = snapshot(world.app)
    for route, url, body in prepared:
        assert_problem(send(world, route, body, url=url), 404)
    assert snapshot(world.app) == before


def test_a_product_type_in_a_path_that_is_not_a_type_name_is_a_400_naming_it(world):
    routes = [r for r in ROUTES if "{product_type}" in r.path]
    assert routes
    bodies = {r: json.dumps(valid_body(world, r)) if r.body is not None else None for r in routes}
    before = snapshot(world.app)
    for route, body in bodies.items():
        for bad in ("%00", "a%0Ab", "'%20OR%20'1'='1", "a;b", "%25", "x" * 51, "%E2%80%AE"):
            url = route.path.replace("{product_type}", bad)
            assert_problem(send(world, route, body, url=url), 400, "product_type")
    assert snapshot(world.app) == before


# ---------------------------------------------------------------------------
# Headers

BAD_IDEMPOTENCY_KEYS = [
    "key\r\nX-Evil: 1",
    "key\nX-Evil: 1",
    "key\rX-Evil: 1",
    "",
    " ",
    "has space",
    "tab\tkey",
    "nul\x00key",
    "del\x7f",
    "x" * 256,
    "x" * 100_000,
    "caf\xe9",  # a Latin-1 byte, as WSGI hands it over
    "cafÃ©",  # the UTF-8 bytes of "café", as WSGI hands them over
]


BAD_KEY_SAMPLE = ["key\r\nX-Evil: 1", "", "x" * 256]


def _no_injected_headers(response):
    assert "X-Evil" not in response.headers
    for name, value in response.headers.items():
        assert "\r" not in value and "\n" not in value, name


def test_a_malformed_idempotency_key_is_a_400_naming_the_header_on_every_mutating_route(
    world,
):
    prepared = [
        (r, world.url(r), json.dumps(valid_body(world, r)) if r.body is not None else None)
        for r in MUTATING_ROUTES
    ]
    before = snapshot(world.app)
    for route, url, body in prepared:
        # every key on one route; on the others, enough to show they check it
        keys = BAD_IDEMPOTENCY_KEYS if str(route) == "POST /api/warehouses" else BAD_KEY_SAMPLE
        for key in keys:
            # a raw environ: the test client (like a strict server) won't send CR/LF,
            # a lenient proxy might
            response = send(
                world, route, body, url=url, environ_overrides={"HTTP_IDEMPOTENCY_KEY": key}
            )
            problem = assert_problem(response, 400, "Idempotency-Key")
            assert "Idempotency-Key" in problem["detail"]
            _no_injected_headers(response)
    assert snapshot(world.app) == before


def test_a_valid_idempotency_key_replays_without_anything_injected(world, count_rows):
    key = "".join(chr(c) for c in range(33, 127))  # every visible ASCII character
    before = count_rows(Warehouse)
    responses = [
        world.client.post(
            "/api/warehouses",
            json={"name": "Replayed"},
            headers={**world.headers, "Idempotency-Key": key},
            environ_overrides={"HTTP_X_REQUEST_ID": "id\r\nX-Evil: 1"},
        )
        for _ in range(2)
    ]
    first, replay = responses
    assert first.status_code == replay.status_code == 201
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert replay.json == first.json
    assert replay.headers["Location"] == first.headers["Location"]
    for response in responses:
        _no_injected_headers(response)
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])
    assert count_rows(Warehouse) == before + 1
    assert count_rows(IdempotencyKey) == 1
    longest = world.client.post(
        "/api/warehouses",
        json={"name": "Longest key"},
        headers={**world.headers, "Idempotency-Key": "k" * 255},
    )
    assert longest.status_code == 201, longest.json


def test_a_nul_in_the_api_key_is_a_401(client):
    for token in ("sf_\x00_x", "sf_abc\x00_secret", "\x00"):
        response = client.get(
            "/api/products", environ_overrides={"HTTP_AUTHORIZATION": f"Bearer {token}"}
        )
        assert_problem(response, 401, slug="unauthorized")
