"""The floor under a product create: the same statement behind no framework.

A bare WSGI callable (no Flask, Werkzeug, flask-smorest or marshmallow; no
authentication, validation, idempotency, metrics or problem answers) served by
gunicorn with the project's config, for bench/bare_floor.sh:

- ``GET /health``: a fixed JSON body;
- ``POST /api/products``: ``json.loads`` of the body, the app's own prepared INSERT
  (``app.products.service.CREATE``, autocommit, one connection per thread), and the
  row it returns written as the app writes it (``app.schemas.plain_json``), 201.

What it shows is how far the chosen stack is from a target, not a server to run:
``COMPANY_ID`` names the company every product goes to. Never deploy it.
"""

from __future__ import annotations

import json
import os
import threading

import psycopg2

from app.products.service import CREATE, CREATED_COLUMNS
from app.schemas import plain_json

COMPANY_ID = int(os.environ["COMPANY_ID"])
DSN = os.environ["DATABASE_URL"].replace("postgresql+psycopg2://", "postgresql://")
_local = threading.local()


def _cursor():
    cursor = getattr(_local, "cursor", None)
    if cursor is None:
        connection = psycopg2.connect(DSN)
        connection.autocommit = True
        cursor = connection.cursor()
        cursor.execute(CREATE.prepare)
        _local.cursor = cursor
    return cursor


def app(environ, start_response):
    path, method = environ["PATH_INFO"], environ["REQUEST_METHOD"]
    if path == "/health" and method == "GET":
        body, status = b'{"status": "ok"}', "200 OK"
    elif path == "/api/products" and method == "POST":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        data = json.loads(environ["wsgi.input"].read(length))
        cursor = _cursor()
        cursor.execute(
            CREATE.execute,
            {
                "company": COMPANY_ID,
                "name": data["name"],
                "sku": data["sku"],
                "price": data["price"],
                "product_type": data.get("product_type", "regular"),
                "low_stock_threshold": data.get("low_stock_threshold"),
                "is_bundle": False,
                "key": None,
            },
        )
        row = dict(zip(CREATED_COLUMNS, cursor.fetchone(), strict=True))
        body, status = plain_json(row).encode(), "201 Created"
    else:
        body, status = b"{}", "404 Not Found"
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]
